import StarlingRouting
import StarlingTransport
import Testing

@Suite struct ActiveSpeakerDetectorTests {
    typealias Detector = ActiveSpeakerDetector<UInt32>

    private static let alice: UInt32 = 1
    private static let bob: UInt32 = 2
    private static let carol: UInt32 = 3

    /// A room of synthetic speakers sending one audio packet every 20 ms, and the events it produced.
    private struct Room {
        var detector: Detector
        var events: [(ms: Int, producer: UInt32?)] = []

        init(_ configuration: Detector.Configuration = .init(), producers: [UInt32] = [alice, bob]) {
            detector = Detector(configuration: configuration)
            for p in producers { detector.addProducer(p) }
        }

        /// Runs from `from` to `to` ms (exclusive) in 1 ms steps; `level` gives a producer's level at a
        /// packet time, or nil for no packet (DTX). Handles timeouts before the packets of each step.
        mutating func run(from: Int, to: Int, level: (UInt32, Int) -> UInt8?) {
            for ms in from..<to {
                let now = at(ms: ms)
                if let d = detector.nextDeadline, d <= now {
                    detector.handleTimeout(now: now)
                    while let e = detector.pollEvent() { events.append((ms, e.producer)) }
                }
                guard ms % 20 == 0 else { continue }
                for p in detector.producers {
                    if let l = level(p, ms) { detector.record(producer: p, level: l, voiceActivity: nil, now: now) }
                }
            }
        }

        mutating func drainEvents(_ ms: Int) {
            while let e = detector.pollEvent() { events.append((ms, e.producer)) }
        }
    }

    @Test func twoSpeakersTakingTurns() {
        var room = Room()
        // Alice 0-3 s, Bob 3-6 s, Alice 6-9 s; the one not speaking sends silence (level 127).
        room.run(from: 0, to: 9000) { p, ms in
            let aliceTurn = ms < 3000 || ms >= 6000
            return (p == Self.alice) == aliceTurn ? 20 : 127
        }
        #expect(room.events.map(\.producer) == [Self.alice, Self.bob, Self.alice])
        let times = room.events.map(\.ms)
        // The first evaluation is at 100 ms and the speaker must hold for 1 s.
        #expect(times[0] == 1100)
        // A switch takes the minimum duration plus the time for the old speaker to fade from the window.
        #expect((4000...4600).contains(times[1]))
        #expect((7000...7600).contains(times[2]))
        #expect(room.detector.dominantSpeaker == Self.alice)
    }

    @Test func briefCoughDoesNotSwitch() {
        var room = Room()
        // Alice talks throughout at -30 dBov; Bob coughs loudly (0 dBov) for 300 ms at 2 s while she
        // talks and again at 4 s during her 1.5 s pause.
        room.run(from: 0, to: 8000) { p, ms in
            if p == Self.alice { return (4000..<5500).contains(ms) ? 127 : 30 }
            return (2000..<2300).contains(ms) || (4000..<4300).contains(ms) ? 0 : 127
        }
        #expect(room.events.map(\.producer) == [Self.alice])
        #expect(room.detector.dominantSpeaker == Self.alice)
    }

    @Test func aLongerInterruptionSwitches() {
        var room = Room()
        room.run(from: 0, to: 8000) { p, ms in
            if p == Self.alice { return 30 }
            return (3000..<5000).contains(ms) ? 0 : 127
        }
        #expect(room.events.map(\.producer) == [Self.alice, Self.bob, Self.alice])
    }

    @Test func similarLevelsDoNotSwitch() {
        var room = Room()
        // Both talk; Bob starts later and is only 3 dB louder (less than the 6 dB margin).
        room.run(from: 0, to: 6000) { p, ms in
            if p == Self.alice { return 30 }
            return ms >= 2000 ? 27 : 127
        }
        #expect(room.events.map(\.producer) == [Self.alice])
    }

