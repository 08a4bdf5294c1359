/// A compound RTCP packet: RTCP packets stacked in one datagram (RFC 3550 §6.1).
///
/// Reduced-size RTCP is accepted too (RFC 5506 §3.1): a lone feedback packet, or any stack not starting
/// with SR or RR. Every packet must frame and decode; the first that does not fails the whole parse (use
/// `RTCPPacketIterator` to skip bad packets instead).
public struct RTCPCompoundPacket: WireCodable {
    /// The packets in order; a datagram holds at least one.
    public var packets: [RTCPPacket]

    public init(packets: [RTCPPacket]) {
        self.packets = packets
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard !bytes.isEmpty else {
            throw WireError.truncated(.rtcp, "header", needed: RTCPHeader.size, available: 0)
        }
        var packets: [RTCPPacket] = []
        var it = RTCPPacketIterator(bytes)
        while let view = try it.next() {
            packets.append(try RTCPPacket(view: view))
        }
        self.packets = packets
    }

    /// Calls `body` with each framed packet in `bytes`, without allocating; stops at the first framing
    /// error or the first error `body` throws.
    @inlinable
    public static func forEachPacket(
        in bytes: UnsafeRawBufferPointer, _ body: (RTCPPacketView) throws(WireError) -> Void
    ) throws(WireError) {
        var it = RTCPPacketIterator(bytes)
        while let view = try it.next() { try body(view) }
    }

    /// True when the first packet is an SR or RR, as a full compound packet requires (RFC 3550 §6.1);
    /// false for reduced-size RTCP (RFC 5506).
    public var startsWithReport: Bool {
        switch packets.first {
        case .senderReport, .receiverReport: return true
        default: return false
        }
    }

    public func serialize(into out: inout [UInt8]) {
        for packet in packets { packet.serialize(into: &out) }
    }
}
