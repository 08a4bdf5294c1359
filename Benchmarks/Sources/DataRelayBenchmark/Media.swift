import StarlingRouting
import StarlingTransport
import StarlingWire

/// The media baseline's room: a `Router` with one producer on the sender's transport (index 0) and one
/// consumer of it on each receiver's transport, its output protecting every copy with that receiver's SRTP
/// session (`ProtectingOutput`, the room's `RoomOutput`).
final class MediaRoom {
    let router: Router
    let output: ProtectingOutput

    init(publisher: RTPPublisher, receivers: Int, room: ServerRoom, now: Instant) throws {
        output = ProtectingOutput()
        output.room = room
        router = Router(configuration: .init(unixNanosecondsAtZero: 1_764_000_000_000_000_000), output: output)
        router.addTransport(TransportID(0), now: now)
        let producer = try router.addProducer(on: TransportID(0), publisher.parameters, now: now)
        for i in 1...receivers {
            router.addTransport(TransportID(i), now: now)
            _ = try router.addConsumer(on: TransportID(i), of: producer, publisher.consumerParameters(i), now: now)
        }
    }
}

/// A browser-like RTP sender on the sender's client transport (its packets are written and SRTP-protected on
/// the client side, not measured). With the extensions Chrome sends (mid, abs-send-time, transport-wide-cc):
/// - `.audio`: Opus (PT 111, 48 kHz), one packet per message with `payloadBytes` of payload;
/// - `.video`: VP8 (PT 96, 90 kHz), one frame per message: `payloadBytes` of RTP payload (the 6-byte VP8
///   descriptor included) in packets of at most `maxPayload`, a keyframe first and every 3 s of frames.
struct RTPPublisher {
    enum Kind {
        case audio(payloadBytes: Int)
        case video(payloadBytes: Int, maxPayload: Int, framesPerKeyframe: Int)
    }

    static let midID: UInt8 = 4
    static let absSendTimeID: UInt8 = 2
    static let transportCCID: UInt8 = 3
    static let headerLength = 12 + 4 + 12  // fixed header, extension header, 9 bytes of elements + 3 padding

    let kind: Kind
    let ssrc: UInt32
    let payloadType: UInt8
    let clockRate: UInt32
    private var sequenceNumber: UInt16 = 65_000
    private var timestamp: UInt32 = 3_000_000_000
    private var pictureID: UInt16 = 32_700
    private var transportSequence: UInt16 = 0
    private(set) var messages = 0

    init(kind: Kind) {
        self.kind = kind
        switch kind {
        case .audio:
            ssrc = 0xA0D1_0001
            payloadType = 111
            clockRate = 48_000
        case .video:
            ssrc = 0x7D30_0001
            payloadType = 96
            clockRate = 90_000
        }
    }

    var isVideo: Bool { if case .video = kind { true } else { false } }

    var parameters: ProducerParameters {
        ProducerParameters(
            kind: isVideo ? .video : .audio,
            codec: RTPCodec(
                kind: isVideo ? .vp8 : .opus, payloadType: payloadType, clockRate: clockRate, rtxPayloadType: isVideo ? 97 : nil),
            encodings: [.init(ssrc: ssrc, rtxSSRC: isVideo ? ssrc + 1 : nil)],
            extensions: HeaderExtensionIDs(mid: Self.midID, absSendTime: Self.absSendTimeID, transportWideCC: Self.transportCCID),
            mid: isVideo ? "1" : "0", nack: isVideo)
    }

    func consumerParameters(_ receiver: Int) -> ConsumerParameters {
        let ssrc = 0x1000_0000 + UInt32(receiver) * 2 + (isVideo ? 0x0100_0000 : 0)
        return ConsumerParameters(
            ssrc: ssrc, rtxSSRC: isVideo ? ssrc + 1 : nil,
            codec: RTPCodec(
                kind: isVideo ? .vp8 : .opus, payloadType: isVideo ? 100 : 111, clockRate: clockRate,
                rtxPayloadType: isVideo ? 101 : nil),
            extensions: HeaderExtensionIDs(mid: 1, absSendTime: 2, transportWideCC: 3), mid: isVideo ? "v0" : "a0",
            nack: isVideo)
    }

