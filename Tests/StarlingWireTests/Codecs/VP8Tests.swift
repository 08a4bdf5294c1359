import StarlingTestSupport
import Testing
@testable import StarlingWire
import StarlingWireChecks

@Suite struct VP8Tests {
    /// A descriptor with every optional field (RFC 7741 §4.2), followed by the start of a key frame
    /// (RFC 6386 §9.1), written by hand:
    static let fullKeyFrame: [UInt8] = [
        0x90,  // X=1 R=0 N=0 S=1 R=0 PID=0
        0xF0,  // I=1 L=1 T=1 K=1 RSV=0
        0x92, 0x34,  // M=1, PictureID = 0x1234 (15 bits)
        0x56,  // TL0PICIDX = 0x56
        0xA7,  // TID=2 (10) Y=1 KEYIDX=7 (00111)
        // VP8 payload header: frame tag 0x10 0x02 0x00 (P bit, bit 0 of the first octet, = 0: key frame;
        // show_frame = 1), start code 9d 01 2a, width 640 (0x0280 LE), height 480 with vertical scale 1
        // (0x41e0 LE).
        0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x41,
        0xDE, 0xAD,  // rest of the frame
    ]

    @Test func fullDescriptorAndKeyFrameHeader() throws {
        let p = try parse(Self.fullKeyFrame) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(p.descriptorLength == 6)
        #expect(p.descriptor.isStartOfPartition && !p.descriptor.isNonReference && p.descriptor.partitionIndex == 0)
        #expect(p.descriptor.pictureID == PictureID(0x1234, isLong: true))
        #expect(p.descriptor.tl0PicIdx == 0x56)
        #expect(p.descriptor.temporalLayer == VP8TemporalLayer(id: 2, isLayerSync: true))
        #expect(p.descriptor.keyIndex == 7)
        #expect(p.isKeyFrame)
        #expect(p.keyFrameDimensions == VP8KeyFrameDimensions(width: 640, height: 480, verticalScale: 1))
        // The descriptor is canonical, so it serializes back to the same octets.
        #expect(p.descriptor.serialized() == Array(Self.fullKeyFrame.prefix(6)))
        #expect(p.descriptor.encodedLength == 6)
    }

