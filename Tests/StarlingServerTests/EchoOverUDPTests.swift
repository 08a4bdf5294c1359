import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import StarlingNIO
import StarlingClient
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// Our own client (StarlingClient: controlling ICE, DTLS client) against the echo endpoint (a room of one
/// transport whose router sends each stream back under our SSRC) over real UDP sockets on 127.0.0.1, in
/// both port modes; garbage sent to the server's socket meanwhile is dropped and counted while the session
/// goes on.
@Suite(.serialized, .timeLimit(.minutes(2))) struct EchoOverUDPTests {
    /// A UDP socket on 127.0.0.1 whose received datagrams are collected for the test task to drain.
    final class ClientSocket: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let inbox = NIOLockedValueBox<[(bytes: [UInt8], from: STUNAddress)]>([])

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard let from = STUNAddress(envelope.remoteAddress) else { return }
            let bytes = Array(envelope.data.readableBytesView)
            inbox.withLockedValue { $0.append((bytes, from)) }
        }

        func drain() -> [(bytes: [UInt8], from: STUNAddress)] {
            inbox.withLockedValue { value in
                defer { value.removeAll() }
                return value
            }
        }
    }

    static func bind(_ handler: ClientSocket) async throws -> any Channel {
        try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    static func now() -> Instant { Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }

    /// The `index`th packet of a stream of one-packet VP8 frames (a keyframe every 30), SRTP-protected.
    static func protectedVP8(index: Int, ssrc: UInt32, transport: PeerTransport) throws -> [UInt8] {
        let plain = RTPPacket(
            marker: true, payloadType: 96, sequenceNumber: UInt16(truncatingIfNeeded: index),
            timestamp: UInt32(truncatingIfNeeded: index) &* 3000, ssrc: ssrc,
            payload: vp8Frame(index: index, keyframe: index % 30 == 0)
        ).serialized()
        var buffer = plain + [UInt8](repeating: 0, count: 32)
        let length = try buffer.withUnsafeMutableBytes { raw throws(SRTPError) -> Int in
            try transport.protectRTP(raw.baseAddress!, length: plain.count, capacity: raw.count)
        }
        return Array(buffer[0..<length])
    }

    /// A one-packet VP8 frame of 1003 bytes: descriptor (X, S, 7-bit picture ID) and a frame tag (RFC 6386
    /// §9.1: P bit 0 plus start code and size for a keyframe).
    static func vp8Frame(index: Int, keyframe: Bool) -> [UInt8] {
        var payload: [UInt8] = [0x90, 0x80, UInt8(index & 0x7F)]
        payload += keyframe ? [0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00] : [0x11, 0x00, 0x00]
        payload += [UInt8](repeating: 0x42, count: 1003 - payload.count)
        return payload
    }

    /// Hands one received datagram to `transport`, with room after it for in-place decryption; returns what
    /// it was and the buffer, whose first bytes then hold the decrypted RTP or RTCP.
    static func receive(_ datagram: (bytes: [UInt8], from: STUNAddress), by transport: PeerTransport, now: Instant)
        -> (PeerTransport.Received, [UInt8])
    {
        var buffer = datagram.bytes + [UInt8](repeating: 0, count: 64)
        let count = datagram.bytes.count
        let received = buffer.withUnsafeMutableBytes {
            transport.handleDatagram(UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), from: datagram.from, now: now)
        }
        return (received, buffer)
    }

    /// Drives `transport` over `channel` (whose datagrams `handler` collects) until it is connected or
    /// `seconds` pass; returns whether it connected.
    static func connect(
        _ transport: PeerTransport, channel: any Channel, handler: ClientSocket, seconds: Int64 = 5
    ) async throws -> Bool {
        let deadline = now() + .seconds(seconds)
        while now() < deadline, !transport.isConnected {
            let now = Self.now()
            for datagram in handler.drain() { _ = receive(datagram, by: transport, now: now) }
            if let d = transport.nextDeadline, d <= now { transport.handleTimeout(now: now) }
            while let t = transport.pollTransmit() {
                try await channel.writeAndFlush(
                    AddressedEnvelope(remoteAddress: SocketAddress(t.destination), data: ByteBuffer(bytes: t.bytes)))
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return transport.isConnected
    }

    /// A peer whose address another peer used before (a NAT mapping handed on) is not captured by it: its ICE
    /// checks go by USERNAME to its own transport, which then owns the address (RFC 8445 §7.3: a request is
    /// matched by its credentials). Two echo sessions, one client socket, one after the other.
    @Test func aPeerBehindAnAddressAnotherPeerUsedConnects() async throws {
        var configuration = StarlingConfiguration()
        configuration.media.portMode = .singlePort
        configuration.media.udpPort = 0
        configuration.media.tcpPort = 0
        configuration.media.eventLoops = 1  // both sessions on one loop and one socket
        let media = try await MediaService.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        defer { Task { for loop in media.loops { await loop.stop() } } }
        let handler = ClientSocket()
        let channel = try await Self.bind(handler)
        var transports: [PeerTransport] = []
        for ssrc: UInt32 in [0x1111, 0x2222] {
            let client = ClientPeer(
                tracks: [ClientPeer.Track(kind: .video, mid: "0", ssrc: ssrc, payloadType: 96)],
                certificate: try DTLSCertificate(generatingWithCommonName: "client"))
            let (_, answer) = try await media.createEchoSession(offer: client.makeOffer(), client: "127.0.0.\(transports.count + 1)")
            _ = try client.applyAnswer(answer, now: Self.now())
            transports.append(try #require(client.transport))
        }
        #expect(try await Self.connect(transports[0], channel: channel, handler: handler), "the first peer connects")
        #expect(
            try await Self.connect(transports[1], channel: channel, handler: handler),
            "the second peer, from the first one's address, connects")
        try await channel.close()
    }

    @Test(arguments: [StarlingConfiguration.Media.PortMode.singlePort, .portRange])
    func echoesRTPBackOverLoopback(mode: StarlingConfiguration.Media.PortMode) async throws {
        var configuration = StarlingConfiguration()
        configuration.media.portMode = mode
        configuration.media.udpPort = 0
        configuration.media.tcpPort = 0
        configuration.media.portRangeStart = 41000
        configuration.media.portRangeEnd = 41099
        let media = try await MediaService.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        defer { Task { for loop in media.loops { await loop.stop() } } }

        let certificate = try DTLSCertificate(generatingWithCommonName: "client")
        let track = ClientPeer.Track(kind: .video, mid: "0", ssrc: 0x1111, payloadType: 96)
        let client = ClientPeer(tracks: [track], certificate: certificate)
        let (_, answer) = try await media.createEchoSession(offer: client.makeOffer())
        let candidates = try client.applyAnswer(answer, now: Self.now())
        #expect(candidates.allSatisfy { $0.ip.description == "127.0.0.1" })
        let transport = try #require(client.transport)

        let handler = ClientSocket()
        let channel = try await Self.bind(handler)
        let garbageHandler = ClientSocket()
        let garbageChannel = try await Self.bind(garbageHandler)

        var echoed: [RTPPacket] = []
        var sent = 0
        // The 10th echoed packet is "lost" on the way to us (dropped before decryption; the RTP header
        // travels in the clear), so a NACK for it can be answered later.
        var lostSequenceNumber: UInt16?
        var seenEchoes = 0
        let deadline = Self.now() + .seconds(15)
        while Self.now() < deadline && echoed.count < 100 {
            let now = Self.now()
            for datagram in handler.drain() {
                if datagram.bytes.count > 12, datagram.bytes[0] & 0xC0 == 0x80, datagram.bytes[1] & 0x7F == 96 {
                    seenEchoes += 1
                    if seenEchoes == 10 {
                        lostSequenceNumber = UInt16(datagram.bytes[2]) << 8 | UInt16(datagram.bytes[3])
                        continue
                    }
                }
                let (received, buffer) = Self.receive(datagram, by: transport, now: now)
                if case .rtp(let n) = received, let packet = try? RTPPacket(parsing: Array(buffer[0..<n])) {
                    echoed.append(packet)
                }
            }
            if let d = transport.nextDeadline, d <= now { transport.handleTimeout(now: now) }
            while let t = transport.pollTransmit() {
                try await channel.writeAndFlush(
                    AddressedEnvelope(remoteAddress: SocketAddress(t.destination), data: ByteBuffer(bytes: t.bytes)))
            }
            if transport.isConnected, let destination = transport.destination, sent < 150 {
                // Publish a burst of one-packet VP8 frames (RFC 7741 descriptor with a 7-bit picture ID, a
                // keyframe every 30); some garbage goes to the server's socket in between.
                for _ in 0..<10 {
                    let packet = try Self.protectedVP8(index: sent, ssrc: track.ssrc, transport: transport)
                    try await channel.writeAndFlush(
                        AddressedEnvelope(remoteAddress: SocketAddress(destination), data: ByteBuffer(bytes: packet)))
                    try await garbageChannel.writeAndFlush(
                        AddressedEnvelope(
                            remoteAddress: SocketAddress(destination),
                            data: ByteBuffer(bytes: (0..<200).map { _ in UInt8.random(in: 0...255) })))
                    sent += 1
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        // A NACK for an echoed packet is answered from the cache (same sequence number, same payload), and a
        // PLI for the echoed stream comes back as a PLI for our own stream (we are its publisher).
        let lost = try #require(lostSequenceNumber)
        #expect(!echoed.contains { $0.sequenceNumber == lost })
        let echoSSRCValue = try #require(echoed.first?.ssrc)
        var feedback = GenericNACK(senderSSRC: track.ssrc, mediaSSRC: echoSSRCValue, lostSequenceNumbers: [lost])
            .serialized()
        PictureLossIndication(senderSSRC: track.ssrc, mediaSSRC: echoSSRCValue).serialize(into: &feedback)
        let plainLength = feedback.count
        feedback += [UInt8](repeating: 0, count: 32)
        let rtcpLength = try feedback.withUnsafeMutableBytes { raw throws(SRTPError) -> Int in
            try transport.protectRTCP(raw.baseAddress!, length: plainLength, capacity: raw.count)
        }
        try await channel.writeAndFlush(
            AddressedEnvelope(
                remoteAddress: SocketAddress(try #require(transport.destination)), data: ByteBuffer(bytes: feedback[0..<rtcpLength])))
        var resent: RTPPacket?
        var pli: PictureLossIndication?
        let feedbackDeadline = Self.now() + .seconds(5)
        while Self.now() < feedbackDeadline && (resent == nil || pli == nil) {
            for datagram in handler.drain() {
                let (received, buffer) = Self.receive(datagram, by: transport, now: Self.now())
                switch received {
                case .rtp(let n):
                    if let p = try? RTPPacket(parsing: Array(buffer[0..<n])), p.sequenceNumber == lost { resent = p }
                case .rtcp(let n):
                    // A compound packet may carry the PLI after a report.
                    Array(buffer[0..<n]).withUnsafeBytes { raw in
                        var iterator = RTCPPacketIterator(raw)
                        while let view = try? iterator.next() {
                            if view.kind == .pictureLossIndication, let fb = try? view.feedback() {
                                pli = PictureLossIndication(senderSSRC: fb.senderSSRC, mediaSSRC: fb.mediaSSRC)
                            }
                        }
                    }
                case .none:
                    break
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(resent?.ssrc == echoSSRCValue && resent?.payload.count == 1003, "the NACKed packet comes back from the cache")
        #expect(pli?.mediaSSRC == track.ssrc, "a PLI for the echoed stream becomes a PLI for ours")

        try await channel.close()
        try await garbageChannel.close()

        #expect(echoed.count >= 100, "echoed \(echoed.count) of \(sent)")
        let echoSSRC = echoed.first?.ssrc
        #expect(echoSSRC != nil && echoSSRC != track.ssrc)
        #expect(echoed.allSatisfy { $0.ssrc == echoSSRC && $0.payloadType == 96 && $0.payload.count == 1003 })
        #expect(Set(echoed.map(\.sequenceNumber)).count == echoed.count)
        #expect(garbageHandler.drain().isEmpty, "garbage got an answer")
        var unmatched = 0
        for loop in media.loops { unmatched += await loop.counters.unmatchedDatagrams }
        if mode == .singlePort {
            #expect(unmatched >= 100, "garbage from an unknown address is dropped and counted")
        }
    }
}
