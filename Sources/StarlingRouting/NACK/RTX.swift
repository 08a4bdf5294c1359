import StarlingWire

/// Builds RTX packets (RFC 4588 §4) for one stream in session-multiplexing mode: the RTX stream has
/// its own SSRC, payload type and sequence numbers; the payload starts with the original sequence
/// number (OSN) followed by the original payload. The rest of the header (marker, timestamp, CSRCs,
/// header extensions) is kept; padding is removed (§4: RTX packets may carry their own padding).
public struct RTXEncoder: Sendable {
    public var ssrc: UInt32
    public var payloadType: UInt8
    /// The sequence number the next RTX packet gets (RFC 4588 §4: its own, independent space).
    public var sequenceNumber: UInt16

    public init(ssrc: UInt32, payloadType: UInt8, initialSequenceNumber: UInt16 = 0) {
        self.ssrc = ssrc
        self.payloadType = payloadType
        sequenceNumber = initialSequenceNumber
    }

    /// The RTX packet's length for an original packet with `header`.
    @inlinable
    public static func encodedLength(of header: RTPHeader) -> Int {
        header.headerLength + 2 + header.payloadLength
    }

    /// Writes the RTX packet for `original` into the start of `out` and returns its length; advances
    /// `sequenceNumber`. Throws when `original` is not an RTP packet or `out` is too small (then
    /// `sequenceNumber` is unchanged).
    public mutating func encode(
        _ original: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer
    ) throws(WireError) -> Int {
        let header = try RTPHeader(parsing: original)
        let length = Self.encodedLength(of: header)
        guard out.count >= length, let dst = out.baseAddress, let src = original.baseAddress else {
            throw WireError.truncated(.rtp, "rtx.output", needed: length, available: out.count)
        }
        let headerLength = header.headerLength
        dst.copyMemory(from: src, byteCount: headerLength)
        (dst + headerLength + 2).copyMemory(from: src + headerLength, byteCount: header.payloadLength)
        let packet = UnsafeMutableRawBufferPointer(start: dst, count: length)
        packet[0] &= ~0x20  // P = 0: the original padding is dropped
        RTPHeader.setPayloadType(payloadType, in: packet)
        RTPHeader.setSequenceNumber(sequenceNumber, in: packet)
        RTPHeader.setSSRC(ssrc, in: packet)
        packet[headerLength] = UInt8(truncatingIfNeeded: header.sequenceNumber >> 8)
        packet[headerLength + 1] = UInt8(truncatingIfNeeded: header.sequenceNumber)
        sequenceNumber &+= 1
        return length
    }
}

/// Recovers original packets from the RTX stream of one source (RFC 4588 §4): sequence number from
/// the OSN, SSRC of the original stream, payload type from the RTX payload type's `apt` (RFC 4588
/// §8.6). Padding of the RTX packet is removed.
public struct RTXDecoder: Sendable {
    public var rtxSSRC: UInt32
    public var originalSSRC: UInt32
    /// RTX payload type -> original payload type (`a=fmtp:<rtx pt> apt=<pt>`); 0xFF where unmapped.
    private var associatedPayloadTypes: InlineArray<128, UInt8>

    /// - Parameter associatedPayloadTypes: RTX payload type -> associated (original) payload type.
    public init(rtxSSRC: UInt32, originalSSRC: UInt32, associatedPayloadTypes: [UInt8: UInt8]) {
        self.rtxSSRC = rtxSSRC
        self.originalSSRC = originalSSRC
        self.associatedPayloadTypes = InlineArray(repeating: 0xFF)
        for (rtx, original) in associatedPayloadTypes where rtx < 128 && original < 128 {
            self.associatedPayloadTypes[Int(rtx)] = original
        }
    }

    /// The original payload type for RTX payload type `rtxPayloadType`, if mapped.
    public func associatedPayloadType(of rtxPayloadType: UInt8) -> UInt8? {
        guard rtxPayloadType < 128 else { return nil }
        let pt = associatedPayloadTypes[Int(rtxPayloadType)]
        return pt == 0xFF ? nil : pt
    }

    /// Rewrites the RTX packet in `packet` into the original packet, in place, and returns the
    /// original's length (2 bytes shorter, less any padding). Returns nil for an RTX packet with no
    /// payload (a padding-only probe, RFC 4588 §4 allows them): nothing to recover. Throws for a packet
    /// that is not RTX of this stream; `packet` is then unchanged.
    public func decode(inPlace packet: UnsafeMutableRawBufferPointer) throws(WireError) -> Int? {
        let header = try RTPHeader(parsing: UnsafeRawBufferPointer(packet))
        guard let (osn, originalPT) = try check(header, UnsafeRawBufferPointer(packet)) else { return nil }
        let headerLength = header.headerLength
        let length = headerLength + header.payloadLength - 2
        guard let base = packet.baseAddress else { return nil }
        (base + headerLength).copyMemory(from: base + headerLength + 2, byteCount: header.payloadLength - 2)
        rewrite(UnsafeMutableRawBufferPointer(start: base, count: length), osn: osn, payloadType: originalPT)
        return length
    }

    /// Writes the original packet recovered from `rtx` into the start of `out` and returns its length;
    /// nil for a padding-only RTX packet. Throws for a packet that is not RTX of this stream, or when
    /// `out` is too small.
    public func decode(
        _ rtx: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer
    ) throws(WireError) -> Int? {
        let header = try RTPHeader(parsing: rtx)
        guard let (osn, originalPT) = try check(header, rtx) else { return nil }
        let headerLength = header.headerLength
        let length = headerLength + header.payloadLength - 2
        guard out.count >= length, let dst = out.baseAddress, let src = rtx.baseAddress else {
            throw WireError.truncated(.rtp, "rtx.output", needed: length, available: out.count)
        }
        dst.copyMemory(from: src, byteCount: headerLength)
        (dst + headerLength).copyMemory(from: src + headerLength + 2, byteCount: header.payloadLength - 2)
        rewrite(UnsafeMutableRawBufferPointer(start: dst, count: length), osn: osn, payloadType: originalPT)
        return length
    }

    private func check(_ header: RTPHeader, _ bytes: UnsafeRawBufferPointer) throws(WireError) -> (UInt16, UInt8)? {
        guard header.ssrc == rtxSSRC else {
            throw WireError.invalid(.rtp, "rtx.ssrc", "\(header.ssrc) is not the RTX SSRC \(rtxSSRC)")
        }
        guard let originalPT = associatedPayloadType(of: header.payloadType) else {
            throw WireError.invalid(.rtp, "rtx.payloadType", "\(header.payloadType) has no associated payload type")
        }
        if header.payloadLength == 0 { return nil }
        guard header.payloadLength >= 2 else {
            throw WireError.truncated(.rtp, "rtx.osn", needed: 2, available: header.payloadLength)
        }
        return (bytes.loadBE16(at: header.payloadOffset), originalPT)
    }

    private func rewrite(_ packet: UnsafeMutableRawBufferPointer, osn: UInt16, payloadType: UInt8) {
        packet[0] &= ~0x20  // the RTX packet's padding is not part of the original
        RTPHeader.setPayloadType(payloadType, in: packet)
        RTPHeader.setSequenceNumber(osn, in: packet)
        RTPHeader.setSSRC(originalSSRC, in: packet)
    }
}