    @Test func minimalAndShortPictureID() throws {
        // X=0, S=1, PID=0, then an inter frame (P bit = 1).
        let inter = try parse([0x10, 0x01, 0x02, 0x03]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(inter.descriptorLength == 1)
        #expect(inter.descriptor == VP8PayloadDescriptor(isStartOfPartition: true))
        #expect(!inter.isKeyFrame && inter.keyFrameDimensions == nil)

        // X=1 N=1 S=0 PID=3; I=1; PictureID M=0 value 5; no key frame since S=0.
        let short = try parse([0xA3, 0x80, 0x05, 0x00]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(short.descriptorLength == 3)
        #expect(short.descriptor.isNonReference && short.descriptor.partitionIndex == 3)
        #expect(short.descriptor.pictureID == PictureID(5, isLong: false))
        #expect(!short.isKeyFrame)

        // S=1, PID=0, key frame flag, but the payload header is cut short: a key frame without dimensions.
        let cut = try parse([0x10, 0x10, 0x02, 0x00, 0x9D]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(cut.isKeyFrame && cut.keyFrameDimensions == nil)

        // S=1 but PID=1: not the first partition, so not the start of a key frame.
        let pid1 = try parse([0x11, 0x10]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(!pid1.isKeyFrame)

        // Only the descriptor, no VP8 data: parses, no key frame.
        let empty = try parse([0x10]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(!empty.isKeyFrame && empty.descriptorLength == 1)
    }

    @Test func nonCanonicalEncodingsKeepTheirLength() throws {
        // X=1 with I=L=T=K=0 is valid: the descriptor is two octets although it carries nothing optional.
        let p = try parse([0x90, 0x00, 0x10]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(p.descriptorLength == 2)
        #expect(p.descriptor.encodedLength == 1)
        #expect(p.isKeyFrame)
        // K=1 without T: the TID and Y bits are not meaningful and are dropped; reserved bits are ignored.
        let k = try parse([0xD0, 0x1F, 0xFF]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
        #expect(k.descriptor.temporalLayer == nil && k.descriptor.keyIndex == 0x1F)
        #expect(k.descriptor.serialized() == [0x90, 0x10, 0x1F])
    }

    @Test func truncatedDescriptorsNameTheField() {
        let cases: [([UInt8], String)] = [
            ([], "payload descriptor"),
            ([0x80], "extension octet (X)"),
            ([0x80, 0x80], "PictureID"),
            ([0x80, 0x80, 0x80], "PictureID"),
            ([0x80, 0x40], "TL0PICIDX"),
            ([0x80, 0x10], "TID/Y/KEYIDX"),
        ]
        for (bytes, field) in cases {
            let r = parse(bytes) { (b) throws(WireError) in try VP8Payload(parsing: b) }
            #expect(throws: WireError.self) { try r.get() }
            if case .failure(let e) = r { #expect(e.field == field && e.proto == .vp8) }
        }
        // The exact parse rejects trailing octets.
        #expect(throws: WireError.self) { try VP8PayloadDescriptor(parsing: [0x10, 0x00]) }
    }

    @Test func rewriterKeepsTheLayout() throws {
        var bytes = Self.fullKeyFrame
        let done = try bytes.withUnsafeMutableBytes { (raw) -> Result<VP8PayloadDescriptor.RewrittenFields, WireError> in
            Result { () throws(WireError) in try VP8PayloadDescriptor.rewrite(raw, pictureID: 0x7ABC, tl0PicIdx: 0x99, keyIndex: 0x3E) }
        }.get()
        #expect(done == [.pictureID, .tl0PicIdx, .keyIndex])
        // 15-bit picture ID, M kept; TL0PICIDX; KEYIDX = 0x3E mod 32 = 0x1E with TID=2, Y=1 kept.
        #expect(Array(bytes.prefix(6)) == [0x90, 0xF0, 0xFA, 0xBC, 0x99, 0xBE])
        #expect(bytes.dropFirst(6) == Self.fullKeyFrame.dropFirst(6))

        // A 7-bit picture ID field receives the value modulo 128, and says so.
        var short: [UInt8] = [0x90, 0x80, 0x05, 0x42]
        let r2 = try short.withUnsafeMutableBytes { (raw) in
            Result { () throws(WireError) in try VP8PayloadDescriptor.rewrite(raw, pictureID: 0x1234, tl0PicIdx: 7) }
        }.get()
        #expect(r2 == [.pictureID, .pictureIDTruncated])  // no TL0PICIDX field to write
        #expect(short == [0x90, 0x80, 0x34, 0x42])
        let r3 = try short.withUnsafeMutableBytes { (raw) in
            Result { () throws(WireError) in try VP8PayloadDescriptor.rewrite(raw, pictureID: 0x7F) }
        }.get()
        #expect(r3 == [.pictureID] && short[2] == 0x7F)

        // T=1 without K: the KEYIDX bits are not a field, so they are not written.
        var tOnly: [UInt8] = [0x90, 0x20, 0x40]
        let r4 = try tOnly.withUnsafeMutableBytes { (raw) in
            Result { () throws(WireError) in try VP8PayloadDescriptor.rewrite(raw, keyIndex: 3) }
        }.get()
        #expect(r4 == [] && tOnly == [0x90, 0x20, 0x40])

        // A truncated descriptor throws and is left untouched.
        var cut: [UInt8] = [0x90, 0xC0, 0x85]
        let r5 = cut.withUnsafeMutableBytes { (raw) in
            Result { () throws(WireError) in try VP8PayloadDescriptor.rewrite(raw, pictureID: 1, tl0PicIdx: 1) }
        }
        #expect(throws: WireError.self) { try r5.get() }
        #expect(cut == [0x90, 0xC0, 0x85])
    }

    static func randomDescriptor(_ rng: inout SeededRandom) -> VP8PayloadDescriptor {
        VP8PayloadDescriptor(
            isNonReference: rng.bool(), isStartOfPartition: rng.bool(), partitionIndex: UInt8(rng.int(0...7)),
            pictureID: rng.bool() ? PictureID(UInt16(rng.int(0...0x7FFF)), isLong: rng.bool()) : nil,
            tl0PicIdx: rng.bool() ? UInt8(rng.int(0...255)) : nil,
            temporalLayer: rng.bool() ? VP8TemporalLayer(id: UInt8(rng.int(0...3)), isLayerSync: rng.bool()) : nil,
            keyIndex: rng.bool() ? UInt8(rng.int(0...31)) : nil)
    }

    @Test func roundTripsRandomDescriptors() throws {
        var rng = SeededRandom(seed: 0x5608)
        for i in 0..<2000 {
            let d = Self.randomDescriptor(&rng)
            let bytes = d.serialized()
            #expect(bytes.count == d.encodedLength)
            let back = try VP8PayloadDescriptor(parsing: bytes)
            #expect(back == d, "seed 0x5608 iteration \(i)")
            #expect(back.serialized() == bytes)
            // And inside a payload, with VP8 data after it.
            let p = try parse(bytes + [0x01, 0x02]) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
            #expect(p.descriptor == d && p.descriptorLength == bytes.count)
        }
    }

    @Test func rewriterAgreesWithTheParser() throws {
        var rng = SeededRandom(seed: 0x5609)
        for _ in 0..<2000 {
            let d = Self.randomDescriptor(&rng)
            let data = rng.bytes(rng.int(0...4))
            var bytes = d.serialized() + data
            let pid = UInt16(rng.int(0...0xFFFF))
            let tl0 = UInt8(rng.int(0...255))
            let key = UInt8(rng.int(0...255))
            let done = try bytes.withUnsafeMutableBytes { (raw) in
                Result { () throws(WireError) in try VP8PayloadDescriptor.rewrite(raw, pictureID: pid, tl0PicIdx: tl0, keyIndex: key) }
            }.get()
            let p = try parse(bytes) { (b) throws(WireError) in try VP8Payload(parsing: b) }.get()
            var expected = d
            if let old = d.pictureID { expected.pictureID = PictureID(pid, isLong: old.isLong) }
            if d.tl0PicIdx != nil { expected.tl0PicIdx = tl0 }
            if d.keyIndex != nil { expected.keyIndex = key & 0x1F }
            #expect(p.descriptor == expected)
            #expect(p.descriptorLength == d.encodedLength)
            #expect(Array(bytes.dropFirst(d.encodedLength)) == data)
            #expect(done.contains(.pictureID) == (d.pictureID != nil))
            #expect(done.contains(.pictureIDTruncated) == (d.pictureID.map { !$0.isLong && pid > 0x7F } ?? false))
        }
    }

    @Test func truncationsAndMutationsNeverTrap() {
        forEachTruncationAndMutation(of: Self.fullKeyFrame, seed: 0x5610, count: 3000) { checkInvariants(WireInvariants.vp8, $0) }
        var rng = SeededRandom(seed: 0x5611)
        for _ in 0..<3000 { checkInvariants(WireInvariants.vp8, rng.bytes(rng.int(0...12))) }
    }
}
