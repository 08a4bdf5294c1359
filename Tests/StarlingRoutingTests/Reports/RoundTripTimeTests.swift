import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

private func ms(_ m: Int64) -> Instant { Instant(nanoseconds: m * 1_000_000) }

@Suite struct RoundTripTimeTests {
    @Test func rfc3550Example() {
        // RFC 3550 §6.4.1, figure 2: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s),
        // DLSR = 0x0005:4000 (5.250 s); A - LSR - DLSR = 0x0006:2000 = 6.125 s.
        let block = ReportBlock(ssrc: 1, lastSenderReport: 0xB705_2000, delaySinceLastSenderReport: 0x0005_4000)
        let arrival = NTPTimestamp(seconds: 0xB710, fraction: 0x8000_0000)
        #expect(arrival.compact == 0xB710_8000)
        #expect(RoundTripTime.compute(block, arrival: arrival) == .milliseconds(6_125))
    }

    @Test func noSenderReportYetOrNegative() {
        let arrival = NTPTimestamp(seconds: 0xB710, fraction: 0)
        #expect(RoundTripTime.compute(ReportBlock(ssrc: 1, lastSenderReport: 0), arrival: arrival) == nil)
        // LSR + DLSR after A (skewed clock): 0xB710_0000 - 0xB70F_0000 - 0x0002_0000 = -1 s -> 0
        let skewed = ReportBlock(ssrc: 1, lastSenderReport: 0xB70F_0000, delaySinceLastSenderReport: 0x0002_0000)
        #expect(RoundTripTime.compute(skewed, arrival: arrival) == .zero)
    }

    @Test func acrossTheWrapOfTheCompactClock() {
        // LSR 0xFFFF_8000, DLSR 0x0000_4000, A 0x0000_4000: 0x4000 - 0xFFFF_8000 - 0x4000 mod 2^32
        // = 0x8000 = 0.5 s
        let block = ReportBlock(ssrc: 1, lastSenderReport: 0xFFFF_8000, delaySinceLastSenderReport: 0x4000)
        #expect(RoundTripTime.compute(block, arrival: NTPTimestamp(rawValue: 0x4000 << 16)) == .milliseconds(500))
    }

    @Test func endToEndThroughOurOwnComponents() throws {
        // We send an SR at instant 0, wall clock Unix 1_700_000_000 s (fraction 0).
        let unix0: Int64 = 1_700_000_000_000_000_000
        var sender = SenderStatistics(ssrc: 9, clockRate: 90_000)
        sender.recordSent(rtpTimestamp: 0, payloadBytes: 100, capturedAt: .zero)
        let sr = try #require(sender.makeSenderReport(now: .zero, wallClock: NTPTimestamp(unixNanoseconds: unix0)))
        // The subscriber gets it 40 ms later, reports 250 ms after that; the block takes 40 ms back.
        var receiver = ReceiveStatistics(ssrc: 9)
        receiver.record(sequenceNumber: 1, rtpTimestamp: 0, clockRate: 90_000, now: ms(40))
        receiver.recordSenderReport(sr, now: ms(40))
        let block = receiver.makeReportBlock(now: ms(290))
        #expect(block.delaySinceLastSenderReport == 16_384)  // 0.25 * 65536
        // Back at 330 ms: A's fraction = floor(0.33 * 2^32) = 1_417_339_207, >> 16 = 21_626;
        // LSR's fraction part is 0, so RTT = 21_626 - 16_384 = 5_242 units
        // = 5_242 * 1e9 / 65536 ns = 79_986_572.27 -> 79_986_572 ns (80 ms at 1/65536 s resolution)
        var remote = RemoteReceptionStatistics(ssrc: 9)
        let sample = remote.receive(block, now: ms(330), arrival: NTPTimestamp(unixNanoseconds: unix0 + 330_000_000))
        #expect(sample == .nanoseconds(79_986_572))
        #expect(remote.rtt.smoothed == .nanoseconds(79_986_572))
    }

    @Test func remoteLossFigures() {
        var remote = RemoteReceptionStatistics(ssrc: 3)
        #expect(remote.lastReportAt == nil && remote.rtt.smoothed == nil)
        let block = ReportBlock(ssrc: 3, fractionLost: 64, cumulativeLost: -3,
                                extendedHighestSequenceNumber: 0x0002_0010, jitter: 77)
        let sample = remote.receive(block, now: ms(5), arrival: NTPTimestamp(rawValue: 0))
        #expect(sample == nil)  // LSR 0
        #expect(remote.fractionLost == 64 && remote.lossRatio == 0.25)  // 64 / 256
        #expect(remote.cumulativeLost == -3)
        #expect(remote.extendedHighestSequenceNumber == 0x0002_0010 && remote.jitter == 77)
        #expect(remote.lastReportAt == ms(5))
    }

    @Test func smoothedRTT() {
        var e = RTTEstimator()
        e.add(.milliseconds(100))
        #expect(e.smoothed == .milliseconds(100))
        e.add(.milliseconds(180))  // 100 + (180 - 100) / 8 = 110
        #expect(e.smoothed == .milliseconds(110))
        e.add(.milliseconds(30))   // 110 + (30 - 110) / 8 = 100
        #expect(e.smoothed == .milliseconds(100))
        #expect(e.latest == .milliseconds(30) && e.minimum == .milliseconds(30))
    }
}

@Suite struct ReportSchedulerTests {
    @Test func fixedInterval() {
        var s = ReportScheduler(interval: .seconds(1), randomized: false, seed: 0, start: ms(10_000))
        #expect(s.nextDeadline == ms(10_500))  // first after half an interval (RFC 3550 §6.2)
        #expect(!s.due(now: ms(10_499)))
        #expect(s.due(now: ms(10_499)) == false)
        var polled = s.poll(now: ms(10_499))
        #expect(!polled)
        polled = s.poll(now: ms(10_500))
        #expect(polled)
        #expect(s.nextDeadline == ms(11_500))
        polled = s.poll(now: ms(11_600))
        #expect(polled)       // late wake-up: the next is one interval after sending
        #expect(s.nextDeadline == ms(12_600))
    }

    @Test func randomizedBetweenHalfAndOneAndAHalfIntervals() {
        var s = ReportScheduler.video(seed: 42, start: .zero)
        #expect(s.nextDeadline >= ms(250) && s.nextDeadline < ms(750))
        var now = s.nextDeadline
        var total = Duration.zero
        let n = 2000
        var lo = Duration.seconds(10), hi = Duration.zero
        for _ in 0..<n {
            let polled = s.poll(now: now)
            #expect(polled)
            let gap = s.nextDeadline - now
            lo = min(lo, gap); hi = max(hi, gap)
            total += gap
            now = s.nextDeadline
        }
        #expect(lo >= .milliseconds(500) && hi < .milliseconds(1_500))
        #expect(lo < .milliseconds(550) && hi > .milliseconds(1_450))  // the range is actually used
        let mean = total / n
        #expect(mean > .milliseconds(970) && mean < .milliseconds(1_030))

        // Deterministic for a seed; another seed differs.
        #expect(ReportScheduler.video(seed: 42, start: .zero).nextDeadline == ReportScheduler.video(seed: 42, start: .zero).nextDeadline)
        #expect(ReportScheduler.video(seed: 43, start: .zero).nextDeadline != ReportScheduler.video(seed: 42, start: .zero).nextDeadline)
        let audio = ReportScheduler.audio(seed: 1, start: .zero)
        #expect(audio.interval == .seconds(5) && audio.nextDeadline >= ms(1_250) && audio.nextDeadline < ms(3_750))
    }
}
