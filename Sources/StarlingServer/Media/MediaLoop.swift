import Logging
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
actor MediaLoop {
    nonisolated let eventLoop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }
    nonisolated let index: Int
    let settings: StarlingConfiguration.Media
    let logger: Logger

    struct Counters {
        var datagramsIn = 0
        var unmatchedDatagrams = 0
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
        var knownAddresses: Set<STUNAddress> = []
        var destination: (address: STUNAddress, socketAddress: SocketAddress)?
        init(peer: any MediaPeer, channel: any Channel, ownsChannel: Bool) {
            self.peer = peer
            self.channel = channel
            self.ownsChannel = ownsChannel
        }
    }

    private var peers: [ObjectIdentifier: PeerEntry] = [:]
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
        let loop = self
        tickTask = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(10), delay: .milliseconds(10)) { _ in
            loop.withAssumedIsolation(()) { loop, _ in loop.tick() }
        }
    }

    func stop() async {
        tickTask?.cancel()
        for entry in peers.values where entry.ownsChannel { try? await entry.channel.close() }
        try? await sharedChannel?.close()
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

    /// A socket for a new peer: the shared one, or one of its own from the port range. Its local port is
    /// what the peer's candidates announce.
    func socketForNewPeer() async throws -> (channel: any Channel, port: Int, owned: Bool) {
        if let shared = sharedChannel { return (shared, shared.localAddress?.port ?? 0, false) }
        let channel = try await bindFromRange()
        return (channel, channel.localAddress?.port ?? 0, true)
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
            transmit.bytes.withUnsafeBytes { send($0, to: SocketAddress(transmit.destination), on: entry.channel) }
        }
        flush()
        peersByUfrag = peersByUfrag.filter { $0.value != id }
        for address in entry.knownAddresses where peersByAddress[address] == id { peersByAddress[address] = nil }
        if entry.ownsChannel { entry.channel.close(promise: nil) }
        peer.removed(loop: self)
    }

    var peerCount: Int { peers.count }

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

    private func match(bytes: UnsafeRawBufferPointer, source: STUNAddress, channel: any Channel) -> ObjectIdentifier? {
        if let id = peersByAddress[source], let entry = peers[id], entry.channel === channel { return id }
        if sharedChannel == nil || channel !== sharedChannel {
            // Port-range mode: the socket names its peer.
            return peers.first { $0.value.channel === channel }?.key
        }
        // Single-port mode, new address: only a STUN request naming one of our ufrags is let in.
        guard DatagramKind(classifying: bytes) == .stun, let peek = STUNMessage.peek(bytes),
            let ufrag = peek.usernameBeforeColon(in: bytes)
        else { return nil }
        return peersByUfrag[String(decoding: ufrag, as: UTF8.self)]
    }

    /// Sends what the transport queued, registers newly validated addresses, hands events to the peer.
    private func afterTransportActivity(_ entry: PeerEntry, now: Instant) {
        let transport = entry.peer.transport
        while let transmit = transport.pollTransmit() {
            transmit.bytes.withUnsafeBytes { send($0, to: SocketAddress(transmit.destination), on: entry.channel) }
        }
        while let event = transport.pollEvent() {
            if case .selectedPairChanged(let remote) = event {
                entry.destination = (remote, SocketAddress(remote))
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

    /// Sends `bytes` to the peer's current destination (the selected ICE pair while consent holds).
    /// Returns false when there is nowhere to send.
    @discardableResult
    func sendToPeer(_ peer: any MediaPeer, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let entry = peers[ObjectIdentifier(peer)], let destination = entry.destination,
            peer.transport.destination != nil
        else { return false }
        send(bytes, to: destination.socketAddress, on: entry.channel)
        return true
    }

    private func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress, on channel: any Channel) {
        writer.send(bytes, to: address, on: channel)
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
