import StarlingTestSupport
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingRouting

/// One input packet: serialized, handed to the rewriter, and read back.
private func send(
    _ rewriter: inout RTPStreamRewriter, ssrc: UInt32, seq: UInt16, ts: UInt32, at arrival: Instant
) throws -> RTPHeader? {
    var bytes: [UInt8] = []
    RTPPacket(payloadType: 96, sequenceNumber: seq, timestamp: ts, ssrc: ssrc, payload: [1, 2, 3, 4])
        .serialize(into: &bytes)
    let original = bytes
    let header = try bytes.withUnsafeBytes { b throws(WireError) in try RTPHeader(parsing: b) }
    let forwarded = bytes.withUnsafeMutableBytes { rewriter.rewrite(header: header, packet: $0, arrival: arrival) }
    guard forwarded else {
        #expect(bytes == original, "a dropped packet is left untouched")
        return nil
    }
    let out = try bytes.withUnsafeBytes { b throws(WireError) in try RTPHeader(parsing: b) }
    #expect(Array(bytes[12...]) == [1, 2, 3, 4])
    return out
}

private func header(ssrc: UInt32, seq: UInt16, ts: UInt32) throws -> RTPHeader {
    var bytes: [UInt8] = []
    RTPPacket(payloadType: 96, sequenceNumber: seq, timestamp: ts, ssrc: ssrc, payload: [0]).serialize(into: &bytes)
    return try bytes.withUnsafeBytes { b throws(WireError) in try RTPHeader(parsing: b) }
}

private func ms(_ value: Int) -> Instant { Instant(nanoseconds: Int64(value) * 1_000_000) }

/// Sequence number `b` directly follows `a` modulo 2^16.
private func follows(_ b: UInt16, _ a: UInt16) -> Bool { b == a &+ 1 }
/// Timestamp `b` is newer than `a` modulo 2^32 (RFC 3550 §A.1 style comparison).
private func newer(_ b: UInt32, _ a: UInt32) -> Bool { Int32(bitPattern: b &- a) > 0 }

@Suite("RTPStreamRewriter")
struct RTPStreamRewriterTests {
    static let out: UInt32 = 0xC0FF_EE00

    @Test func firstSourceKeepsOrSetsStartValues() throws {
        var keep = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000)
        keep.switchSource(to: try header(ssrc: 1, seq: 500, ts: 7000), arrival: ms(0))
        let a = try #require(try send(&keep, ssrc: 1, seq: 500, ts: 7000, at: ms(0)))
        #expect(a.ssrc == Self.out && a.sequenceNumber == 500 && a.timestamp == 7000)

