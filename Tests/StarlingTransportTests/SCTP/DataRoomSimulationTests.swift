import StarlingMediaTestSupport
import StarlingRouting
import StarlingTransport
import Testing

extension SCTPTests {
/// Data channels in the deterministic simulation: the room's `DataRoom` (the code the server runs:
/// relay channels, `DataRelay`, pumping, overflow resets) with real SCTP associations (usrsctp) and DCEP at
/// both ends of every participant's connection, joined by `SimNetwork` on a virtual clock. Node 0 is the
/// server; participant i is node i + 1. DTLS is left out: it carries SCTP packets one for one.
@Suite struct DataRoomSimulationTests {
    struct Delivery: Equatable {
        var sender: String
        var payload: [UInt8]
        var label: String
        var at: Instant
    }

    final class Member {
        let name: String
        let node: Int
        let server: DataChannelEndpoint
        let client: DataChannelEndpoint
        /// The client's channels by stream id: label, from the `.opened` events.
        var channels: [UInt16: String] = [:]
        var received: [Delivery] = []
        var closedLabels: [String] = []

        init(name: String, node: Int) throws {
            self.name = name
            self.node = node
            server = DataChannelEndpoint(association: try SCTPAssociation(), isDTLSClient: false, remoteMaxMessageSize: 262_144)
            client = DataChannelEndpoint(association: try SCTPAssociation(), isDTLSClient: true, remoteMaxMessageSize: 262_144)
        }

        func channel(_ label: String) -> UInt16? {
            channels.first { $0.value == label && client.channels[$0.key]?.state == .open }?.key
        }
    }

    final class Sim {
        var network: SimNetwork
        var now = SCTPTests.nextStart()
        let room: DataRoom
        var members: [Member] = []
        var notices: [DataRoom.Notice] = []

        init(names: [String], limits: DataRelay.Limits, link: SimNetwork.Link, seed: UInt64) throws {
            network = SimNetwork(seed: seed)
            network.defaultLink = link
            room = DataRoom(relay: DataRelay(limits: limits))
            for (i, name) in names.enumerated() {
                let member = try Member(name: name, node: i + 1)
                members.append(member)
                room.relay.add(participant: name, identity: name, canPublish: true, now: now)
                room.attach(participant: name, endpoint: member.server)
                try member.server.association.connect(now: now)
                try member.client.association.connect(now: now)
            }
        }

        func member(_ name: String) -> Member { members.first { $0.name == name }! }

        /// Runs `milliseconds` of virtual time in 5 ms steps (the room's tick is 10 ms; finer is fine).
        func run(milliseconds: Int, until done: () -> Bool = { false }) {
            for _ in 0..<(milliseconds / 5) {
                now = now + .milliseconds(5)
                while let d = network.pollDelivery(now: now) {
                    if d.to == 0 {
                        let m = members[d.from - 1]
                        m.server.association.handlePacket(d.bytes, now: now)
                        room.handleEvents(of: m.name, now: now)
                    } else {
                        members[d.to - 1].client.association.handlePacket(d.bytes, now: now)
                    }
                }
                for m in members {
                    m.server.association.handleTimeout(now: now)
                    m.client.association.handleTimeout(now: now)
                    room.handleEvents(of: m.name, now: now)
                    readClient(m)
                }
                room.pumpAll()
                while let notice = room.pollNotice() { notices.append(notice) }
                _ = room.takeSent()
                for m in members {
                    while let p = m.server.association.pollTransmit() { network.send(p, from: 0, to: m.node, now: now) }
                    while let p = m.client.association.pollTransmit() { network.send(p, from: m.node, to: 0, now: now) }
                }
                if done() { return }
            }
        }

        private func readClient(_ m: Member) {
            m.client.pumpAssociation()
            while let event = m.client.pollEvent() {
                switch event {
                case .opened(let channel):
                    m.channels[channel.id] = channel.label
                case .message(let stream, .binary(let bytes)):
                    if let envelope = try? DataEnvelope.Incoming(parsing: bytes) {
                        m.received.append(Delivery(sender: envelope.sender, payload: envelope.payload, label: m.channels[stream] ?? "?", at: now))
                    }
                case .closed(let stream):
                    m.closedLabels.append(m.channels.removeValue(forKey: stream) ?? "?")
                default:
                    break
                }
            }
        }

        /// Sends `payloads` from `sender` to everyone on `label`, waiting (in virtual time) whenever its send
        /// buffer is full.
        func send(_ payloads: [[UInt8]], from sender: String, on label: String) throws {
            let m = member(sender)
            var next = 0
            while next < payloads.count {
                let channel = try #require(m.channel(label))
                let envelope = DataEnvelope.Outgoing(isText: false, payload: payloads[next]).serialized()
                do {
                    try m.client.send(.binary(envelope), on: channel)
                    next += 1
                } catch {
                    guard error == .sctp(.bufferFull) else { throw error }
                    run(milliseconds: 10)
                }
            }
        }

        /// Connected, and every participant's two relay channels open at both ends.
        func ready() -> Bool {
            members.allSatisfy { m in
                m.channel(DataRoom.reliableLabel) != nil && m.channel(DataRoom.lossyLabel) != nil
                    && room.channel(of: m.name, path: .reliable) != nil
            }
        }
    }

    static func numbered(_ count: Int, size: Int = 8) -> [[UInt8]] {
        (0..<count).map { i in [UInt8(i >> 8), UInt8(i & 0xFF)] + [UInt8](repeating: UInt8(i & 0x7F), count: size - 2) }
    }

