import Foundation
import Logging
import NIOCore
import StarlingRouting
import StarlingTransport
import StarlingWire

/// One room: a `Router` (StarlingRouting) and the transports of its participants, all on one media
/// loop. An actor whose executor is that loop's event loop, so the datagram path is synchronous: the
/// loop's socket handler decrypts a datagram in its scratch buffer and calls into the room with
/// `assumeIsolated` (no await, no hop, no lock); the router writes each copy into its own scratch
/// buffer, the room's output protects it in place and queues it on the loop's `DatagramWriter`, which
/// flushes once per read burst (`sendmmsg`). The control plane (connect, close, preferences, stats)
/// reaches the room with `await`.
actor Room {
    nonisolated let id: String
    nonisolated let loop: MediaLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.eventLoop.executor.asUnownedSerialExecutor() }
    let logger: Logger

    /// What a connect produced: the transport, the SDP answer, and the router objects its m-lines became.
    struct Connection: Sendable {
        var transport: TransportID
        var answer: String
        var producers: [(mid: String, producer: ProducerID)]
        var consumers: [(mid: String, consumer: ConsumerID, ssrc: UInt32, rtxSSRC: UInt32?)]
    }

    enum RoomError: Error, CustomStringConvertible {
        case badOffer(String)
        case closed
        case rejected(String)
        case forbidden(String)
        case notFound(String)
        case full(String)
        /// Well formed, but more than a configured limit allows (docs/OPERATIONS.md).
        case limitExceeded(String)
        var description: String {
            switch self {
            case .badOffer(let s): "bad offer: \(s)"
            case .closed: "the room is closed"
            case .rejected(let s), .forbidden(let s), .notFound(let s), .full(let s), .limitExceeded(let s): s
            }
        }

        /// An offer we cannot answer: over a limit, or bad.
        init(_ error: any Error) {
            if let unanswerable = error as? BundledAnswer.Unanswerable, unanswerable.isLimit {
                self = .limitExceeded(unanswerable.description)
            } else {
                self = .badOffer("\(error)")
            }
        }
    }

    private let output: RoomOutput
    let router: Router
    private(set) var transports: [TransportID: RoomTransport] = [:]
    /// What each producer publishes, for subscribers' offers: kind, codec as negotiated, its transport.
    private var published: [ProducerID: (kind: SDP.MediaKind, codec: SDP.Codec, codecKind: CodecKind, transport: TransportID)] =
        [:]
    /// Connections the client offers, kept for their renegotiations (Room+Renegotiation.swift).
    var offered: [TransportID: OfferedConnection] = [:]
    /// Subscribing peer connections (Starling offers); their transport exists from the first answer on.
    private var subscribers:
        [TransportID: (negotiation: SubscriberNegotiation, channel: any Channel, owned: Bool, ice: (local: ICECredentials, remote: ICECredentials)?)] =
        [:]
    private var nextTransport = 1
    private var tickTask: RepeatedTask?
    private var routerDeadline: Instant?
    private(set) var isClosed = false
    /// Set for rooms that exist for one peer (the echo endpoint): the room closes once its last transport
    /// has ended.
    private var closesWhenEmpty = false
    /// Told when the room closes, whatever the reason (the registry forgets it).
    private var onClosed: (@Sendable (String) -> Void)?
    /// Limits and timeouts (createRoom, or the configured defaults).
    var options: RoomOptions
    /// Where the control API's event subscribers listen (nil for rooms nobody controls, e.g. in tests).
    nonisolated let hub: ControlEventHub?
    nonisolated let createdAt = Date()
    /// The pending empty-room check (Room+Participants.swift).
    var emptyTimer: Scheduled<Void>?
    private(set) var events: [RouterEvent] = []
    /// Participants and their tracks (Room+Participants.swift).
    var people = ParticipantRegistry()
    var nextQualityCheck = Instant.zero
    /// Data channels (Room+Data.swift): the relay, and the subscribing transports that carry an association.
    let dataRoom: DataRoom
    var dataLinks: [TransportID: DataLink] = [:]
    /// What offers, participants, the room and its transports may claim.
    nonisolated let limits: RoomLimits

    init(
        id: String, loop: MediaLoop, logger: Logger, options: RoomOptions = RoomOptions(), hub: ControlEventHub? = nil,
        limits: RoomLimits = RoomLimits()
    ) {
        self.id = id
        self.limits = limits
        self.options = options
        self.hub = hub
        self.loop = loop
        self.logger = logger
        output = RoomOutput(writer: loop.writer)
        var limits = DataRelay.Limits()
        limits.maxMessageBytes = options.data.maxMessageBytes
        limits.reliableQueueBytes = options.data.reliableQueueBytes
        limits.lossyQueueBytes = options.data.lossyQueueBytes
        limits.messagesPerSecond = options.data.messagesPerSecond
        limits.bytesPerSecond = options.data.bytesPerSecond
        dataRoom = DataRoom(relay: DataRelay(limits: limits))
        let now = MediaLoop.now()
        let unixNow = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
        router = Router(
            configuration: .init(
                unixNanosecondsAtZero: unixNow - now.nanoseconds, seed: UInt64.random(in: 1...UInt64.max), cname: "starling",
                retransmissionsPerSecond: self.limits.retransmissionsPerSecond),
            output: output)
    }

    /// Starts the room's timer: the router's periodic work (feedback, reports, allocation) every 10 ms.
    func start() {
        let room = self
        tickTask = loop.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(10), delay: .milliseconds(10)) { _ in
            room.withAssumedIsolation(()) { room, _ in room.tick() }
        }
    }

    private func tick() {
        let now = MediaLoop.now()
        // The timer fires every 10 ms; a deadline up to 2 ms ahead counts as due, so a 10 ms router
        // period is not stretched to 20 ms by timer jitter.
        if routerDeadline.map({ $0 <= now + .milliseconds(2) }) ?? true {
            router.handleTimeout(now: now)
            routerDeadline = router.nextDeadline(now: now)
        }
        while let event = router.pollEvent() {
            logger.debug("room event", metadata: ["room": "\(id)", "event": "\(event)"])
            events.append(event)
            if events.count > 1000 { events.removeFirst(events.count - 1000) }
            forward(event)
        }
        if now >= nextQualityCheck {
            nextQualityCheck = now + .seconds(2)
            updateConnectionQuality(now: now)
        }
        dataTick()
        loop.writer.flush()
    }

    /// Answers a participant's offer with a new transport on this room's loop: m-lines it sends on become
    /// producers, m-lines it receives on become consumers of `sources[mid]`.
    func connect(
        offer text: String, sources: [String: RoomAnswer.Source], echo: Bool = false, certificate: DTLSCertificate,
        candidateAddresses: [String]
    ) async throws -> Connection {
        guard !isClosed else { throw RoomError.closed }
        let (offer, fingerprint) = try Self.parse(offer: text, certificate: certificate)
        for source in sources.values where router.producer(source.producer) == nil {
            throw RoomError.rejected("unknown \(source.producer)")
        }
        let local = ICECredentials.random()
        let socket = try await reserveSocket()
        let plan: RoomAnswer
        let transport: PeerTransport
        do {
            plan = try RoomAnswer(
                offer: offer, local: local, fingerprint: fingerprint, candidateAddresses: candidateAddresses,
                port: socket.port, tcpPort: socket.tcpPort, sources: sources, echo: echo, cname: "starling",
                limits: limits.offer, newSSRC: { UInt32.random(in: 1...UInt32.max) })
            transport = try PeerTransport(
                configuration: .init(
                    localCredentials: local, remoteCredentials: plan.remoteCredentials, ice: .lite(.init()),
                    dtls: .init(certificate: certificate, role: plan.dtlsRole, remoteFingerprints: plan.remoteFingerprints),
                    maxInboundSSRCs: limits.inboundSSRCsPerTransport),
                now: MediaLoop.now())
        } catch {
            if socket.owned { try? await socket.channel.close() }
            throw RoomError(error)
        }
        let now = MediaLoop.now()
        let tid = TransportID(nextTransport)
        nextTransport += 1
        router.addTransport(tid, now: now)
        var connection = Connection(transport: tid, answer: plan.answer.serialized(), producers: [], consumers: [])
        do {
            for p in plan.published {
                connection.producers.append((p.mid, try addProducer(p, on: tid, now: now)))
            }
            for s in plan.subscribed {
                guard let producer = s.producer ?? connection.producers.first(where: { $0.mid == s.mid })?.producer else {
                    throw RoomError.rejected("m-line \(s.mid) has nothing to receive")
                }
                let consumer = try router.addConsumer(on: tid, of: producer, s.parameters, now: now)
                connection.consumers.append((s.mid, consumer, s.parameters.ssrc, s.parameters.rtxSSRC))
            }
        } catch {
            router.removeTransport(tid)
            if socket.owned { try? await socket.channel.close() }
            throw RoomError.rejected("\(error)")
        }
        let peer = RoomTransport(id: tid, transport: transport, room: self, now: now)
        transports[tid] = peer
        output.transports[tid] = peer
        offered[tid] = OfferedConnection(
            local: local, remote: plan.remoteCredentials, fingerprints: plan.remoteFingerprints, setup: plan.transport.setup,
            port: socket.port, tcpPort: socket.tcpPort, origin: plan.answer.origin,
            producers: Dictionary(connection.producers.map { ($0.mid, $0.producer) }, uniquingKeysWith: { a, _ in a }))
        attach(peer, channel: socket.channel, owned: socket.owned)
        logger.info(
            "room transport created",
            metadata: [
                "room": "\(id)", "transport": "\(tid)", "producers": "\(connection.producers.map(\.mid))",
                "consumers": "\(connection.consumers.map(\.mid))", "port": "\(socket.port)",
            ])
        return connection
    }

    /// The client's offer, parsed, and our certificate's SHA-256 fingerprint for the answer.
    static func parse(offer text: String, certificate: DTLSCertificate) throws -> (SessionDescription, SDP.Fingerprint) {
        let offer: SessionDescription
        do {
            offer = try SessionDescription(parsing: text)
        } catch {
            throw RoomError.badOffer("the SDP offer does not parse: \(error)")
        }
        guard let fingerprint = certificate.fingerprint(hashFunction: "sha-256") else {
            throw RoomError.rejected("no certificate fingerprint")
        }
        return (offer, fingerprint)
    }

    /// A socket for a new transport from the loop (the shared one, or its own in port-range mode); refused,
    /// and an own socket closed again, when the room closed while waiting for it.
    private func reserveSocket() async throws -> (channel: any Channel, port: Int, owned: Bool, tcpPort: Int?) {
        let socket = try await loop.socketForNewPeer()
        guard !isClosed else {
            if socket.owned { try? await socket.channel.close() }
            throw RoomError.closed
        }
        return socket
    }

    /// Hands a new transport to the loop (same executor: a synchronous call).
    private func attach(_ peer: RoomTransport, channel: any Channel, owned: Bool) {
        // The room and the loop run on the same executor (one thread): the peer is not shared across threads.
        nonisolated(unsafe) let peer = peer
        loop.assumeIsolated { $0.add(peer, channel: channel, owned: owned) }
    }

    /// Subscriber preferences for one consumer: highest spatial and temporal layer, paused.
    func setPreferences(_ consumer: ConsumerID, spatialLayer: Int?, temporalLayer: Int?, paused: Bool) throws {
        try router.setPreferences(
            consumer, spatialLayer: spatialLayer, temporalLayer: temporalLayer, paused: paused, now: MediaLoop.now())
    }

    func removeProducer(_ producer: ProducerID) {
        router.removeProducer(producer)
        producerGone(producer)
    }

    /// A producer for an m-line the client sends on.
    func addProducer(_ p: RoomAnswer.Published, on transport: TransportID, now: Instant) throws -> ProducerID {
        let producer = try router.addProducer(on: transport, p.parameters, now: now)
        published[producer] = (p.kind, p.codec, p.parameters.codec.kind, transport)
        return producer
    }

    /// Subscribers stop receiving a producer that went away: their lines go inactive (next offer).
    private func producerGone(_ producer: ProducerID) {
        guard let gone = published.removeValue(forKey: producer) else { return }
        if var connection = offered[gone.transport] {
            connection.producers = connection.producers.filter { $0.value != producer }
            offered[gone.transport] = connection
        }
        for id in Array(subscribers.keys) {
            if let consumer = subscribers[id]?.negotiation.remove(producer: producer) { router.removeConsumer(consumer) }
        }
        // Then the participants hear of it (and get the offer that makes its m-lines inactive).
        producerEnded(producer)
    }

    // MARK: - Subscribing peer connections (Starling offers, RFC 8829 §5.2)

    /// What a producer publishes (kind, codec as negotiated), while it exists.
    func publishedMedia(_ producer: ProducerID) -> (kind: SDP.MediaKind, codec: SDP.Codec)? {
        published[producer].map { ($0.kind, $0.codec) }
    }

    /// Opens a subscribing peer connection: its socket and ICE credentials are fixed now (they go into every
    /// offer); its transport is created when the first answer arrives.
    func openSubscriber(certificate: DTLSCertificate, candidateAddresses: [String], dataChannels: Bool = false) async throws
        -> TransportID
    {
        guard !isClosed else { throw RoomError.closed }
        guard let fingerprint = certificate.fingerprint(hashFunction: "sha-256") else {
            throw RoomError.rejected("no certificate fingerprint")
        }
        let socket = try await reserveSocket()
        let tid = TransportID(nextTransport)
        nextTransport += 1
        let negotiation = SubscriberNegotiation(
            local: ICECredentials.random(), fingerprint: fingerprint, candidateAddresses: candidateAddresses,
            port: socket.port, tcpPort: socket.tcpPort, cname: "starling", dataChannels: dataChannels,
            maxMessageSize: options.data.maxMessageBytes, maxLines: limits.tracksPerRoom)
        subscribers[tid] = (negotiation, socket.channel, socket.owned, nil)
        return tid
    }

    /// Adds `producer` to a subscribing connection (sent after the next offer is answered); returns its mid.
    func subscribe(_ subscriber: TransportID, to producer: ProducerID, streamID: String, trackID: String) throws -> String {
        guard var entry = subscribers[subscriber] else { throw RoomError.rejected("unknown subscriber \(subscriber)") }
        guard let source = published[producer] else { throw RoomError.rejected("unknown \(producer)") }
        let mid: String
        do {
            mid = try entry.negotiation.add(
                producer: producer, kind: source.kind, codec: source.codec, rtx: router.producer(producer)?.parameters.codec.rtxPayloadType != nil,
                streamID: streamID, trackID: trackID, newSSRC: { UInt32.random(in: 1...UInt32.max) })
        } catch {
            throw RoomError.rejected("\(error)")
        }
        subscribers[subscriber] = entry
        return mid
    }

    /// The consumer of a subscribing connection's m-line, once its answer accepted it.
    func consumer(on subscriber: TransportID, mid: String) -> ConsumerID? {
        subscribers[subscriber]?.negotiation.lines.first { $0.mid == mid }?.consumer
    }

    /// Stops sending `producer` on a subscribing connection (its m-line goes inactive in the next offer).
    func unsubscribe(_ subscriber: TransportID, from producer: ProducerID) {
        guard var entry = subscribers[subscriber] else { return }
        if let consumer = entry.negotiation.remove(producer: producer) { router.removeConsumer(consumer) }
        subscribers[subscriber] = entry
    }

    /// Ends a subscribing connection: its transport, or its reserved socket when no answer came yet.
    func dropSubscriber(_ subscriber: TransportID) {
        if transports[subscriber] != nil {
            closeTransport(subscriber)
        } else if let entry = subscribers.removeValue(forKey: subscriber), entry.owned {
            entry.channel.close(promise: nil)
        }
    }

    /// Restarts ICE on a subscribing connection: its next offer (due now) carries new credentials.
    func restartSubscriberICE(_ subscriber: TransportID) {
        guard var entry = subscribers[subscriber] else { return }
        _ = entry.negotiation.restartICE()
        subscribers[subscriber] = entry
    }

    /// The next offer for a subscribing connection, when something changed and no offer is outstanding.
    func subscriberOffer(_ subscriber: TransportID) -> (sdp: String, revision: UInt64)? {
        guard var entry = subscribers[subscriber] else { return nil }
        let offer = entry.negotiation.makeOffer()
        subscribers[subscriber] = entry
        return offer
    }

    /// Applies the client's answer: the first one creates the transport; accepted lines get their consumers.
    /// Returns the consumers created, by mid.
    func applySubscriberAnswer(
        _ subscriber: TransportID, sdp: String, certificate: DTLSCertificate
    ) throws -> [(mid: String, consumer: ConsumerID)] {
        guard var entry = subscribers[subscriber] else { throw RoomError.rejected("unknown subscriber \(subscriber)") }
        let accepted: [SubscriberNegotiation.Accepted]
        do {
            accepted = try entry.negotiation.apply(answer: sdp, codecKinds: published.mapValues(\.codecKind))
        } catch {
            subscribers[subscriber] = entry
            throw RoomError.badOffer("\(error)")
        }
        let now = MediaLoop.now()
        if transports[subscriber] == nil, let remote = entry.negotiation.remote {
            let transport: PeerTransport
            do {
                transport = try PeerTransport(
                    configuration: .init(
                        localCredentials: entry.negotiation.local, remoteCredentials: remote.credentials, ice: .lite(.init()),
                        dtls: .init(certificate: certificate, role: remote.role, remoteFingerprints: remote.fingerprints),
                        maxInboundSSRCs: limits.inboundSSRCsPerTransport),
                    now: now)
            } catch {
                subscribers[subscriber] = entry
                throw RoomError.badOffer("\(error)")
            }
            entry.ice = (entry.negotiation.local, remote.credentials)
            router.addTransport(subscriber, now: now)
            let peer = RoomTransport(id: subscriber, transport: transport, room: self, now: now)
            transports[subscriber] = peer
            output.transports[subscriber] = peer
            attach(peer, channel: entry.channel, owned: entry.owned)
        }
        if let peer = transports[subscriber], let remote = entry.negotiation.remote, let ice = entry.ice,
            ice.local != entry.negotiation.local || ice.remote != remote.credentials
        {
            // The answer to our ICE-restart offer (SubscriberNegotiation.restartICE).
            peer.transport.restartICE(local: entry.negotiation.local, remote: remote.credentials, now: now)
            entry.ice = (entry.negotiation.local, remote.credentials)
        }
        var created: [(mid: String, consumer: ConsumerID)] = []
        for a in accepted {
            guard let consumer = try? router.addConsumer(on: subscriber, of: a.producer, a.parameters, now: now) else { continue }
            entry.negotiation.consuming(mid: a.mid, consumer: consumer)
            created.append((a.mid, consumer))
        }
        subscribers[subscriber] = entry
        // Once the data line is accepted the transport carries SCTP (enabling it again does nothing).
        if let line = entry.negotiation.data, line.state == .accepted { enableDataChannels(on: subscriber, line: line) }
        return created
    }
    func removeConsumer(_ consumer: ConsumerID) { router.removeConsumer(consumer) }

    /// Closes one transport (DTLS close_notify) and everything on it.
    func closeTransport(_ id: TransportID) {
        guard let peer = transports[id] else { return }
        peer.end(now: MediaLoop.now())
        nonisolated(unsafe) let shared = peer  // same executor, see `attach`
        loop.assumeIsolated { $0.remove(shared) }
    }

    /// Closes the room once its last transport has ended (a room for one peer: the echo endpoint).
    func closeWhenEmpty() { closesWhenEmpty = true }

    /// `onClosed` runs once when the room closes.
    func whenClosed(_ onClosed: @escaping @Sendable (String) -> Void) { self.onClosed = onClosed }

    /// Called by the transport when it ended (closed, failed, timed out) and left the loop.
    func transportEnded(_ transport: TransportID) {
        guard transports.removeValue(forKey: transport) != nil else { return }
        output.transports[transport] = nil
        dataTransportEnded(transport)
        router.removeTransport(transport)
        subscribers[transport] = nil
        offered[transport] = nil
        for (producer, p) in published where p.transport == transport { producerGone(producer) }
        logger.info("room transport ended", metadata: ["room": "\(id)", "transport": "\(transport)"])
        participantTransportEnded(transport)
        if transports.isEmpty, closesWhenEmpty, !isClosed { close(reason: "empty") }
    }

    /// A transport finished DTLS: its consumers may have missed the keyframe they started on.
    func transportConnected(_ id: TransportID) {
        router.requestKeyframes(forConsumersOn: id, now: MediaLoop.now())
    }

    /// Closes every transport and stops the timer.
    func close(reason: String = "closed") {
        guard !isClosed else { return }
        isClosed = true
        tickTask?.cancel()
        emptyTimer?.cancel()
        let closed = SignalingCodec.event("roomClosed", ["reason": reason])
        for participant in people.participants.values {
            participant.send(closed)
            participant.events.finish()
        }
        people.participants.removeAll()
        for id in Array(transports.keys) { closeTransport(id) }
        // Subscribing connections never answered have a socket but no transport.
        for (_, s) in subscribers where s.owned { s.channel.close(promise: nil) }
        subscribers.removeAll()
        loop.writer.flush()
        logger.info("room closed", metadata: ["room": "\(id)", "reason": "\(reason)"])
        notify("roomClosed", ["reason": .string(reason)])
        onClosed?(id)
    }

    var transportCount: Int { transports.count }
    /// What the router holds: transports, producers, consumers.
    var routerCounts: [Int] { [router.transportCount, router.producerCount, router.consumerCount] }
    var counters: Router.Counters { router.counters }
    var outputCounters: RoomOutput.Counters { output.counters }
}

