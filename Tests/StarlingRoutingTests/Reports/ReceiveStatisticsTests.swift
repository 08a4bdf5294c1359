import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

private func ms(_ m: Int64) -> Instant { Instant(nanoseconds: m * 1_000_000) }

@Suite struct ReceiveStatisticsTests {
    /// Feeds `seqs` in order, all at the same timestamp and arrival (jitter is not under test here).
    private func feed(_ s: inout ReceiveStatistics, _ seqs: [UInt16]) {
        for q in seqs { s.record(sequenceNumber: q, rtpTimestamp: 0, clockRate: 90_000, now: .zero) }
    }

    @Test func lossWithGapsDuplicatesAndReorderingAcrossAWrap() {
        var s = ReceiveStatistics(ssrc: 0x1234)
        let b0 = s.makeReportBlock(now: .zero)
        #expect(b0 == ReportBlock(ssrc: 0x1234))  // nothing yet: all zero

        // 65532 and 1 never arrive; 65534 and 2 arrive late; 0 is duplicated.
        feed(&s, [65530, 65531, 65533, 65535, 65534, 0, 0, 3, 2, 4])
        // extended: 65530 65531 65533 65535 65534 65536 65536 65539 65538 65540
        // base = 65530, highest = 65540 -> expected = 65540 - 65530 + 1 = 11, received = 10
        // cumulative lost = 11 - 10 = 1 (2 missing, 1 duplicate)
        // interval: expected 11, received 10, lost 1 -> fraction = (1 << 8) / 11 = 256 / 11 = 23
        let b1 = s.makeReportBlock(now: .zero)
        #expect(b1.cumulativeLost == 1)
        #expect(b1.fractionLost == 23)
        #expect(b1.extendedHighestSequenceNumber == 0x0001_0004)  // cycle 1, seq 4
        #expect(s.packetsExpected == 11 && s.packetsReceived == 10)

        feed(&s, [5, 7, 8, 9])  // 6 missing
        // highest = 65545 -> expected = 16, received = 14, lost = 2
        // interval: expected 16 - 11 = 5, received 14 - 10 = 4, lost 1 -> fraction = 256 / 5 = 51
        let b2 = s.makeReportBlock(now: .zero)
        #expect(b2.cumulativeLost == 2)
        #expect(b2.fractionLost == 51)
        #expect(b2.extendedHighestSequenceNumber == 0x0001_0009)

        feed(&s, [9, 6, 10])  // a duplicate, a late 6, a new 10
        // highest = 65546 -> expected = 17, received = 17, lost = 0
        // interval: expected 1, received 3, lost -2 <= 0 -> fraction 0
        let b3 = s.makeReportBlock(now: .zero)
        #expect(b3.cumulativeLost == 0)
        #expect(b3.fractionLost == 0)
        #expect(b3.extendedHighestSequenceNumber == 0x0001_000A)
    }

    @Test func duplicatesMakeCumulativeLossNegative() {
        var s = ReceiveStatistics(ssrc: 1)
        feed(&s, [100, 101, 102, 101, 102])
        // expected = 102 - 100 + 1 = 3, received = 5 -> lost = 3 - 5 = -2 (RFC 3550 §6.4.1 allows it)
        // interval: expected 3, received 5 -> lost -2 -> fraction 0
        let b = s.makeReportBlock(now: .zero)
        #expect(b.cumulativeLost == -2)
        #expect(b.fractionLost == 0)
        // The 24-bit field carries it as two's complement: -2 = 0xFFFFFE.
        var bytes: [UInt8] = []
        b.serialize(into: &bytes)
        #expect(Array(bytes[5..<8]) == [0xFF, 0xFF, 0xFE])
        // Nothing new: expected interval 0 -> fraction 0, cumulative unchanged.
        let again = s.makeReportBlock(now: .zero)
        #expect(again.cumulativeLost == -2 && again.fractionLost == 0)
    }

    @Test func aPacketOlderThanTheFirstLowersTheBase() {
        var s = ReceiveStatistics(ssrc: 1)
        feed(&s, [10, 11, 9])
        // base 9, highest 11 -> expected 3, received 3, lost 0 (not -1)
        #expect(s.packetsExpected == 3)
        #expect(s.cumulativeLost == 0)
    }

    @Test func cumulativeLossClampsTo24BitsPositive() {
        var s = ReceiveStatistics(ssrc: 1)
        // 282 packets, each 30000 ahead of the last (less than half the space, so forward):
        // highest = 281 * 30000 = 8_430_000, base 0 -> expected 8_430_001, received 282
        // lost = 8_430_001 - 282 = 8_429_719 > 0x7FFFFF = 8_388_607 -> clamped
        for k in 0...281 { feed(&s, [UInt16(truncatingIfNeeded: k * 30_000)]) }
        #expect(s.packetsLost == 8_429_719)
        let b = s.makeReportBlock(now: .zero)
        #expect(b.cumulativeLost == 8_388_607)
        // fraction = 8_429_719 * 256 / 8_430_001 = 2_158_008_064 / 8_430_001 = 255 (255.99...)
        #expect(b.fractionLost == 255)
        // extended highest: 8_430_000 = 0x0080_A170 (cycle 128, seq 0xA170)
        #expect(b.extendedHighestSequenceNumber == 8_430_000)
        var bytes: [UInt8] = []
        b.serialize(into: &bytes)
        #expect(Array(bytes[5..<8]) == [0x7F, 0xFF, 0xFF])
    }

