/// An RTCP packet type (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611 §2). Open: any byte is representable.
public struct RTCPPacketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// SR (RFC 3550 §6.4.1).
    public static let senderReport = RTCPPacketType(200)
    /// RR (RFC 3550 §6.4.2).
    public static let receiverReport = RTCPPacketType(201)
    /// SDES (RFC 3550 §6.5).
    public static let sourceDescription = RTCPPacketType(202)
    /// BYE (RFC 3550 §6.6).
    public static let goodbye = RTCPPacketType(203)
    /// APP (RFC 3550 §6.7).
    public static let applicationDefined = RTCPPacketType(204)
    /// RTPFB: transport layer feedback (RFC 4585 §6.1).
    public static let transportLayerFeedback = RTCPPacketType(205)
    /// PSFB: payload-specific feedback (RFC 4585 §6.1).
    public static let payloadSpecificFeedback = RTCPPacketType(206)
    /// XR: extended reports (RFC 3611); not modelled, kept as `RTCPPacket.unknown`.
    public static let extendedReport = RTCPPacketType(207)

    public var description: String { "PT \(rawValue)" }
}

/// The 4-byte header every RTCP packet starts with (RFC 3550 §6.4.1):
///
///     |V=2|P|  count  |      PT       |             length            |
///
/// `count` is the report count (SR, RR), source count (SDES, BYE), subtype (APP) or feedback message
/// type FMT (RFC 4585 §6.1). `length` is the packet's size in 32-bit words minus one, header and padding
/// included.
public struct RTCPHeader: Hashable, Sendable {
    /// The only RTP/RTCP version in use (RFC 3550 §6.4.1).
    public static let version: UInt8 = 2
    /// Header size in bytes.
    public static let size = 4
    /// Largest value of the 5-bit count field.
    public static let maxCount = 31

    /// P: the packet ends with padding whose last byte is the padding length (RFC 3550 §6.4.1).
    public var padding: Bool
    /// The 5-bit RC/SC/subtype/FMT field.
    public var count: UInt8
    public var packetType: RTCPPacketType
    /// Packet size in 32-bit words minus one.
    public var length: UInt16

    public init(padding: Bool = false, count: UInt8, packetType: RTCPPacketType, length: UInt16) {
        self.padding = padding
        self.count = count
        self.packetType = packetType
        self.length = length
    }

    /// Whole packet size in bytes, header and padding included.
    @inlinable public var packetSize: Int { (Int(length) + 1) * 4 }

    /// Reads the header at the reader's position and checks the version (RFC 3550 §A.2). Does not check
    /// the length against the bytes available; `RTCPPacketView` does.
    @inlinable
    public init(reading r: inout ByteReader) throws(WireError) {
        let b0 = try r.u8("header")
        guard b0 >> 6 == RTCPHeader.version else {
            throw WireError.invalid(.rtcp, "version", "must be 2")
        }
        padding = b0 & 0x20 != 0
        count = b0 & 0x1F
        packetType = RTCPPacketType(try r.u8("packetType"))
        length = try r.u16("length")
    }

    public func serialize(into out: inout [UInt8]) {
        out.append(RTCPHeader.version << 6 | (padding ? 0x20 : 0) | (count & 0x1F))
        out.append(packetType.rawValue)
        out.appendBE16(length)
    }

    /// Writes one RTCP packet: a header, the body `writeBody` appends, then padding. When the body is not a
    /// multiple of four bytes it is padded with the P bit set and the pad count in the last byte, so
    /// every body round-trips exactly (RFC 3550 §6.4.1).
    ///
    /// A packet must fit the 16-bit length field (256 KiB): that is a precondition, not an input check.
    @inlinable
    static func writePacket(
        _ packetType: RTCPPacketType, count: UInt8, into out: inout [UInt8],
        _ writeBody: (inout [UInt8]) -> Void
    ) {
        let start = out.count
        out.append(0); out.append(0); out.append(0); out.append(0)
        writeBody(&out)
        let bodyCount = out.count - start - RTCPHeader.size
        let padCount = (4 - bodyCount % 4) % 4
        if padCount > 0 {
            for _ in 1..<padCount { out.append(0) }
            out.append(UInt8(padCount))
        }
        let words = (out.count - start) / 4 - 1
        precondition(words <= Int(UInt16.max), "RTCP packet longer than the 16-bit length field allows")
        out[start] = RTCPHeader.version << 6 | (padCount > 0 ? 0x20 : 0) | (count & 0x1F)
        out[start + 1] = packetType.rawValue
        out.setBE16(UInt16(words), at: start + 2)
    }
}

extension RTCPHeader {
    /// Writes a feedback message (RFC 4585 §6.1): header with FMT, the two SSRCs, then the FCI.
    @inlinable
    static func writeFeedback(
        _ packetType: RTCPPacketType, format: UInt8, senderSSRC: UInt32, mediaSSRC: UInt32,
        into out: inout [UInt8], _ writeFCI: (inout [UInt8]) -> Void
    ) {
        writePacket(packetType, count: format, into: &out) { out in
            out.appendBE32(senderSSRC)
            out.appendBE32(mediaSSRC)
            writeFCI(&out)
        }
    }
}

extension RTCPFeedbackView {
    /// The feedback fields of `view` after checking its packet type and FMT.
    init(_ view: RTCPPacketView, _ packetType: RTCPPacketType, format: UInt8, _ name: StaticString) throws(WireError) {
        guard view.packetType == packetType, view.count == format else {
            throw WireError.invalid(
                .rtcp, "packetType",
                "expected \(name) (PT \(packetType.rawValue) FMT \(format)), got PT \(view.packetType.rawValue) FMT \(view.count)")
        }
        try self.init(body: view.body)
    }
}
