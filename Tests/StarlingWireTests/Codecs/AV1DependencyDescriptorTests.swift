import StarlingTestSupport
import Testing
@testable import StarlingWire
import StarlingWireChecks

@Suite struct AV1DependencyDescriptorTests {
    /// Mandatory fields only (3 octets): start_of_frame=1, end_of_frame=0, template id 0, frame 0x0102.
    static let mandatoryOnly = octets(fromBits: "1 0 000000 | 0000000100000010")

    /// The first packet of an L1T3 stream carrying its template dependency structure: the structure of
    /// the specification's example A.6.1 (one spatial layer, three temporal layers, one chain, decode
    /// targets 30/15/7.5 fps), with resolutions 640x360. Written field by field from A.8.2:
    static let l1t3WithStructure = octets(fromBits: """
        1 1 000001 0001001000110100   // start, end, frame_dependency_template_id=1, frame_number=0x1234
        1 0 0 0 0                     // structure present; no active mask, custom dtis/fdiffs/chains
        000001 00010                  // template_id_offset=1, dt_cnt_minus_one=2 (3 decode targets)
        00 01 01 00 11                // next_layer_idc: T0 T0 T1 T2 T2, end
        10 10 10 | 10 10 10 | 10 01 00 | 01 00 00 | 01 00 00    // template_dti: SSS SSS SD- D-- D--
        0 | 1 0011 0 | 1 0001 0 | 1 0000 0 | 1 0000 0         // fdiffs: none, 4, 2, 1, 1
        01                            // chain_cnt = ns(4) = 1 (decode_target_protected_by = ns(1): no bits)
        0000 0100 0010 0001 0011      // template_chain_fdiff: 0, 4, 2, 1, 3
        1 0000001001111111 0000000101100111    // resolutions present: 639+1 x 359+1
        """)

    static let l1t3Structure = AV1TemplateDependencyStructure(
        templateIDOffset: 1, decodeTargetCount: 3,
        templates: [
            AV1FrameDependencyTemplate(
                spatialID: 0, temporalID: 0, decodeTargetIndications: dtis(.switchIndication, .switchIndication, .switchIndication),
                frameDiffs: [], chainDiffs: [0]),
            AV1FrameDependencyTemplate(
                spatialID: 0, temporalID: 0, decodeTargetIndications: dtis(.switchIndication, .switchIndication, .switchIndication),
                frameDiffs: [4], chainDiffs: [4]),
            AV1FrameDependencyTemplate(
                spatialID: 0, temporalID: 1, decodeTargetIndications: dtis(.switchIndication, .discardable, .notPresent),
                frameDiffs: [2], chainDiffs: [2]),
            AV1FrameDependencyTemplate(
                spatialID: 0, temporalID: 2, decodeTargetIndications: dtis(.discardable, .notPresent, .notPresent),
                frameDiffs: [1], chainDiffs: [1]),
            AV1FrameDependencyTemplate(
                spatialID: 0, temporalID: 2, decodeTargetIndications: dtis(.discardable, .notPresent, .notPresent),
                frameDiffs: [1], chainDiffs: [3]),
        ],
        chainCount: 1, decodeTargetProtectedBy: [0, 0, 0],
        renderResolutions: [AV1RenderResolution(width: 640, height: 360)])

    /// A later packet of the same stream overriding everything the template gives (structure known from
    /// the packet above):
    static let customFields = octets(fromBits: """
        1 0 000100 0001001000110101   // start, frame_dependency_template_id=4 (template 3), frame_number=0x1235
        0 1 1 1 1                     // active mask, custom dtis, custom fdiffs, custom chains
        011                           // active_decode_targets_bitmask: targets 0 and 1
        11 01 00                      // frame_dti: R D -
        01 0100 | 10 11000111 | 00    // frame_fdiffs: 5 (4-bit), 200 (8-bit), end
        00000111                      // frame_chain_fdiff: 7
        """)

    static func dtis(_ values: AV1DecodeTargetIndication...) -> AV1DecodeTargetIndications {
        AV1DecodeTargetIndications(values)
    }

