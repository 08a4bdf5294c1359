import StarlingTestSupport
import Testing
@testable import StarlingWire
import StarlingWireChecks

@Suite struct H264Tests {
    /// An SPS shaped like a Constrained Baseline level 3.1 one (header 0x67: NRI=3, type 7); the content
    /// after the header is not interpreted here.
    static let sps: [UInt8] = [0x67, 0x42, 0xC0, 0x1F, 0x8C, 0x8D, 0x40, 0x50, 0x1E, 0xD0, 0x0F, 0x08, 0x84, 0x6A]
    /// A PPS (header 0x68: NRI=3, type 8).
    static let pps: [UInt8] = [0x68, 0xCE, 0x3C, 0x80]

    /// A STAP-A carrying the SPS and PPS (RFC 6184 §5.7.1), as libwebrtc sends before each IDR picture.
    static let stapA: [UInt8] =
        [0x78]  // STAP-A NAL header: F=0 NRI=3 type=24
        + [0x00, 0x0E] + sps  // NALU 1 size 14, SPS
        + [0x00, 0x04] + pps  // NALU 2 size 4, PPS

    @Test func stapAWithParameterSets() throws {
        let p = try parse(Self.stapA) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(p.packetization == .stapA)
        #expect(p.header == H264NALUnitHeader(nalRefIdc: 3, type: .stapA))
        #expect(p.nalUnitTypes == [H264NALUnitTypeSet(.sps), H264NALUnitTypeSet(.pps)])
        #expect(p.nalUnitCount == 2 && p.headerLength == 1)
        #expect(p.isStartOfNALUnit && p.isEndOfNALUnit)
        #expect(p.isKeyFrame)  // carries an SPS
        var units: [[UInt8]] = []
        try parse(Self.stapA) { (b) throws(WireError) in
            try H264Payload.forEachNALUnit(in: b) { unit in units.append(Array(unit)) }
        }.get()
        #expect(units == [Self.sps, Self.pps])
        var out: [UInt8] = []
        try H264Payload.serializeSTAPA(units, into: &out)
        #expect(out == Self.stapA)
    }

    @Test func fuAStartAndEndOfAnIDRSlice() throws {
        // FU indicator 0x7C (F=0 NRI=3 type=28), FU header 0x85 (S=1 E=0 R=0 type=5), slice data.
        let start: [UInt8] = [0x7C, 0x85, 0x88, 0x84, 0x00, 0x33]
        let s = try parse(start) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(s.packetization == .fuA && s.headerLength == 2)
        #expect(s.fuHeader == H264FUAHeader(nalRefIdc: 3, isStart: true, isEnd: false, type: .codedSliceIDR))
        #expect(s.fuHeader?.nalUnitHeader.octet == 0x65)  // the reassembled IDR's header
        #expect(s.nalUnitTypes == H264NALUnitTypeSet(.codedSliceIDR))
        #expect(s.isStartOfNALUnit && !s.isEndOfNALUnit)
        #expect(s.isKeyFrame)
        #expect(s.fuHeader?.serialized() == [0x7C, 0x85])

        // FU header 0x45 (S=0 E=1 type=5): the end of the same IDR slice, not a key frame start.
        let end: [UInt8] = [0x7C, 0x45, 0x10, 0x20]
        let e = try parse(end) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(!e.isStartOfNALUnit && e.isEndOfNALUnit && !e.isKeyFrame)
        // A middle fragment of a non-IDR slice (NRI=2): FU indicator 0x5C, FU header 0x01.
        let mid = try parse([0x5C, 0x01, 0xAA]) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(!mid.isStartOfNALUnit && !mid.isEndOfNALUnit && !mid.isKeyFrame)
        #expect(mid.fuHeader?.nalRefIdc == 2 && mid.nalUnitTypes.contains(.codedSliceNonIDR))
        // An FU-A carries no complete NAL unit.
        var visited = 0
        try parse(start) { (b) throws(WireError) in try H264Payload.forEachNALUnit(in: b) { _ in visited += 1 } }.get()
        #expect(visited == 0)
    }

    @Test func singleNALUnitPackets() throws {
        let idr = try parse([0x65, 0x88, 0x80]) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(idr.packetization == .singleNALUnit && idr.headerLength == 0 && idr.isKeyFrame)
        let slice = try parse([0x41, 0x9A, 0x02]) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(!slice.isKeyFrame && slice.nalUnitTypes == H264NALUnitTypeSet(.codedSliceNonIDR))
        let sps = try parse(Self.sps) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(sps.isKeyFrame)
        let pps = try parse(Self.pps) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(!pps.isKeyFrame)  // a PPS alone does not start a key frame
        // End of stream (type 11) is a header-only NAL unit.
        let eos = try parse([0x0B]) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
        #expect(eos.nalUnitCount == 1)
        var units: [[UInt8]] = []
        try parse(Self.pps) { (b) throws(WireError) in try H264Payload.forEachNALUnit(in: b) { units.append(Array($0)) } }.get()
        #expect(units == [Self.pps])
    }

