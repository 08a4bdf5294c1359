/// What a datagram arriving on a WebRTC 5-tuple carries, told from its first byte (RFC 7983 §7,
/// which updates RFC 5764 §5.1.2).
public enum DatagramKind: Equatable, Sendable {
    /// 0...3: STUN (RFC 8489). ICE connectivity checks and consent.
    case stun
    /// 16...19: ZRTP, which WebRTC does not use; dropped.
    case zrtp
    /// 20...63: DTLS records (RFC 9147 / RFC 6347).
    case dtls
    /// 64...79: TURN channel data (RFC 8656 §12), seen only when we act as a TURN client.
    case turnChannel
    /// 128...191: RTP or RTCP, told apart by the payload type (RFC 5761 §4).
    case rtp
    case rtcp
    /// Anything else: to be dropped and counted.
    case unknown

    /// Classifies a datagram by its first bytes.
    @inlinable
    public init(classifying bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else {
            self = .unknown
            return
        }
        switch first {
        case 0...3: self = .stun
        case 16...19: self = .zrtp
        case 20...63: self = .dtls
        case 64...79: self = .turnChannel
        case 128...191:
            // RFC 5761 §4: RTCP packet types 192...223 collide with RTP payload types 64...95 (with the
            // marker bit set), so those payload types are not used for RTP on a muxed port.
            guard bytes.count >= 2 else {
                self = .unknown
                return
            }
            let packetType = bytes[1]
            self = (192...223).contains(packetType) ? .rtcp : .rtp
        default: self = .unknown
        }
    }
}