    @Test func cumulativeLossClampsTo24BitsNegative() {
        var s = ReceiveStatistics(ssrc: 1)
        // One packet and 8_388_609 duplicates: expected 1, received 8_388_610
        // lost = 1 - 8_388_610 = -8_388_609 < -0x800000 = -8_388_608 -> clamped
        for _ in 0..<8_388_610 { s.record(sequenceNumber: 7, rtpTimestamp: 0, clockRate: 8000, now: .zero) }
        #expect(s.packetsLost == -8_388_609)
        #expect(s.cumulativeLost == -8_388_608)
        var bytes: [UInt8] = []
        s.makeReportBlock(now: .zero).serialize(into: &bytes)
        #expect(Array(bytes[5..<8]) == [0x80, 0x00, 0x00])
    }

    @Test func jitterForAKnownArrivalPattern() {
        var s = ReceiveStatistics(ssrc: 1)
        // 90 kHz; one packet every 10 ms of media time (900 ticks), starting just below the 32-bit
        // timestamp wrap (0xFFFF_FB00 + 2 * 900 wraps to 520).
        // Arrivals (ms): 0, 10, 22, 30, 45 -> in ticks (x 90): 0, 900, 1980, 2700, 4050
        // Transit R - S: 0, 0, 180, 0, 450
        // |D|: -, 0, 180, 180, 450
        // J1 = 0 + (0 - 0) / 16                 = 0
        // J2 = 0 + (180 - 0) / 16               = 11.25
        // J3 = 11.25 + (180 - 11.25) / 16       = 11.25 + 10.546875 = 21.796875
        // J4 = 21.796875 + (450 - 21.796875)/16 = 21.796875 + 26.7626953125 = 48.5595703125
        let base: UInt32 = 0xFFFF_FB00
        let arrivals: [Int64] = [0, 10, 22, 30, 45]
        let expected: [Double] = [0, 0, 11.25, 21.796875, 48.5595703125]
        for (i, a) in arrivals.enumerated() {
            s.record(sequenceNumber: UInt16(i), rtpTimestamp: base &+ UInt32(i) * 900, clockRate: 90_000, now: ms(a))
            #expect(s.jitter == expected[i])
            if i == 2 {
                // A duplicate of packet 2 at 25 ms changes nothing: only packets that advance the
                // highest sequence number update J, and packet 3's D is still taken against packet 2.
                s.record(sequenceNumber: 2, rtpTimestamp: base &+ 1800, clockRate: 90_000, now: ms(25))
                #expect(s.jitter == 11.25)
            }
        }
        let b = s.makeReportBlock(now: ms(45))
        #expect(b.jitter == 48)  // truncated
    }

    @Test func lsrAndDlsrFromTheLastSenderReport() {
        var s = ReceiveStatistics(ssrc: 1)
        s.record(sequenceNumber: 1, rtpTimestamp: 0, clockRate: 90_000, now: ms(9_000))
        let before = s.makeReportBlock(now: ms(9_500))
        #expect(before.lastSenderReport == 0 && before.delaySinceLastSenderReport == 0)

        // SR NTP 0xDEAD_BEEF_1234_5678 arrives at 10 s: LSR = middle 32 bits = 0xBEEF_1234.
        let sr = SenderReport(ssrc: 1, ntpTimestamp: 0xDEAD_BEEF_1234_5678, rtpTimestamp: 0, packetCount: 0, octetCount: 0)
        s.recordSenderReport(sr, now: ms(10_000))
        // Report at 10.5 s: DLSR = 0.5 s * 65536 = 32768
        let b = s.makeReportBlock(now: ms(10_500))
        #expect(b.lastSenderReport == 0xBEEF_1234)
        #expect(b.delaySinceLastSenderReport == 32_768)
        // At 11.25 s: 1.25 * 65536 = 81920; at 10.001 s: 0.001 * 65536 = 65.536 -> 65
        let later = s.makeReportBlock(now: ms(11_250)), sooner = s.makeReportBlock(now: ms(10_001))
        #expect(later.delaySinceLastSenderReport == 81_920)
        #expect(sooner.delaySinceLastSenderReport == 65)

        // A newer SR replaces it.
        s.recordSenderReport(ntpTimestamp: NTPTimestamp(seconds: 0x0000_0102, fraction: 0x0304_0000), now: ms(12_000))
        let c = s.makeReportBlock(now: ms(12_000))
        #expect(c.lastSenderReport == 0x0102_0304 && c.delaySinceLastSenderReport == 0)
    }

    @Test func holdsOnlyScalars() {
        // Recording a packet cannot allocate: the state is plain data (no references, no buffers).
        #expect(_isPOD(ReceiveStatistics.self))
        #expect(_isPOD(SenderStatistics.self))
        #expect(_isPOD(RemoteReceptionStatistics.self))
        #expect(_isPOD(ReportScheduler.self))
    }
}
