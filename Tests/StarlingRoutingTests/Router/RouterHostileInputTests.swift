import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

/// Packets a publisher (or anyone through `/v1/echo`) may send that once stopped the process, and the
/// rules the consumer's header rewrite keeps for them (RFC 8285 §4.2, §4.3).
@Suite struct RouterHostileInputTests {
    final class Capture: RouterOutput {
        var rtp: [(TransportID, [UInt8])] = []
        func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            rtp.append((transport, Array(UnsafeRawBufferPointer(rebasing: packet[0..<length]))))
        }
        func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {}
    }

    static let publisher = TransportID(1)
    static let subscriber = TransportID(2)

    /// A router with one audio producer (audio level, one-byte id 1) and one consumer whose audio level
    /// id is `subscriberLevelID`.
    static func audioRoom(subscriberLevelID: UInt8) throws -> (Router, Capture) {
        let capture = Capture()
        let router = Router(output: capture)
        router.addTransport(publisher, now: .zero)
        router.addTransport(subscriber, now: .zero)
        let codec = RTPCodec(kind: .opus, payloadType: 111, clockRate: 48_000)
        let producer = try router.addProducer(
            on: publisher,
            ProducerParameters(kind: .audio, codec: codec, encodings: [.init(ssrc: 0x1111)], extensions: .init(audioLevel: 1), nack: false),
            now: .zero)
        _ = try router.addConsumer(
            on: subscriber, of: producer,
            ConsumerParameters(ssrc: 0x2222, codec: codec, extensions: .init(absSendTime: 3, audioLevel: subscriberLevelID)),
            now: .zero)
        return (router, capture)
    }

    static func send(_ packet: RTPPacket, to router: Router, from transport: TransportID = publisher, at now: Instant) {
        var bytes: [UInt8] = []
        packet.serialize(into: &bytes)
        let length = bytes.count
        bytes += [UInt8](repeating: 0, count: 64)
        bytes.withUnsafeMutableBytes { router.receiveRTP(from: transport, packet: $0, length: length, now: now) }
    }

    static func audio(_ seq: UInt16, elements: [RTPHeaderExtensionElement], twoByte: Bool = true) -> RTPPacket {
        RTPPacket(
            payloadType: 111, sequenceNumber: seq, timestamp: UInt32(seq) * 960, ssrc: 0x1111,
            headerExtension: .elements(twoByte ? .twoByte(appBits: 0) : .oneByte, elements),
            payload: [UInt8](repeating: 0xAB, count: 40))
    }

    /// A zero-length two-byte-form audio level element used to kill the process (`UInt8(count - 1)`): it is
    /// not a valid audio level, so it is not forwarded; the packet is, and the next valid level too.
    @Test func zeroLengthAudioLevelIsDroppedNotFatal() throws {
        let (router, capture) = try Self.audioRoom(subscriberLevelID: 1)
        Self.send(Self.audio(1, elements: [.init(id: 1, value: [])]), to: router, at: Instant.zero + .milliseconds(10))
        Self.send(Self.audio(2, elements: [.init(id: 1, value: [0x85])]), to: router, at: Instant.zero + .milliseconds(30))
        #expect(capture.rtp.count == 2)
        let first = try capture.rtp[0].1.withUnsafeBytes { try RTPPacket(parsing: $0) }
        let second = try capture.rtp[1].1.withUnsafeBytes { try RTPPacket(parsing: $0) }
        #expect(Self.element(1, of: first) == nil)
        #expect(Self.element(1, of: second) == [0x85])
    }

    /// Values of more than 16 bytes, or ids above 14 on the subscriber's side, need the two-byte form;
    /// the rewrite switches to it rather than writing a corrupt one-byte element.
    @Test(arguments: [UInt8(1), 14, 15, 200])
    func extensionsTheOneByteFormCannotHoldUseTheTwoByteForm(subscriberLevelID: UInt8) throws {
        let (router, capture) = try Self.audioRoom(subscriberLevelID: subscriberLevelID)
        Self.send(Self.audio(1, elements: [.init(id: 1, value: [0x7F])], twoByte: false), to: router, at: Instant.zero + .milliseconds(10))
        let out = try #require(capture.rtp.first).1
        let packet = try out.withUnsafeBytes { raw -> RTPPacket in
            let header = try RTPHeader(parsing: raw)
            if let profile = header.extensionProfile, let form = RTPHeaderExtensionForm(profile: profile) {
                try RTPHeaderExtensionForm.validate(form: form, block: header.extensionBlock(in: raw))
            }
            return try RTPPacket(parsing: raw)
        }
        #expect(Self.element(subscriberLevelID, of: packet) == [0x7F])
        guard case .elements(let form, _) = packet.headerExtension else {
            Issue.record("no RFC 8285 block")
            return
        }
        #expect((form == .oneByte) == (subscriberLevelID <= 14))
    }

    /// A 255-byte dependency descriptor (the largest a two-byte element holds) goes through whole.
    @Test func largestDependencyDescriptorIsCopiedWhole() throws {
        let capture = Capture()
        let router = Router(output: capture)
        router.addTransport(Self.publisher, now: .zero)
        router.addTransport(Self.subscriber, now: .zero)
        let codec = RTPCodec(kind: .other, payloadType: 96, clockRate: 90_000)
        let producer = try router.addProducer(
            on: Self.publisher,
            ProducerParameters(
                kind: .audio, codec: codec, encodings: [.init(ssrc: 0x1111)], extensions: .init(dependencyDescriptor: 5),
                nack: false),
            now: .zero)
        _ = try router.addConsumer(
            on: Self.subscriber, of: producer,
            ConsumerParameters(ssrc: 0x2222, codec: codec, extensions: .init(transportWideCC: 2, dependencyDescriptor: 12)),
            now: .zero)
        let descriptor = (0..<255).map { UInt8(truncatingIfNeeded: $0) }
        Self.send(
            RTPPacket(
                payloadType: 96, sequenceNumber: 9, timestamp: 90, ssrc: 0x1111,
                headerExtension: .elements(.twoByte(appBits: 0), [.init(id: 5, value: descriptor), .init(id: 6, value: [])]),
                payload: [1, 2, 3]),
            to: router, at: Instant.zero + .milliseconds(5))
        let out = try #require(capture.rtp.first).1
        let packet = try out.withUnsafeBytes { try RTPPacket(parsing: $0) }
        #expect(Self.element(12, of: packet) == descriptor)
        #expect(packet.payload == [1, 2, 3])
    }

    /// Layers are a video notion: an audio consumer starting (or pausing) reports no layerChanged, which
    /// PROTOCOL.md defines for video tracks only.
    @Test func audioConsumersReportNoLayerChanges() throws {
        let (router, capture) = try Self.audioRoom(subscriberLevelID: 1)
        Self.send(Self.audio(1, elements: [.init(id: 1, value: [0x85])]), to: router, at: Instant.zero + .milliseconds(10))
        #expect(capture.rtp.count == 1)
        try router.setPreferences(ConsumerID(2), spatialLayer: nil, temporalLayer: nil, paused: true, now: Instant.zero + .milliseconds(20))
        var events: [RouterEvent] = []
        while let e = router.pollEvent() { events.append(e) }
        #expect(!events.contains { if case .layerChanged = $0 { true } else { false } }, "\(events)")
    }

    static func element(_ id: UInt8, of packet: RTPPacket) -> [UInt8]? {
        guard case .elements(_, let elements) = packet.headerExtension else { return nil }
        return elements.first { $0.id == id }?.value
    }
}

