/// REMB: receiver estimated maximum bitrate, payload-specific feedback FMT 15 (application layer
/// feedback, RFC 4585 §6.4) whose FCI starts with "REMB" (draft-alvestrand-rmcat-remb-03 §2.2).
///
/// FCI: "REMB", the number of SSRCs (8 bits), the bitrate as a 6-bit exponent and an 18-bit mantissa
/// (bitrate = mantissa << exponent, bits per second), then the SSRCs the estimate applies to.
public struct ReceiverEstimatedMaxBitrate: WireCodable {
    /// FMT of application layer feedback in PSFB.
    public static let format: UInt8 = 15
    /// The unique identifier "REMB".
    public static let identifier: UInt32 = 0x5245_4D42

    /// SSRC of the packet sender.
    public var senderSSRC: UInt32
    /// SSRC of media source: always 0 per the draft; kept as sent.
    public var mediaSSRC: UInt32
    /// Estimated maximum total bitrate in bits per second. Written as the largest value mantissa × 2^exp
    /// not above it (rounded down to 18 significant bits).
    public var bitrate: UInt64
    /// SSRCs of the media streams the estimate applies to; at most 255 are written.
    public var ssrcs: [UInt32]

    public init(senderSSRC: UInt32, mediaSSRC: UInt32 = 0, bitrate: UInt64, ssrcs: [UInt32]) {
        self.senderSSRC = senderSSRC
        self.mediaSSRC = mediaSSRC
        self.bitrate = bitrate
        self.ssrcs = ssrcs
    }

    /// True when a feedback packet's `body` (after the header: two SSRCs, then the FCI) has an FCI
    /// starting with "REMB".
    @inlinable
    public static func hasIdentifier(_ body: UnsafeRawBufferPointer) -> Bool {
        body.count >= 12 && body.loadBE32(at: 8) == identifier
    }

    /// The exponent and mantissa for `bitrate`, rounding down: the smallest exponent whose mantissa fits
    /// 18 bits.
    @inlinable
    public static func exponentAndMantissa(for bitrate: UInt64) -> (exponent: UInt8, mantissa: UInt32) {
        let exponent = max(0, (UInt64.bitWidth - bitrate.leadingZeroBitCount) - 18)
        return (UInt8(exponent), UInt32(truncatingIfNeeded: bitrate >> UInt64(exponent)))
    }

    /// Reads a REMB FCI without allocating: calls `visit` with each SSRC and returns the bitrate. The FCI
    /// is checked whole before the first call: identifier, a length of exactly 8 + 4 × SSRC count, and a
    /// bitrate that fits 64 bits.
    @inlinable @discardableResult
    public static func forEachSSRC(fci: UnsafeRawBufferPointer, _ visit: (UInt32) -> Void) throws(WireError) -> UInt64 {
        var r = ByteReader(fci, proto: .rtcp)
        guard try r.u32("remb.identifier") == identifier else {
            throw WireError.invalid(.rtcp, "remb.identifier", "must be \"REMB\"")
        }
        let count = Int(try r.u8("remb.ssrcCount"))
        let packed = try r.u24("remb.bitrate")
        let exponent = Int(packed >> 18)
        let mantissa = UInt64(packed & 0x3_FFFF)
        guard mantissa == 0 || exponent <= mantissa.leadingZeroBitCount else {
            throw WireError.invalid(.rtcp, "remb.bitrate", "exceeds 64 bits")
        }
        try r.require(count * 4, "remb.ssrcs")
        guard r.remaining == count * 4 else {
            throw WireError.invalid(.rtcp, "remb.ssrcs", "\(r.remaining - count * 4) bytes after \(count) SSRCs")
        }
        for _ in 0..<count { visit(try r.u32("remb.ssrcs")) }
        return mantissa << UInt64(exponent)
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed REMB.
    public init(view: RTCPPacketView) throws(WireError) {
        let fb = try RTCPFeedbackView(view, .payloadSpecificFeedback, format: ReceiverEstimatedMaxBitrate.format, "REMB")
        var ssrcs: [UInt32] = []
        ssrcs.reserveCapacity(max(0, fb.fci.count - 8) / 4)
        let bitrate = try ReceiverEstimatedMaxBitrate.forEachSSRC(fci: fb.fci) { ssrcs.append($0) }
        self.init(senderSSRC: fb.senderSSRC, mediaSSRC: fb.mediaSSRC, bitrate: bitrate, ssrcs: ssrcs)
    }

    public func serialize(into out: inout [UInt8]) {
        let n = min(ssrcs.count, Int(UInt8.max))
        let (exponent, mantissa) = ReceiverEstimatedMaxBitrate.exponentAndMantissa(for: bitrate)
        RTCPHeader.writeFeedback(.payloadSpecificFeedback, format: ReceiverEstimatedMaxBitrate.format, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, into: &out) { out in
            out.appendBE32(ReceiverEstimatedMaxBitrate.identifier)
            out.append(UInt8(n))
            out.appendBE24(UInt32(exponent) << 18 | mantissa)
            for ssrc in ssrcs.prefix(n) { out.appendBE32(ssrc) }
        }
    }
}
