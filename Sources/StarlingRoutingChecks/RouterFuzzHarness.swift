import StarlingRouting
import StarlingTransport
import StarlingWire

/// The whole receive and forward path of one room on arbitrary input, for the fuzzer and the unit tests:
/// a `Router` with one publisher transport (Opus with audio levels, VP8 simulcast learnt from rids with RTX,
/// VP9, H.264 and AV1 with the dependency descriptor) and two subscriber transports consuming every track,
/// one with RTX and one-byte extension ids, one without RTX and with ids above 14 (the two-byte form). What
/// the router sends is SRTP-protected as the room does.
///
/// An input is a list of operations (raw decrypted RTP or RTCP from any transport, RTP and feedback built
/// from the input's fields so that binding, keyframes, layer switches, NACKs and padding are reached, time
/// passing, preferences, removals). `run` returns the first broken invariant, or nil:
/// - every RTP packet out parses, carries an SSRC of a consumer of the transport it goes to, and fits the
///   router's buffer with room for the SRTP tag;
/// - one SSRC and sequence number never go out with two different contents (one SRTP packet index, one
///   nonce, RFC 7714 §14);
/// - every RTCP packet out parses in full;
/// - SRTP protects everything the router sends.
public enum RouterFuzzHarness {
    static let publisher = TransportID(1)
    static let withRTX = TransportID(2)
    static let withoutRTX = TransportID(3)

    /// Consumer SSRCs per subscriber transport: media at `base + i`, RTX at `base + 0x100 + i`.
    static let ssrcBase: [TransportID: UInt32] = [withRTX: 0x1000_0000, withoutRTX: 0x2000_0000]
    /// The simulcast SSRCs the templated packets use (bound through the rid extension).
    static let simulcastSSRCs: [UInt32] = [0xA000_0001, 0xA000_0002, 0xA000_0003]
    static let simulcastRTXSSRCs: [UInt32] = [0xB000_0001, 0xB000_0002, 0xB000_0003]
    static let rids = ["q", "h", "f"]

    struct Track {
        var kind: MediaKind
        var codec: RTPCodec
        var ssrcs: [UInt32]
        var rtxSSRCs: [UInt32]
    }

    static let tracks: [Track] = [
        Track(kind: .audio, codec: RTPCodec(kind: .opus, payloadType: 111, clockRate: 48_000), ssrcs: [0x0000_1111], rtxSSRCs: []),
        Track(
            kind: .video, codec: RTPCodec(kind: .vp8, payloadType: 96, clockRate: 90_000, rtxPayloadType: 97),
            ssrcs: simulcastSSRCs, rtxSSRCs: simulcastRTXSSRCs),
        Track(
            kind: .video, codec: RTPCodec(kind: .vp9, payloadType: 98, clockRate: 90_000, rtxPayloadType: 99),
            ssrcs: [0x0000_3333], rtxSSRCs: [0x0000_3334]),
        Track(kind: .video, codec: RTPCodec(kind: .h264, payloadType: 102, clockRate: 90_000), ssrcs: [0x0000_4444], rtxSSRCs: []),
        Track(kind: .video, codec: RTPCodec(kind: .av1, payloadType: 45, clockRate: 90_000), ssrcs: [0x0000_5555], rtxSSRCs: []),
    ]

    /// The publisher's extension ids (one-byte form).
    static let publisherExtensions = HeaderExtensionIDs(
        mid: 4, rid: 10, repairedRID: 11, absSendTime: 2, transportWideCC: 3, audioLevel: 1, videoOrientation: 13,
        dependencyDescriptor: 12)

    /// One outbound SRTP session per transport, new for each input as a room's transports are: libsrtp keeps
    /// each SSRC's highest packet index, so a session shared across inputs (or tests running in parallel)
    /// would see one input's first packets as replays of another's.
    static func makeSessions() -> [TransportID: SRTPSession] {
        var sessions: [TransportID: SRTPSession] = [:]
        for (i, t) in [publisher, withRTX, withoutRTX].enumerated() {
            sessions[t] = try? SRTPSession(
                profile: .aeadAes128Gcm, masterKey: [UInt8](repeating: UInt8(i + 1), count: 16),
                masterSalt: [UInt8](repeating: 3, count: 12), direction: .outbound)
        }
        return sessions
    }