/// Where the router's packets go: protected in place with the subscriber transport's SRTP context and
/// queued on the loop's writer towards its selected ICE pair. A copy for a transport that is not
/// connected (no keys yet, or consent lost, RFC 7675 §5.1) is dropped and counted.
final class RoomOutput: RouterOutput {
    struct Counters: Sendable {
        var notConnected = 0
        var protectFailures = 0
    }
    var counters = Counters()
    var transports: [TransportID: RoomTransport] = [:]
    let writer: DatagramWriter

    init(writer: DatagramWriter) { self.writer = writer }

    func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
        send(packet, length: length, to: transport, rtcp: false)
    }

    func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
        send(packet, length: length, to: transport, rtcp: true)
    }

    @inline(__always)
    private func send(_ packet: UnsafeMutableRawBufferPointer, length: Int, to id: TransportID, rtcp: Bool) {
        guard let peer = transports[id], let route = peer.route, peer.transport.isConnected,
            let base = packet.baseAddress
        else {
            counters.notConnected += 1
            return
        }
        let protected: Int
        do throws(SRTPError) {
            protected =
                rtcp
                ? try peer.transport.protectRTCP(base, length: length, capacity: packet.count)
                : try peer.transport.protectRTP(base, length: length, capacity: packet.count)
        } catch {
            counters.protectFailures += 1
            return
        }
        writer.send(UnsafeRawBufferPointer(rebasing: packet[0..<protected]), via: route)
    }
}

