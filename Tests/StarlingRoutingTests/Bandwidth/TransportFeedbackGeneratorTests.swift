import StarlingRouting
import StarlingTestSupport
import StarlingTransport
import StarlingWire
import Testing

/// Virtual time in microseconds for the bandwidth tests.
func at(us: Int64) -> Instant { Instant(nanoseconds: us * 1000) }

@Suite struct TransportFeedbackGeneratorTests {
    private func parse(_ bytes: [UInt8]) throws -> TransportFeedback {
        try bytes.withUnsafeBytes { raw throws(WireError) in try TransportFeedback(parsing: raw) }
    }

    /// A gap (102 never arrives), reordering (105 before 104) and a delta over 255 ticks, checked byte
    /// for byte against the encoding of draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1 worked out
    /// by hand, then parsed back.
    @Test func knownAnswerWithGapAndReordering() throws {
        var g = TransportFeedbackGenerator(configuration: .init(interval: .milliseconds(100)))
        g.record(transportSequenceNumber: 100, arrival: at(us: 130_000))
        #expect(g.nextDeadline == at(us: 230_000))
        g.record(transportSequenceNumber: 101, arrival: at(us: 131_000))
        g.record(transportSequenceNumber: 103, arrival: at(us: 133_500))
        g.record(transportSequenceNumber: 105, arrival: at(us: 134_000))
        g.record(transportSequenceNumber: 104, arrival: at(us: 135_000))
        g.record(transportSequenceNumber: 104, arrival: at(us: 136_000))  // duplicate: first arrival kept
        g.record(transportSequenceNumber: 106, arrival: at(us: 200_000))
        #expect(g.poll(now: at(us: 229_999), senderSSRC: 1, mediaSSRC: 2) == nil)

        var bytes: [UInt8] = []
        #expect(g.poll(now: at(us: 230_000), senderSSRC: 0x0102_0304, mediaSSRC: 0x0A0B_0C0D, into: &bytes))
        // Reference time: 130 ms rounded down to 64 ms units = 2 (128 ms). Deltas in 250 µs ticks from it:
        // 100: +2 ms = 8, 101: +1 ms = 4, 102 missing, 103: +2.5 ms = 10, 104 (135 ms): +1.5 ms = 6,
        // 105 (134 ms): -1 ms = -4 (large), 106 (200 ms): +66 ms = 264 (large).
        let expected: [UInt8] = [
            0xAF, 0xCD, 0x00, 0x07,  // V=2 P=1 FMT=15, PT=205 (RTPFB), length 7 words
            0x01, 0x02, 0x03, 0x04,  // sender SSRC
            0x0A, 0x0B, 0x0C, 0x0D,  // media SSRC
            0x00, 0x64, 0x00, 0x07,  // base sequence number 100, packet status count 7
            0x00, 0x00, 0x02, 0x00,  // reference time 2, feedback packet count 0
            0xD4, 0x5A,  // status vector chunk, 2-bit symbols: small small none small small large large
            0x08, 0x04, 0x0A, 0x06,  // small deltas
            0xFF, 0xFC, 0x01, 0x08,  // large deltas -4, 264
            0x00, 0x02,  // RTCP padding
        ]
        #expect(bytes == expected)

        let feedback = try parse(bytes)
        #expect(feedback.baseSequenceNumber == 100)
        #expect(feedback.referenceTime == 2)
        #expect(feedback.feedbackPacketCount == 0)
        #expect(feedback.packetResults == [
            .received(delta: 8), .received(delta: 4), .notReceived, .received(delta: 10), .received(delta: 6),
            .received(delta: -4), .received(delta: 264),
        ])
        #expect(g.nextDeadline == nil)
        #expect(g.counters.duplicates == 1)

        // 102 arriving now is too late (reported as lost); the next feedback starts at 107.
        g.record(transportSequenceNumber: 102, arrival: at(us: 240_000))
        #expect(g.counters.late == 1)
        #expect(g.nextDeadline == nil)
        g.record(transportSequenceNumber: 107, arrival: at(us: 250_000))
        #expect(g.nextDeadline == at(us: 330_000))
        let nextPolled = g.poll(now: at(us: 330_000), senderSSRC: 0x0102_0304, mediaSSRC: 0x0A0B_0C0D)
        let next = try #require(nextPolled)
        #expect(next.baseSequenceNumber == 107)
        #expect(next.feedbackPacketCount == 1)
        #expect(next.referenceTime == 3)  // 250 ms -> 3 × 64 ms = 192 ms
        #expect(next.packetResults == [.received(delta: 232)])  // 58 ms
    }

    @Test func valueAndBytesAgree() throws {
        var a = TransportFeedbackGenerator()
        var b = TransportFeedbackGenerator()
        var rng = SeededRandom(seed: 7)
        var t: Int64 = 1_000_000
        var seq: UInt16 = 65_000
        for _ in 0..<40 {
            for _ in 0..<rng.int(1...30) {
                t += Int64(rng.int(0...4000))
                if rng.int(0...9) > 0 {
                    a.record(transportSequenceNumber: seq, arrival: at(us: t))
                    b.record(transportSequenceNumber: seq, arrival: at(us: t))
                }
                seq &+= 1
            }
            t += 50_000
            let value = a.poll(now: at(us: t), senderSSRC: 5, mediaSSRC: 6)
            var bytes: [UInt8] = []
            let wrote = b.poll(now: at(us: t), senderSSRC: 5, mediaSSRC: 6, into: &bytes)
            #expect((value != nil) == wrote)
            if let value {
                var serialized: [UInt8] = []
                value.serialize(into: &serialized)
                #expect(serialized == bytes)
                #expect(try parse(bytes) == value)
            }
        }
    }

    @Test func everyNumberReportedOnceAcrossWrapAround() throws {
        var g = TransportFeedbackGenerator(configuration: .init(interval: .milliseconds(50)))
        var rng = SeededRandom(seed: 11)
        var reported: [UInt16: Bool] = [:]  // number -> received
        var sent: [UInt16: Bool] = [:]
        var t: Int64 = 0
        var seq: UInt16 = 65_500
        var expectedCount: UInt8 = 0
        var pending: [UInt16] = []
        for step in 0..<2000 {
            t += 1000
            let received = rng.int(0...19) != 0
            sent[seq] = received
            if received { pending.append(seq) }
            // Swap neighbours now and then to reorder within the interval.
            if pending.count >= 2, rng.int(0...9) == 0 { pending.swapAt(pending.count - 1, pending.count - 2) }
            if step % 3 == 2 {
                for s in pending { g.record(transportSequenceNumber: s, arrival: at(us: t)) }
                pending.removeAll()
            }
            seq &+= 1
            while let fb = g.poll(now: at(us: t), senderSSRC: 1, mediaSSRC: 2) {
                #expect(fb.feedbackPacketCount == expectedCount)
                expectedCount &+= 1
                var n = fb.baseSequenceNumber
                for r in fb.packetResults {
                    #expect(reported[n] == nil, "number \(n) reported twice")
                    if case .received = r { reported[n] = true } else { reported[n] = false }
                    n &+= 1
                }
            }
        }
        // One last packet that arrives, so trailing losses are reported too.
        sent[seq] = true
        pending.append(seq)
        for s in pending { g.record(transportSequenceNumber: s, arrival: at(us: t)) }
        while let fb = g.poll(now: at(us: t + 1_000_000), senderSSRC: 1, mediaSSRC: 2) {
            var n = fb.baseSequenceNumber
            for r in fb.packetResults {
                if case .received = r { reported[n] = true } else { reported[n] = false }
                n &+= 1
            }
        }
        #expect(reported.count == sent.count)
        for (n, received) in sent { #expect(reported[n] == received, "number \(n)") }
    }

    @Test func reorderedFirstPacketMovesTheStartBack() throws {
        var g = TransportFeedbackGenerator()
        g.record(transportSequenceNumber: 5, arrival: at(us: 10_000))
        g.record(transportSequenceNumber: 3, arrival: at(us: 11_000))
        let fbPolled = g.poll(now: at(us: 100_000), senderSSRC: 1, mediaSSRC: 0)
        let fb = try #require(fbPolled)
        #expect(fb.baseSequenceNumber == 3)
        #expect(fb.packetResults.count == 3)
        #expect(fb.packetResults[1] == .notReceived)
        #expect(fb.packetResults[0] == .received(delta: 44))  // 11 ms - 0 (reference 0)
        #expect(fb.packetResults[2] == .received(delta: -4))
    }

    @Test func splitsWhenADeltaDoesNotFit() throws {
        var g = TransportFeedbackGenerator()
        g.record(transportSequenceNumber: 1, arrival: at(us: 0))
        g.record(transportSequenceNumber: 3, arrival: at(us: 9_000_000))  // 9 s later: over ±8.19 s
        let firstPolled = g.poll(now: at(us: 9_000_000), senderSSRC: 1, mediaSSRC: 0)
        let first = try #require(firstPolled)
        #expect(first.baseSequenceNumber == 1)
        #expect(first.packetResults == [.received(delta: 0)])
        #expect(g.nextDeadline == at(us: 9_000_000))
        let secondPolled = g.poll(now: at(us: 9_000_000), senderSSRC: 1, mediaSSRC: 0)
        let second = try #require(secondPolled)
        #expect(second.baseSequenceNumber == 2)
        #expect(second.feedbackPacketCount == first.feedbackPacketCount &+ 1)
        #expect(second.packetResults.count == 2)
        #expect(second.packetResults[0] == .notReceived)
        #expect(second.referenceTime == 140)  // 9 s / 64 ms = 140.6
        #expect(g.nextDeadline == nil)
    }

    @Test func overrunDropsTheOldestPending() throws {
        var g = TransportFeedbackGenerator(configuration: .init(interval: .milliseconds(50), capacity: 16))
        #expect(g.capacity == 16)
        for s in 0..<40 { g.record(transportSequenceNumber: UInt16(s), arrival: at(us: Int64(s) * 100)) }
        #expect(g.counters.overrun == 24)
        #expect(g.pendingCount == 16)
        let fbPolled = g.poll(now: at(us: 50_000), senderSSRC: 1, mediaSSRC: 0)
        let fb = try #require(fbPolled)
        #expect(fb.baseSequenceNumber == 24)
        #expect(fb.packetResults.count == 16)
    }

    @Test func deadlineFollowsTheInterval() {
        var g = TransportFeedbackGenerator(configuration: .init(interval: .milliseconds(80)))
        #expect(g.nextDeadline == nil)
        g.record(transportSequenceNumber: 0, arrival: at(us: 0))
        #expect(g.nextDeadline == at(us: 80_000))
        _ = g.poll(now: at(us: 85_000), senderSSRC: 1, mediaSSRC: 0)
        g.record(transportSequenceNumber: 1, arrival: at(us: 90_000))
        #expect(g.nextDeadline == at(us: 165_000))  // one interval after the last feedback
        _ = g.poll(now: at(us: 165_000), senderSSRC: 1, mediaSSRC: 0)
        g.record(transportSequenceNumber: 2, arrival: at(us: 900_000))  // after an idle spell: due at once
        #expect(g.nextDeadline == at(us: 900_000))
    }
}