    @Test func malformedPayloadsAreNamed() {
        func failure(_ bytes: [UInt8]) -> WireError? {
            if case .failure(let e) = parse(bytes, { (b) throws(WireError) in try H264Payload(parsing: b) }) { return e }
            return nil
        }
        #expect(failure([])?.field == "NAL unit header")
        #expect(failure([0x00])?.reason == .invalidValue("type 0 is reserved"))
        #expect(failure([0x1E])?.reason == .invalidValue("type 30 is reserved"))
        #expect(failure([0x19, 0x00])?.reason == .unsupported("type 25 needs the interleaved packetization mode"))
        #expect(failure([0x1D, 0x85, 0x00])?.field == "NAL unit header")  // FU-B
        #expect(failure([0x7C])?.field == "FU header")
        #expect(failure([0x7C, 0x85])?.field == "FU payload")
        #expect(failure([0x7C, 0xC5, 0x00])?.reason == .invalidValue("S and E both set (RFC 6184 §5.8)"))
        #expect(failure([0x7C, 0x9C, 0x00])?.field == "FU header")  // fragmenting an FU-A
        #expect(failure([0x78])?.field == "STAP-A NALU size")  // no units
        #expect(failure([0x78, 0x00])?.field == "STAP-A NALU size")
        #expect(failure([0x78, 0x00, 0x00])?.reason == .invalidValue("0"))
        #expect(failure([0x78, 0x00, 0x03, 0x67, 0x42])?.field == "STAP-A NAL unit")
        #expect(failure([0x78, 0x00, 0x01, 0x78])?.field == "STAP-A NAL unit")  // nested STAP-A
        #expect(failure(Self.stapA + [0x00])?.field == "STAP-A NALU size")  // a dangling size octet
    }

    static func randomNALUnit(_ rng: inout SeededRandom) -> [UInt8] {
        let header = H264NALUnitHeader(
            forbiddenZeroBit: rng.int(0...9) == 0, nalRefIdc: UInt8(rng.int(0...3)), type: H264NALUnitType(rawValue: UInt8(rng.int(1...23))))
        return [header.octet] + rng.bytes(rng.int(0...40))
    }

    @Test func roundTrips() throws {
        var rng = SeededRandom(seed: 0x0264_0001)
        for _ in 0..<1000 {
            // FU-A headers: every valid value.
            let start = rng.bool()
            let fu = H264FUAHeader(
                forbiddenZeroBit: rng.bool(), nalRefIdc: UInt8(rng.int(0...3)), isStart: start, isEnd: !start && rng.bool(),
                type: H264NALUnitType(rawValue: UInt8(rng.int(1...23))))
            #expect(try H264FUAHeader(parsing: fu.serialized()) == fu)
            let payload = try parse(fu.serialized() + [0x01]) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
            #expect(payload.fuHeader == fu)
            #expect(payload.isKeyFrame == (start && (fu.type == .codedSliceIDR || fu.type == .sps)))

            // STAP-A: the units come back unchanged, and the header is the canonical one.
            let units = (0..<rng.int(1...5)).map { _ in Self.randomNALUnit(&rng) }
            var bytes: [UInt8] = []
            try H264Payload.serializeSTAPA(units, into: &bytes)
            let p = try parse(bytes) { (b) throws(WireError) in try H264Payload(parsing: b) }.get()
            #expect(p.nalUnitCount == units.count)
            #expect(p.header.nalRefIdc == units.map { H264NALUnitHeader(octet: $0[0]).nalRefIdc }.max())
            var back: [[UInt8]] = []
            try parse(bytes) { (b) throws(WireError) in try H264Payload.forEachNALUnit(in: b) { back.append(Array($0)) } }.get()
            #expect(back == units)
            var types = H264NALUnitTypeSet()
            for u in units { types.insert(H264NALUnitType(rawValue: u[0])) }
            #expect(p.nalUnitTypes == types)
        }
        var out: [UInt8] = []
        #expect(throws: WireError.self) { try H264Payload.serializeSTAPA([], into: &out) }
        #expect(throws: WireError.self) { try H264Payload.serializeSTAPA([[]], into: &out) }
        #expect(throws: WireError.self) { try H264Payload.serializeSTAPA([[0x7C, 0x00]], into: &out) }
        #expect(throws: WireError.self) { try H264Payload.serializeSTAPA([[0x65] + [UInt8](repeating: 0, count: 0x10000)], into: &out) }
        #expect(out.isEmpty)
    }

    @Test func truncationsAndMutationsNeverTrap() {
        forEachTruncationAndMutation(of: Self.stapA, seed: 0x0264_0002, count: 3000) { checkInvariants(WireInvariants.h264, $0) }
        forEachTruncationAndMutation(of: [0x7C, 0x85, 0x88, 0x84], seed: 0x0264_0003, count: 1000) { checkInvariants(WireInvariants.h264, $0) }
        var rng = SeededRandom(seed: 0x0264_0004)
        for _ in 0..<3000 { checkInvariants(WireInvariants.h264, rng.bytes(rng.int(0...12))) }
    }
}
