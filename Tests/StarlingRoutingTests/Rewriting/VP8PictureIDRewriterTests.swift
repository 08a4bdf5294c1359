import StarlingWire
import Testing

@testable import StarlingRouting

/// A VP8 payload: the descriptor then a few octets of VP8 data, rewritten and parsed back.
private func rewritten(
    _ rewriter: inout VP8PictureIDRewriter, pictureID: PictureID?, tl0: UInt8?, tid: UInt8? = 0, keyIndex: UInt8? = nil
) throws -> VP8PayloadDescriptor {
    let d = VP8PayloadDescriptor(
        isStartOfPartition: true, pictureID: pictureID, tl0PicIdx: tl0,
        temporalLayer: tid.map { VP8TemporalLayer(id: $0, isLayerSync: true) }, keyIndex: keyIndex)
    var bytes: [UInt8] = []
    d.serialize(into: &bytes)
    let length = bytes.count
    bytes += [0x10, 0x02, 0x00]
    let written = bytes.withUnsafeMutableBytes { rewriter.rewrite(payload: $0) }
    #expect(written != nil)
    #expect(Array(bytes[length...]) == [0x10, 0x02, 0x00], "VP8 data untouched")
    let out = try bytes.withUnsafeBytes { b throws(WireError) in try VP8PayloadDescriptor(parsingPrefixOf: b) }
    #expect(out.temporalLayer == d.temporalLayer, "TID/Y kept")
    #expect(out.pictureID?.isLong == d.pictureID?.isLong, "layout kept")
    #expect(written?.pictureID == out.pictureID.map { Int32($0.value) } ?? -1, "returned as written")
    #expect(written?.tl0PicIdx == out.tl0PicIdx.map { Int16($0) } ?? -1)
    #expect(written?.keyIndex == out.keyIndex.map { Int16($0) } ?? -1)
    return out
}

private func keyFrame(_ id: PictureID?, tl0: UInt8?, keyIndex: UInt8? = nil) -> VP8PayloadDescriptor {
    VP8PayloadDescriptor(isStartOfPartition: true, pictureID: id, tl0PicIdx: tl0, keyIndex: keyIndex)
}

@Suite("VP8PictureIDRewriter")
struct VP8PictureIDRewriterTests {
    @Test func firstSourceKeepsItsValues() throws {
        var r = VP8PictureIDRewriter()
        r.switchSource(keyFrame: keyFrame(PictureID(1234, isLong: true), tl0: 9))
        let a = try rewritten(&r, pictureID: PictureID(1234, isLong: true), tl0: 9)
        #expect(a.pictureID?.value == 1234 && a.tl0PicIdx == 9)
        #expect(r.lastPictureID == 1234 && r.lastTL0PicIdx == 9)
    }

    @Test func continuityAcrossASwitchBetweenUnrelatedSources() throws {
        var r = VP8PictureIDRewriter()
        r.switchSource(keyFrame: keyFrame(PictureID(30_000, isLong: true), tl0: 200, keyIndex: 3))
        var lastID: UInt16 = 0
        var lastTL0: UInt8 = 0
        // Source A: three temporal layers (TL0 on every fourth picture), across its 15-bit and 8-bit wraps.
        for i in 0..<400 {
            let tid: UInt8 = i % 4 == 0 ? 0 : (i % 2 == 0 ? 1 : 2)
            let d = try rewritten(
                &r, pictureID: PictureID(UInt16((30_000 + i) % 32_768), isLong: true),
                tl0: UInt8(truncatingIfNeeded: 200 + i / 4), tid: tid, keyIndex: 3)
            let id = try #require(d.pictureID?.value)
            if i > 0 {
                #expect(id == (lastID + 1) & 0x7FFF)
                #expect(d.tl0PicIdx == (tid == 0 ? lastTL0 &+ 1 : lastTL0))
            }
            lastID = id
            lastTL0 = try #require(d.tl0PicIdx)
            #expect(d.keyIndex == 3)
        }
        // Switch to B at a key frame with unrelated values.
        r.switchSource(keyFrame: keyFrame(PictureID(5, isLong: true), tl0: 17, keyIndex: 30))
        let k = try rewritten(&r, pictureID: PictureID(5, isLong: true), tl0: 17, keyIndex: 30)
        #expect(k.pictureID?.value == (lastID + 1) & 0x7FFF)
        #expect(k.tl0PicIdx == lastTL0 &+ 1)
        #expect(k.keyIndex == 4, "KEYIDX continues from the last one + 1")
        let n = try rewritten(&r, pictureID: PictureID(6, isLong: true), tl0: 17, tid: 2, keyIndex: 31)
        #expect(n.pictureID?.value == (lastID + 2) & 0x7FFF && n.tl0PicIdx == lastTL0 &+ 1 && n.keyIndex == 5)
        // Reordered packets of B are rewritten consistently.
        let again = try rewritten(&r, pictureID: PictureID(5, isLong: true), tl0: 17, keyIndex: 30)
        #expect(again == k)
    }

