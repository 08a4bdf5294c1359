/// SR: sender report, RTCP packet type 200 (RFC 3550 §6.4.1).
///
/// Sender info (NTP and RTP timestamps, packet and octet counts), up to 31 reception report blocks, and
/// any profile-specific extension bytes after them, kept as they are.
public struct SenderReport: WireCodable, RTCPReport {
    /// SSRC of the sender.
    public var ssrc: UInt32
    /// 64-bit NTP timestamp of this report (seconds since 1900 in the upper 32 bits, fraction below).
    public var ntpTimestamp: UInt64
    /// The same instant in the RTP timestamp units of the media.
    public var rtpTimestamp: UInt32
    /// Sender's packet count since starting transmission.
    public var packetCount: UInt32
    /// Sender's payload octet count since starting transmission.
    public var octetCount: UInt32
    /// Reception report blocks; at most 31 are written (the RC field is 5 bits), put more in an RR.
    public var reportBlocks: [ReportBlock]
    /// Profile-specific extension bytes after the report blocks (RFC 3550 §6.4.1).
    public var profileExtensions: [UInt8]

    public init(
        ssrc: UInt32, ntpTimestamp: UInt64, rtpTimestamp: UInt32, packetCount: UInt32, octetCount: UInt32,
        reportBlocks: [ReportBlock] = [], profileExtensions: [UInt8] = []
    ) {
        self.ssrc = ssrc
        self.ntpTimestamp = ntpTimestamp
        self.rtpTimestamp = rtpTimestamp
        self.packetCount = packetCount
        self.octetCount = octetCount
        self.reportBlocks = reportBlocks
        self.profileExtensions = profileExtensions
    }

    /// The middle 32 bits of the NTP timestamp: what a receiver echoes as LSR (RFC 3550 §6.4.1).
    @inlinable public var compactNTPTimestamp: UInt32 { UInt32(truncatingIfNeeded: ntpTimestamp >> 16) }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    public static func readFixedPart(_ view: RTCPPacketView) throws(WireError) -> (SenderReport, ByteReader) {
        guard view.packetType == .senderReport else {
            throw WireError.invalid(.rtcp, "packetType", "expected SR (200), got \(view.packetType.rawValue)")
        }
        var r = ByteReader(view.body, proto: .rtcp)
        let sr = SenderReport(
            ssrc: try r.u32("sr.ssrc"), ntpTimestamp: try r.u64("sr.ntpTimestamp"),
            rtpTimestamp: try r.u32("sr.rtpTimestamp"), packetCount: try r.u32("sr.packetCount"),
            octetCount: try r.u32("sr.octetCount"))
        return (sr, r)
    }

    public func serialize(into out: inout [UInt8]) {
        let n = min(reportBlocks.count, RTCPHeader.maxCount)
        RTCPHeader.writePacket(.senderReport, count: UInt8(n), into: &out) { out in
            out.appendBE32(ssrc)
            out.appendBE64(ntpTimestamp)
            out.appendBE32(rtpTimestamp)
            out.appendBE32(packetCount)
            out.appendBE32(octetCount)
            for block in reportBlocks.prefix(n) { block.serialize(into: &out) }
            out.append(contentsOf: profileExtensions)
        }
    }
}
