/// What SR and RR share (RFC 3550 §6.4): a fixed part, then RC report blocks, then profile extensions.
/// Conformers read only their fixed part; decoding the blocks is written once here.
public protocol RTCPReport {
    var reportBlocks: [ReportBlock] { get set }
    var profileExtensions: [UInt8] { get set }
    /// Checks the packet type and reads the fixed part; returns the report (without blocks) and a reader
    /// positioned at the first report block.
    static func readFixedPart(_ view: RTCPPacketView) throws(WireError) -> (Self, ByteReader)
}

extension RTCPReport {
    /// Decodes a framed report with its blocks and profile extensions.
    public init(view: RTCPPacketView) throws(WireError) {
        var blocks: [ReportBlock] = []
        blocks.reserveCapacity(Int(view.count))
        var r: ByteReader
        (self, r) = try Self.readFixedPart(view)
        try ReportBlock.forEach(count: Int(view.count), in: &r) { blocks.append($0) }
        reportBlocks = blocks
        profileExtensions = Array(r.rest())
    }

    /// Decodes a framed report without allocating: report blocks go to `visit`; `reportBlocks` and
    /// `profileExtensions` of the result are left empty.
    public init(view: RTCPPacketView, forEachReportBlock visit: (ReportBlock) -> Void) throws(WireError) {
        var r: ByteReader
        (self, r) = try Self.readFixedPart(view)
        try ReportBlock.forEach(count: Int(view.count), in: &r, visit)
    }
}