    @Test func wrapAroundOfPictureIDAndTL0PicIdx() throws {
        var r = VP8PictureIDRewriter()
        // Output near its wraps: source A ends at 32_767 / 255.
        r.switchSource(keyFrame: keyFrame(PictureID(32_760, isLong: true), tl0: 248))
        for i in 0..<8 {
            _ = try rewritten(&r, pictureID: PictureID(UInt16(32_760 + i), isLong: true), tl0: UInt8(248 + i))
        }
        #expect(r.lastPictureID == 32_767 && r.lastTL0PicIdx == 255)
        // B starts near its own wraps; the output wraps to 0.
        r.switchSource(keyFrame: keyFrame(PictureID(32_765, isLong: true), tl0: 254))
        var expectedID: UInt16 = 0
        var expectedTL0: UInt8 = 0
        for i in 0..<10 {
            let d = try rewritten(
                &r, pictureID: PictureID(UInt16((32_765 + i) % 32_768), isLong: true), tl0: UInt8(truncatingIfNeeded: 254 + i))
            #expect(d.pictureID?.value == expectedID && d.tl0PicIdx == expectedTL0)
            expectedID += 1
            expectedTL0 &+= 1
        }
    }

    @Test func sevenBitSourcesStayContinuous() throws {
        var r = VP8PictureIDRewriter()
        r.switchSource(keyFrame: keyFrame(PictureID(1000, isLong: true), tl0: 0))
        _ = try rewritten(&r, pictureID: PictureID(1000, isLong: true), tl0: 0)
        // A 7-bit source: its output is continuous modulo 2^7, and keeps the 15-bit count underneath.
        r.switchSource(keyFrame: keyFrame(PictureID(120, isLong: false), tl0: 0))
        var expected: UInt16 = 1001
        for i in 0..<300 {
            let d = try rewritten(&r, pictureID: PictureID(UInt16((120 + i) % 128), isLong: false), tl0: 0)
            #expect(d.pictureID?.value == expected & 0x7F)
            expected += 1
        }
        #expect(r.lastPictureID == expected - 1)
        // Back to a 15-bit source: continues from the 15-bit count.
        r.switchSource(keyFrame: keyFrame(PictureID(9, isLong: true), tl0: 0))
        let d = try rewritten(&r, pictureID: PictureID(9, isLong: true), tl0: 0)
        #expect(d.pictureID?.value == expected)
    }

    @Test func descriptorsWithoutTheFieldsAndTruncatedOnes() throws {
        var r = VP8PictureIDRewriter()
        r.switchSource(keyFrame: keyFrame(nil, tl0: nil))
        let d = try rewritten(&r, pictureID: nil, tl0: nil, tid: nil)
        #expect(d.pictureID == nil && d.tl0PicIdx == nil)
        var truncated: [UInt8] = [0x90, 0x80]  // X, I set but no picture ID octet
        #expect(truncated.withUnsafeMutableBytes { r.rewrite(payload: $0) } == nil)
        #expect(truncated == [0x90, 0x80])
    }
}

@Suite("VP8PictureIDRewriter drops")
struct VP8PictureIDRewriterDropTests {
    /// Temporal layer 2 dropped (pattern TID 0 2 1 2): the pictures that go out are numbered without gaps,
    /// TL0PICIDX is untouched, and a late copy of a forwarded picture keeps the number it had.
    @Test func droppedPicturesAreClosedUp() throws {
        var r = VP8PictureIDRewriter()
        r.switchSource(keyFrame: keyFrame(PictureID(32_700, isLong: true), tl0: 250))
        var sent: [Int: UInt16] = [:]
        var lastOut: UInt16?
        for i in 0..<200 {
            let tid: UInt8 = [0, 2, 1, 2][i % 4]
            let raw = PictureID(UInt16((32_700 + i) % 32_768), isLong: true)
            let tl0 = UInt8(truncatingIfNeeded: 250 + i / 4)
            if tid == 2 {
                r.dropped(VP8PayloadDescriptor(isStartOfPartition: true, pictureID: raw, tl0PicIdx: tl0))
                // A second packet of the same dropped picture is not counted again.
                r.dropped(VP8PayloadDescriptor(isStartOfPartition: false, pictureID: raw, tl0PicIdx: tl0))
                continue
            }
            let d = try rewritten(&r, pictureID: raw, tl0: tl0, tid: tid)
            let id = try #require(d.pictureID?.value)
            if let lastOut { #expect(id == (lastOut + 1) & 0x7FFF, "picture \(i)") }
            #expect(d.tl0PicIdx == tl0)
            lastOut = id
            sent[i] = id
            // Now and then a late copy of the picture two back (a recovered packet) arrives.
            if i % 8 == 6, let earlier = sent[i - 2] {
                let again = try rewritten(
                    &r, pictureID: PictureID(UInt16((32_700 + i - 2) % 32_768), isLong: true),
                    tl0: UInt8(truncatingIfNeeded: 250 + (i - 2) / 4), tid: [0, 2, 1, 2][(i - 2) % 4])
                #expect(again.pictureID?.value == earlier, "late copy of picture \(i - 2)")
            }
        }
        // A switch re-bases: the new source's key frame follows the last picture sent.
        r.switchSource(keyFrame: keyFrame(PictureID(9, isLong: true), tl0: 1))
        let k = try rewritten(&r, pictureID: PictureID(9, isLong: true), tl0: 1)
        #expect(k.pictureID?.value == (lastOut! + 1) & 0x7FFF)
    }
}