        var set = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000, firstSequenceNumber: 9, firstTimestamp: 100)
        set.switchSource(to: try header(ssrc: 1, seq: 500, ts: 7000), arrival: ms(0))
        let b = try #require(try send(&set, ssrc: 1, seq: 500, ts: 7000, at: ms(0)))
        #expect(b.sequenceNumber == 9 && b.timestamp == 100)
        let c = try #require(try send(&set, ssrc: 1, seq: 501, ts: 10_000, at: ms(33)))
        #expect(c.sequenceNumber == 10 && c.timestamp == 3100)
        #expect(set.lastSent?.sequenceNumber == 10)
    }

    @Test func noPacketsBeforeAFirstSource() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000)
        #expect(try send(&r, ssrc: 1, seq: 1, ts: 1, at: ms(0)) == nil)
        #expect(r.lastSent == nil)
    }

    @Test func continuityAcrossASwitchBetweenUnrelatedSources() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000, firstSequenceNumber: 1000, firstTimestamp: 50_000)
        var lastSeq: UInt16 = 0
        var lastTS: UInt32 = 0
        r.switchSource(to: try header(ssrc: 0xA, seq: 40_000, ts: 3_000_000_000), arrival: ms(0))
        for i in 0..<30 {
            let h = try #require(
                try send(&r, ssrc: 0xA, seq: 40_000 &+ UInt16(i), ts: 3_000_000_000 &+ UInt32(i / 3) * 3000, at: ms(i / 3 * 33)))
            if i > 0 {
                #expect(follows(h.sequenceNumber, lastSeq))
                #expect(!newer(lastTS, h.timestamp))
            }
            lastSeq = h.sequenceNumber
            lastTS = h.timestamp
        }
        // Switch at a key frame of source B, 40 ms after A's last frame was first sent (at 297 ms).
        r.switchSource(to: try header(ssrc: 0xB, seq: 7, ts: 12_345), arrival: ms(337))
        let key = try #require(try send(&r, ssrc: 0xB, seq: 7, ts: 12_345, at: ms(337)))
        #expect(key.ssrc == Self.out)
        #expect(follows(key.sequenceNumber, lastSeq))
        #expect(key.timestamp == lastTS &+ 40 * 90)
        lastSeq = key.sequenceNumber
        lastTS = key.timestamp
        for i in 1..<30 {
            let h = try #require(try send(&r, ssrc: 0xB, seq: 7 + UInt16(i), ts: 12_345 + UInt32(i) * 3000, at: ms(337 + 33 * i)))
            #expect(follows(h.sequenceNumber, lastSeq))
            #expect(h.timestamp == lastTS &+ 3000)
            lastSeq = h.sequenceNumber
            lastTS = h.timestamp
        }
    }

    @Test func switchWithoutElapsedTimeAdvancesTheTimestampByOneTick() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 48_000)
        r.switchSource(to: try header(ssrc: 1, seq: 1, ts: 1000), arrival: ms(5))
        let a = try #require(try send(&r, ssrc: 1, seq: 1, ts: 1000, at: ms(5)))
        r.switchSource(to: try header(ssrc: 2, seq: 9, ts: 1), arrival: ms(5))
        let b = try #require(try send(&r, ssrc: 2, seq: 9, ts: 1, at: ms(5)))
        #expect(b.timestamp == a.timestamp + 1)
        #expect(follows(b.sequenceNumber, a.sequenceNumber))
    }

    @Test func packetsOfTheOldSourceAfterASwitchAreDropped() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000)
        r.switchSource(to: try header(ssrc: 1, seq: 100, ts: 0), arrival: ms(0))
        _ = try #require(try send(&r, ssrc: 1, seq: 100, ts: 0, at: ms(0)))
        _ = try #require(try send(&r, ssrc: 1, seq: 101, ts: 0, at: ms(1)))
        r.switchSource(to: try header(ssrc: 2, seq: 5000, ts: 9), arrival: ms(10))
        #expect(try send(&r, ssrc: 1, seq: 102, ts: 0, at: ms(11)) == nil)
        let k = try #require(try send(&r, ssrc: 2, seq: 5000, ts: 9, at: ms(12)))
        #expect(k.sequenceNumber == 102)
        // Packets of the new source from before its key frame are dropped too.
        #expect(try send(&r, ssrc: 2, seq: 4999, ts: 0, at: ms(13)) == nil)
        #expect(try send(&r, ssrc: 2, seq: 4990, ts: 0, at: ms(13)) == nil)
        #expect(try send(&r, ssrc: 1, seq: 103, ts: 0, at: ms(14)) == nil)
        let n = try #require(try send(&r, ssrc: 2, seq: 5001, ts: 9, at: ms(15)))
        #expect(n.sequenceNumber == 103)
    }

    @Test func wrapAroundOfSequenceNumberAndTimestamp() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000, firstSequenceNumber: 0xFFF0, firstTimestamp: 0xFFFF_0000)
        r.switchSource(to: try header(ssrc: 1, seq: 0xFFFA, ts: 0xFFFF_FF00), arrival: ms(0))
        var lastSeq: UInt16 = 0
        var lastTS: UInt32 = 0
        for i in 0..<40 {
            // Input wraps (seq at 6, ts after one frame); output wraps (seq at 16, ts at 22 frames).
            let h = try #require(
                try send(&r, ssrc: 1, seq: 0xFFFA &+ UInt16(i), ts: 0xFFFF_FF00 &+ UInt32(i) &* 3000, at: ms(33 * i)))
            #expect(h.sequenceNumber == 0xFFF0 &+ UInt16(i))
            #expect(h.timestamp == 0xFFFF_0000 &+ UInt32(i) &* 3000)
            if i > 0 {
                #expect(follows(h.sequenceNumber, lastSeq))
                #expect(newer(h.timestamp, lastTS))
            }
            lastSeq = h.sequenceNumber
            lastTS = h.timestamp
        }
        // A switch right across the output wrap continues without a gap.
        r.switchSource(to: try header(ssrc: 2, seq: 0xFFFF, ts: 0xFFFF_FFFF), arrival: ms(33 * 40))
        let k = try #require(try send(&r, ssrc: 2, seq: 0xFFFF, ts: 0xFFFF_FFFF, at: ms(33 * 40)))
        #expect(follows(k.sequenceNumber, lastSeq) && newer(k.timestamp, lastTS))
        let n = try #require(try send(&r, ssrc: 2, seq: 0, ts: 2999, at: ms(33 * 41)))
        #expect(follows(n.sequenceNumber, k.sequenceNumber) && n.timestamp == k.timestamp &+ 3000)
    }

    @Test func declaredDropsLeaveNoGaps() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000, firstSequenceNumber: 0xFFFE)
        r.switchSource(to: try header(ssrc: 1, seq: 65_500, ts: 0), arrival: ms(0))
        // Drop every other packet (a temporal layer), across the input and output wrap.
        var expected: UInt16 = 0xFFFE
        for i in 0..<200 {
            let seq = 65_500 &+ UInt16(i)
            if i % 2 == 1 {
                r.dropped(sequenceNumber: seq)
                continue
            }
            let h = try #require(try send(&r, ssrc: 1, seq: seq, ts: UInt32(i) * 1500, at: ms(i)))
            #expect(h.sequenceNumber == expected)
            expected &+= 1
        }
        // Runs of drops too.
        for i in 200..<210 { r.dropped(sequenceNumber: 65_500 &+ UInt16(i)) }
        let h = try #require(try send(&r, ssrc: 1, seq: 65_500 &+ 210, ts: 0, at: ms(300)))
        #expect(h.sequenceNumber == expected)
        // A dropped number arriving again (a retransmission) is not sent.
        #expect(try send(&r, ssrc: 1, seq: 65_500 &+ 205, ts: 0, at: ms(301)) == nil)
        // A drop declared late (not newer than all seen) is ignored: that number was already placed.
        r.dropped(sequenceNumber: 65_500 &+ 208)
        let n = try #require(try send(&r, ssrc: 1, seq: 65_500 &+ 211, ts: 0, at: ms(302)))
        #expect(follows(n.sequenceNumber, h.sequenceNumber))
    }

    @Test func dropsBeforeASwitchDoNotAffectTheNewSource() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000, firstSequenceNumber: 0)
        r.switchSource(to: try header(ssrc: 1, seq: 10, ts: 0), arrival: ms(0))
        _ = try #require(try send(&r, ssrc: 1, seq: 10, ts: 0, at: ms(0)))
        r.dropped(sequenceNumber: 11)
        r.dropped(sequenceNumber: 12)
        r.switchSource(to: try header(ssrc: 2, seq: 10, ts: 0), arrival: ms(1))
        for i in 0..<5 {
            let h = try #require(try send(&r, ssrc: 2, seq: 10 + UInt16(i), ts: 0, at: ms(1)))
            #expect(h.sequenceNumber == 1 + UInt16(i))
        }
    }

    @Test func reorderingWithinTheWindowIsRewrittenConsistently() throws {
        // Map a shuffled arrival order with drops, and compare with the in-order mapping.
        var random = SeededRandom(seed: 505)
        for round in 0..<20 {
            let start = UInt16(truncatingIfNeeded: random.next())
            let count = 300
            let candidates = Set((0..<count).filter { $0 > 0 && random.next() % 4 == 0 })
            // Arrival: swap neighbours within a distance of up to 20.
            var order = Array(0..<count)
            for i in 1..<count where random.next() % 3 == 0 {
                let j = max(1, i - Int(random.next() % 20))
                order.swapAt(i, j)
            }
            // The router declares a drop when it sees the packet and it is newer than all before (else it
            // forwards it, as mediasoup does).
            var declared = Set<Int>()
            var newest = -1
            for i in order {
                if candidates.contains(i) && i > newest { declared.insert(i) }
                newest = max(newest, i)
            }
            // The in-order mapping of every forwarded packet.
            var expected: [Int: UInt16] = [:]
            var next: UInt16 = 77
            for i in 0..<count where !declared.contains(i) {
                expected[i] = next
                next &+= 1
            }
            var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000, firstSequenceNumber: 77)
            r.switchSource(to: try header(ssrc: 3, seq: start, ts: 0), arrival: ms(0))
            var seen = Set<UInt16>()
            for (t, i) in order.enumerated() {
                let seq = start &+ UInt16(i)
                if declared.contains(i) {
                    r.dropped(sequenceNumber: seq)
                    continue
                }
                let h = try #require(try send(&r, ssrc: 3, seq: seq, ts: UInt32(i) * 100, at: ms(t)))
                #expect(h.sequenceNumber == expected[i], "round \(round) packet \(i)")
                #expect(!seen.contains(h.sequenceNumber))
                seen.insert(h.sequenceNumber)
            }
            #expect(seen.count == count - declared.count)
        }
    }

    @Test func reorderingBeyondTheWindowIsDropped() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000)
        r.switchSource(to: try header(ssrc: 1, seq: 0, ts: 0), arrival: ms(0))
        _ = try #require(try send(&r, ssrc: 1, seq: 0, ts: 0, at: ms(0)))
        let w = UInt16(RTPStreamRewriter.reorderWindow)
        _ = try #require(try send(&r, ssrc: 1, seq: w + 5, ts: 0, at: ms(1)))
        #expect(try send(&r, ssrc: 1, seq: 5, ts: 0, at: ms(2)) == nil)
        let h = try #require(try send(&r, ssrc: 1, seq: 6, ts: 0, at: ms(2)))
        #expect(h.sequenceNumber == 6)
    }

    @Test func pauseThenResumeKeepsTimestampsMonotonicAndAdvancedByTheWallTime() throws {
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 90_000)
        r.switchSource(to: try header(ssrc: 1, seq: 100, ts: 4_000_000_000), arrival: ms(0))
        var last: RTPHeader?
        for i in 0..<10 {
            last = try send(&r, ssrc: 1, seq: 100 + UInt16(i), ts: 4_000_000_000 &+ UInt32(i) * 3000, at: ms(33 * i))
        }
        let before = try #require(last)
        // 5 s without packets; the sender's own clock did not advance (e.g. it was muted), and resumes
        // with a key frame whose numbers are unrelated to the old ones.
        let resume = 33 * 9 + 5000
        r.switchSource(to: try header(ssrc: 1, seq: 20, ts: 10), arrival: ms(resume))
        let k = try #require(try send(&r, ssrc: 1, seq: 20, ts: 10, at: ms(resume)))
        #expect(follows(k.sequenceNumber, before.sequenceNumber))
        #expect(newer(k.timestamp, before.timestamp))
        let advanced = k.timestamp &- before.timestamp
        #expect(advanced == 5 * 90_000)
        let n = try #require(try send(&r, ssrc: 1, seq: 21, ts: 3010, at: ms(resume + 33)))
        #expect(n.timestamp == k.timestamp &+ 3000 && follows(n.sequenceNumber, k.sequenceNumber))

        // The same after a pause spanning more than the sequence and timestamp ranges' halves.
        r.switchSource(to: try header(ssrc: 2, seq: 0, ts: 0), arrival: ms(resume + 33 + 100_000_000))
        let far = try #require(try send(&r, ssrc: 2, seq: 0, ts: 0, at: ms(resume + 33 + 100_000_000)))
        #expect(newer(far.timestamp, n.timestamp))
        #expect(follows(far.sequenceNumber, n.sequenceNumber))
    }

    @Test func pauseWithoutSwitchFollowsTheSourceClock() throws {
        // A source that keeps its clock running through 5 s of silence needs no re-basing.
        var r = RTPStreamRewriter(outgoingSSRC: Self.out, clockRate: 48_000, firstTimestamp: 0xFFFF_F000)
        r.switchSource(to: try header(ssrc: 1, seq: 1, ts: 0), arrival: ms(0))
        let a = try #require(try send(&r, ssrc: 1, seq: 1, ts: 0, at: ms(0)))
        let b = try #require(try send(&r, ssrc: 1, seq: 2, ts: 5 * 48_000, at: ms(5000)))
        #expect(newer(b.timestamp, a.timestamp) && b.timestamp &- a.timestamp == 240_000)
    }
}