    final class Output: RouterOutput {
        var sessions = RouterFuzzHarness.makeSessions()
        var consumerSSRCs: [TransportID: Set<UInt32>] = [:]
        /// A 64-bit FNV-1a hash of what went out under each (SSRC, sequence number).
        var sent: [UInt64: UInt64] = [:]
        /// Recent outgoing sequence numbers per consumer SSRC, for building NACKs that name them.
        var recent: [UInt32: [UInt16]] = [:]
        var problem: String?
        var rtpOut = 0
        var rtcpOut = 0

        func fail(_ message: String) { if problem == nil { problem = message } }

        func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            guard length > 0, length + Router.trailerRoom <= packet.count else {
                return fail("RTP of \(length) bytes leaves no room for the SRTP tag in \(packet.count)")
            }
            let bytes = UnsafeRawBufferPointer(rebasing: packet[0..<length])
            guard let header = try? RTPHeader(parsing: bytes) else { return fail("an RTP packet out does not parse") }
            guard consumerSSRCs[transport]?.contains(header.ssrc) == true else {
                return fail("RTP to transport \(transport) under SSRC \(header.ssrc), not one of its consumers'")
            }
            if let profile = header.extensionProfile, let form = RTPHeaderExtensionForm(profile: profile) {
                do { try RTPHeaderExtensionForm.validate(form: form, block: header.extensionBlock(in: bytes)) } catch {
                    return fail("an RTP packet out has a malformed extension block: \(error)")
                }
            }
            rtpOut += 1
            let key = UInt64(header.ssrc) << 16 | UInt64(header.sequenceNumber)
            var contents: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { contents = (contents ^ UInt64(byte)) &* 0x100_0000_01b3 }
            if let earlier = sent[key], earlier != contents {
                return fail("SSRC \(header.ssrc) sequence \(header.sequenceNumber) went out twice with different bytes")
            }
            sent[key] = contents
            recent[header.ssrc, default: []].append(header.sequenceNumber)
            if recent[header.ssrc]!.count > 64 { recent[header.ssrc]!.removeFirst(32) }
            guard let session = sessions[transport], let base = packet.baseAddress else { return fail("no session") }
            do { _ = try session.protectRTP(base, length: length, capacity: packet.count) } catch {
                let earlier = recent[header.ssrc]?.suffix(8).map(String.init) ?? []
                fail(
                    "SRTP refused RTP out under SSRC \(header.ssrc) sequence \(header.sequenceNumber) "
                        + "(after \(earlier.joined(separator: " "))): \(error)")
            }
        }