    /// RTP payload sizes of one message.
    var payloadSizes: [Int] {
        switch kind {
        case .audio(let bytes):
            return [bytes]
        case .video(let bytes, let maxPayload, _):
            let packets = (bytes + maxPayload - 1) / maxPayload
            let base = bytes / packets
            return (0..<packets).map { $0 == packets - 1 ? bytes - base * (packets - 1) : base }
        }
    }

    /// Writes the next message's packets (plain RTP) with `write(packetIndex, into:)`-style callbacks: `body`
    /// gets each packet's buffer and length to protect and send. `sendTime` is the message's virtual time.
    mutating func writeMessage(
        sendTime: Instant, scratch: UnsafeMutableRawBufferPointer, _ body: (UnsafeMutableRawBufferPointer, Int) throws -> Void
    ) rethrows {
        let sizes = payloadSizes
        let keyframe: Bool
        switch kind {
        case .audio:
            keyframe = false
            if messages > 0 { timestamp &+= 48 }  // one message per millisecond in the audio scenarios
        case .video(_, _, let framesPerKeyframe):
            keyframe = messages % framesPerKeyframe == 0
            if messages > 0 { timestamp &+= 360 }  // one frame per 4 ms
            pictureID = (pictureID &+ 1) & 0x7FFF
        }
        for (position, payload) in sizes.enumerated() {
            let p = scratch
            transportSequence &+= 1
            let last = position == sizes.count - 1
            p[0] = 0x90
            p[1] = (isVideo && last ? 0x80 : 0) | payloadType
            put16(p, 2, sequenceNumber)
            put32(p, 4, timestamp)
            put32(p, 8, ssrc)
            p[12] = 0xBE
            p[13] = 0xDE
            put16(p, 14, 3)
            p[16] = Self.midID << 4 | 0
            p[17] = UInt8(ascii: isVideo ? "1" : "0")
            let abs = UInt32(truncatingIfNeeded: (sendTime.nanoseconds << 18) / 1_000_000_000) & 0xFF_FFFF
            p[18] = Self.absSendTimeID << 4 | 2
            p[19] = UInt8(truncatingIfNeeded: abs >> 16)
            p[20] = UInt8(truncatingIfNeeded: abs >> 8)
            p[21] = UInt8(truncatingIfNeeded: abs)
            p[22] = Self.transportCCID << 4 | 1
            put16(p, 23, transportSequence)
            p[25] = 0
            p[26] = 0
            p[27] = 0
            var o = Self.headerLength
            let end = o + payload
            if isVideo {
                // VP8 payload descriptor (RFC 7741 §4.2): X, S at the frame's first packet; I, L, T; a 15-bit
                // picture ID, TL0PICIDX, TID 0 (every frame is in the base layer).
                p[o] = 0x80 | (position == 0 ? 0x10 : 0)
                p[o + 1] = 0xE0
                p[o + 2] = 0x80 | UInt8(pictureID >> 8)
                p[o + 3] = UInt8(truncatingIfNeeded: pictureID)
                p[o + 4] = UInt8(truncatingIfNeeded: messages)
                p[o + 5] = 0
                o += 6
                if position == 0 {
                    // The VP8 frame tag (RFC 6386 §9.1): P = 0 with the start code and 1280x720 on keyframes.
                    let tag: [UInt8] = keyframe ? [0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x00, 0x05, 0xD0, 0x02] : [0x11, 0x02, 0x00]
                    for b in tag {
                        p[o] = b
                        o += 1
                    }
                }
            }
            let seed = UInt8(truncatingIfNeeded: messages)
            while o < end {
                p[o] = UInt8(truncatingIfNeeded: o &* 31) ^ seed
                o += 1
            }
            sequenceNumber &+= 1
            try body(p, end)
        }
        messages += 1
    }

    private func put16(_ p: UnsafeMutableRawBufferPointer, _ at: Int, _ v: UInt16) {
        p[at] = UInt8(v >> 8)
        p[at + 1] = UInt8(truncatingIfNeeded: v)
    }

    private func put32(_ p: UnsafeMutableRawBufferPointer, _ at: Int, _ v: UInt32) {
        for k in 0..<4 { p[at + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(k))) }
    }
}
