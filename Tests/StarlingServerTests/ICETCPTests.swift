import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import StarlingClient
import StarlingNIO
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// ICE-TCP (RFC 6544) over real TCP sockets on 127.0.0.1: our own client reaches the echo endpoint through the
/// loop's passive TCP candidate only (ICE checks, DTLS, SRTP and SRTCP all RFC 4571 framed), and connections
/// that do not name a peer in their first frame are closed and counted.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ICETCPTests {
    /// A TCP connection to the server whose received frames are collected for the test task to drain.
    final class Frames: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let inbox = NIOLockedValueBox<[[UInt8]]>([])
        let closed = NIOLockedValueBox(false)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(unwrapInboundIn(data).readableBytesView)
            inbox.withLockedValue { $0.append(bytes) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.withLockedValue { $0 = true }
            context.fireChannelInactive()
        }

        func drain() -> [[UInt8]] {
            inbox.withLockedValue { value in
                defer { value.removeAll() }
                return value
            }
        }
    }

    static func connect(to address: STUNAddress, _ handler: Frames) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RFC4571FrameDecoder(maxFrameLength: 65_535)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(to: SocketAddress(address)).get()
    }

    /// `bytes` with their RFC 4571 length in front.
    static func framed(_ bytes: some Collection<UInt8>) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    static func startMedia() async throws -> MediaService {
        var configuration = StarlingConfiguration()
        configuration.media.udpPort = 0
        configuration.media.tcpPort = 0
        configuration.media.eventLoops = 1
        return try await MediaService.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
    }

    @Test func echoesRTPOverAPassiveTCPCandidate() async throws {
        let media = try await Self.startMedia()
        defer { Task { for loop in media.loops { await loop.stop() } } }
        let track = ClientPeer.Track(kind: .video, mid: "0", ssrc: 0x2222, payloadType: 96)
        let client = ClientPeer(tracks: [track], certificate: try DTLSCertificate(generatingWithCommonName: "client"))
        client.iceTransport = .tcp
        let (_, answer) = try await media.createEchoSession(offer: client.makeOffer())

        // The answer carries the UDP host candidate and, below it in priority, the passive TCP one (RFC 6544 §4.5).
        let parsed = try SessionDescription(parsing: answer)
        let candidates = try #require(parsed.media.first).candidates
        let udp = try #require(candidates.first { $0.isUDP })
        let tcp = try #require(candidates.first { $0.isTCP })
        #expect(tcp.tcpType == "passive" && tcp.type == .host && tcp.address == "127.0.0.1")
        #expect(udp.priority > tcp.priority && udp.foundation != tcp.foundation)
        #expect(answer.contains(" tcp \(tcp.priority) 127.0.0.1 \(tcp.port) typ host tcptype passive"))

        let remote = try #require(try client.applyAnswer(answer, now: EchoOverUDPTests.now()).first)
        #expect(remote.transport == .tcp && remote.port == tcp.port)
        let transport = try #require(client.transport)
        let frames = Frames()
        let connection = try await Self.connect(to: remote, frames)
        defer { connection.close(promise: nil) }

        var echoed = 0
        var sent = 0
        let deadline = EchoOverUDPTests.now() + .seconds(15)
        while EchoOverUDPTests.now() < deadline && echoed < 50 {
            let now = EchoOverUDPTests.now()
            for frame in frames.drain() {
                var buffer = frame + [UInt8](repeating: 0, count: 64)
                let received = buffer.withUnsafeMutableBytes {
                    transport.handleDatagram(UnsafeMutableRawBufferPointer(rebasing: $0[0..<frame.count]), from: remote, now: now)
                }
                if case .rtp = received { echoed += 1 }
            }
            if let d = transport.nextDeadline, d <= now { transport.handleTimeout(now: now) }
            while let t = transport.pollTransmit() {
                #expect(t.destination == remote)
                connection.write(Self.framed(t.bytes), promise: nil)
            }
            if transport.isConnected, sent < 150 {
                for _ in 0..<10 {
                    let packet = try EchoOverUDPTests.protectedVP8(index: sent, ssrc: track.ssrc, transport: transport)
                    connection.write(Self.framed(packet), promise: nil)
                    sent += 1
                }
            }
            connection.flush()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(transport.isConnected)
        #expect(transport.destination == remote)
        #expect(echoed >= 50, "echoed \(echoed) of \(sent) packets over TCP")
        let loop = try #require(media.loops.first)
        let counters = await loop.counters
        #expect(counters.streamsAccepted == 1 && counters.streamsBound == 1 && counters.streamsRefused == 0)
        #expect(counters.streamFramesIn > 50)
    }

    /// A connection whose first frame is not a STUN request naming one of our peers is closed (RFC 6544 gives
    /// it nothing to do), and so is one whose frames are not RFC 4571 at all; the listener goes on.
    @Test func closesConnectionsThatNameNoPeer() async throws {
        let media = try await Self.startMedia()
        defer { Task { for loop in media.loops { await loop.stop() } } }
        let loop = try #require(media.loops.first)
        let port = try #require(await loop.tcpPort)
        let server = STUNAddress(ipv4: 127, 0, 0, 1, port: UInt16(port)).over(.tcp)

        let unknownUser = STUNMessage(
            type: .bindingRequest, transactionID: .random(), attributes: [.username("nobody:here"), .iceControlling(1)]
        ).serialize(integrityKey: STUNCredentials.shortTermKey(password: "0123456789abcdefghijkl"), fingerprint: true)
        let firstFrames: [[UInt8]] = [(0..<200).map { _ in UInt8.random(in: 0...255) }, unknownUser]
        for first in firstFrames {
            let frames = Frames()
            let connection = try await Self.connect(to: server, frames)
            try await connection.writeAndFlush(Self.framed(first))
            let deadline = EchoOverUDPTests.now() + .seconds(5)
            while !frames.closed.withLockedValue({ $0 }) && EchoOverUDPTests.now() < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(frames.closed.withLockedValue { $0 }, "the server kept a connection whose first frame named no peer")
            #expect(frames.drain().isEmpty)
        }
        var counters = await loop.counters
        #expect(counters.streamsAccepted == 2 && counters.streamsRefused == 2)

        // A check naming a real peer's ufrag but signed with the wrong password is not answered, and binds the
        // connection to nothing (it stays pending until the sweep closes it).
        let client = ClientPeer(
            tracks: [ClientPeer.Track(kind: .audio, mid: "0", ssrc: 7, payloadType: 111)],
            certificate: try DTLSCertificate(generatingWithCommonName: "client"))
        client.iceTransport = .tcp
        let (_, answer) = try await media.createEchoSession(offer: client.makeOffer())
        let parsed = try SessionDescription(parsing: answer)
        let firstLine = try #require(parsed.media.first)
        let serverUfrag = try #require(parsed.iceCredentials(for: firstLine)?.ufrag)
        let forged = STUNMessage(
            type: .bindingRequest, transactionID: .random(),
            attributes: [.username("\(serverUfrag):\(client.localCredentials.ufrag)"), .iceControlling(1), .useCandidate]
        ).serialize(integrityKey: STUNCredentials.shortTermKey(password: "not-the-password-at-all"), fingerprint: true)
        let frames = Frames()
        let connection = try await Self.connect(to: server, frames)
        try await connection.writeAndFlush(Self.framed(forged))
        try await Task.sleep(for: .milliseconds(500))
        #expect(frames.drain().isEmpty && !frames.closed.withLockedValue { $0 })
        counters = await loop.counters
        #expect(counters.streamsAccepted == 3 && counters.streamsRefused == 2 && counters.streamsBound == 0)
        connection.close(promise: nil)
    }
}
