import StarlingTestSupport
import Testing
@testable import StarlingWire
import StarlingWireChecks

@Suite struct VP9Tests {
    /// The first packet of a non-flexible key picture with a scalability structure (RFC 9628 §4.2,
    /// §4.2.1), written by hand: three spatial layers, two-picture group.
    static let keyFrameWithSS: [UInt8] = [
        0xAA,  // I=1 P=0 L=1 F=0 B=1 E=0 V=1 Z=0
        0x81, 0x23,  // M=1, PICTURE ID = 0x0123
        0x00,  // TID=0 U=0 SID=0 D=0
        0x05,  // TL0PICIDX = 5
        0x58,  // SS: N_S=2 (3 layers) Y=1 G=1
        0x01, 0x40, 0x00, 0xB4,  // 320 x 180
        0x02, 0x80, 0x01, 0x68,  // 640 x 360
        0x05, 0x00, 0x02, 0xD0,  // 1280 x 720
        0x02,  // N_G = 2
        0x04, 0x04,  // TID=0 U=0 R=1, P_DIFF=4
        0x34, 0x01,  // TID=1 U=1 R=1, P_DIFF=1
        0x82, 0x49, 0x83,  // VP9 data (uncompressed header of a key frame)
    ]

    static let expectedSS = VP9ScalabilityStructure(
        spatialLayerCount: 3,
        resolutions: [
            VP9Resolution(width: 320, height: 180), VP9Resolution(width: 640, height: 360),
            VP9Resolution(width: 1280, height: 720),
        ],
        pictureGroup: [
            VP9PictureGroupEntry(temporalID: 0, referenceDiffs: [4]),
            VP9PictureGroupEntry(temporalID: 1, isSwitchingUpPoint: true, referenceDiffs: [1]),
        ])

    @Test func nonFlexibleKeyFrameWithScalabilityStructure() throws {
        let bytes = Self.keyFrameWithSS
        let p = try parse(bytes) { (b) throws(WireError) in try VP9Payload(parsing: b) }.get()
        #expect(p.descriptorLength == 23)
        #expect(p.scalabilityStructureRange == 5..<23)
        let d = p.descriptor
        #expect(!d.isInterPicturePredicted && !d.isFlexibleMode && d.isStartOfLayerFrame && !d.isEndOfLayerFrame)
        #expect(d.hasScalabilityStructure && !d.isNotReferenceForUpperSpatialLayers)
        #expect(d.pictureID == PictureID(0x0123, isLong: true))
        #expect(d.layerIndices == VP9LayerIndices(temporalID: 0, spatialID: 0))
        #expect(d.tl0PicIdx == 5)
        #expect(d.referenceDiffs.isEmpty)
        #expect(p.isKeyFrame)
        let ss = try parse(bytes) { (b) throws(WireError) in try p.scalabilityStructure(in: b) }.get()
        #expect(ss == Self.expectedSS)
        var out: [UInt8] = []
        d.serialize(into: &out, scalabilityStructure: ss)
        #expect(out == Array(bytes.prefix(23)))
        #expect(d.encodedLengthBeforeScalabilityStructure == 5)
    }

    @Test func flexibleModeReferenceIndices() throws {
        let bytes: [UInt8] = [
            0xF0,  // I=1 P=1 L=1 F=1 B=0 E=0 V=0 Z=0
            0x05,  // M=0, PICTURE ID = 5
            0x23,  // TID=1 U=0 SID=1 D=1 (no TL0PICIDX in flexible mode)
            0x03,  // P_DIFF=1, N=1
            0x04,  // P_DIFF=2, N=0
            0xAB,  // VP9 data
        ]
        let p = try parse(bytes) { (b) throws(WireError) in try VP9Payload(parsing: b) }.get()
        #expect(p.descriptorLength == 5 && p.scalabilityStructureRange == nil)
        #expect(p.descriptor.layerIndices == VP9LayerIndices(temporalID: 1, spatialID: 1, isInterLayerPredicted: true))
        #expect(p.descriptor.tl0PicIdx == nil)
        #expect(Array(p.descriptor.referenceDiffs) == [1, 2])
        #expect(!p.isKeyFrame)
        var out: [UInt8] = []
        p.descriptor.serialize(into: &out)
        #expect(out == Array(bytes.prefix(5)))

        // N set on the third P_DIFF: a fourth is not allowed.
        let four: [UInt8] = [0xD0, 0x05, 0x03, 0x05, 0x07, 0x08]
        let r = parse(four) { (b) throws(WireError) in try VP9Payload(parsing: b) }
        #expect(throws: WireError.invalid(.vp9, "P_DIFF", "N set on the third reference index")) { try r.get() }
    }

