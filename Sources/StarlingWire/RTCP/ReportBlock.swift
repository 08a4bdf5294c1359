/// A reception report block, carried in SR and RR packets (RFC 3550 §6.4.1): 24 bytes.
public struct ReportBlock: WireCodable, Hashable {
    /// Wire size in bytes.
    public static let size = 24
    /// Range of the 24-bit signed cumulative loss (RFC 3550 §6.4.1).
    public static let cumulativeLostRange: ClosedRange<Int32> = -0x80_0000...0x7F_FFFF

    /// SSRC of the source this block reports on.
    public var ssrc: UInt32
    /// Fraction of packets lost since the last report, as a fixed-point number with the binary point at
    /// the left edge (loss × 256).
    public var fractionLost: UInt8
    /// Cumulative number of packets lost: 24-bit signed, negative when duplicates arrived. Serialized
    /// clamped to `cumulativeLostRange` (RFC 3550 §A.3).
    public var cumulativeLost: Int32
    /// Extended highest sequence number received: cycles in the upper 16 bits.
    public var extendedHighestSequenceNumber: UInt32
    /// Interarrival jitter in RTP timestamp units (RFC 3550 §6.4.1, §A.8).
    public var jitter: UInt32
    /// LSR: the middle 32 bits of the NTP timestamp of the last SR received, 0 if none.
    public var lastSenderReport: UInt32
    /// DLSR: delay since that SR, in units of 1/65536 s, 0 if none.
    public var delaySinceLastSenderReport: UInt32

    public init(
        ssrc: UInt32, fractionLost: UInt8 = 0, cumulativeLost: Int32 = 0,
        extendedHighestSequenceNumber: UInt32 = 0, jitter: UInt32 = 0,
        lastSenderReport: UInt32 = 0, delaySinceLastSenderReport: UInt32 = 0
    ) {
        self.ssrc = ssrc
        self.fractionLost = fractionLost
        self.cumulativeLost = cumulativeLost
        self.extendedHighestSequenceNumber = extendedHighestSequenceNumber
        self.jitter = jitter
        self.lastSenderReport = lastSenderReport
        self.delaySinceLastSenderReport = delaySinceLastSenderReport
    }

    /// Reads one block at the reader's position.
    @inlinable
    public init(reading r: inout ByteReader) throws(WireError) {
        ssrc = try r.u32("reportBlock.ssrc")
        fractionLost = try r.u8("reportBlock.fractionLost")
        let lost = try r.u24("reportBlock.cumulativeLost")
        cumulativeLost = Int32(bitPattern: lost << 8) >> 8
        extendedHighestSequenceNumber = try r.u32("reportBlock.extendedHighestSequenceNumber")
        jitter = try r.u32("reportBlock.jitter")
        lastSenderReport = try r.u32("reportBlock.lastSenderReport")
        delaySinceLastSenderReport = try r.u32("reportBlock.delaySinceLastSenderReport")
    }

    /// Parses exactly one 24-byte block.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        var r = ByteReader(bytes, proto: .rtcp)
        self = try ReportBlock(reading: &r)
        guard r.isAtEnd else {
            throw WireError.invalid(.rtcp, "reportBlock", "\(r.remaining) bytes after the block")
        }
    }

    public func serialize(into out: inout [UInt8]) {
        out.appendBE32(ssrc)
        out.append(fractionLost)
        let lost = min(max(cumulativeLost, ReportBlock.cumulativeLostRange.lowerBound),
                       ReportBlock.cumulativeLostRange.upperBound)
        out.appendBE24(UInt32(bitPattern: lost) & 0xFF_FFFF)
        out.appendBE32(extendedHighestSequenceNumber)
        out.appendBE32(jitter)
        out.appendBE32(lastSenderReport)
        out.appendBE32(delaySinceLastSenderReport)
    }
}

extension ReportBlock {
    /// Reads `count` report blocks from `r`, calling `visit` for each; allocates nothing.
    static func forEach(
        count: Int, in r: inout ByteReader, _ visit: (ReportBlock) -> Void
    ) throws(WireError) {
        try r.require(count * ReportBlock.size, "reportBlocks")
        for _ in 0..<count { visit(try ReportBlock(reading: &r)) }
    }
}