/// A retransmission without RTX goes out under the packet's own SSRC and sequence number, so under the
/// same SRTP packet index: it must be the same protected bytes (RFC 7714 §14: a GCM nonce never covers two
/// different plaintexts).
@Suite struct RetransmissionWithoutRTXTests {
    /// Protects every packet as the room does and keeps the protected bytes.
    final class ProtectingOutput: RouterOutput {
        let session: SRTPSession
        var protected: [(ssrc: UInt32, sequence: UInt16, bytes: [UInt8])] = []
        /// Packets SRTP refused to protect.
        var refused = 0
        init() throws {
            session = try SRTPSession(
                profile: .aeadAes128Gcm, masterKey: [UInt8](repeating: 7, count: 16), masterSalt: [UInt8](repeating: 9, count: 12),
                direction: .outbound)
        }
        func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            guard let base = packet.baseAddress, let header = try? RTPHeader(parsing: UnsafeRawBufferPointer(rebasing: packet[0..<length])),
                let out = try? session.protectRTP(base, length: length, capacity: packet.count)
            else { return refused += 1 }
            protected.append((header.ssrc, header.sequenceNumber, Array(UnsafeRawBufferPointer(rebasing: packet[0..<out]))))
        }
        func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {}
    }

    static let vp8 = RTPCodec(kind: .vp8, payloadType: 96, clockRate: 90_000)

    /// A router with a VP8 producer (SSRC 0xAAAA) on transport 1, and transport 2 for its subscriber.
    static func vp8Room(_ output: any RouterOutput, configuration: Router.Configuration = .init()) throws -> (Router, ProducerID) {
        let router = Router(configuration: configuration, output: output)
        router.addTransport(TransportID(1), now: .zero)
        router.addTransport(TransportID(2), now: .zero)
        let producer = try router.addProducer(
            on: TransportID(1), ProducerParameters(kind: .video, codec: vp8, encodings: [.init(ssrc: 0xAAAA)]), now: .zero)
        return (router, producer)
    }

    /// With RTX the resend goes out on the RTX stream (RFC 4588 §4) under a sequence number of its own,
    /// carrying the original sequence number first.
    @Test func resentPacketGoesOverRTXWhenNegotiated() throws {
        let output = try ProtectingOutput()
        let (router, producer) = try Self.vp8Room(output)
        let codec = Self.vp8
        var subscriberCodec = codec
        subscriberCodec.rtxPayloadType = 97
        _ = try router.addConsumer(
            on: TransportID(2), of: producer,
            ConsumerParameters(ssrc: 0xBBBB, rtxSSRC: 0xCCCC, codec: subscriberCodec, extensions: .init(absSendTime: 3), nack: true),
            now: .zero)
        for i in 0..<3 {
            let payload: [UInt8] = [0x90, 0x80, UInt8(i), i == 0 ? 0x00 : 0x01, 0x9D, 0x01, 0x2A] + [UInt8](repeating: 0x11, count: 40)
            RouterHostileInputTests.send(
                RTPPacket(marker: true, payloadType: 96, sequenceNumber: 100 + UInt16(i), timestamp: 3000 * UInt32(i), ssrc: 0xAAAA, payload: payload),
                to: router, from: TransportID(1), at: Instant.zero + .milliseconds(10 + 33 * Int64(i)))
        }
        let target = try #require(output.protected.first { $0.ssrc == 0xBBBB })
        var nack: [UInt8] = []
        GenericNACK(senderSSRC: 0x5555, mediaSSRC: 0xBBBB, lostSequenceNumbers: [target.sequence]).serialize(into: &nack)
        nack.withUnsafeBytes { router.receiveRTCP(from: TransportID(2), packet: $0, now: Instant.zero + .milliseconds(300)) }
        #expect(output.protected.contains { $0.ssrc == 0xCCCC })
    }

    /// One NACK naming 8000 sequence numbers used to send every cached packet again; a consumer now
    /// resends at most its budget (a second's worth of `retransmissionsPerSecond`) and counts the rest.
    @Test func aHugeNACKIsAnsweredWithinTheBudget() throws {
        let output = try ProtectingOutput()
        let (router, producer) = try Self.vp8Room(output, configuration: .init(retransmissionsPerSecond: 100))
        let codec = Self.vp8
        let consumer = try router.addConsumer(
            on: TransportID(2), of: producer, ConsumerParameters(ssrc: 0xBBBB, codec: codec, nack: true), now: .zero)
        for i in 0..<500 {
            let payload: [UInt8] = [0x90, 0x80, UInt8(i & 0x7F), i == 0 ? 0x00 : 0x01, 0x9D, 0x01, 0x2A] + [UInt8](repeating: 0x11, count: 40)
            RouterHostileInputTests.send(
                RTPPacket(payloadType: 96, sequenceNumber: 1000 + UInt16(i), timestamp: 3000 * UInt32(i / 10), ssrc: 0xAAAA, payload: payload),
                to: router, from: TransportID(1), at: Instant.zero + .milliseconds(Int64(i)))
        }
        let sent = output.protected.filter { $0.ssrc == 0xBBBB }
        #expect(sent.count == 500)
        let first = try #require(sent.first).sequence
        var nack: [UInt8] = []
        GenericNACK(senderSSRC: 0x5555, mediaSSRC: 0xBBBB, lostSequenceNumbers: (0..<8000).map { first &+ UInt16($0) }).serialize(into: &nack)
        nack.withUnsafeBytes { router.receiveRTCP(from: TransportID(2), packet: $0, now: Instant.zero + .milliseconds(600)) }
        let resent = output.protected.count - 500
        #expect(resent == 100, "\(resent) packets resent")
        #expect(router.consumer(consumer)?.counters.retransmissionsThrottled == 400)
    }

    @Test func resentPacketIsTheSameProtectedBytes() throws {
        let output = try ProtectingOutput()
        let (router, producer) = try Self.vp8Room(output)
        let codec = Self.vp8
        let publisher = TransportID(1)
        let subscriber = TransportID(2)
        // No RTX; abs-send-time and transport-wide-cc both written by us, so a rebuilt packet would differ.
        _ = try router.addConsumer(
            on: subscriber, of: producer,
            ConsumerParameters(ssrc: 0xBBBB, codec: codec, extensions: .init(absSendTime: 3, transportWideCC: 5), nack: true),
            now: .zero)
        // A VP8 keyframe (the consumer starts on one), then more frames.
        for i in 0..<5 {
            let keyframe: [UInt8] = [0x90, 0x80, UInt8(i), 0x00, 0x9D, 0x01, 0x2A] + [UInt8](repeating: 0x11, count: 60)
            let delta: [UInt8] = [0x90, 0x80, UInt8(i), 0x01] + [UInt8](repeating: 0x22, count: 60)
            RouterHostileInputTests.send(
                RTPPacket(marker: true, payloadType: 96, sequenceNumber: 100 + UInt16(i), timestamp: 3000 * UInt32(i), ssrc: 0xAAAA,
                          payload: i == 0 ? keyframe : delta),
                to: router, from: publisher, at: Instant.zero + .milliseconds(10 + 33 * Int64(i)))
        }
        let sent = output.protected.filter { $0.ssrc == 0xBBBB }
        #expect(sent.count == 5)
        let target = try #require(sent.dropFirst(2).first)
        // 300 ms later the subscriber NACKs it.
        var nack: [UInt8] = []
        GenericNACK(senderSSRC: 0x5555, mediaSSRC: 0xBBBB, lostSequenceNumbers: [target.sequence]).serialize(into: &nack)
        nack.withUnsafeBytes { router.receiveRTCP(from: subscriber, packet: $0, now: Instant.zero + .milliseconds(500)) }
        let resent = output.protected.dropFirst(sent.count).filter { $0.ssrc == 0xBBBB && $0.sequence == target.sequence }
        #expect(resent.count == 1)
        #expect(resent.first?.bytes == target.bytes)
    }

    /// A NACK for a packet sent before the consumer's sequence numbers jumped 1300 ahead (as a publisher's
    /// do after a burst of loss) is not answered: the packet is out of the sent history, and resending it
    /// under its old number would be older than the SRTP replay window, which our sender refuses and the
    /// receiver drops. Found by FuzzRouter.
    @Test func aPacketFromBeforeAJumpPastTheHistoryIsNotResent() throws {
        let output = try ProtectingOutput()
        let (router, producer) = try Self.vp8Room(output)
        let codec = Self.vp8
        let consumer = try router.addConsumer(
            on: TransportID(2), of: producer, ConsumerParameters(ssrc: 0xBBBB, codec: codec, nack: true), now: .zero)
        for (i, seq) in [100, 101, 102, 1402, 1403].enumerated() {
            let payload: [UInt8] = [0x90, 0x80, UInt8(i), i == 0 ? 0x00 : 0x01, 0x9D, 0x01, 0x2A] + [UInt8](repeating: 0x11, count: 40)
            RouterHostileInputTests.send(
                RTPPacket(marker: true, payloadType: 96, sequenceNumber: UInt16(seq), timestamp: 3000 * UInt32(i), ssrc: 0xAAAA, payload: payload),
                to: router, from: TransportID(1), at: Instant.zero + .milliseconds(10 + 33 * Int64(i)))
        }
        let sent = output.protected.filter { $0.ssrc == 0xBBBB }
        #expect(sent.count == 5)
        let target = try #require(sent.dropFirst().first)
        let newest = try #require(sent.last)
        #expect(Int(newest.sequence &- target.sequence) >= 1024)
        var nack: [UInt8] = []
        GenericNACK(senderSSRC: 0x5555, mediaSSRC: 0xBBBB, lostSequenceNumbers: [target.sequence, newest.sequence &- 1])
            .serialize(into: &nack)
        nack.withUnsafeBytes { router.receiveRTCP(from: TransportID(2), packet: $0, now: Instant.zero + .milliseconds(400)) }
        #expect(output.refused == 0)
        #expect(output.protected.count == 6, "only the packet inside the history is resent")
        #expect(output.protected.last?.sequence == newest.sequence &- 1)
        #expect(router.consumer(consumer)?.counters.retransmissionsMissing == 1)
    }
}
