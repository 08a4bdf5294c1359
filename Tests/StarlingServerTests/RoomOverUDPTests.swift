import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import StarlingNIO
import StarlingClient
@testable import StarlingMediaTestSupport
import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// A room over real UDP sockets on 127.0.0.1: one publisher sending synthetic VP8 in three
/// simulcast layers with RTX, four subscribers, all our own client (StarlingClient: controlling ICE, DTLS
/// client, SRTP). Each subscriber NACKs, sends receiver reports and transport-cc feedback and checks its
/// stream as a decoder would need it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RoomOverUDPTests {
    /// One client peer on its own UDP socket; the test task moves datagrams between the two.
    final class UDPPeer: @unchecked Sendable {
        let client: ClientPeer
        let channel: any Channel
        let inbox: EchoOverUDPTests.ClientSocket
        var transport: PeerTransport { client.transport! }
        var sent = 0

        init(client: ClientPeer, channel: any Channel, inbox: EchoOverUDPTests.ClientSocket) {
            self.client = client
            self.channel = channel
            self.inbox = inbox
        }

        /// Feeds received datagrams to the transport; hands decrypted packets to `deliver`.
        func pump(now: Instant, deliver: ([UInt8]) -> Void) {
            for datagram in inbox.drain() {
                var buffer = datagram.bytes + [UInt8](repeating: 0, count: 64)
                let count = datagram.bytes.count
                let received = buffer.withUnsafeMutableBytes {
                    transport.handleDatagram(UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), from: datagram.from, now: now)
                }
                switch received {
                case .rtp(let n), .rtcp(let n): deliver(Array(buffer[0..<n]))
                case .none: break
                }
            }
            if let d = transport.nextDeadline, d <= now { transport.handleTimeout(now: now) }
            while let t = transport.pollTransmit() {
                channel.write(AddressedEnvelope(remoteAddress: SocketAddress(t.destination), data: ByteBuffer(bytes: t.bytes)), promise: nil)
            }
            channel.flush()
        }

        /// One step of a publishing peer: RTCP to `sim`, then (once connected) its media, starting now.
        func drive(_ sim: SimPublisher, now: Instant) {
            pump(now: now) { bytes in sim.receiveRTCP(bytes, now: now) { self.send($0) } }
            if transport.isConnected {
                if sim.nextFrameAt < now - .seconds(1) {
                    sim.nextFrameAt = now
                    sim.nextReportAt = now + .seconds(1)
                }
                sim.tick(now: now) { self.send($0) }
            }
            channel.flush()
        }

        /// One step of a receiving peer: RTCP to every stream, RTP to the stream of its SSRC (or RTX SSRC),
        /// counted per SSRC; then the streams' feedback.
        func receive(into sims: [String: SimSubscriber], now: Instant, counting: inout [UInt32: Int]) {
            var counts = counting
            pump(now: now) { bytes in
                if bytes.count > 1, (192...223).contains(bytes[1]) {
                    for s in sims.values { s.receive(bytes, now: now) }
                } else if bytes.count >= 12 {
                    let ssrc = UInt32(bytes[8]) << 24 | UInt32(bytes[9]) << 16 | UInt32(bytes[10]) << 8 | UInt32(bytes[11])
                    counts[ssrc, default: 0] += 1
                    sims.values.first { $0.ssrc == ssrc || $0.rtxSSRC == ssrc }?.receive(bytes, now: now)
                }
            }
            counting = counts
            for s in sims.values { s.tick(now: now) { self.send($0) } }
            channel.flush()
        }

        /// Protects and sends a plain RTP or RTCP packet (RFC 5761 §4: payload types 192-223 are RTCP).
        func send(_ plain: [UInt8]) {
            guard transport.isConnected, let destination = transport.destination else { return }
            var buffer = plain + [UInt8](repeating: 0, count: 64)
            let isRTCP = plain.count > 1 && (192...223).contains(plain[1])
            let length: Int? = buffer.withUnsafeMutableBytes { raw in
                isRTCP
                    ? try? transport.protectRTCP(raw.baseAddress!, length: plain.count, capacity: raw.count)
                    : try? transport.protectRTP(raw.baseAddress!, length: plain.count, capacity: raw.count)
            }
            guard let length else { return }
            sent += 1
            channel.write(
                AddressedEnvelope(remoteAddress: SocketAddress(destination), data: ByteBuffer(bytes: buffer[0..<length])),
                promise: nil)
        }
    }

    static func now() -> Instant { Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }

    /// A media service on one event loop with an ephemeral UDP port on 127.0.0.1.
    static func startMedia() async throws -> (MediaService, addresses: [String]) {
        var configuration = StarlingConfiguration()
        configuration.media.udpPort = 0
        configuration.media.tcpPort = 0
        configuration.media.eventLoops = 1
        let media = try await MediaService.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        return (media, configuration.media.candidateAddresses)
    }

    static func makePeer(tracks: [ClientPeer.Track]) async throws -> UDPPeer {
        let certificate = try DTLSCertificate(generatingWithCommonName: "client")
        let inbox = EchoOverUDPTests.ClientSocket()
        let channel = try await EchoOverUDPTests.bind(inbox)
        return UDPPeer(client: ClientPeer(tracks: tracks, certificate: certificate), channel: channel, inbox: inbox)
    }

    @Test func onePublisherFourSubscribersOverLoopback() async throws {
        let (media, addresses) = try await Self.startMedia()
        let room = await media.room("room-1")

        // The publisher: three simulcast layers by SSRC (a=ssrc-group:SIM) with RTX (FID).
        let publisher = SimPublisher(node: 0, transport: TransportID(0), ssrcBase: 0x5000)
        publisher.keyframeInterval = .seconds(2)
        let publisherPeer = try await Self.makePeer(tracks: [
            ClientPeer.Track(
                kind: .video, mid: "0", ssrcs: publisher.layers.map(\.ssrc), rtxSSRCs: publisher.layers.map(\.rtxSSRC),
                payloadType: SimPublisher.payloadType, rtxPayloadType: SimPublisher.rtxPayloadType, direction: .send)
        ])
        let published = try await room.connect(
            offer: publisherPeer.client.makeOffer(), sources: [:], certificate: media.certificate,
            candidateAddresses: addresses)
        try publisherPeer.client.applyAnswer(published.answer, now: Self.now())
        let producer = try #require(published.producers.first?.producer)
        #expect(published.producers.count == 1 && published.consumers.isEmpty)

        // Four subscribers, each receiving the camera on one recvonly m-line; preferred layers 0, 1, 2, any.
        let preferences: [Int?] = [0, 1, 2, nil]
        var subscribers: [(peer: UDPPeer, sim: SimSubscriber, consumer: ConsumerID)] = []
        for (i, preferred) in preferences.enumerated() {
            let peer = try await Self.makePeer(tracks: [
                ClientPeer.Track(
                    kind: .video, mid: "v0", ssrcs: [], payloadType: 96, rtxPayloadType: 97, direction: .receive)
            ])
            let connection = try await room.connect(
                offer: peer.client.makeOffer(),
                sources: ["v0": RoomAnswer.Source(producer: producer, kind: .video, codec: .vp8, streamID: "pub", trackID: "camera")],
                certificate: media.certificate, candidateAddresses: addresses)
            try peer.client.applyAnswer(connection.answer, now: Self.now())
            let stream = try #require(peer.client.receivedStreams["v0"], "the answer announces the stream's SSRCs")
            let consumer = try #require(connection.consumers.first)
            #expect(stream.ssrc == consumer.ssrc && stream.rtxSSRC == consumer.rtxSSRC && stream.rtxSSRC != nil)
            try await room.setPreferences(consumer.consumer, spatialLayer: preferred, temporalLayer: nil, paused: false)
            let sim = SimSubscriber(node: i + 1, transport: connection.transport, ssrc: stream.ssrc, rtxSSRC: stream.rtxSSRC!)
            subscribers.append((peer, sim, consumer.consumer))
        }
        #expect(await room.transportCount == 5)

        // Media for 10 s once everyone is connected (bounded: 25 s in all).
        let start = Self.now()
        var mediaStart: Instant?
        while Self.now() - start < .seconds(25) {
            let now = Self.now()
            publisherPeer.pump(now: now) { bytes in publisher.receiveRTCP(bytes, now: now) { publisherPeer.send($0) } }
            for s in subscribers {
                s.peer.pump(now: now) { s.sim.receive($0, now: now) }
            }
            let everyone = [publisherPeer] + subscribers.map(\.peer)
            if mediaStart == nil, everyone.allSatisfy({ $0.transport.isConnected }) {
                mediaStart = now
                publisher.nextFrameAt = now
                publisher.nextReportAt = now + .seconds(1)
                for s in subscribers { s.sim.nextReportAt = now + .milliseconds(500) }
            }
            if let mediaStart {
                if now - mediaStart > .seconds(10) { break }
                publisher.tick(now: now) { publisherPeer.send($0) }
                for s in subscribers { s.sim.tick(now: now) { s.peer.send($0) } }
            }
            publisherPeer.channel.flush()
            for s in subscribers { s.peer.channel.flush() }
            try await Task.sleep(for: .milliseconds(1))
        }
        let connectedAt = try #require(mediaStart, "every peer connected (ICE, DTLS, SRTP)")
        let end = Self.now()

        // Every subscriber got a continuous stream on the layer it asked for, switching only at keyframes.
        for (i, s) in subscribers.enumerated() {
            let (frames, complete) = s.sim.completeness(after: connectedAt)
            let last = s.sim.layers(in: (end - .seconds(2))..<end)
            print(
                "subscriber \(i) (preferred \(preferences[i].map(String.init) ?? "any")): \(complete)/\(frames) frames complete, "
                    + "layers in the last 2 s \(last.sorted()), packets \(s.sim.packets), retransmissions \(s.sim.retransmissions), "
                    + "SRs \(s.sim.senderReports.count)")
            #expect(complete >= 250, "subscriber \(i): \(complete) complete frames")
            #expect(Double(complete) >= 0.95 * Double(frames), "subscriber \(i): \(complete)/\(frames)")
            #expect(s.sim.discontinuities == 0, "subscriber \(i)")
            #expect(s.sim.switchesNotOnKeyframe == 0, "subscriber \(i)")
            #expect(s.sim.foreignPackets == 0, "subscriber \(i)")
            #expect(!s.sim.senderReports.isEmpty, "subscriber \(i) got SRs")
            // Loopback has room for every layer: the estimate climbs (probing) until the preferred layer fits.
            // The lower preferences hold from the start; the top layer is reached once the estimate has
            // climbed past 1.5 Mbit/s, which takes some seconds (exact settling is checked in the simulation).
            let preferred = preferences[i] ?? 2
            #expect(s.sim.layers(in: connectedAt..<end).allSatisfy { $0 <= preferred }, "subscriber \(i)")
            if preferred < 2 {
                #expect(last == [preferred], "subscriber \(i) settles on layer \(preferred), got \(last.sorted())")
            } else {
                // On an idle machine the top layer is reached in about 7 s; under a loaded CI run (tests run in
                // parallel on 2 cores) queueing delay slows the climb, so only a climb above layer 0 is required.
                #expect((last.max() ?? 0) >= 1, "subscriber \(i) climbs above layer 0, got \(last.sorted())")
            }
        }
        // The publisher heard back: receiver reports and transport-cc feedback for its layers.
        #expect(!publisher.receiverReports.isEmpty)
        #expect(publisher.twccFeedbackReceived > 0)
        let counters = await room.counters
        print("router: \(counters); output: \(await room.outputCounters); writer: \(media.loops[0].writer.counters)")
        #expect(counters.malformedRTP == 0 && counters.malformedRTCP == 0 && counters.unknownSSRC == 0)

        // Closing the room ends every transport: the clients see DTLS close_notify, nothing is left.
        await media.closeRoom("room-1")
        #expect(await room.transportCount == 0)
        #expect(await room.routerCounts == [0, 0, 0])
        #expect(await media.loops[0].peerCount == 0)
        let closeDeadline = Self.now() + .seconds(3)
        let everyone = [publisherPeer] + subscribers.map(\.peer)
        while Self.now() < closeDeadline, !everyone.allSatisfy({ $0.transport.state == .closed }) {
            for peer in everyone { peer.pump(now: Self.now()) { _ in } }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(everyone.allSatisfy { $0.transport.state == .closed }, "\(everyone.map(\.transport.state))")
        for peer in everyone { try await peer.channel.close() }
        for loop in media.loops { await loop.stop() }
    }
}

