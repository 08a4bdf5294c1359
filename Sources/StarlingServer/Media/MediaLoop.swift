import Logging
import StarlingAPI
import NIOCore
import NIOPosix
import StarlingNIO
import StarlingTransport
import StarlingWire

/// What a media loop delivers to: something that owns a `PeerTransport` (a room's transport). Runs only on its loop, called synchronously by it.
protocol MediaPeer: AnyObject {
    var transport: PeerTransport { get }
    /// Whether the peer is done (failed, closed, or never connected in time); the loop then removes it.
    func isFinished(now: Instant) -> Bool
    /// A decrypted RTP or RTCP packet sits at the start of `buffer` (`capacity` bytes are writable).
    func receive(
        _ received: PeerTransport.Received, buffer: UnsafeMutableRawBufferPointer, now: Instant, loop: isolated MediaLoop)
    /// A transport event (connected, disconnected, failed, ...).
    func handle(_ event: PeerTransport.Event, now: Instant, loop: isolated MediaLoop)
    /// The loop no longer routes datagrams to this peer.
    func removed(loop: isolated MediaLoop)
    /// The transport's data channels have events to read.
    func dataActivity(now: Instant, loop: isolated MediaLoop)
}

extension MediaPeer {
    func removed(loop: isolated MediaLoop) {}
    func dataActivity(now: Instant, loop: isolated MediaLoop) {}
}

