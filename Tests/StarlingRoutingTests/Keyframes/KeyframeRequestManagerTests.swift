import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@Suite struct KeyframeRequestManagerTests {
    private static let low: UInt32 = 0x1000
    private static let high: UInt32 = 0x3000

    private func manager(
        throttle: Duration = .milliseconds(300), retry: Duration = .seconds(1), maxRetries: Int = 3, fir: Bool = false
    ) -> KeyframeRequestManager {
        var m = KeyframeRequestManager(
            configuration: .init(throttleInterval: throttle, retryInterval: retry, maxRetries: maxRetries))
        m.addStream(ssrc: Self.low, prefersFIR: fir)
        m.addStream(ssrc: Self.high, prefersFIR: fir)
        return m
    }

    /// Everything due at `now`.
    private func drain(_ m: inout KeyframeRequestManager, _ now: Instant) -> [KeyframeRequest] {
        var out: [KeyframeRequest] = []
        while let r = m.poll(now: now) { out.append(r) }
        return out
    }

    /// Runs the manager from `from` to `to` in 1 ms steps, polling whenever the deadline has come, and
    /// returns each request with its time in ms.
    private func run(
        _ m: inout KeyframeRequestManager, from: Int, to: Int,
        at hook: (Int, inout KeyframeRequestManager) -> Void = { _, _ in }
    ) -> [(ms: Int, request: KeyframeRequest)] {
        var out: [(ms: Int, request: KeyframeRequest)] = []
        for ms in from...to {
            hook(ms, &m)
            if let d = m.nextDeadline, d <= at(ms: ms) {
                for r in drain(&m, at(ms: ms)) { out.append((ms, r)) }
            }
        }
        return out
    }

    @Test func tenPLIsIn50msBecomeOneRequest() {
        var m = manager()
        let sent = run(&m, from: 0, to: 900) { ms, m in
            if ms < 50, ms % 5 == 0 { m.request(ssrc: Self.low, now: at(ms: ms)) }
        }
        #expect(sent.map(\.ms) == [0])
        #expect(sent.map(\.request) == [KeyframeRequest(ssrc: Self.low, kind: .pli)])
        #expect(m.counters.needs == 10 && m.counters.coalesced == 9 && m.counters.sent == 1)
        #expect(m.state(ssrc: Self.low) == .awaiting)
        #expect(m.state(ssrc: Self.high) == .idle)
    }

    @Test func throttlesToOneRequestPerInterval() {
        var m = manager()
        // Subscribers keep asking every 50 ms (from 5 ms on); the publisher answers each request with a
        // keyframe 20 ms later.
        var sentAt: [Int] = []
        for ms in 0...1000 {
            if ms % 50 == 5 { m.request(ssrc: Self.low, now: at(ms: ms)) }
            if let last = sentAt.last, ms == last + 20 { m.keyframeReceived(ssrc: Self.low, now: at(ms: ms)) }
            if let d = m.nextDeadline, d <= at(ms: ms) {
                for _ in drain(&m, at(ms: ms)) { sentAt.append(ms) }
            }
        }
        #expect(sentAt == [5, 305, 605, 905])
        #expect(m.counters.retried == 0 && m.counters.satisfied == 4)
    }

    @Test func queuedRequestWaitsForTheThrottleAndIsCancelledByAKeyframe() {
        var m = manager()
        m.request(ssrc: Self.low, now: at(ms: 0))
        #expect(drain(&m, at(ms: 0)).count == 1)
        m.keyframeReceived(ssrc: Self.low, now: at(ms: 40))
        #expect(m.nextDeadline == nil)
        m.request(ssrc: Self.low, now: at(ms: 100))
        #expect(m.state(ssrc: Self.low) == .queued)
        #expect(m.nextDeadline == at(ms: 300))
        #expect(drain(&m, at(ms: 299)).isEmpty)
        // A periodic keyframe arrives before the throttle ends: nothing needs sending.
        m.keyframeReceived(ssrc: Self.low, now: at(ms: 200))
        #expect(m.state(ssrc: Self.low) == .idle)
        #expect(m.nextDeadline == nil)
        #expect(drain(&m, at(ms: 300)).isEmpty)
        #expect(m.counters.sent == 1 && m.counters.satisfied == 2)
    }

    @Test func retriesWhenNoKeyframeArrivesThenGivesUp() {
        var m = manager(maxRetries: 2)
        m.request(ssrc: Self.low, now: at(ms: 0))
        let sent = run(&m, from: 0, to: 5000)
        #expect(sent.map(\.ms) == [0, 1000, 2000])
        #expect(m.counters.retried == 2 && m.counters.gaveUp == 1)
        #expect(m.state(ssrc: Self.low) == .idle)
        #expect(m.nextDeadline == nil)
        // A later need starts afresh.
        m.request(ssrc: Self.low, now: at(ms: 6000))
        #expect(drain(&m, at(ms: 6000)).map(\.ssrc) == [Self.low])
    }

    @Test func keyframeStopsRetries() {
        var m = manager()
        m.request(ssrc: Self.low, now: at(ms: 0))
        let sent = run(&m, from: 0, to: 5000) { ms, m in
            if ms == 1500 { m.keyframeReceived(ssrc: Self.low, now: at(ms: ms)) }
        }
        #expect(sent.map(\.ms) == [0, 1000])
        #expect(m.counters.satisfied == 1 && m.counters.gaveUp == 0)
    }

    @Test func aNewNeedWhileAwaitingRenewsTheRetries() {
        var m = manager(maxRetries: 1)
        m.request(ssrc: Self.low, now: at(ms: 0))
        let sent = run(&m, from: 0, to: 6000) { ms, m in
            if ms == 1500 { m.request(ssrc: Self.low, now: at(ms: ms)) }
        }
        // 0 first send, 1000 retry 1 (the limit), 1500 renewed, 2000 retry 1 again, 3000 given up.
        #expect(sent.map(\.ms) == [0, 1000, 2000])
        #expect(m.counters.gaveUp == 1)
    }

    @Test func rttRaisesTheIntervals() {
        var m = manager()
        m.rtt = .milliseconds(700)
        m.request(ssrc: Self.low, now: at(ms: 0))
        let sent = run(&m, from: 0, to: 3000) { ms, m in
            if ms == 100 { m.keyframeReceived(ssrc: Self.low, now: at(ms: ms)) }
            if ms == 200 { m.request(ssrc: Self.low, now: at(ms: ms)) }
        }
        // Throttle 700 ms; the retry after 1400 ms (twice the RTT).
        #expect(sent.map(\.ms) == [0, 700, 2100])
    }

    @Test func layersAreIndependent() {
        var m = manager()
        m.request(ssrc: Self.low, now: at(ms: 0))
        m.request(ssrc: Self.high, now: at(ms: 0))
        #expect(Set(drain(&m, at(ms: 0)).map(\.ssrc)) == [Self.low, Self.high])
        m.keyframeReceived(ssrc: Self.high, now: at(ms: 50))
        #expect(m.state(ssrc: Self.low) == .awaiting && m.state(ssrc: Self.high) == .idle)
        #expect(m.nextDeadline == at(ms: 1000))
        #expect(drain(&m, at(ms: 1000)).map(\.ssrc) == [Self.low])
    }

    @Test func firSequenceNumbersIncrementPerSSRC() {
        var m = manager(maxRetries: 1, fir: true)
        m.addStream(ssrc: 0x5000, prefersFIR: true, firstFIRSequenceNumber: 255)
        m.request(ssrc: Self.low, now: at(ms: 0))
        m.request(ssrc: 0x5000, now: at(ms: 0))
        var sent = drain(&m, at(ms: 0))
        #expect(sent.contains(KeyframeRequest(ssrc: Self.low, kind: .fir(sequenceNumber: 0))))
        #expect(sent.contains(KeyframeRequest(ssrc: 0x5000, kind: .fir(sequenceNumber: 255))))
        // The retry is a new command: a new number (wrapping modulo 256).
        sent = drain(&m, at(ms: 1000))
        #expect(sent.contains(KeyframeRequest(ssrc: Self.low, kind: .fir(sequenceNumber: 1))))
        #expect(sent.contains(KeyframeRequest(ssrc: 0x5000, kind: .fir(sequenceNumber: 0))))
        m.keyframeReceived(ssrc: Self.low, now: at(ms: 1100))
        m.request(ssrc: Self.low, now: at(ms: 1500))
        sent = drain(&m, at(ms: 1500))
        #expect(sent == [KeyframeRequest(ssrc: Self.low, kind: .fir(sequenceNumber: 2))])
        #expect(m.nextFIRSequenceNumber(ssrc: Self.low) == 3)
        #expect(m.nextFIRSequenceNumber(ssrc: Self.high) == 0)
        // The high layer's numbers were never used.
        m.request(ssrc: Self.high, now: at(ms: 1500))
        #expect(drain(&m, at(ms: 1500)) == [KeyframeRequest(ssrc: Self.high, kind: .fir(sequenceNumber: 0))])
    }

    @Test func requestsBuildRTCP() throws {
        let pli = KeyframeRequest(ssrc: 7, kind: .pli)
        #expect(pli.pictureLossIndication(senderSSRC: 1) == PictureLossIndication(senderSSRC: 1, mediaSSRC: 7))
        #expect(pli.firEntry == nil)
        let fir = KeyframeRequest(ssrc: 7, kind: .fir(sequenceNumber: 9))
        #expect(fir.pictureLossIndication(senderSSRC: 1) == nil)
        let entry = try #require(fir.firEntry)
        #expect(entry == FullIntraRequest.Entry(ssrc: 7, sequenceNumber: 9))
    }

    @Test func unknownAndRemovedStreams() {
        var m = manager()
        let known = m.request(ssrc: 0xdead, now: at(ms: 0))
        #expect(!known)
        #expect(m.state(ssrc: 0xdead) == nil)
        #expect(m.counters.needs == 0)
        m.request(ssrc: Self.low, now: at(ms: 0))
        #expect(m.nextDeadline == at(ms: 0))
        m.removeStream(ssrc: Self.low)
        #expect(m.nextDeadline == nil)
        #expect(drain(&m, at(ms: 0)).isEmpty)
        #expect(m.ssrcs == [Self.high])
        m.keyframeReceived(ssrc: Self.low, now: at(ms: 1))  // ignored
        // Re-adding an SSRC keeps its state and only changes the preference.
        m.request(ssrc: Self.high, now: at(ms: 2))
        m.addStream(ssrc: Self.high, prefersFIR: true)
        #expect(m.state(ssrc: Self.high) == .queued)
        #expect(drain(&m, at(ms: 2)) == [KeyframeRequest(ssrc: Self.high, kind: .fir(sequenceNumber: 0))])
        m.reset()
        #expect(m.nextDeadline == nil && m.state(ssrc: Self.high) == .idle)
    }
}