/// A subscribing peer connection where Starling offers (RFC 8829 §5.2) and renegotiates: a subscriber
/// receives one publisher, then a second one is added to the same connection by a new offer, then the
/// first is removed (its m-line goes inactive), all over real sockets with our own client answering.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SubscriberRenegotiationOverUDPTests {
    typealias Peer = RoomOverUDPTests.UDPPeer

    @Test func serverOffersAndRenegotiates() async throws {
        let (media, addresses) = try await RoomOverUDPTests.startMedia()
        let room = await media.room("room-2")

        // Two single-layer publishers.
        var publishers: [(sim: SimPublisher, peer: Peer, producer: ProducerID)] = []
        for base in [UInt32(0x7000), 0x8000] {
            let sim = SimPublisher(node: 0, transport: TransportID(0), ssrcBase: base, bitrates: [400_000])
            sim.keyframeInterval = .seconds(1)
            let peer = try await RoomOverUDPTests.makePeer(tracks: [
                ClientPeer.Track(
                    kind: .video, mid: "0", ssrcs: sim.layers.map(\.ssrc), rtxSSRCs: sim.layers.map(\.rtxSSRC),
                    payloadType: SimPublisher.payloadType, rtxPayloadType: SimPublisher.rtxPayloadType, direction: .send)
            ])
            let connection = try await room.connect(
                offer: peer.client.makeOffer(), sources: [:], certificate: media.certificate, candidateAddresses: addresses)
            try peer.client.applyAnswer(connection.answer, now: RoomOverUDPTests.now())
            publishers.append((sim, peer, try #require(connection.producers.first?.producer)))
        }

        // The subscriber: Starling offers the first publisher's track.
        let subscriber = try await RoomOverUDPTests.makePeer(tracks: [])
        let tid = try await room.openSubscriber(certificate: media.certificate, candidateAddresses: addresses)
        let mid0 = try await room.subscribe(tid, to: publishers[0].producer, streamID: "alice", trackID: "camera")
        #expect(mid0 == "0")
        var sims: [String: SimSubscriber] = [:]
        var packetsBySSRC: [UInt32: Int] = [:]
        func negotiate() async throws -> [(mid: String, consumer: ConsumerID)] {
            let offer = try #require(await room.subscriberOffer(tid), "an offer is due")
            #expect(await room.subscriberOffer(tid) == nil, "one offer at a time")
            let answer = try subscriber.client.answer(offer: offer.sdp, now: RoomOverUDPTests.now())
            let created = try await room.applySubscriberAnswer(tid, sdp: answer, certificate: media.certificate)
            for (mid, stream) in subscriber.client.receivedStreams where sims[mid]?.ssrc != stream.ssrc {
                sims[mid] = SimSubscriber(node: 9, transport: tid, ssrc: stream.ssrc, rtxSSRC: stream.rtxSSRC ?? 0)
            }
            for mid in sims.keys where subscriber.client.receivedStreams[mid] == nil { sims[mid] = nil }
            return created
        }
        let created0 = try await negotiate()
        #expect(created0.map(\.mid) == ["0"])

        func run(for duration: Duration) async throws {
            let start = RoomOverUDPTests.now()
            while RoomOverUDPTests.now() - start < duration {
                let now = RoomOverUDPTests.now()
                for p in publishers { p.peer.drive(p.sim, now: now) }
                subscriber.receive(into: sims, now: now, counting: &packetsBySSRC)
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        try await run(for: .seconds(4))
        let first = try #require(sims["0"])
        let firstFrames = first.completeness(after: Instant(nanoseconds: 0))
        #expect(firstFrames.complete >= 60, "first stream: \(firstFrames)")

        // Renegotiation: the second publisher joins the same connection on a new m-line.
        let mid1 = try await room.subscribe(tid, to: publishers[1].producer, streamID: "bob", trackID: "camera")
        #expect(mid1 == "1")
        let created1 = try await negotiate()
        #expect(created1.map(\.mid) == ["1"])
        try await run(for: .seconds(3))
        let second = try #require(sims["1"])
        #expect(second.completeness(after: Instant(nanoseconds: 0)).complete >= 45, "second stream")
        #expect(first.completeness(after: Instant(nanoseconds: 0)).complete >= firstFrames.complete + 45, "first goes on")

        // The first publisher is unsubscribed: its m-line goes inactive, its stream stops, the other goes on.
        await room.unsubscribe(tid, from: publishers[0].producer)
        _ = try await negotiate()
        #expect(subscriber.client.receivedStreams["0"] == nil && subscriber.client.receivedStreams["1"] != nil)
        try await run(for: .milliseconds(300))  // what was in flight
        let secondBefore = packetsBySSRC[second.ssrc] ?? 0
        let stoppedAt = packetsBySSRC[first.ssrc] ?? 0
        #expect(stoppedAt > 100)
        try await run(for: .seconds(2))
        #expect(packetsBySSRC[first.ssrc] ?? 0 == stoppedAt, "no more packets of the removed stream")
        #expect(packetsBySSRC[second.ssrc] ?? 0 > secondBefore + 100)
        for s in [first, second] {
            #expect(s.discontinuities == 0 && s.switchesNotOnKeyframe == 0 && s.foreignPackets == 0)
        }

        await media.closeRoom("room-2")
        #expect(await room.routerCounts == [0, 0, 0])
        for peer in publishers.map(\.peer) + [subscriber] { try await peer.channel.close() }
        for loop in media.loops { await loop.stop() }
    }
}