/// The media sockets of one event loop and the peers on it.
///
/// An actor whose executor is its NIO event loop: the datagram handlers of its channels call into it
/// synchronously with `assumeIsolated` (no hop, no await per packet), the control plane with `await`.
/// In single-port mode one UDP socket carries every peer; a datagram is matched to its peer by source
/// address, or, for the first packet of a new address, by the USERNAME of its STUN Binding request. In
/// port-range mode every peer has a socket of its own.
///
/// ICE-TCP (RFC 6544): in both modes the loop also listens on one TCP port, the passive TCP host candidate
/// of every peer on it. A connection carries RFC 4571 frames; its first must be a STUN Binding request whose
/// USERNAME names a peer, and the first check that peer's transport validates binds the connection to it for
/// good. Its packets then go to the peer's transport from a TCP transport address (`STUNAddress.transport ==
/// .tcp`), so the ICE agent sees it as a pair of its own, and the pair the peer nominates carries the media
/// (UDP or TCP). Peers send on the `MediaRoute` of their selected pair (`route(to:for:)`).
actor MediaLoop {
    nonisolated let eventLoop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }
    nonisolated let index: Int
    let settings: StarlingConfiguration.Media
    let logger: Logger

    struct Counters {
        var datagramsIn = 0
        var unmatchedDatagrams = 0
        /// ICE-TCP connections accepted, refused (over the limit, or a first frame that names no peer, or no
        /// validated check within `streamBindTimeout`), and frames received on them.
        var streamsAccepted = 0
        var streamsRefused = 0
        /// Connections bound to their peer by a validated ICE check.
        var streamsBound = 0
        var streamFramesIn = 0
        /// Packets for a TCP pair whose connection is gone (the writer counts those refused by a full one).
        var streamPacketsDropped = 0
    }
    private(set) var counters = Counters()
    /// Every datagram this loop sends goes through here (pooled buffers, one flush per burst).
    nonisolated let writer = DatagramWriter()

    /// The shared socket (single-port mode).
    private var sharedChannel: (any Channel)?
    private(set) var sharedPort: Int?

    private final class PeerEntry {
        let peer: any MediaPeer
        /// The socket this peer's datagrams use (shared or its own).
        var channel: any Channel
        var ownsChannel: Bool
        /// Its ICE-TCP connections (keys of `streams`).
        var streams: Set<ObjectIdentifier> = []
        var knownAddresses: Set<STUNAddress> = []
        init(peer: any MediaPeer, channel: any Channel, ownsChannel: Bool) {
            self.peer = peer
            self.channel = channel
            self.ownsChannel = ownsChannel
        }
    }

    private var peers: [ObjectIdentifier: PeerEntry] = [:]

    /// An accepted ICE-TCP connection; `peer` is set by the first check from it that the named peer's
    /// transport validates.
    private final class StreamConnection {
        let channel: any Channel
        let remote: STUNAddress
        let opened: Instant
        let ip: String
        var peer: ObjectIdentifier?
        init(channel: any Channel, remote: STUNAddress, opened: Instant, ip: String) {
            self.channel = channel
            self.remote = remote
            self.opened = opened
            self.ip = ip
        }
    }
    private var tcpListener: (any Channel)?
    /// The loop's ICE-TCP port (nil when ICE-TCP is off).
    private(set) var tcpPort: Int?
    private var streams: [ObjectIdentifier: StreamConnection] = [:]
    private var streamsByRemote: [STUNAddress: ObjectIdentifier] = [:]
    /// Open connections per client IP address (`media.tcpConnectionsPerAddress`).
    private var streamsPerAddress: [String: Int] = [:]
    private var lastStreamSweep = Instant(nanoseconds: 0)
    private var lastAddressSweep = Instant(nanoseconds: 0)
    /// How long a connection may stay without a validated check binding it to its peer.
    static let streamBindTimeout = Duration.seconds(10)
    /// Per connection: past the high mark packets for it are dropped until it drains below the low one.
    static let streamWriteBuffer = WriteBufferWaterMark(low: 256 << 10, high: 1 << 20)
    private var peersByUfrag: [String: ObjectIdentifier] = [:]
    private var peersByAddress: [STUNAddress: ObjectIdentifier] = [:]
    /// Datagrams are copied here and decrypted in place: one buffer per loop, reused for every packet.
    private let scratchStorage = ScratchBuffer(byteCount: 65_536)
    private var scratch: UnsafeMutableRawBufferPointer { scratchStorage.bytes }
    private var tickTask: RepeatedTask?
    private var nextPort: Int

    init(eventLoop: any EventLoop, index: Int, settings: StarlingConfiguration.Media, logger: Logger) {
        self.eventLoop = eventLoop
        self.index = index
        self.settings = settings
        self.logger = logger
        self.nextPort = settings.portRangeStart
    }

    static let vectorReadCount = 32

    static func now() -> Instant { Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }

    /// Binds the shared socket (single-port mode) and starts the timer tick.
    func start() async throws {
        if settings.portMode == .singlePort {
            let port = settings.udpPort == 0 ? 0 : settings.udpPort + index
            let channel = try await bind(port: port)
            sharedChannel = channel
            sharedPort = channel.localAddress?.port
        }
        if settings.tcpEnabled {
            let listener = try await listenTCP(port: settings.tcpPort == 0 ? 0 : settings.tcpPort + index)
            tcpListener = listener
            tcpPort = listener.localAddress?.port
        }
        let loop = self
        tickTask = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(10), delay: .milliseconds(10)) { _ in
            loop.withAssumedIsolation(()) { loop, _ in loop.tick() }
        }
    }

    func stop() async {
        tickTask?.cancel()
        for entry in peers.values where entry.ownsChannel { try? await entry.channel.close() }
        try? await sharedChannel?.close()
        try? await tcpListener?.close()
        for connection in streams.values { connection.channel.close(promise: nil) }
        streams.removeAll()
        streamsByRemote.removeAll()
        streamsPerAddress.removeAll()
        peers.removeAll()
        peersByUfrag.removeAll()
        peersByAddress.removeAll()
    }

    private func bind(port: Int) async throws -> any Channel {
        let loop = self
        return try await DatagramBootstrap(group: eventLoop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // recvmmsg: up to 32 datagrams per read. NIO splits the receive buffer evenly between them, so it
            // holds 32 datagrams of up to 2 KiB (media stays under 1500 bytes).
            .channelOption(.datagramVectorReadMessageCount, value: MediaLoop.vectorReadCount)
            .channelOption(
                .recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: MediaLoop.vectorReadCount * 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MediaDatagramHandler(loop: loop))
                }
            }
            .bind(host: settings.listenAddress, port: port)
            .get()
    }

    /// The passive ICE-TCP listener: RFC 4571 frames on every accepted connection, handled on this loop.
    private func listenTCP(port: Int) async throws -> any Channel {
        let loop = self
        // No connection buffers more than one incomplete frame of at most this many bytes.
        let maxFrame = settings.tcpMaxFrameBytes
        return try await ServerBootstrap(group: eventLoop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: MediaLoop.streamWriteBuffer)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(RFC4571FrameDecoder(maxFrameLength: maxFrame)))
                    try channel.pipeline.syncOperations.addHandler(MediaStreamHandler(loop: loop))
                }
            }
            .bind(host: settings.listenAddress, port: port)
            .get()
    }

    /// A socket for a new peer: the shared one, or one of its own from the port range. Its local port is
    /// what the peer's UDP candidates announce; `tcpPort` (the loop's) its TCP candidates.
    func socketForNewPeer() async throws -> (channel: any Channel, port: Int, owned: Bool, tcpPort: Int?) {
        if let shared = sharedChannel { return (shared, shared.localAddress?.port ?? 0, false, tcpPort) }
        let channel = try await bindFromRange()
        return (channel, channel.localAddress?.port ?? 0, true, tcpPort)
    }

    /// Adds a peer on a socket from `socketForNewPeer`.
    func add(_ peer: any MediaPeer, channel: any Channel, owned: Bool) {
        let id = ObjectIdentifier(peer)
        peers[id] = PeerEntry(peer: peer, channel: channel, ownsChannel: owned)
        for ufrag in peer.transport.localUfrags { peersByUfrag[ufrag] = id }
    }

    private func bindFromRange() async throws -> any Channel {
        let span = settings.portRangeEnd - settings.portRangeStart + 1
        for _ in 0..<span {
            let port = nextPort
            nextPort = nextPort >= settings.portRangeEnd ? settings.portRangeStart : nextPort + 1
            if let channel = try? await bind(port: port) { return channel }
        }
        throw MediaLoopError.noFreePort(settings.portRangeStart, settings.portRangeEnd)
    }

    /// Removes a peer and closes its socket in port-range mode.
    func remove(_ peer: any MediaPeer) {
        let id = ObjectIdentifier(peer)
        guard let entry = peers.removeValue(forKey: id) else { return }
        // What the transport still has to say (a DTLS close_notify) goes out before the socket closes.
        while let transmit = peer.transport.pollTransmit() {
            transmit.bytes.withUnsafeBytes { send($0, to: transmit.destination, entry: entry) }
        }
        flush()
        for stream in entry.streams { closeStream(stream) }
        peersByUfrag = peersByUfrag.filter { $0.value != id }
        for address in entry.knownAddresses where peersByAddress[address] == id { peersByAddress[address] = nil }
        if entry.ownsChannel { entry.channel.close(promise: nil) }
        peer.removed(loop: self)
    }

    var peerCount: Int { peers.count }

    /// What the loop holds and has counted, for `getServerStats`.
    var stats: JSONValue {
        [
            "index": .int(index), "peers": .int(peers.count), "knownAddresses": .int(peersByAddress.count),
            "tcpConnections": .int(streams.count), "datagramsIn": .int(counters.datagramsIn),
            "unmatchedDatagrams": .int(counters.unmatchedDatagrams), "tcpConnectionsAccepted": .int(counters.streamsAccepted),
            "tcpConnectionsRefused": .int(counters.streamsRefused), "datagramsOut": .int(writer.counters.datagramsOut),
        ]
    }

    // MARK: - Datagram path (synchronous, on the loop)

    func receive(_ envelope: AddressedEnvelope<ByteBuffer>, on channel: any Channel) {
        counters.datagramsIn += 1
        guard let source = STUNAddress(envelope.remoteAddress) else { return }
        let data = envelope.data
        let length = data.readableBytes
        guard length > 0, length <= scratch.count else { return }
        data.withUnsafeReadableBytes { scratch.copyMemory(from: $0) }
        let bytes = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<length])

        guard let id = match(bytes: UnsafeRawBufferPointer(bytes), source: source, channel: channel),
            let entry = peers[id]
        else {
            counters.unmatchedDatagrams += 1
            logger.trace(
                "unmatched datagram",
                metadata: [
                    "from": "\(source)", "bytes": "\(length)", "loop": "\(index)",
                    "head": "\(UnsafeRawBufferPointer(bytes).prefix(64).map { String($0, radix: 16) }.joined(separator: " "))",
                ])
            return
        }
        let now = MediaLoop.now()
        let received = entry.peer.transport.handleDatagram(bytes, from: source, now: now)
        // An address is mapped to its peer once it has passed an ICE check (not merely sent something).
        if entry.peer.transport.isValidated(source), entry.knownAddresses.insert(source).inserted {
            peersByAddress[source] = id
        }
        afterTransportActivity(entry, now: now)
        if received != .none {
            entry.peer.receive(received, buffer: scratch, now: now, loop: self)
        }
    }

    /// The peer a datagram belongs to. A STUN request naming one of our ufrags goes to that peer whatever its
    /// address (an address another peer used before, say behind the same NAT mapping, cannot capture it);
    /// other packets go by their validated source address; in port-range mode the socket names the peer.
    private func match(bytes: UnsafeRawBufferPointer, source: STUNAddress, channel: any Channel) -> ObjectIdentifier? {
        if DatagramKind(classifying: bytes) == .stun, let peek = STUNMessage.peek(bytes),
            let ufrag = peek.usernameBeforeColon(in: bytes), let id = peersByUfrag[String(decoding: ufrag, as: UTF8.self)],
            let entry = peers[id], entry.channel === channel
        {
            return id
        }
        if let id = peersByAddress[source], let entry = peers[id], entry.channel === channel { return id }
        if sharedChannel == nil || channel !== sharedChannel {
            // Port-range mode: the socket names its peer.
            return peers.first { $0.value.channel === channel }?.key
        }
        return nil
    }

    /// Forgets the addresses a peer's ICE agent no longer holds a valid pair for, so the address map stays
    /// within the agents' own bounds and a released address can serve another peer.
    private func sweepAddresses() {
        for (id, entry) in peers {
            let stale = entry.knownAddresses.filter { !entry.peer.transport.isValidated($0) }
            for address in stale {
                entry.knownAddresses.remove(address)
                if peersByAddress[address] == id { peersByAddress[address] = nil }
            }
        }
    }

    /// Sends what the transport queued, registers newly validated addresses, hands events to the peer.
    private func afterTransportActivity(_ entry: PeerEntry, now: Instant) {
        let transport = entry.peer.transport
        while let transmit = transport.pollTransmit() {
            transmit.bytes.withUnsafeBytes { send($0, to: transmit.destination, entry: entry) }
        }
        while let event = transport.pollEvent() {
            if case .selectedPairChanged(let remote) = event {
                peersByAddress[remote] = ObjectIdentifier(entry.peer)
                entry.knownAddresses.insert(remote)
            }
            logger.debug("transport event", metadata: ["event": "\(event)"])
            entry.peer.handle(event, now: now, loop: self)
        }
        if let channels = transport.dataChannels, channels.hasEvents {
            entry.peer.dataActivity(now: now, loop: self)
        }
    }

    /// How to reach `remote` for `peer`: the peer's UDP socket, or the peer's ICE-TCP connection from that
    /// address (nil when there is none). Peers keep the route of their selected pair and send on it.
    func route(to remote: STUNAddress, for peer: any MediaPeer) -> MediaRoute? {
        guard let entry = peers[ObjectIdentifier(peer)] else { return nil }
        return route(to: remote, entry: entry)
    }

    private func route(to remote: STUNAddress, entry: PeerEntry) -> MediaRoute? {
        guard remote.transport == .tcp else { return .datagram(channel: entry.channel, address: SocketAddress(remote)) }
        guard let id = streamsByRemote[remote], entry.streams.contains(id), let connection = streams[id] else { return nil }
        return .stream(channel: connection.channel)
    }

    /// Sends what a peer's transport queued for `remote` (any of its addresses, not only the selected one).
    func send(_ bytes: UnsafeRawBufferPointer, to remote: STUNAddress, for peer: any MediaPeer) {
        guard let entry = peers[ObjectIdentifier(peer)] else { return }
        send(bytes, to: remote, entry: entry)
    }

    private func send(_ bytes: UnsafeRawBufferPointer, to remote: STUNAddress, entry: PeerEntry) {
        guard let route = route(to: remote, entry: entry) else {
            counters.streamPacketsDropped += 1
            return
        }
        writer.send(bytes, via: route)
    }

    /// Flushes every socket written to since the last flush: one flush per read burst or tick.
    func flush() { writer.flush() }

    private func tick() {
        let now = MediaLoop.now()
        var finished: [any MediaPeer] = []
        for entry in peers.values {
            if let deadline = entry.peer.transport.nextDeadline, deadline <= now {
                entry.peer.transport.handleTimeout(now: now)
            }
            afterTransportActivity(entry, now: now)
            if entry.peer.isFinished(now: now) { finished.append(entry.peer) }
        }
        flush()
        for peer in finished { remove(peer) }
        if now - lastAddressSweep >= .seconds(1) {
            lastAddressSweep = now
            sweepAddresses()
        }
        if !streams.isEmpty, now - lastStreamSweep >= .seconds(1) {
            lastStreamSweep = now
            sweepStreams(now: now)
        }
    }

    // MARK: - ICE-TCP connections (RFC 6544), on the loop

    /// A new ICE-TCP connection: refused (closed at once, counted) past `media.tcpMaxConnections` on this loop
    /// or `media.tcpConnectionsPerAddress` from its address.
    func streamOpened(_ channel: any Channel) {
        guard streams.count < settings.tcpMaxConnections, let address = channel.remoteAddress,
            let remote = STUNAddress(address), let ip = address.ipAddress,
            streamsPerAddress[ip, default: 0] < settings.tcpConnectionsPerAddress
        else {
            counters.streamsRefused += 1
            channel.close(promise: nil)
            return
        }
        let id = ObjectIdentifier(channel)
        let connection = StreamConnection(channel: channel, remote: remote.over(.tcp), opened: MediaLoop.now(), ip: ip)
        streams[id] = connection
        streamsByRemote[connection.remote] = id
        streamsPerAddress[ip, default: 0] += 1
        counters.streamsAccepted += 1
    }

    /// One RFC 4571 frame from a connection: the first must be a STUN request naming a peer (RFC 6544 §3:
    /// every packet is framed, and ICE checks come first); then they all go to that peer's transport.
    func receive(frame: ByteBuffer, on channel: any Channel) {
        counters.streamFramesIn += 1
        guard let connection = streams[ObjectIdentifier(channel)] else { return }
        let length = frame.readableBytes
        guard length > 0, length <= scratch.count else { return }
        frame.withUnsafeReadableBytes { scratch.copyMemory(from: $0) }
        let bytes = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<length])
        let now = MediaLoop.now()
        let entry: PeerEntry
        if let id = connection.peer {
            guard let bound = peers[id] else {
                closeStream(ObjectIdentifier(channel))
                return
            }
            entry = bound
        } else {
            // Not bound yet: only STUN requests naming a peer, and the connection is bound to it once its
            // transport has validated a check from it (as a UDP address is mapped only after a valid check), so
            // that a forged USERNAME cannot hold a connection; unbound ones are swept after streamBindTimeout.
            guard DatagramKind(classifying: UnsafeRawBufferPointer(bytes)) == .stun,
                let peek = STUNMessage.peek(UnsafeRawBufferPointer(bytes)),
                let ufrag = peek.usernameBeforeColon(in: UnsafeRawBufferPointer(bytes)),
                let id = peersByUfrag[String(decoding: ufrag, as: UTF8.self)], let named = peers[id]
            else {
                counters.streamsRefused += 1
                logger.debug("ICE-TCP connection names no peer", metadata: ["from": "\(connection.remote)"])
                closeStream(ObjectIdentifier(channel))
                return
            }
            guard named.streams.count < settings.tcpConnectionsPerPeer else {
                counters.streamsRefused += 1
                closeStream(ObjectIdentifier(channel))
                return
            }
            _ = named.peer.transport.handleDatagram(bytes, from: connection.remote, now: now)
            if named.peer.transport.isValidated(connection.remote) {
                connection.peer = id
                named.streams.insert(ObjectIdentifier(channel))
                counters.streamsBound += 1
            }
            afterTransportActivity(named, now: now)
            return
        }
        let received = entry.peer.transport.handleDatagram(bytes, from: connection.remote, now: now)
        afterTransportActivity(entry, now: now)
        if received != .none {
            entry.peer.receive(received, buffer: scratch, now: now, loop: self)
        }
    }

    func streamClosed(_ channel: any Channel) {
        forgetStream(ObjectIdentifier(channel))
    }

    private func closeStream(_ id: ObjectIdentifier) {
        guard let connection = forgetStream(id) else { return }
        connection.channel.close(promise: nil)
    }

    @discardableResult
    private func forgetStream(_ id: ObjectIdentifier) -> StreamConnection? {
        guard let connection = streams.removeValue(forKey: id) else { return nil }
        if streamsByRemote[connection.remote] == id { streamsByRemote[connection.remote] = nil }
        let left = streamsPerAddress[connection.ip, default: 1] - 1
        streamsPerAddress[connection.ip] = left > 0 ? left : nil
        if let peer = connection.peer { peers[peer]?.streams.remove(id) }
        return connection
    }

    /// Closes connections that no validated check bound to a peer in time.
    private func sweepStreams(now: Instant) {
        let stale = streams.filter { $0.value.peer == nil && now - $0.value.opened >= Self.streamBindTimeout }
        for id in stale.keys {
            counters.streamsRefused += 1
            closeStream(id)
        }
    }
}