    @Test func mandatoryFieldsOnly() throws {
        #expect(Self.mandatoryOnly == [0x80, 0x01, 0x02])
        let d = try AV1DependencyDescriptor(parsing: Self.mandatoryOnly)
        #expect(d == AV1DependencyDescriptor(startOfFrame: true, endOfFrame: false, frameDependencyTemplateID: 0, frameNumber: 0x0102))
        #expect(!d.hasExtendedFields)
        #expect(try d.serialized() == Self.mandatoryOnly)
        let m = try parse(Self.mandatoryOnly) { (b) throws(WireError) in try AV1DependencyDescriptor.MandatoryFields(parsing: b) }.get()
        #expect(m.startOfFrame && !m.endOfFrame && m.frameDependencyTemplateID == 0 && m.frameNumber == 0x0102)
        // Without a structure the frame's dependencies are unknown.
        #expect(throws: WireError.unsupported(.av1DependencyDescriptor, "template_dependency_structure", "none received yet")) {
            try d.frameDependency(structure: nil)
        }
        // With the L1T3 structure, id 0 is template (0 + 64 - 1) % 64 = 63: outside it.
        #expect(throws: WireError.self) { try d.frameDependency(structure: Self.l1t3Structure) }
    }

    @Test func templateDependencyStructure() throws {
        #expect(Self.l1t3WithStructure.count == 20)  // 160 bits exactly, no padding
        let d = try AV1DependencyDescriptor(parsing: Self.l1t3WithStructure)
        #expect(d.startOfFrame && d.endOfFrame && d.frameDependencyTemplateID == 1 && d.frameNumber == 0x1234)
        #expect(d.activeDecodeTargetsBitmask == nil && d.customDecodeTargetIndications == nil)
        #expect(d.customFrameDiffs == nil && d.customChainDiffs == nil)
        let s = try #require(d.templateDependencyStructure)
        #expect(s == Self.l1t3Structure)
        #expect(s.maxSpatialID == 0 && s.maxTemporalID == 2)
        // decode_target_layers(): 30 fps = T2, 15 fps = T1, 7.5 fps = T0.
        #expect(s.decodeTargetLayer(0) == (0, 2) && s.decodeTargetLayer(1) == (0, 1) && s.decodeTargetLayer(2) == (0, 0))
        #expect(s.templateIndex(forTemplateID: 1) == 0 && s.templateIndex(forTemplateID: 5) == 4)
        #expect(s.templateIndex(forTemplateID: 6) == nil && s.templateIndex(forTemplateID: 0) == nil)
        let f = try d.frameDependency(structure: nil)
        #expect(f == AV1FrameDependency(
            spatialID: 0, temporalID: 0, decodeTargetIndications: Self.l1t3Structure.templates[0].decodeTargetIndications,
            frameDiffs: [], chainDiffs: [0], renderResolution: AV1RenderResolution(width: 640, height: 360)))
        // Canonical: it serializes back to the same octets.
        #expect(try d.serialized() == Self.l1t3WithStructure)
    }

    @Test func customFieldsNeedTheStructure() throws {
        let d = try AV1DependencyDescriptor(parsing: Self.customFields, structure: Self.l1t3Structure)
        #expect(d.templateDependencyStructure == nil)
        #expect(d.activeDecodeTargetsBitmask == 0b011)
        #expect(d.customDecodeTargetIndications == Self.dtis(.required, .discardable, .notPresent))
        #expect(d.customFrameDiffs == [5, 200])
        #expect(d.customChainDiffs == [7])
        let f = try d.frameDependency(structure: Self.l1t3Structure)
        #expect(f.spatialID == 0 && f.temporalID == 2)
        #expect(f.decodeTargetIndications == Self.dtis(.required, .discardable, .notPresent))
        #expect(f.frameDiffs == [5, 200] && f.chainDiffs == [7])
        #expect(try d.serialized(structure: Self.l1t3Structure) == Self.customFields)

        // Without the structure the widths are unknown.
        let r = parse(Self.customFields) { (b) throws(WireError) in try AV1DependencyDescriptor(parsing: b, structure: nil) }
        #expect(throws: WireError.self) { try r.get() }
        if case .failure(let e) = r { #expect(e.field == AV1DependencyDescriptor.missingStructureField) }
        #expect(throws: WireError.self) { try d.serialized(structure: nil) }
        // Custom fdiffs alone are self-delimiting: 0 0 1 0 (custom fdiffs only), size 3, 4096, end.
        let fdiffsOnly = octets(fromBits: "0 1 000010 0000000000000011 | 0 0 0 1 0 | 11 111111111111 | 00")
        let g = try AV1DependencyDescriptor(parsing: fdiffsOnly)
        #expect(g.customFrameDiffs == [4096] && !g.startOfFrame && g.endOfFrame)
        #expect(try g.serialized() == fdiffsOnly)
    }

    @Test func structureLimits() {
        func failure(_ bits: String) -> WireError? {
            if case .failure(let e) = parse(octets(fromBits: bits), { (b) throws(WireError) in
                try AV1DependencyDescriptor(parsing: b, structure: nil)
            }) { return e }
            return nil
        }
        let head = "1 1 000000 0000000000000000 | 1 0 0 0 0 | 000000 00000 "
        // Spatial ID 4 (next_layer_idc = 2 four times).
        #expect(failure(head + "10 10 10 10 11" + String(repeating: "0", count: 40))?.field == "next_layer_idc")
        // Temporal ID 8.
        #expect(failure(head + String(repeating: "01 ", count: 8) + "11" + String(repeating: "0", count: 40))?.field == "next_layer_idc")
        // 65 templates.
        #expect(failure(head + String(repeating: "00 ", count: 64) + "11" + String(repeating: "0", count: 300))?.field == "next_layer_idc")
        // 64 templates of one decode target, no fdiffs, no chains, no resolutions: fine.
        let ok = head + String(repeating: "00 ", count: 63) + "11" + String(repeating: "00", count: 64)
            + String(repeating: "0", count: 64) + "0" + "0"
        #expect(failure(ok) == nil)
        // Nine frame differences in one template.
        #expect(failure(head + "11 00 " + String(repeating: "1 0000 ", count: 9) + "0 0 0")?.field == "fdiff_minus_one")
        // Cut inside the structure.
        #expect(failure(head + "00 01")?.reason == .truncated(needed: 1, available: 0))
    }

    @Test func nonSymmetricCoding() throws {
        // The ns(5) table of A.8.2: 0 -> 00, 1 -> 01, 2 -> 10, 3 -> 110, 4 -> 111.
        let table = ["00", "01", "10", "110", "111"]
        for (v, code) in table.enumerated() {
            var w = BitWriter()
            w.writeNonSymmetric(UInt32(v), 5)
            #expect(w.bitCount == code.count && w.bytes == octets(fromBits: code))
        }
        for n in UInt32(1)...40 {
            for v in 0..<n {
                var w = BitWriter()
                w.writeNonSymmetric(v, n)
                w.write(0b101, bits: 3)
                let back = try parse(w.bytes) { (b) throws(WireError) -> (UInt32, UInt32) in
                    var r = BitReader(b, proto: .av1DependencyDescriptor)
                    return (try r.nonSymmetric(n, "v"), try r.bits(3, "marker"))
                }.get()
                #expect(back == (v, 0b101), "n=\(n) v=\(v)")
            }
        }
        // f(n) across octet boundaries, and a read past the end.
        let r = parse([0b1010_1100, 0b0101_0011]) { (b) throws(WireError) -> [UInt32] in
            var r = BitReader(b, proto: .av1DependencyDescriptor)
            return [try r.bits(3, "a"), try r.bits(10, "b"), try r.bits(3, "c"), try r.bits(0, "d")]
        }
        #expect(try r.get() == [0b101, 0b01100_01010, 0b011, 0])
        let past = parse([0xFF]) { (b) throws(WireError) -> UInt32 in
            var r = BitReader(b, proto: .av1DependencyDescriptor)
            _ = try r.bits(5, "a")
            return try r.bits(4, "b")
        }
        #expect(throws: WireError.truncated(.av1DependencyDescriptor, "b", needed: 2, available: 1)) { try past.get() }
    }

    static func randomStructure(_ rng: inout SeededRandom) -> AV1TemplateDependencyStructure {
        let dtCount = rng.int(1...32)
        var templates: [AV1FrameDependencyTemplate] = []
        var s: UInt8 = 0
        var t: UInt8 = 0
        for _ in 0..<rng.int(1...64) {
            templates.append(AV1FrameDependencyTemplate(
                spatialID: s, temporalID: t,
                decodeTargetIndications: AV1DecodeTargetIndications((0..<dtCount).map { _ in AV1DecodeTargetIndication(twoBits: UInt32(rng.int(0...3))) }),
                frameDiffs: AV1FrameDiffs((0..<rng.int(0...8)).map { _ in UInt16(rng.int(1...16)) })))
            switch rng.int(0...2) {
            case 1 where t < 7: t += 1
            case 2 where s < 3: s += 1; t = 0
            default: break
            }
        }
        let chains = rng.bool() ? 0 : rng.int(0...dtCount)
        if chains > 0 {
            for i in templates.indices {
                templates[i].chainDiffs = AV1ChainDiffs((0..<chains).map { _ in UInt8(rng.int(0...15)) })
            }
        }
        let maxS = Int(templates.last?.spatialID ?? 0)
        return AV1TemplateDependencyStructure(
            templateIDOffset: UInt8(rng.int(0...63)), decodeTargetCount: dtCount, templates: templates, chainCount: chains,
            decodeTargetProtectedBy: chains > 0 ? (0..<dtCount).map { _ in UInt8(rng.int(0...(chains - 1))) } : [],
            renderResolutions: rng.bool()
                ? (0...maxS).map { _ in AV1RenderResolution(width: rng.int(1...65536), height: rng.int(1...65536)) } : nil)
    }

    static func randomDescriptor(_ rng: inout SeededRandom, carrying own: AV1TemplateDependencyStructure?, known: AV1TemplateDependencyStructure?) -> AV1DependencyDescriptor {
        let s = own ?? known
        let dtCount = s?.decodeTargetCount ?? 0
        let chains = s?.chainCount ?? 0
        return AV1DependencyDescriptor(
            startOfFrame: rng.bool(), endOfFrame: rng.bool(), frameDependencyTemplateID: UInt8(rng.int(0...63)),
            frameNumber: UInt16(rng.int(0...0xFFFF)), templateDependencyStructure: own,
            activeDecodeTargetsBitmask: s != nil && rng.bool() ? UInt32(truncatingIfNeeded: UInt64.random(in: 0...UInt64(UInt32.max), using: &rng) & ((1 << UInt64(dtCount)) - 1)) : nil,
            customDecodeTargetIndications: s != nil && rng.bool()
                ? AV1DecodeTargetIndications((0..<dtCount).map { _ in AV1DecodeTargetIndication(twoBits: UInt32(rng.int(0...3))) }) : nil,
            customFrameDiffs: rng.bool() ? AV1FrameDiffs((0..<rng.int(0...8)).map { _ in UInt16(rng.int(1...4096)) }) : nil,
            customChainDiffs: s != nil && rng.bool() ? AV1ChainDiffs((0..<chains).map { _ in UInt8(rng.int(0...255)) }) : nil)
    }

    @Test func roundTripsRandomDescriptors() throws {
        var rng = SeededRandom(seed: 0xAD1_0001)
        for i in 0..<800 {
            let known: AV1TemplateDependencyStructure? = rng.bool() ? Self.randomStructure(&rng) : nil
            let own: AV1TemplateDependencyStructure? = rng.int(0...2) == 0 ? Self.randomStructure(&rng) : nil
            let d = Self.randomDescriptor(&rng, carrying: own, known: known)
            let bytes = try d.serialized(structure: known)
            let back = try parse(bytes) { (b) throws(WireError) in try AV1DependencyDescriptor(parsing: b, structure: known) }.get()
            #expect(back == d, "seed 0xAD1_0001 iteration \(i)")
            #expect(try back.serialized(structure: known) == bytes)
            if let s = own ?? known, s.templateIndex(forTemplateID: d.frameDependencyTemplateID) != nil {
                let f = try d.frameDependency(structure: known)
                if let dtis = d.customDecodeTargetIndications { #expect(f.decodeTargetIndications == dtis) }
                #expect(f.decodeTargetIndications.count == s.decodeTargetCount)
            }
        }
    }

    @Test func truncationsAndMutationsNeverTrap() {
        for vector in [Self.l1t3WithStructure, Self.customFields, Self.mandatoryOnly] {
            forEachTruncationAndMutation(of: vector, seed: 0xAD1_0002, count: 2000) { checkInvariants(WireInvariants.av1DependencyDescriptor, $0) }
        }
        var rng = SeededRandom(seed: 0xAD1_0003)
        for _ in 0..<3000 { checkInvariants(WireInvariants.av1DependencyDescriptor, rng.bytes(rng.int(0...24))) }
    }
}