/// One transport of a room on the media loop: the loop hands it decrypted packets, which go straight
/// into the room's router.
final class RoomTransport: MediaPeer {
    let id: TransportID
    let transport: PeerTransport
    unowned let room: Room
    /// How to reach the selected pair (UDP address or ICE-TCP connection), set when ICE selects it.
    private(set) var route: MediaRoute?
    let createdAt: Instant
    private(set) var connectedAt: Instant?
    /// When consent was lost (RFC 7675 §5.1), while it stays lost.
    private(set) var disconnectedAt: Instant?
    private(set) var ended = false

    init(id: TransportID, transport: PeerTransport, room: Room, now: Instant) {
        self.id = id
        self.transport = transport
        self.room = room
        self.createdAt = now
    }

    func receive(_ received: PeerTransport.Received, buffer: UnsafeMutableRawBufferPointer, now: Instant, loop: isolated MediaLoop) {
        let id = self.id
        // The loop's scratch buffer is lent for this synchronous call on the same thread (the room's executor
        // is the loop's event loop).
        switch received {
        case .none:
            return
        case .rtp(let length):
            room.withAssumedIsolation((id, buffer, length, now)) { room, p in
                room.router.receiveRTP(from: p.0, packet: p.1, length: p.2, now: p.3)
            }
        case .rtcp(let length):
            room.withAssumedIsolation((id, UnsafeRawBufferPointer(rebasing: buffer[0..<length]), now)) { room, p in
                room.router.receiveRTCP(from: p.0, packet: p.1, now: p.2)
            }
        }
    }

