import StarlingRouting
import StarlingTransport
import Testing

/// The room's data relay on a virtual clock: fan-out and targets with the sender's identity, bounded
/// per-receiver queues (a stalled receiver never delays the others), holding while connecting, the
/// publish-data grant, size and rate limits, and the envelope's parser on bad input.
@Suite struct DataRelayTests {
    let t0 = Instant(nanoseconds: 5_000_000_000)

    func relay(_ limits: DataRelay.Limits = .init(), ready: Bool = true) -> DataRelay {
        let relay = DataRelay(limits: limits)
        for (id, identity) in [("PA_1", "ada"), ("PA_2", "bob"), ("PA_3", "cy")] {
            relay.add(participant: id, identity: identity, canPublish: identity != "cy", now: t0)
            for path in DataRelay.Path.allCases { relay.setReady(ready, participant: id, path: path) }
        }
        return relay
    }

    func drain(_ relay: DataRelay, _ id: String, _ path: DataRelay.Path) -> [DataEnvelope.Incoming] {
        var out: [DataEnvelope.Incoming] = []
        while let bytes = relay.peek(for: id, path: path) {
            relay.pop(for: id, path: path)
            if let m = try? DataEnvelope.Incoming(parsing: bytes) { out.append(m) }
        }
        return out
    }

    static func message(_ text: String, to targets: [String] = []) -> [UInt8] {
        DataEnvelope.Outgoing(targets: targets, isText: true, payload: Array(text.utf8)).serialized()
    }

    @Test func fansOutTaggedWithTheSenderOrToNamedIdentities() {
        let relay = relay()
        #expect(relay.receive(Self.message("hi all"), from: "PA_1", path: .reliable, now: t0) == nil)
        #expect(relay.receive(Self.message("psst", to: ["cy"]), from: "PA_1", path: .lossy, now: t0) == nil)
        let bob = drain(relay, "PA_2", .reliable), cy = drain(relay, "PA_3", .reliable)
        #expect(bob == [DataEnvelope.Incoming(sender: "ada", isText: true, payload: Array("hi all".utf8))] && cy == bob)
        #expect(drain(relay, "PA_1", .reliable).isEmpty)  // not echoed to the sender
        #expect(drain(relay, "PA_2", .lossy).isEmpty)
        #expect(drain(relay, "PA_3", .lossy).map(\.payload) == [Array("psst".utf8)])
        // cy has no publish-data grant.
        #expect(relay.receive(Self.message("me too"), from: "PA_3", path: .reliable, now: t0) == .notAllowed)
        #expect(relay.counters.refused[.notAllowed] == 1)
    }

    @Test func aStalledReceiverOnlyFillsItsOwnQueues() {
        var limits = DataRelay.Limits()
        limits.reliableQueueBytes = 10_000
        limits.lossyQueueBytes = 5_000
        limits.messagesPerSecond = 10_000
        let relay = relay(limits)
        let chunk = DataEnvelope.Outgoing(isText: false, payload: [UInt8](repeating: 7, count: 990)).serialized()
        var events: [DataRelay.Event] = []
        for i in 0..<30 {
            relay.receive(chunk, from: "PA_1", path: .lossy, now: t0 + .milliseconds(i))
            relay.receive(chunk, from: "PA_1", path: .reliable, now: t0 + .milliseconds(i))
            // bob keeps up; cy reads nothing.
            _ = drain(relay, "PA_2", .lossy)
            _ = drain(relay, "PA_2", .reliable)
            while let e = relay.pollEvent() { events.append(e) }
        }
        #expect(relay.counters.lossyDropped > 0 && relay.queuedBytes(for: "PA_3", path: .lossy) <= 5_000)
        #expect(events.contains(.reliableOverflow(participant: "PA_3")))
        #expect(!events.contains(.reliableOverflow(participant: "PA_2")))
        #expect(relay.queuedBytes(for: "PA_3", path: .reliable) <= 10_000)
        #expect(relay.queuedBytes(for: "PA_2", path: .reliable) == 0)
    }

    @Test func messagesWaitWhileTheReceiverConnects() {
        let relay = relay(ready: false)
        relay.receive(Self.message("one"), from: "PA_1", path: .reliable, now: t0)
        relay.receive(Self.message("two"), from: "PA_1", path: .reliable, now: t0)
        #expect(relay.peek(for: "PA_2", path: .reliable) == nil)
        relay.setReady(true, participant: "PA_2", path: .reliable)
        #expect(drain(relay, "PA_2", .reliable).map { String(decoding: $0.payload, as: UTF8.self) } == ["one", "two"])
        // Someone who joins later gets only what is sent after.
        relay.add(participant: "PA_4", identity: "dee", canPublish: true, now: t0)
        relay.setReady(true, participant: "PA_4", path: .reliable)
        #expect(drain(relay, "PA_4", .reliable).isEmpty)
    }

    @Test func sizeAndRateLimits() {
        var limits = DataRelay.Limits()
        limits.maxMessageBytes = 100
        limits.messagesPerSecond = 5
        let relay = relay(limits)
        #expect(relay.receive(DataEnvelope.Outgoing(isText: false, payload: [UInt8](repeating: 0, count: 101)).serialized(), from: "PA_1", path: .reliable, now: t0) == .tooLarge)
        let results = (0..<8).map { _ in relay.receive(Self.message("x"), from: "PA_1", path: .reliable, now: t0) }
        #expect(results.filter { $0 == nil }.count == 5 && results.filter { $0 == .rateLimited }.count == 3)
        // A second later the bucket is full again.
        #expect(relay.receive(Self.message("x"), from: "PA_1", path: .reliable, now: t0 + .seconds(1)) == nil)
        #expect(relay.receive(Self.message("x"), from: "PA_9", path: .reliable, now: t0) == .unknownSender)
    }

    @Test func badEnvelopesAreRefused() throws {
        let relay = relay()
        let bad: [[UInt8]] = [[], [1, 0], [2, 0, 0], [1, 0, 1], [1, 0, 1, 5, 0x61], [1, 0, 1, 1, 0xFF], [1, 1, 0, 0xFF, 0xFE]]
        for bytes in bad { #expect(relay.receive(bytes, from: "PA_1", path: .reliable, now: t0) == .malformed, "\(bytes)") }
        #expect(relay.counters.refused[.malformed] == bad.count && relay.counters.messagesIn == 0)
        // Round trips.
        let out = DataEnvelope.Outgoing(targets: ["bob", "ünï"], isText: false, payload: [0, 1, 2])
        #expect(try DataEnvelope.Outgoing(parsing: out.serialized()) == out)
        let inc = DataEnvelope.Incoming(sender: "ada", isText: true, payload: [])
        #expect(try DataEnvelope.Incoming(parsing: inc.serialized()) == inc)
    }
}
