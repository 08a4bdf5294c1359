import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@Suite struct NACKGeneratorTests {
    private func poll(_ g: inout NACKGenerator, _ now: Instant) -> [UInt16] { Array(g.pollNACK(now: now)) }

    @Test func noNACKForPacketsReorderedWithinTolerance() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 3, reorderingDelay: .milliseconds(10)))
        g.received(sequenceNumber: 100, now: at(ms: 0))
        #expect(g.received(sequenceNumber: 102, now: at(ms: 1)) == .afterGap(missing: 1))
        #expect(g.received(sequenceNumber: 103, now: at(ms: 2)) == .inOrder)
        #expect(g.nextDeadline == at(ms: 11))
        #expect(g.received(sequenceNumber: 101, now: at(ms: 3)) == .recovered)
        #expect(poll(&g, at(ms: 11)).isEmpty)
        #expect(g.nextDeadline == nil)
        #expect(g.counters.nacked == 0 && g.counters.recovered == 1)
        #expect(g.received(sequenceNumber: 101, now: at(ms: 12)) == .late)  // duplicate
    }

    @Test func nacksAfterTheReorderingDelay() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 100, reorderingDelay: .milliseconds(10)))
        g.received(sequenceNumber: 1, now: at(ms: 0))
        g.received(sequenceNumber: 4, now: at(ms: 5))
        #expect(poll(&g, at(ms: 14)).isEmpty)
        #expect(g.nextDeadline == at(ms: 15))
        #expect(poll(&g, at(ms: 15)) == [2, 3])
    }

    @Test func nacksAfterReorderingPackets() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 3, reorderingDelay: .seconds(10)))
        g.received(sequenceNumber: 1, now: at(ms: 0))
        g.received(sequenceNumber: 3, now: at(ms: 1))
        g.received(sequenceNumber: 4, now: at(ms: 2))
        #expect(poll(&g, at(ms: 2)).isEmpty)
        g.received(sequenceNumber: 5, now: at(ms: 3))  // 2 is now 3 behind
        #expect(g.nextDeadline == at(ms: 3))
        #expect(poll(&g, at(ms: 3)) == [2])
    }

    @Test func retriesSpacedByRTTThenGivesUp() {
        var config = NACKGenerator.Configuration(reorderingPackets: 1, maxRetries: 10, minRetryInterval: .milliseconds(20))
        config.maxAge = .seconds(5)
        var g = NACKGenerator(configuration: config, rtt: .milliseconds(50))
        g.received(sequenceNumber: 10, now: at(ms: 0))
        g.received(sequenceNumber: 12, now: at(ms: 0))
        var nackTimes: [Int] = []
        var t = 0
        while let deadline = g.nextDeadline {
            t = Int(deadline.milliseconds)
            if poll(&g, at(ms: t)) == [11] { nackTimes.append(t) }
        }
        #expect(nackTimes == (0..<10).map { $0 * 50 })
        #expect(t == 500)  // given up one RTT after the 10th NACK
        #expect(g.counters.gaveUp == 1)
        #expect(g.takeGaveUp() == 1)
        #expect(g.takeGaveUp() == 0)
        #expect(g.missingCount == 0)
        #expect(!g.isMissing(11))
    }

    @Test func retryIntervalHasAFloor() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 1, minRetryInterval: .milliseconds(20)), rtt: .milliseconds(1))
        g.received(sequenceNumber: 10, now: at(ms: 0))
        g.received(sequenceNumber: 12, now: at(ms: 0))
        #expect(poll(&g, at(ms: 0)) == [11])
        #expect(g.nextDeadline == at(ms: 20))
        #expect(poll(&g, at(ms: 19)).isEmpty)
        #expect(poll(&g, at(ms: 20)) == [11])
    }

    @Test func arrivalAfterNACKClearsTheNumber() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 1))
        g.received(sequenceNumber: 10, now: at(ms: 0))
        g.received(sequenceNumber: 13, now: at(ms: 0))
        #expect(poll(&g, at(ms: 0)) == [11, 12])
        #expect(g.received(sequenceNumber: 12, now: at(ms: 60)) == .recovered)
        #expect(g.isMissing(11) && !g.isMissing(12))
        #expect(poll(&g, at(ms: 100)) == [11])
    }

    @Test func wrapsAround65535() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 1))
        g.received(sequenceNumber: 65533, now: at(ms: 0))
        #expect(g.received(sequenceNumber: 2, now: at(ms: 1)) == .afterGap(missing: 4))
        #expect(poll(&g, at(ms: 1)) == [65534, 65535, 0, 1])
        #expect(g.received(sequenceNumber: 65535, now: at(ms: 2)) == .recovered)
        #expect(g.received(sequenceNumber: 0, now: at(ms: 2)) == .recovered)
        #expect(poll(&g, at(ms: 200)) == [65534, 1])
        var fci: [UInt8] = []
        GenericNACK.serialize(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: [UInt16(65534), 1], into: &fci)
        #expect(fci.count == 16)  // one item: the BLP spans the wrap
    }

    @Test func forgetsNumbersTooFarBehind() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 1, maxDistance: 100))
        g.received(sequenceNumber: 0, now: at(ms: 0))
        g.received(sequenceNumber: 2, now: at(ms: 0))  // 1 missing
        g.received(sequenceNumber: 101, now: at(ms: 1))  // 3...100 missing; 1 is 100 behind: still tracked
        #expect(g.missingCount == 99)
        #expect(g.counters.gaveUp == 0)
        g.received(sequenceNumber: 102, now: at(ms: 2))  // 1 falls out
        #expect(!g.isMissing(1) && g.isMissing(3))
        #expect(g.counters.gaveUp == 1)
        // A jump larger than the window: only its last 100 numbers are tracked.
        g.received(sequenceNumber: 1000, now: at(ms: 3))
        #expect(g.missingCount == 100)
        #expect(g.counters.gaveUp == 1 + 98 + (1000 - 103 - 100))
        #expect(g.counters.missing == 1 + 98 + (1000 - 103))
        #expect(g.isMissing(900) && !g.isMissing(899))
    }

    @Test func forgetsNumbersOlderThanMaxAge() {
        var g = NACKGenerator(
            configuration: .init(reorderingPackets: 1, maxRetries: 100, maxAge: .milliseconds(300)), rtt: .milliseconds(100))
        g.received(sequenceNumber: 0, now: at(ms: 0))
        g.received(sequenceNumber: 2, now: at(ms: 0))
        var polls = 0
        while let d = g.nextDeadline {
            _ = poll(&g, d)
            polls += 1
        }
        #expect(polls == 4)  // NACKs at 0, 100, 200; dropped at 300
        #expect(g.counters.nacked == 3 && g.counters.gaveUp == 1)
    }

    @Test func clearBeforeStopsNACKingOlderNumbers() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 1))
        g.received(sequenceNumber: 65530, now: at(ms: 0))
        g.received(sequenceNumber: 5, now: at(ms: 0))  // 65531...4 missing
        g.clearBefore(sequenceNumber: 2)  // a keyframe starts at 2
        #expect(poll(&g, at(ms: 0)) == [2, 3, 4])
        #expect(g.counters.cleared == 7)
        #expect(g.counters.gaveUp == 0)
        g.clearBefore(sequenceNumber: 6)
        #expect(g.missingCount == 0)
        #expect(g.nextDeadline == nil)
    }

    @Test func pollIntoABufferKeepsWhatDoesNotFitDue() {
        var g = NACKGenerator(configuration: .init(reorderingPackets: 1))
        g.received(sequenceNumber: 0, now: at(ms: 0))
        g.received(sequenceNumber: 6, now: at(ms: 0))
        var out = [UInt16](repeating: 0, count: 3)
        let n = out.withUnsafeMutableBufferPointer { g.pollNACK(now: at(ms: 0), into: $0) }
        #expect(n == 3 && out == [1, 2, 3])
        #expect(g.nextDeadline == at(ms: 0))
        let m = out.withUnsafeMutableBufferPointer { g.pollNACK(now: at(ms: 0), into: $0) }
        #expect(m == 2 && out[0..<2] == [4, 5])
    }

    @Test func lateArrivalsBeforeTheFirstAreIgnored() {
        var g = NACKGenerator()
        g.received(sequenceNumber: 500, now: at(ms: 0))
        #expect(g.received(sequenceNumber: 499, now: at(ms: 1)) == .late)
        #expect(g.missingCount == 0)
        g.reset()
        #expect(g.received(sequenceNumber: 7, now: at(ms: 2)) == .inOrder)
        #expect(g.highestSequenceNumber == 7)
    }
}
