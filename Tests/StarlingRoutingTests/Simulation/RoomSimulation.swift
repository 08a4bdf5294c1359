@testable import StarlingMediaTestSupport
import StarlingRouting
import StarlingTransport
import StarlingWire

/// Routers, publishers and subscribers joined by a `SimNetwork` on a virtual clock. Node 0 is the
/// server; every client is a node of its own with one transport on one router.
final class RoomSimulation {
    /// Captures what a router sends and puts it on the network, from the server to the client that
    /// owns the transport.
    final class Output: RouterOutput {
        unowned var simulation: RoomSimulation!
        var rtp = 0
        var rtcp = 0
        /// Last sequence number sent per media SSRC (payload type 96; RTX is 97).
        var lastSequence: [UInt32: UInt16] = [:]
        /// Media packets whose sequence number did not follow the previous one of their SSRC: gaps or
        /// repeats of the router's making.
        var sequenceGaps = 0
        func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            rtp += 1
            if let h = try? RTPHeader(parsing: UnsafeRawBufferPointer(rebasing: packet[0..<length])), h.payloadType == 96 {
                if let last = lastSequence[h.ssrc], h.sequenceNumber != last &+ 1 { sequenceGaps += 1 }
                lastSequence[h.ssrc] = h.sequenceNumber
            }
            simulation.fromServer(Array(UnsafeRawBufferPointer(rebasing: packet[0..<length])), to: transport)
        }
        func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            rtcp += 1
            simulation.fromServer(Array(UnsafeRawBufferPointer(rebasing: packet[0..<length])), to: transport)
        }
    }

    var network: SimNetwork
    var now = Instant.zero
    var routers: [Router] = []
    var outputs: [Output] = []
    /// transport -> (router index, client node)
    var transports: [TransportID: (router: Int, node: Int)] = [:]
    var publishers: [SimPublisher] = []
    var subscribers: [SimSubscriber] = []
    private var nextNode = 1
    private var nextTransport = 1
    private var lastRouterTick = Instant(nanoseconds: -(1 << 60))

    init(seed: UInt64, rooms: Int = 1) {
        network = SimNetwork(seed: seed)
        for i in 0..<rooms {
            let output = Output()
            let router = Router(configuration: .init(unixNanosecondsAtZero: 1_700_000_000_000_000_000, seed: UInt64(i + 1)), output: output)
            routers.append(router)
            outputs.append(output)
        }
        for o in outputs { o.simulation = self }
    }

    /// A new client node with one transport on router `room`.
    func addClient(room: Int = 0) -> (node: Int, transport: TransportID) {
        let node = nextNode
        nextNode += 1
        let transport = TransportID(nextTransport)
        nextTransport += 1
        transports[transport] = (room, node)
        routers[room].addTransport(transport, now: now)
        return (node, transport)
    }

    @discardableResult
    func addPublisher(room: Int = 0, ssrcBase: UInt32, bitrates: [Int] = [150_000, 500_000, 1_500_000]) throws -> (
        SimPublisher, ProducerID
    ) {
        let (node, transport) = addClient(room: room)
        let publisher = SimPublisher(node: node, transport: transport, ssrcBase: ssrcBase, bitrates: bitrates)
        publisher.nextFrameAt = now
        let id = try routers[room].addProducer(on: transport, publisher.parameters, now: now)
        publishers.append(publisher)
        return (publisher, id)
    }

    @discardableResult
    func addSubscriber(
        room: Int = 0, to producer: ProducerID, ssrc: UInt32, preferredSpatialLayer: Int? = nil, useTransportCC: Bool = true
    ) throws -> (SimSubscriber, ConsumerID) {
        let (node, transport) = addClient(room: room)
        let subscriber = SimSubscriber(node: node, transport: transport, ssrc: ssrc, rtxSSRC: ssrc + 1, useTransportCC: useTransportCC)
        let id = try routers[room].addConsumer(
            on: transport, of: producer, subscriber.consumerParameters(preferredSpatialLayer: preferredSpatialLayer), now: now)
        subscribers.append(subscriber)
        return (subscriber, id)
    }

    func fromServer(_ bytes: [UInt8], to transport: TransportID) {
        guard let t = transports[transport] else { return }
        network.send(bytes, from: 0, to: t.node, now: now)
    }

    private func toServer(_ bytes: [UInt8], from transport: TransportID, node: Int) {
        network.send(bytes, from: node, to: 0, now: now)
    }

    /// Runs the clock forward in 1 ms steps for `duration`.
    func run(for duration: Duration) {
        let end = now + duration
        while now < end {
            deliver()
            for p in publishers {
                p.tick(now: now) { bytes in toServer(bytes, from: p.transport, node: p.node) }
            }
            for s in subscribers {
                s.tick(now: now) { bytes in toServer(bytes, from: s.transport, node: s.node) }
            }
            if now - lastRouterTick >= .milliseconds(10) {
                lastRouterTick = now
                for r in routers { r.handleTimeout(now: now) }
            }
            now = now + .milliseconds(1)
        }
    }

    private func deliver() {
        while let d = network.pollDelivery(now: now) {
            if d.to == 0 {
                guard let (transport, entry) = transports.first(where: { $0.value.node == d.from }) else { continue }
                let router = routers[entry.router]
                var bytes = d.bytes
                if bytes.count >= 2, (192...223).contains(bytes[1]) {
                    bytes.withUnsafeBytes { router.receiveRTCP(from: transport, packet: $0, now: now) }
                } else {
                    let length = bytes.count
                    bytes.append(contentsOf: repeatElement(0, count: 64))
                    bytes.withUnsafeMutableBytes { router.receiveRTP(from: transport, packet: $0, length: length, now: now) }
                }
            } else if let p = publishers.first(where: { $0.node == d.to }) {
                p.receiveRTCP(d.bytes, now: now) { bytes in toServer(bytes, from: p.transport, node: p.node) }
            } else if let s = subscribers.first(where: { $0.node == d.to }) {
                s.receive(d.bytes, now: now)
            }
        }
    }

    /// Both directions between the server and `node`.
    func setLinks(node: Int, _ link: SimNetwork.Link) {
        network.setLink(from: 0, to: node, link)
        network.setLink(from: node, to: 0, link)
    }
}