    func handle(_ event: PeerTransport.Event, now: Instant, loop: isolated MediaLoop) {
        let id = self.id
        switch event {
        case .selectedPairChanged(let remote):
            route = loop.route(to: remote, for: self)
        case .connected:
            connectedAt = now
            disconnectedAt = nil
            room.assumeIsolated { $0.transportConnected(id) }
        case .reconnected:
            disconnectedAt = nil
            room.assumeIsolated { $0.transportConnected(id) }
        case .failed, .closed:
            ended = true
        case .disconnected:
            if disconnectedAt == nil { disconnectedAt = now }
        case .applicationData, .iceRestarted:
            break
        }
    }

    /// The transport's data channels have events (Room+Data.swift).
    func dataActivity(now: Instant, loop: isolated MediaLoop) {
        room.withAssumedIsolation((id, now)) { room, p in room.handleDataEvents(on: p.0, now: p.1) }
    }

    /// Done when failed or closed, when it never connected, or when consent stayed lost, for the room's
    /// `disconnectedTimeout`: then the loop removes it and the room frees everything it held.
    func isFinished(now: Instant) -> Bool {
        let timeout = room.limits.disconnectedTimeout
        return ended || (connectedAt == nil && now - createdAt > timeout)
            || (disconnectedAt.map { now - $0 > timeout } ?? false)
    }

    func removed(loop: isolated MediaLoop) {
        let id = self.id
        room.assumeIsolated { $0.transportEnded(id) }
    }

    func end(now: Instant) {
        guard !ended else { return }
        transport.close(now: now)
        ended = true
    }
}