    static func numbers(_ deliveries: [Delivery]) -> [Int] {
        deliveries.map { Int($0.payload[0]) << 8 | Int($0.payload[1]) }
    }

    /// 5% loss and up to 30 ms of jitter (which reorders) on every link, both ways: every reliable message
    /// reaches every other participant, whole and in order, tagged with its sender; unordered messages that are
    /// never retransmitted lose about what the two lossy hops drop, and none arrives twice.
    @Test func lossAndReordering() throws {
        var limits = DataRelay.Limits()
        limits.messagesPerSecond = 100_000
        limits.bytesPerSecond = 1 << 30
        let sim = try Sim(
            names: ["alice", "bob", "carol", "dave"], limits: limits,
            link: SimNetwork.Link(delay: .milliseconds(20), jitter: .milliseconds(30), loss: 0.05), seed: 0x5C7)
        sim.run(milliseconds: 10_000) { sim.ready() }
        #expect(sim.ready())

        let count = 400
        try sim.send(Self.numbered(count, size: 600), from: "alice", on: DataRoom.reliableLabel)
        try sim.send(Self.numbered(count, size: 100), from: "alice", on: DataRoom.lossyLabel)
        let receivers = ["bob", "carol", "dave"].map { sim.member($0) }
        sim.run(milliseconds: 30_000) {
            receivers.allSatisfy { r in r.received.filter { $0.label == DataRoom.reliableLabel }.count >= count }
        }
        sim.run(milliseconds: 2000)
        for r in receivers {
            let reliable = r.received.filter { $0.label == DataRoom.reliableLabel }
            #expect(Self.numbers(reliable) == Array(0..<count), "\(r.name): \(reliable.count) reliable messages")
            #expect(reliable.allSatisfy { $0.sender == "alice" && $0.payload.count == 600 })
            let lossy = Self.numbers(r.received.filter { $0.label == DataRoom.lossyLabel })
            #expect(Set(lossy).count == lossy.count, "\(r.name): a lossy message arrived twice")
            // Two hops of 5% loss each: about 10% lost; allow up to 25%.
            #expect(lossy.count >= count * 3 / 4 && lossy.count <= count, "\(r.name): \(lossy.count) of \(count) lossy messages")
        }
        #expect(sim.member("alice").received.isEmpty)
        #expect(sim.network.defaultLink.loss == 0.05)
    }

    /// One receiver stops reading, so its SCTP receive window closes: the others get every message exactly
    /// as fast as when it reads; its reliable queue overflows, the room resets and reopens its reliable
    /// channel, and once it reads again it gets what is sent afterwards.
    @Test func aClosedReceiveWindowDelaysNobodyElse() throws {
        func scenario(stall: Bool) throws -> (sim: Sim, took: [String: Duration]) {
            var limits = DataRelay.Limits()
            limits.messagesPerSecond = 100_000
            limits.bytesPerSecond = 1 << 30
            limits.reliableQueueBytes = 128 << 10
            limits.maxMessageBytes = 65_536
            let sim = try Sim(
                names: ["alice", "bob", "carol", "dave"], limits: limits, link: SimNetwork.Link(delay: .milliseconds(15)),
                seed: 0xD47A)
            sim.run(milliseconds: 5000) { sim.ready() }
            #expect(sim.ready())
            if stall { sim.member("dave").client.association.pausesReading = true }
            let count = 600
            let start = sim.now
            try sim.send(Self.numbered(count, size: 4096), from: "alice", on: DataRoom.reliableLabel)
            let others = [sim.member("bob"), sim.member("carol")]
            sim.run(milliseconds: 20_000) { others.allSatisfy { $0.received.count >= count } }
            var took: [String: Duration] = [:]
            for r in others {
                #expect(Self.numbers(r.received) == Array(0..<count), "\(r.name): \(r.received.count) of \(count)")
                took[r.name] = r.received.last.map { $0.at - start }
            }
            return (sim, took)
        }
        let (baseline, reading) = try scenario(stall: false)
        #expect(!baseline.notices.contains(.reliableOverflow(participant: "dave")))
        let (sim, stalled) = try scenario(stall: true)
        for name in ["bob", "carol"] {
            let a = try #require(reading[name])
            let b = try #require(stalled[name])
            // From the first send to the last delivery: the same with dave stalled, within one 5 ms step.
            #expect(abs((a - b).nanosecondsClamped) <= 5_000_000, "\(name): \(a) reading vs \(b) stalled")
        }
        #expect(sim.notices.contains(.reliableOverflow(participant: "dave")))
        #expect(sim.room.relay.counters.reliableOverflows >= 1)

        // Dave reads again: its old reliable channel was reset, a new one opened, and what comes now arrives.
        let dave = sim.member("dave")
        dave.client.association.pausesReading = false
        sim.run(milliseconds: 3000) { dave.channel(DataRoom.reliableLabel) != nil && dave.closedLabels.contains(DataRoom.reliableLabel) }
        #expect(dave.closedLabels.contains(DataRoom.reliableLabel))
        let before = dave.received.count
        try sim.send(Self.numbered(10, size: 64).map { [0xEE] + $0 }, from: "alice", on: DataRoom.reliableLabel)
        sim.run(milliseconds: 3000) { dave.received.filter { $0.payload.first == 0xEE }.count >= 10 }
        let late = dave.received[before...].filter { $0.payload.first == 0xEE }
        #expect(late.count == 10 && late.allSatisfy { $0.label == DataRoom.reliableLabel && $0.sender == "alice" })
    }
}
}
