/// One RTCP packet inside a buffer, framed and validated but not decoded: the non-allocating hot-path form.
///
/// Framing checks (RFC 3550 §6.4.1, §A.2): version 2, the length fits the bytes available, and when P is set
/// the last byte (the padding count) is non-zero and no larger than the body. `body` is the bytes after the
/// 4-byte header with the padding removed. A view points into the caller's memory: use it only while that
/// memory is alive.
public struct RTCPPacketView {
    /// What a packet is, from its packet type and FMT (and the REMB identifier), without decoding it.
    public enum Kind: Hashable, Sendable {
        case senderReport, receiverReport, sourceDescription, goodbye, applicationDefined
        case genericNACK, transportFeedback
        case pictureLossIndication, fullIntraRequest, receiverEstimatedMaxBitrate
        /// A packet type or FMT StarlingWire does not model.
        case unknown
    }

    public let packetType: RTCPPacketType
    /// The 5-bit RC/SC/subtype/FMT field.
    public let count: UInt8
    /// The count field read as a feedback message type (RFC 4585 §6.1).
    @inlinable public var format: UInt8 { count }
    /// The P bit was set.
    public let hasPadding: Bool
    /// Offset of the packet's header in the buffer it was read from.
    public let offset: Int
    /// The whole packet: header, body and padding.
    public let packet: UnsafeRawBufferPointer
    /// The bytes after the header, without padding.
    public let body: UnsafeRawBufferPointer

    /// Frames the packet starting at `offset` in `bytes`.
    @inlinable
    public init(parsing bytes: UnsafeRawBufferPointer, at offset: Int = 0) throws(WireError) {
        var r = ByteReader(bytes, proto: .rtcp, offset: offset)
        let header = try RTCPHeader(reading: &r)
        let size = header.packetSize
        guard size <= bytes.count - offset else {
            throw WireError.truncated(.rtcp, "length", needed: size, available: bytes.count - offset)
        }
        let packet = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + size)])
        var bodyCount = size - RTCPHeader.size
        if header.padding {
            let padCount = Int(packet[size - 1])
            guard padCount > 0, padCount <= bodyCount else {
                throw WireError.invalid(.rtcp, "padding", "pad count must be in 1...\(bodyCount)")
            }
            bodyCount -= padCount
        }
        self.packetType = header.packetType
        self.count = header.count
        self.hasPadding = header.padding
        self.offset = offset
        self.packet = packet
        self.body = UnsafeRawBufferPointer(rebasing: packet[RTCPHeader.size..<(RTCPHeader.size + bodyCount)])
    }

    /// Frames `bytes` as exactly one RTCP packet (no bytes may follow it).
    @inlinable
    public init(parsingSingle bytes: UnsafeRawBufferPointer) throws(WireError) {
        self = try RTCPPacketView(parsing: bytes, at: 0)
        guard packet.count == bytes.count else {
            throw WireError.invalid(.rtcp, "length", "\(bytes.count - packet.count) bytes follow the packet")
        }
    }

    /// The kind of packet, from PT and FMT; PSFB FMT 15 counts as REMB only when its FCI starts with
    /// "REMB" (draft-alvestrand-rmcat-remb §2.2).
    @inlinable
    public var kind: Kind {
        switch packetType {
        case .senderReport: return .senderReport
        case .receiverReport: return .receiverReport
        case .sourceDescription: return .sourceDescription
        case .goodbye: return .goodbye
        case .applicationDefined: return .applicationDefined
        case .transportLayerFeedback:
            switch count {
            case GenericNACK.format: return .genericNACK
            case TransportFeedback.format: return .transportFeedback
            default: return .unknown
            }
        case .payloadSpecificFeedback:
            switch count {
            case PictureLossIndication.format: return .pictureLossIndication
            case FullIntraRequest.format: return .fullIntraRequest
            case ReceiverEstimatedMaxBitrate.format:
                return ReceiverEstimatedMaxBitrate.hasIdentifier(body) ? .receiverEstimatedMaxBitrate : .unknown
            default: return .unknown
            }
        default: return .unknown
        }
    }

    /// The common feedback message fields (RFC 4585 §6.1): sender SSRC, media source SSRC, and the FCI
    /// (the rest of the body). Throws when the body is shorter than the two SSRCs.
    @inlinable
    public func feedback() throws(WireError) -> RTCPFeedbackView {
        try RTCPFeedbackView(body: body)
    }
}

/// The common part of an RTCP feedback message (RFC 4585 §6.1), as a view.
public struct RTCPFeedbackView {
    /// SSRC of packet sender.
    public let senderSSRC: UInt32
    /// SSRC of media source.
    public let mediaSSRC: UInt32
    /// Feedback control information: the rest of the body, without RTCP padding.
    public let fci: UnsafeRawBufferPointer

    @inlinable
    public init(body: UnsafeRawBufferPointer) throws(WireError) {
        var r = ByteReader(body, proto: .rtcp)
        senderSSRC = try r.u32("senderSSRC")
        mediaSSRC = try r.u32("mediaSSRC")
        fci = r.rest()
    }
}

/// Walks the packets of a compound (or reduced-size, RFC 5506) RTCP packet without allocating.
///
///     var it = RTCPPacketIterator(bytes)
///     while let packet = try it.next() { ... }
///
/// `next()` throws the first framing error; after an error it returns nil.
public struct RTCPPacketIterator {
    public let bytes: UnsafeRawBufferPointer
    /// Offset of the next packet's header.
    @inlinable public var offset: Int { nextOffset }
    @usableFromInline var nextOffset: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.nextOffset = 0
    }

    /// The next packet, or nil at the end of the buffer.
    @inlinable
    public mutating func next() throws(WireError) -> RTCPPacketView? {
        guard nextOffset < bytes.count else { return nil }
        do throws(WireError) {
            let view = try RTCPPacketView(parsing: bytes, at: nextOffset)
            nextOffset += view.packet.count
            return view
        } catch {
            nextOffset = bytes.count
            throw error
        }
    }
}