    @Test func keyFrameRule() throws {
        func isKey(_ bytes: [UInt8]) throws -> Bool {
            try parse(bytes) { (b) throws(WireError) in try VP9Payload(parsing: b) }.get().isKeyFrame
        }
        #expect(try isKey([0x08, 0x00]))  // P=0 B=1, no layer indices
        #expect(try !isKey([0x48, 0x00]))  // P=1
        #expect(try !isKey([0x00, 0x00]))  // B=0: not the first packet of the frame
        #expect(try !isKey([0x28, 0x02, 0x00, 0x00]))  // SID=1: an upper spatial layer
        #expect(try isKey([0x28, 0xE0, 0x00, 0x00]))  // SID=0 (TID bits do not matter)
    }

    @Test func scalabilityStructureVariants() throws {
        // SS with neither Y nor G: one octet. N_S=7 (8 layers).
        let minimal: [UInt8] = [0x0A, 0xE0, 0x00]  // B=1 V=1; SS N_S=7 Y=0 G=0; data
        let p = try parse(minimal) { (b) throws(WireError) in try VP9Payload(parsing: b) }.get()
        #expect(p.descriptorLength == 2)
        let ss = try parse(minimal) { (b) throws(WireError) in try p.scalabilityStructure(in: b) }.get()
        #expect(ss == VP9ScalabilityStructure(spatialLayerCount: 8))
        // N_S=1 Y=0 G=1, N_G=1, one entry with R=3; then G=1 with N_G=0.
        let group: [UInt8] = [0x28, 0x01, 0x0C, 0x01, 0x02, 0x03]
        let g = try VP9ScalabilityStructure(parsing: group)
        #expect(g.spatialLayerCount == 2 && g.resolutions == nil)
        #expect(g.pictureGroup == [VP9PictureGroupEntry(temporalID: 0, referenceDiffs: [1, 2, 3])])
        #expect(g.serialized() == group)
        let empty = try VP9ScalabilityStructure(parsing: [0x08, 0x00])
        #expect(empty.pictureGroup == [] && empty.resolutions == nil)
    }

