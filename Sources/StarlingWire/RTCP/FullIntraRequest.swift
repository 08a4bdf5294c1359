/// FIR: full intra request, payload-specific feedback FMT 4 (RFC 5104 §4.3.1).
///
/// The media source SSRC is unused (0); the FCI has one 8-byte entry per media sender asked for a
/// keyframe: its SSRC, a command sequence number, and 24 reserved bits (written 0, ignored on read).
public struct FullIntraRequest: WireCodable {
    /// FMT of FIR in PSFB.
    public static let format: UInt8 = 4

    /// One FCI entry (RFC 5104 §4.3.1.1).
    public struct Entry: Hashable, Sendable {
        /// SSRC of the media sender that should send a decoder refresh point.
        public var ssrc: UInt32
        /// Command sequence number: incremented per new request, so repeats can be recognised.
        public var sequenceNumber: UInt8

        public init(ssrc: UInt32, sequenceNumber: UInt8) {
            self.ssrc = ssrc
            self.sequenceNumber = sequenceNumber
        }
    }

    /// SSRC of the packet sender.
    public var senderSSRC: UInt32
    /// SSRC of the media source: 0 per RFC 5104 §4.3.1.2; kept as sent.
    public var mediaSSRC: UInt32
    public var entries: [Entry]

    public init(senderSSRC: UInt32, mediaSSRC: UInt32 = 0, entries: [Entry]) {
        self.senderSSRC = senderSSRC
        self.mediaSSRC = mediaSSRC
        self.entries = entries
    }

    /// Calls `visit` with each FCI entry, without allocating. The FCI is checked whole (a multiple of 8
    /// bytes) before the first call.
    @inlinable
    public static func forEachEntry(fci: UnsafeRawBufferPointer, _ visit: (Entry) -> Void) throws(WireError) {
        guard fci.count % 8 == 0 else {
            throw WireError.invalid(.rtcp, "fir.fci", "length \(fci.count) is not a multiple of 8")
        }
        var i = 0
        while i < fci.count {
            visit(Entry(ssrc: fci.loadBE32(at: i), sequenceNumber: fci[i + 4]))
            i += 8
        }
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed FIR.
    public init(view: RTCPPacketView) throws(WireError) {
        let fb = try RTCPFeedbackView(view, .payloadSpecificFeedback, format: FullIntraRequest.format, "FIR")
        var entries: [Entry] = []
        entries.reserveCapacity(fb.fci.count / 8)
        try FullIntraRequest.forEachEntry(fci: fb.fci) { entries.append($0) }
        self.init(senderSSRC: fb.senderSSRC, mediaSSRC: fb.mediaSSRC, entries: entries)
    }

    public func serialize(into out: inout [UInt8]) {
        RTCPHeader.writeFeedback(.payloadSpecificFeedback, format: FullIntraRequest.format, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, into: &out) { out in
            for entry in entries {
                out.appendBE32(entry.ssrc)
                out.append(entry.sequenceNumber)
                out.appendBE24(0)
            }
        }
    }
}