    @Test func silentDominantSpeakerIsClearedAfterTheTimeout() {
        var room = Room()
        // Alice talks until 2 s, then DTX: no packets at all.
        room.run(from: 0, to: 8000) { p, ms in p == Self.alice && ms < 2000 ? 20 : nil }
        // Her last loud bucket (1.9-2.0 s) leaves the 500 ms window at 2.5 s; 2 s later she is cleared.
        #expect(room.events.map(\.ms) == [1100, 4500])
        #expect(room.events.map(\.producer) == [Self.alice, nil])
        #expect(room.detector.dominantSpeaker == nil)
        #expect(room.detector.nextDeadline == nil)
    }

    @Test func silentDominantSpeakerHandsOverAtTheTimeout() {
        var room = Room()
        // Alice stops at 2 s; Bob starts quietly (-45 dBov) at 4 s. He would need 1 s to take over, but
        // Alice's silence timeout at 4.5 s hands over to him first.
        room.run(from: 0, to: 6000) { p, ms in
            if p == Self.alice { return ms < 2000 ? 20 : 127 }
            return ms >= 4000 ? 45 : 127
        }
        #expect(room.events.map(\.ms) == [1100, 4500])
        #expect(room.events.map(\.producer) == [Self.alice, Self.bob])
    }

    @Test func withoutSilenceTimeoutTheLastSpeakerStays() {
        var room = Room(.init(silenceTimeout: nil))
        room.run(from: 0, to: 8000) { p, ms in p == Self.alice && ms < 2000 ? 20 : 127 }
        #expect(room.events.map(\.producer) == [Self.alice])
        #expect(room.detector.nextDeadline == nil)
    }

    @Test func removingTheDominantSpeakerHandsOver() {
        var room = Room(producers: [Self.alice, Self.bob, Self.carol])
        // Alice loud, Bob quieter (not enough to take over), Carol silent.
        room.run(from: 0, to: 3000) { p, ms in p == Self.alice ? 20 : p == Self.bob ? 40 : 127 }
        #expect(room.events.map(\.producer) == [Self.alice])
        room.detector.removeProducer(Self.alice, now: at(ms: 3000))
        room.drainEvents(3000)
        #expect(room.detector.dominantSpeaker == Self.bob)
        let recorded = room.detector.record(producer: Self.alice, level: 0, voiceActivity: nil, now: at(ms: 3000))
        #expect(!recorded)
        // Carol moved into Alice's slot: her state is intact.
        #expect(room.detector.level(of: Self.carol, now: at(ms: 3000)) == 127)
        #expect(room.detector.level(of: Self.bob, now: at(ms: 3000)) == 40)
        room.detector.removeProducer(Self.bob, now: at(ms: 3000))
        room.drainEvents(3000)
        #expect(room.events.map(\.producer) == [Self.alice, Self.bob, nil])
        room.detector.removeProducer(Self.carol, now: at(ms: 3000))
        room.detector.removeProducer(Self.carol, now: at(ms: 3000))
        #expect(room.detector.producers.isEmpty && room.detector.nextDeadline == nil)
        #expect(room.detector.pollEvent() == nil)
    }

    @Test func removingAQuietProducerKeepsTheOthers() {
        var room = Room(producers: [Self.alice, Self.bob, Self.carol])
        room.run(from: 0, to: 2000) { p, ms in p == Self.carol ? 25 : 127 }
        room.detector.removeProducer(Self.alice, now: at(ms: 2000))
        room.drainEvents(2000)
        #expect(room.events.map(\.producer) == [Self.carol])
        #expect(room.detector.level(of: Self.carol, now: at(ms: 2000)) == 25)
        room.run(from: 2000, to: 4000) { p, ms in p == Self.carol ? 25 : 127 }
        #expect(room.events.map(\.producer) == [Self.carol])
    }