    @Test func truncatedDescriptorsNameTheField() {
        let cases: [([UInt8], String)] = [
            ([], "payload descriptor"),
            ([0x80], "PICTURE ID"),
            ([0x80, 0x80], "PICTURE ID"),
            ([0x20], "TID/U/SID/D"),
            ([0x20, 0x00], "TL0PICIDX"),
            ([0x50], "P_DIFF"),
            ([0x50, 0x03], "P_DIFF"),
            ([0x02], "SS N_S/Y/G"),
            ([0x02, 0x10, 0x00], "SS WIDTH/HEIGHT"),
            ([0x02, 0x08], "SS N_G"),
            ([0x02, 0x08, 0x01], "SS TID/U/R"),
            ([0x02, 0x08, 0x01, 0x04], "SS P_DIFF"),
        ]
        for (bytes, field) in cases {
            let r = parse(bytes) { (b) throws(WireError) in try VP9Payload(parsing: b) }
            #expect(throws: WireError.self) { try r.get() }
            if case .failure(let e) = r { #expect(e.field == field && e.proto == .vp9, "\(bytes)") }
        }
    }

    static func randomSS(_ rng: inout SeededRandom) -> VP9ScalabilityStructure {
        let layers = rng.int(1...8)
        let resolutions: [VP9Resolution]? = rng.bool()
            ? (0..<layers).map { _ in VP9Resolution(width: UInt16(rng.int(0...0xFFFF)), height: UInt16(rng.int(0...0xFFFF))) }
            : nil
        let group: [VP9PictureGroupEntry]? = rng.bool()
            ? (0..<rng.int(0...20)).map { _ in
                VP9PictureGroupEntry(
                    temporalID: UInt8(rng.int(0...7)), isSwitchingUpPoint: rng.bool(),
                    referenceDiffs: VP9ReferenceDiffs((0..<rng.int(0...3)).map { _ in UInt8(rng.int(0...255)) }))
            }
            : nil
        return VP9ScalabilityStructure(spatialLayerCount: layers, resolutions: resolutions, pictureGroup: group)
    }

    static func randomDescriptor(_ rng: inout SeededRandom, ss: Bool) -> VP9PayloadDescriptor {
        let flexible = rng.bool()
        let predicted = rng.bool()
        let layers: VP9LayerIndices? = rng.bool()
            ? VP9LayerIndices(
                temporalID: UInt8(rng.int(0...7)), isSwitchingUpPoint: rng.bool(), spatialID: UInt8(rng.int(0...7)),
                isInterLayerPredicted: rng.bool())
            : nil
        var diffs = VP9ReferenceDiffs()
        if flexible && predicted {
            for _ in 0..<rng.int(1...3) { diffs.append(UInt8(rng.int(0...127))) }
        }
        return VP9PayloadDescriptor(
            isInterPicturePredicted: predicted, isFlexibleMode: flexible, isStartOfLayerFrame: rng.bool(),
            isEndOfLayerFrame: rng.bool(), hasScalabilityStructure: ss, isNotReferenceForUpperSpatialLayers: rng.bool(),
            pictureID: rng.bool() ? PictureID(UInt16(rng.int(0...0x7FFF)), isLong: rng.bool()) : nil,
            layerIndices: layers, tl0PicIdx: layers != nil && !flexible ? UInt8(rng.int(0...255)) : nil,
            referenceDiffs: diffs)
    }

    @Test func roundTripsRandomDescriptors() throws {
        var rng = SeededRandom(seed: 0x5609_0001)
        for i in 0..<2000 {
            let hasSS = rng.int(0...3) == 0
            let d = Self.randomDescriptor(&rng, ss: hasSS)
            let ss = hasSS ? Self.randomSS(&rng) : nil
            var bytes: [UInt8] = []
            d.serialize(into: &bytes, scalabilityStructure: ss)
            let payload = bytes + rng.bytes(rng.int(0...3))
            let p = try parse(payload) { (b) throws(WireError) in try VP9Payload(parsing: b) }.get()
            #expect(p.descriptor == d, "seed 0x5609_0001 iteration \(i)")
            #expect(p.descriptorLength == bytes.count)
            let back = try parse(payload) { (b) throws(WireError) in try p.scalabilityStructure(in: b) }.get()
            #expect(back == ss)
            if let ss {
                #expect(p.scalabilityStructureRange?.count == ss.serialized().count)
                #expect(try VP9ScalabilityStructure(parsing: ss.serialized()) == ss)
            } else {
                #expect(d.encodedLengthBeforeScalabilityStructure == bytes.count)
            }
        }
    }

    @Test func truncationsAndMutationsNeverTrap() {
        forEachTruncationAndMutation(of: Self.keyFrameWithSS, seed: 0x5609_0002, count: 3000) { checkInvariants(WireInvariants.vp9, $0) }
        var rng = SeededRandom(seed: 0x5609_0003)
        for _ in 0..<3000 { checkInvariants(WireInvariants.vp9, rng.bytes(rng.int(0...16))) }
    }
}
