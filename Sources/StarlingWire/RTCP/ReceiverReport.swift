/// RR: receiver report, RTCP packet type 201 (RFC 3550 §6.4.2).
///
/// The reporter's SSRC, up to 31 reception report blocks, and profile-specific extension bytes.
public struct ReceiverReport: WireCodable, RTCPReport {
    /// SSRC of the packet sender (the reporter).
    public var ssrc: UInt32
    /// Reception report blocks; at most 31 are written (the RC field is 5 bits), send several RRs for more.
    public var reportBlocks: [ReportBlock]
    /// Profile-specific extension bytes after the report blocks.
    public var profileExtensions: [UInt8]

    public init(ssrc: UInt32, reportBlocks: [ReportBlock] = [], profileExtensions: [UInt8] = []) {
        self.ssrc = ssrc
        self.reportBlocks = reportBlocks
        self.profileExtensions = profileExtensions
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    public static func readFixedPart(_ view: RTCPPacketView) throws(WireError) -> (ReceiverReport, ByteReader) {
        guard view.packetType == .receiverReport else {
            throw WireError.invalid(.rtcp, "packetType", "expected RR (201), got \(view.packetType.rawValue)")
        }
        var r = ByteReader(view.body, proto: .rtcp)
        let rr = ReceiverReport(ssrc: try r.u32("rr.ssrc"))
        return (rr, r)
    }

    public func serialize(into out: inout [UInt8]) {
        let n = min(reportBlocks.count, RTCPHeader.maxCount)
        RTCPHeader.writePacket(.receiverReport, count: UInt8(n), into: &out) { out in
            out.appendBE32(ssrc)
            for block in reportBlocks.prefix(n) { block.serialize(into: &out) }
            out.append(contentsOf: profileExtensions)
        }
    }
}
