import NIOCore
import NIOPosix
import StarlingClient
import StarlingNIO
import StarlingRouting
import StarlingTransport
import StarlingWire

/// The load tool's clock: the same monotonic time NIO uses, so stamps and arrivals compare.
enum LoadClock {
    static func now() -> Instant { Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }
}

/// One peer connection of the load tool: a UDP socket on the media loop, a `ClientPeer` (ICE controlling,
/// DTLS, SRTP), and what it carries: a publisher's media, the streams it receives, or both. Every method
/// runs on `loop` (the socket's handler and the run's tick call in there; signaling hops in with `submit`).
final class LoadPeer: PacketSink, @unchecked Sendable {
    let loop: any EventLoop
    let client: ClientPeer
    let label: String
    private(set) var channel: (any Channel)?
    var publisher: PublisherMedia?
    /// Received streams by SSRC and by RTX SSRC.
    private var streamsBySSRC: [UInt32: ReceivedStream] = [:]
    private(set) var streams: [ReceivedStream] = []
    /// The transport-wide-cc extension id the server's offer gave, when it offered it.
    private var transportWideCCID: UInt8?
    private var feedback = TransportFeedbackGenerator()
    let ownSSRC = UInt32.random(in: 1...UInt32.max)
    /// When the participant started joining (first-frame times count from here).
    let joinedAt: Instant
    private(set) var connectedAt: Instant?
    private(set) var failure: String?
    private var nextReportAt = Instant.zero
    private var receiveBuffer = [UInt8](repeating: 0, count: 2048)
    private var rtcpScratch = [UInt8](repeating: 0, count: 1600)
    private var pendingFeedback: [UInt8] = []
    private var cachedDestination: (STUNAddress, SocketAddress)?
    private let decides: (ReceivedStream.Kind) -> ReceivedStream.Decoding?
    /// Datagrams the transport could not use, and RTP of SSRCs we were not told about.
    private(set) var unknownPackets = 0

    init(loop: any EventLoop, client: ClientPeer, label: String, joinedAt: Instant,
        decides: @escaping (ReceivedStream.Kind) -> ReceivedStream.Decoding?
    ) {
        self.loop = loop
        self.client = client
        self.label = label
        self.joinedAt = joinedAt
        self.decides = decides
        pendingFeedback.reserveCapacity(1500)
    }

