/// PLI: picture loss indication, payload-specific feedback FMT 1 (RFC 4585 §6.3.1).
///
/// Has no FCI (length 2). FCI bytes some senders add anyway are ignored. Holds no arrays: parsing it
/// allocates nothing.
public struct PictureLossIndication: WireCodable, Hashable {
    /// FMT of PLI in PSFB.
    public static let format: UInt8 = 1

    /// SSRC of the packet sender.
    public var senderSSRC: UInt32
    /// SSRC of the media source that should send a keyframe.
    public var mediaSSRC: UInt32

    public init(senderSSRC: UInt32, mediaSSRC: UInt32) {
        self.senderSSRC = senderSSRC
        self.mediaSSRC = mediaSSRC
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed PLI.
    public init(view: RTCPPacketView) throws(WireError) {
        let fb = try RTCPFeedbackView(view, .payloadSpecificFeedback, format: PictureLossIndication.format, "PLI")
        self.init(senderSSRC: fb.senderSSRC, mediaSSRC: fb.mediaSSRC)
    }

    public func serialize(into out: inout [UInt8]) {
        RTCPHeader.writeFeedback(.payloadSpecificFeedback, format: PictureLossIndication.format, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, into: &out) { _ in }
    }
}