    @Test func levelsSnapshot() {
        var room = Room(producers: [Self.alice, Self.bob, Self.carol])
        room.run(from: 0, to: 1000) { p, _ in p == Self.alice ? 35 : p == Self.bob ? 20 : 127 }
        let levels = room.detector.levels(now: at(ms: 1000))
        #expect(levels.map(\.producer) == [Self.bob, Self.alice, Self.carol])
        #expect(levels.map(\.level) == [20, 35, 127])
        #expect(room.detector.level(of: 99, now: at(ms: 1000)) == nil)
        // Two of the five buckets silent: Bob's 30 dB above -50 dBov becomes 18 (-32 dBov).
        room.run(from: 1000, to: 1250) { _, _ in 127 }
        #expect(room.detector.level(of: Self.bob, now: at(ms: 1250)) == 32)
        // All of it silent.
        #expect(room.detector.level(of: Self.bob, now: at(ms: 1600)) == 127)
    }

    @Test func voiceActivityFlag() {
        var d = Detector()
        d.addProducer(Self.alice)
        d.record(producer: Self.alice, level: 10, voiceActivity: false, now: at(ms: 0))
        #expect(d.nextDeadline == nil)
        #expect(d.level(of: Self.alice, now: at(ms: 0)) == 127)
        d.record(producer: Self.alice, level: 10, voiceActivity: true, now: at(ms: 20))
        #expect(d.nextDeadline == at(ms: 100))
        var ignoring = Detector(configuration: .init(usesVoiceActivity: false))
        ignoring.addProducer(Self.alice)
        ignoring.record(producer: Self.alice, level: 10, voiceActivity: false, now: at(ms: 0))
        // 40 dB above -50 dBov in one bucket of five: 8 dB, -42 dBov.
        #expect(ignoring.level(of: Self.alice, now: at(ms: 100)) == 42)
    }

    @Test func silenceThresholdAndOutOfRangeLevels() {
        var d = Detector(configuration: .init(silenceLevel: 60))
        d.addProducer(Self.alice)
        d.addProducer(Self.alice)  // no-op
        #expect(d.producers == [Self.alice])
        d.record(producer: Self.alice, level: 60, voiceActivity: nil, now: at(ms: 0))
        d.record(producer: Self.alice, level: 255, voiceActivity: nil, now: at(ms: 20))
        #expect(d.nextDeadline == nil)
        #expect(d.level(of: Self.alice, now: at(ms: 40)) == 127)
        d.record(producer: Self.alice, level: 55, voiceActivity: nil, now: at(ms: 40))
        // One bucket of three packets averaging 5/3 dB, over five buckets: 1/3 dB, rounds to 0 dB above.
        #expect(d.level(of: Self.alice, now: at(ms: 100)) == 60)
    }

    @Test func pendingEventsAreBounded() {
        var d = Detector(configuration: .init(minSwitchDuration: .zero, maxPendingEvents: 2))
        // Each removal of the dominant speaker while another talks produces an event.
        for p in UInt32(1)...5 { d.addProducer(p) }
        for p in UInt32(1)...5 { d.record(producer: p, level: UInt8(10 + p), voiceActivity: nil, now: at(ms: 0)) }
        d.handleTimeout(now: at(ms: 100))
        #expect(d.dominantSpeaker == 1)
        for p in UInt32(1)...4 { d.removeProducer(p, now: at(ms: 100)) }
        #expect(d.droppedEvents == 3)
        #expect(d.pollEvent() == ActiveSpeakerEvent(producer: 4, at: at(ms: 100)))
        #expect(d.pollEvent() == ActiveSpeakerEvent(producer: 5, at: at(ms: 100)))
        #expect(d.pollEvent() == nil)
    }

    @Test func bucketCountAndWindowShapeTheSmoothing() {
        var d = Detector(configuration: .init(window: .milliseconds(300), bucketCount: 3))
        d.addProducer(Self.alice)
        d.record(producer: Self.alice, level: 20, voiceActivity: nil, now: at(ms: 0))
        #expect(d.nextDeadline == at(ms: 100))
        #expect(d.level(of: Self.alice, now: at(ms: 99)) == 127)  // the bucket is not whole yet
        #expect(d.level(of: Self.alice, now: at(ms: 100)) == 40)  // 30 dB / 3 buckets = 10 dB above -50
        #expect(d.level(of: Self.alice, now: at(ms: 399)) == 40)
        #expect(d.level(of: Self.alice, now: at(ms: 400)) == 127)
    }
}