        func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            guard length > 0, length <= packet.count else { return fail("RTCP length \(length) outside its buffer") }
            rtcpOut += 1
            var iterator = RTCPPacketIterator(UnsafeRawBufferPointer(rebasing: packet[0..<length]))
            do { while try iterator.next() != nil {} } catch { return fail("an RTCP packet out does not parse: \(error)") }
            guard let session = sessions[transport], let base = packet.baseAddress else { return fail("no session") }
            do { _ = try session.protectRTCP(base, length: length, capacity: packet.count) } catch {
                fail("SRTP refused an RTCP packet out: \(error)")
            }
        }
    }

    /// What one run did: the first broken invariant (nil: none) and the packets the router sent.
    public struct Outcome: Sendable {
        public var problem: String?
        public var rtpOut = 0
        public var rtcpOut = 0
    }

    /// Runs one input; returns the first broken invariant, or nil.
    public static func run(_ input: UnsafeRawBufferPointer) -> String? { runCounting(input).problem }

    /// Runs one input and says what came out.
    public static func runCounting(_ input: UnsafeRawBufferPointer) -> Outcome {
        let output = Output()
        let problem = drive(input, output)
        return Outcome(problem: problem ?? output.problem, rtpOut: output.rtpOut, rtcpOut: output.rtcpOut)
    }

    static func drive(_ input: UnsafeRawBufferPointer, _ output: Output) -> String? {
        let router = Router(configuration: .init(unixNanosecondsAtZero: 1_700_000_000_000_000_000), output: output)
        var now = Instant.zero + .seconds(1)
        var consumers: [(id: ConsumerID, transport: TransportID, ssrc: UInt32)] = []
        var producers: [ProducerID] = []
        do {
            for t in [publisher, withRTX, withoutRTX] { router.addTransport(t, now: now) }
            for (index, track) in tracks.enumerated() {
                let encodings: [ProducerParameters.Encoding] =
                    track.ssrcs.count > 1
                    ? rids.map { .init(rid: $0) }
                    : [.init(ssrc: track.ssrcs[0], rtxSSRC: track.rtxSSRCs.first)]
                let producer = try router.addProducer(
                    on: publisher,
                    ProducerParameters(
                        kind: track.kind, codec: track.codec, encodings: encodings, extensions: publisherExtensions,
                        mid: "\(index)", nack: track.kind == .video, remb: true),
                    now: now)
                producers.append(producer)
                for t in [withRTX, withoutRTX] {
                    let base = ssrcBase[t]! + UInt32(index)
                    let rtx = t == withRTX && track.kind == .video
                    var codec = track.codec
                    codec.rtxPayloadType = rtx ? 121 : nil
                    let extensions =
                        t == withRTX
                        ? HeaderExtensionIDs(mid: 1, absSendTime: 2, transportWideCC: 3, audioLevel: 4, videoOrientation: 5, dependencyDescriptor: 6)
                        : HeaderExtensionIDs(mid: 15, absSendTime: 16, transportWideCC: 200, audioLevel: 20, videoOrientation: 21, dependencyDescriptor: 22)
                    let id = try router.addConsumer(
                        on: t, of: producer,
                        ConsumerParameters(
                            ssrc: base, rtxSSRC: rtx ? base + 0x100 : nil, codec: codec, extensions: extensions, mid: "s\(index)",
                            nack: true),
                        now: now)
                    consumers.append((id, t, base))
                    output.consumerSSRCs[t, default: []].insert(base)
                    if rtx { output.consumerSSRCs[t, default: []].insert(base + 0x100) }
                }
            }
        } catch {
            return "setup failed: \(error)"
        }

        var reader = Reader(input)
        var sequence: [UInt32: UInt16] = [:]
        var scratch = [UInt8](repeating: 0, count: 1500 + Router.trailerRoom)
        var operations = 0
        while let op = reader.byte(), operations < 400 {
            operations += 1
            now = now + .milliseconds(1)
            switch op % 14 {
            case 0, 1, 2, 3:
                // Raw decrypted RTP, from the publisher or (unexpectedly) a subscriber.
                let from = [publisher, publisher, withRTX, withoutRTX][Int(op % 4)]
                let bytes = reader.bytes(Int(reader.uint16() % 1500))
                deliverRTP(bytes, from: from, to: router, scratch: &scratch, now: now)
            case 4, 5, 6:
                let from = [publisher, withRTX, withoutRTX][Int(op % 14) - 4]
                let bytes = reader.bytes(Int(reader.uint16() % 1500))
                bytes.withUnsafeBytes { router.receiveRTCP(from: from, packet: $0, now: now) }
            case 7, 8:
                let packet = templatedRTP(&reader, sequence: &sequence)
                deliverRTP(packet, from: publisher, to: router, scratch: &scratch, now: now)
            case 9:
                // A NACK for recent packets of one consumer (often its own numbers, sometimes anything).
                guard let c = pick(consumers, &reader) else { continue }
                let known = output.recent[c.ssrc] ?? []
                let first = known.isEmpty ? reader.uint16() : known[Int(reader.byte() ?? 0) % known.count]
                var nack: [UInt8] = []
                GenericNACK(
                    senderSSRC: 0x5EED, mediaSSRC: c.ssrc,
                    items: [.init(packetID: first, lostPacketsBitmask: reader.uint16())]
                ).serialize(into: &nack)
                nack.withUnsafeBytes { router.receiveRTCP(from: c.transport, packet: $0, now: now) }
            case 10:
                guard let c = pick(consumers, &reader) else { continue }
                var bytes: [UInt8] = []
                if (reader.byte() ?? 0) & 1 == 0 {
                    PictureLossIndication(senderSSRC: 0x5EED, mediaSSRC: c.ssrc).serialize(into: &bytes)
                } else {
                    ReceiverReport(
                        ssrc: 0x5EED,
                        reportBlocks: [
                            ReportBlock(
                                ssrc: c.ssrc, fractionLost: reader.byte() ?? 0, cumulativeLost: Int32(bitPattern: reader.uint32()),
                                extendedHighestSequenceNumber: reader.uint32(), jitter: reader.uint32(),
                                lastSenderReport: reader.uint32(), delaySinceLastSenderReport: reader.uint32())
                        ]
                    ).serialize(into: &bytes)
                }
                bytes.withUnsafeBytes { router.receiveRTCP(from: c.transport, packet: $0, now: now) }
            case 11:
                now = now + .milliseconds(Int64(reader.byte() ?? 0) * 4)
                router.handleTimeout(now: now)
            case 12:
                guard let c = pick(consumers, &reader) else { continue }
                let b = reader.byte() ?? 0
                try? router.setPreferences(
                    c.id, spatialLayer: b & 3 == 3 ? nil : Int(b & 3), temporalLayer: b & 12 == 12 ? nil : Int(b >> 2 & 3),
                    paused: b & 0x80 != 0, now: now)
            default:
                let b = reader.byte() ?? 0
                if b & 1 == 0, let c = pick(consumers, &reader) {
                    router.removeConsumer(c.id)
                    consumers.removeAll { $0.id == c.id }
                } else if let p = pick(producers, &reader) {
                    router.removeProducer(p)
                    producers.removeAll { $0 == p }
                }
            }
            while router.pollEvent() != nil {}
            if let problem = output.problem { return problem }
        }
        router.handleTimeout(now: now + .seconds(3))
        return output.problem
    }

    static func deliverRTP(_ bytes: [UInt8], from: TransportID, to router: Router, scratch: inout [UInt8], now: Instant) {
        let length = min(bytes.count, scratch.count)
        scratch.withUnsafeMutableBytes { buffer in
            bytes.withUnsafeBytes { source in buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<length])) }
            router.receiveRTP(from: from, packet: buffer, length: length, now: now)
        }
    }

    static func pick<T>(_ items: [T], _ reader: inout Reader) -> T? {
        guard !items.isEmpty else { return nil }
        return items[Int(reader.byte() ?? 0) % items.count]
    }

    /// An RTP packet of one of the publisher's tracks, with its fields and extensions from the input:
    /// SSRC (or rid for simulcast, RTX sometimes), a sequence number that mostly advances, a payload that
    /// is often a keyframe of the track's codec.
    static func templatedRTP(_ reader: inout Reader, sequence: inout [UInt32: UInt16]) -> [UInt8] {
        let flags = reader.byte() ?? 0
        let trackIndex = Int(flags & 7) % tracks.count
        let track = tracks[trackIndex]
        let layer = Int(reader.byte() ?? 0) % track.ssrcs.count
        let isRTX = flags & 0x08 != 0 && !track.rtxSSRCs.isEmpty
        let ssrc = isRTX ? track.rtxSSRCs[layer] : track.ssrcs[layer]
        let step = reader.byte() ?? 1
        let seq = (sequence[ssrc] ?? 1000) &+ UInt16(step < 200 ? 1 : step)
        sequence[ssrc] = seq
        var elements: [RTPHeaderExtensionElement] = [
            .init(id: 4, value: Array("\(trackIndex)".utf8)),
            .init(id: 3, value: [UInt8(truncatingIfNeeded: seq >> 8), UInt8(truncatingIfNeeded: seq)]),
        ]
        if track.ssrcs.count > 1 { elements.append(.init(id: isRTX ? 11 : 10, value: Array(rids[layer].utf8))) }
        if track.kind == .audio { elements.append(.init(id: 1, value: reader.bytes(Int(reader.byte() ?? 1) % 3))) }
        if track.codec.kind == .av1 || flags & 0x40 != 0 {
            elements.append(.init(id: 12, value: reader.bytes(Int(reader.byte() ?? 3) % 40)))
        }
        if flags & 0x80 != 0 { elements.append(.init(id: 13, value: reader.bytes(Int(reader.byte() ?? 1) % 3))) }
        let twoByte = elements.contains { !$0.fitsOneByteForm }
        var payload = keyframePrefix(track.codec.kind, flags: flags)
        payload += reader.bytes(Int(reader.byte() ?? 0) * 4)
        if isRTX {
            // RFC 4588 §4: the original sequence number first.
            payload = [UInt8(truncatingIfNeeded: (seq &- 3) >> 8), UInt8(truncatingIfNeeded: seq &- 3)] + payload
        }
        let packet = RTPPacket(
            marker: flags & 0x20 != 0, payloadType: isRTX ? (track.codec.rtxPayloadType ?? 0) : track.codec.payloadType,
            sequenceNumber: seq, timestamp: UInt32(truncatingIfNeeded: Int(seq) &* 3000), ssrc: ssrc,
            headerExtension: .elements(twoByte ? .twoByte(appBits: 0) : .oneByte, elements), payload: payload)
        var bytes: [UInt8] = []
        packet.serialize(into: &bytes)
        return bytes
    }

    /// The start of a payload of `kind`: a keyframe when `flags` bit 4 is set, a delta frame otherwise.
    static func keyframePrefix(_ kind: CodecKind, flags: UInt8) -> [UInt8] {
        let key = flags & 0x10 != 0
        switch kind {
        case .vp8:
            // RFC 7741 §4.2: X, S, partition 0; I with a 15-bit picture ID; TL0PICIDX; T/K fields.
            return [0x90, 0xE0, 0x80 | (flags & 0x7F), flags, 0x40 | (flags & 0x20), key ? 0x00 : 0x01, 0x9D, 0x01, 0x2A]
        case .vp9:
            // draft-ietf-payload-vp9 §4.2: I, B (start of frame), E; P clear for a keyframe.
            return [key ? 0x8C : 0xCC, 0x80 | (flags & 0x7F), flags]
        case .h264:
            // RFC 6184: an IDR slice (type 5) or a non-IDR one (type 1).
            return key ? [0x65, 0x88, 0x84] : [0x41, 0x9A, 0x02]
        case .av1:
            // RFC 9420 aggregation header (Z, Y, W, N) then an OBU header.
            return [key ? 0x18 : 0x10, 0x0A, 0x0B, 0x00]
        case .opus, .other:
            return [0xFC, 0xFF, 0xFE]
        }
    }

    /// Reads the input front to back; past the end it yields nothing (or zeros for fixed-size fields).
    struct Reader {
        let data: UnsafeRawBufferPointer
        var offset = 0
        init(_ data: UnsafeRawBufferPointer) { self.data = data }

        mutating func byte() -> UInt8? {
            guard offset < data.count else { return nil }
            defer { offset += 1 }
            return data[offset]
        }
        mutating func uint16() -> UInt16 { UInt16(byte() ?? 0) << 8 | UInt16(byte() ?? 0) }
        mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }
        mutating func bytes(_ count: Int) -> [UInt8] {
            let n = min(max(count, 0), data.count - offset)
            defer { offset += n }
            return Array(data[offset..<offset + n])
        }
    }
}