/// Memory owned for the lifetime of a loop; only touched on that loop.
final class ScratchBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    init(byteCount: Int) { bytes = .allocate(byteCount: byteCount, alignment: 16) }
    deinit { bytes.deallocate() }
}

enum MediaLoopError: Error, CustomStringConvertible {
    case noFreePort(Int, Int)
    var description: String {
        switch self {
        case .noFreePort(let a, let b): "no free UDP port in \(a)...\(b)"
        }
    }
}

/// Hands an ICE-TCP connection's frames (from `RFC4571FrameDecoder`) to the loop's actor synchronously and
/// flushes once per read burst; tells the loop when the connection opens and closes.
final class MediaStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let loop: MediaLoop
    init(loop: MediaLoop) { self.loop = loop }

    func channelActive(context: ChannelHandlerContext) {
        loop.withAssumedIsolation(context.channel) { loop, channel in loop.streamOpened(channel) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        loop.withAssumedIsolation((unwrapInboundIn(data), context.channel)) { loop, frame in
            loop.receive(frame: frame.0, on: frame.1)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        loop.withAssumedIsolation(()) { loop, _ in loop.flush() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        loop.withAssumedIsolation(context.channel) { loop, channel in loop.streamClosed(channel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A frame over the limit (not RFC 4571) or a reset connection: it ends here.
        context.close(promise: nil)
    }
}

/// Hands datagrams to the loop's actor synchronously and flushes once per read burst.
final class MediaDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let loop: MediaLoop
    init(loop: MediaLoop) { self.loop = loop }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        loop.withAssumedIsolation((unwrapInboundIn(data), context.channel)) { loop, datagram in
            loop.receive(datagram.0, on: datagram.1)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        loop.withAssumedIsolation(()) { loop, _ in loop.flush() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP errors (e.g. port unreachable after a peer left) surface here; the socket stays open.
    }
}