    /// Binds the peer's UDP socket on `host` (an ephemeral port) on its loop.
    func bind(host: String) async throws {
        let handler = Handler(peer: self)
        channel = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.socketOption(.so_sndbuf), value: 4 << 20)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .bind(host: host, port: 0).get()
        if let local = channel?.localAddress, let ip = local.ipAddress, let port = local.port {
            client.localCandidates = [ClientPeer.hostCandidate(address: ip, port: UInt16(port))]
        }
    }

    func close() {
        client.transport?.close(now: LoadClock.now())
        drainTransmits()
        channel?.close(promise: nil)
    }

    var isConnected: Bool { client.transport?.isConnected ?? false }

    /// The transport's state and ICE counters, for a message when a connection does not come up.
    var connectionState: String {
        guard let transport = client.transport else { return "no transport (no answer applied)" }
        return "\(transport.state), ICE \(transport.iceCounters)"
    }

    // MARK: - Signaling results (on the loop)

    /// Applies the SFU's answer to our publishing offer.
    func applyAnswer(_ sdp: String) throws {
        try client.applyAnswer(sdp, now: LoadClock.now())
        drainTransmits()
    }

    /// Answers an offer from the SFU (its subscribing side) and learns the streams it will send.
    func answer(offer sdp: String) throws -> String {
        let answer = try client.answer(offer: sdp, now: LoadClock.now())
        let offer = try SessionDescription(parsing: sdp)
        for m in offer.media where !m.isRejected && m.effectiveDirection == .sendonly {
            guard let mid = m.mid, let announced = client.receivedStreams[mid], streamsBySSRC[announced.ssrc] == nil,
                let codec = m.codecs.first(where: { !$0.isRTX })
            else { continue }
            if let id = m.extmaps.first(where: { $0.uri == SDP.ExtMap.URI.transportWideCC })?.id { transportWideCCID = UInt8(id) }
            let kind: ReceivedStream.Kind = m.kind == .audio ? .audio : .video
            let stream = try ReceivedStream(
                kind: kind, ssrc: announced.ssrc, rtxSSRC: announced.rtxSSRC, payloadType: codec.payloadType,
                rtxPayloadType: m.rtxPayloadType(for: codec.payloadType), decoding: decides(kind))
            streams.append(stream)
            streamsBySSRC[announced.ssrc] = stream
            if let rtx = announced.rtxSSRC { streamsBySSRC[rtx] = stream }
        }
        return answer
    }

    // MARK: - Datagrams

    fileprivate func datagram(_ envelope: AddressedEnvelope<ByteBuffer>, run: LoadRunState?) {
        let arrival = LoadClock.now()
        guard let transport = client.transport, let from = STUNAddress(envelope.remoteAddress) else { return }
        let count = envelope.data.readableBytes
        guard count <= receiveBuffer.count else { return }
        receiveBuffer.withUnsafeMutableBytes { raw in
            envelope.data.withUnsafeReadableBytes { raw.copyMemory(from: $0) }
            let packet = UnsafeMutableRawBufferPointer(rebasing: raw[0..<count])
            switch transport.handleDatagram(packet, from: from, now: arrival) {
            case .rtp(let length):
                receiveRTP(UnsafeMutableRawBufferPointer(rebasing: raw[0..<length]), arrival: arrival, run: run)
            case .rtcp(let length):
                if let publisher { publisher.receiveRTCP(UnsafeRawBufferPointer(rebasing: raw[0..<length]), now: arrival, sink: self) }
                receiveRTCP(UnsafeRawBufferPointer(rebasing: raw[0..<length]), now: arrival)
            case .none:
                break
            }
        }
        drainTransmits()
    }

    private func receiveRTP(_ packet: UnsafeMutableRawBufferPointer, arrival: Instant, run: LoadRunState?) {
        guard let header = try? RTPHeader(parsing: UnsafeRawBufferPointer(packet)) else { return }
        if let id = transportWideCCID, let value = header.headerExtension(id: id, in: UnsafeRawBufferPointer(packet)),
            let sequence = try? TransportWideSequenceNumber.decode(value)
        {
            feedback.record(transportSequenceNumber: sequence, arrival: arrival)
        }
        guard let stream = streamsBySSRC[header.ssrc], let run else {
            unknownPackets += 1
            return
        }
        stream.receive(packet, header: header, arrival: arrival, delays: run.delays)
    }

    private func receiveRTCP(_ packet: UnsafeRawBufferPointer, now: Instant) {
        guard !streams.isEmpty else { return }
        var iterator = RTCPPacketIterator(packet)
        while let view = try? iterator.next() {
            guard view.kind == .senderReport, let report = try? SenderReport(view: view) else { continue }
            streamsBySSRC[report.ssrc]?.recordSenderReport(report, now: now)
        }
    }

    // MARK: - Timers and sending

    /// Transport timers, then (once connected) the publisher's media while `sending`, and the receivers'
    /// feedback (freezes are only judged while publishers send).
    func tick(now: Instant, sending: Bool) {
        guard let transport = client.transport else { return }
        if let deadline = transport.nextDeadline, deadline <= now { transport.handleTimeout(now: now) }
        while let event = transport.pollEvent() {
            switch event {
            case .connected: if connectedAt == nil { connectedAt = now }
            case .failed(let why): failure = "\(label): \(why)"
            default: break
            }
        }
        drainTransmits()
        guard transport.isConnected else { return }
        if sending { publisher?.tick(now: now, sink: self) }
        guard !streams.isEmpty else { return }
        pendingFeedback.removeAll(keepingCapacity: true)
        for stream in streams {
            stream.tick(now: now, ownSSRC: ownSSRC, judgesFreezes: sending, feedback: &pendingFeedback)
            sendFeedbackIfFull()
        }
        if transportWideCCID != nil, let media = streams.first?.ssrc {
            _ = feedback.poll(now: now, senderSSRC: ownSSRC, mediaSSRC: media, into: &pendingFeedback)
            sendFeedbackIfFull()
        }
        if now >= nextReportAt {
            nextReportAt = now + .seconds(1)
            var blocks: [ReportBlock] = []
            for stream in streams where stream.hasReceived { blocks.append(stream.makeReportBlock(now: now)) }
            for start in stride(from: 0, to: blocks.count, by: 31) {
                ReceiverReport(ssrc: ownSSRC, reportBlocks: Array(blocks[start..<min(start + 31, blocks.count)]))
                    .serialize(into: &pendingFeedback)
                sendFeedbackIfFull()
            }
        }
        sendFeedbackIfFull(force: true)
        channel?.flush()
    }

    private func sendFeedbackIfFull(force: Bool = false) {
        guard !pendingFeedback.isEmpty, force || pendingFeedback.count > 1000 else { return }
        let bytes = pendingFeedback
        pendingFeedback.removeAll(keepingCapacity: true)
        guard bytes.count <= rtcpScratch.count - 64 else { return }
        rtcpScratch.withUnsafeMutableBytes { p in
            p.copyBytes(from: bytes)
            send(p, length: bytes.count, rtcp: true)
        }
    }

    func send(_ buffer: UnsafeMutableRawBufferPointer, length: Int, rtcp: Bool) {
        guard let transport = client.transport, transport.isConnected, let destination = transport.destination,
            let channel, let base = buffer.baseAddress
        else { return }
        let protected: Int
        do {
            protected =
                rtcp
                ? try transport.protectRTCP(base, length: length, capacity: buffer.count)
                : try transport.protectRTP(base, length: length, capacity: buffer.count)
        } catch {
            return
        }
        let address: SocketAddress
        if let cached = cachedDestination, cached.0 == destination {
            address = cached.1
        } else {
            address = SocketAddress(destination)
            cachedDestination = (destination, address)
        }
        var out = channel.allocator.buffer(capacity: protected)
        out.writeBytes(UnsafeRawBufferPointer(rebasing: buffer[0..<protected]))
        channel.write(AddressedEnvelope(remoteAddress: address, data: out), promise: nil)
    }

    func flush() { channel?.flush() }

    private func drainTransmits() {
        guard let transport = client.transport, let channel else { return }
        var wrote = false
        while let transmit = transport.pollTransmit() {
            channel.write(
                AddressedEnvelope(remoteAddress: SocketAddress(transmit.destination), data: ByteBuffer(bytes: transmit.bytes)),
                promise: nil)
            wrote = true
        }
        if wrote { channel.flush() }
    }

    /// The socket's handler: hands each datagram to the peer on the loop.
    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        private let peer: LoadPeer
        init(peer: LoadPeer) { self.peer = peer }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            peer.datagram(unwrapInboundIn(data), run: peer.run)
        }
    }

    /// The run the peer reports into (set when media starts).
    var run: LoadRunState?
}
