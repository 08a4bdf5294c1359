/// The VP8 payload descriptor at the start of every VP8 RTP payload (RFC 7741 §4.2):
///
///          0 1 2 3 4 5 6 7
///         +-+-+-+-+-+-+-+-+
///         |X|R|N|S|R| PID | (REQUIRED)
///         +-+-+-+-+-+-+-+-+
///    X:   |I|L|T|K| RSV   | (OPTIONAL)
///         +-+-+-+-+-+-+-+-+
///    I:   |M| PictureID   | (OPTIONAL)
///         +-+-+-+-+-+-+-+-+
///    M:   |   PictureID   | (when M = 1)
///         +-+-+-+-+-+-+-+-+
///    L:   |   TL0PICIDX   | (OPTIONAL)
///         +-+-+-+-+-+-+-+-+
///    T/K: |TID|Y| KEYIDX  | (OPTIONAL)
///         +-+-+-+-+-+-+-+-+
///
/// Reserved bits are ignored when parsing and written as zero. The X bit is not stored: serialization
/// sets it exactly when an optional field is present (so a received `X=1` with `I=L=T=K=0` is valid but
/// not canonical). Use `VP8Payload` on the forwarding path: it also reports the descriptor's length as
/// received.
public struct VP8PayloadDescriptor: WireCodable, Hashable {
    /// N: the frame can be discarded without affecting any other frame.
    public var isNonReference: Bool
    /// S: the first octet of the VP8 data is the start of a partition.
    public var isStartOfPartition: Bool
    /// PID: the partition index (3 bits).
    public var partitionIndex: UInt8
    /// I: the picture ID, 7 or 15 bits.
    public var pictureID: PictureID?
    /// L: TL0PICIDX, the running index of the temporal base layer frames.
    public var tl0PicIdx: UInt8?
    /// T: the temporal layer index and layer sync bit.
    public var temporalLayer: VP8TemporalLayer?
    /// K: KEYIDX, the temporal key frame index (5 bits), bumped on frames that change the state later
    /// frames depend on.
    public var keyIndex: UInt8?

    public init(
        isNonReference: Bool = false, isStartOfPartition: Bool, partitionIndex: UInt8 = 0,
        pictureID: PictureID? = nil, tl0PicIdx: UInt8? = nil, temporalLayer: VP8TemporalLayer? = nil,
        keyIndex: UInt8? = nil
    ) {
        self.isNonReference = isNonReference
        self.isStartOfPartition = isStartOfPartition
        self.partitionIndex = partitionIndex & 0x07
        self.pictureID = pictureID
        self.tl0PicIdx = tl0PicIdx
        self.temporalLayer = temporalLayer
        self.keyIndex = keyIndex.map { $0 & 0x1F }
    }

    /// Whether the descriptor carries the extension octet (the X bit as serialized).
    public var hasExtension: Bool {
        pictureID != nil || tl0PicIdx != nil || temporalLayer != nil || keyIndex != nil
    }

    /// The serialized length in octets.
    public var encodedLength: Int {
        guard hasExtension else { return 1 }
        return 2 + (pictureID?.encodedLength ?? 0) + (tl0PicIdx == nil ? 0 : 1)
            + (temporalLayer == nil && keyIndex == nil ? 0 : 1)
    }

    /// Parses exactly one descriptor: trailing octets are an error (use `VP8Payload` for a whole payload).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        let layout = try VP8DescriptorLayout(bytes)
        if layout.length != bytes.count {
            throw WireError.invalid(.vp8, "payload descriptor", "\(bytes.count - layout.length) octets after it")
        }
        self.init(layout: layout, bytes)
    }

    /// Reads the descriptor at the start of `payload` (which continues with VP8 data).
    @inlinable
    public init(parsingPrefixOf payload: UnsafeRawBufferPointer) throws(WireError) {
        self.init(layout: try VP8DescriptorLayout(payload), payload)
    }

    @inlinable
    init(layout: VP8DescriptorLayout, _ bytes: UnsafeRawBufferPointer) {
        let first = bytes[0]
        isNonReference = first & 0x20 != 0
        isStartOfPartition = first & 0x10 != 0
        partitionIndex = first & 0x07
        if let at = layout.pictureIDOffset {
            pictureID = layout.pictureIDIsLong
                ? PictureID(UInt16(bytes[at] & 0x7F) << 8 | UInt16(bytes[at + 1]), isLong: true)
                : PictureID(UInt16(bytes[at]), isLong: false)
        } else {
            pictureID = nil
        }
        tl0PicIdx = layout.tl0PicIdxOffset.map { bytes[$0] }
        let tk = layout.tidKeyIdxOffset.map { bytes[$0] } ?? 0
        temporalLayer = layout.hasTID ? VP8TemporalLayer(id: tk >> 6, isLayerSync: tk & 0x20 != 0) : nil
        keyIndex = layout.hasKeyIdx ? tk & 0x1F : nil
    }

    public func serialize(into out: inout [UInt8]) {
        let x = hasExtension
        out.append((x ? 0x80 : 0) | (isNonReference ? 0x20 : 0) | (isStartOfPartition ? 0x10 : 0) | partitionIndex & 0x07)
        guard x else { return }
        out.append(
            (pictureID != nil ? 0x80 : 0) | (tl0PicIdx != nil ? 0x40 : 0) | (temporalLayer != nil ? 0x20 : 0)
                | (keyIndex != nil ? 0x10 : 0))
        pictureID?.serialize(into: &out)
        if let tl0PicIdx { out.append(tl0PicIdx) }
        if temporalLayer != nil || keyIndex != nil {
            let tid = temporalLayer.map { ($0.id & 0x03) << 6 | ($0.isLayerSync ? 0x20 : 0) } ?? 0
            out.append(tid | (keyIndex ?? 0) & 0x1F)
        }
    }
}

/// The T fields of the VP8 payload descriptor (RFC 7741 §4.2).
public struct VP8TemporalLayer: Hashable, Sendable {
    /// TID: the temporal layer index (2 bits).
    public var id: UInt8
    /// Y: the frame depends only on temporal base layer frames (layer sync).
    public var isLayerSync: Bool

    public init(id: UInt8, isLayerSync: Bool = false) {
        self.id = id & 0x03
        self.isLayerSync = isLayerSync
    }
}

/// Where each optional field of a VP8 payload descriptor lies; shared by the parser and the in-place
/// rewriter so both apply the same bounds checks.
@usableFromInline
struct VP8DescriptorLayout {
    @usableFromInline var pictureIDOffset: Int?
    @usableFromInline var pictureIDIsLong = false
    @usableFromInline var tl0PicIdxOffset: Int?
    @usableFromInline var tidKeyIdxOffset: Int?
    @usableFromInline var hasTID = false
    @usableFromInline var hasKeyIdx = false
    @usableFromInline var length: Int

    @inlinable
    init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        var r = ByteReader(bytes, proto: .vp8)
        let first = try r.u8("payload descriptor")
        guard first & 0x80 != 0 else {
            length = 1
            return
        }
        let ext = try r.u8("extension octet (X)")
        if ext & 0x80 != 0 {
            pictureIDOffset = r.offset
            let m = try r.u8("PictureID")
            if m & 0x80 != 0 {
                pictureIDIsLong = true
                try r.skip(1, "PictureID")
            }
        }
        if ext & 0x40 != 0 {
            tl0PicIdxOffset = r.offset
            try r.skip(1, "TL0PICIDX")
        }
        hasTID = ext & 0x20 != 0
        hasKeyIdx = ext & 0x10 != 0
        if hasTID || hasKeyIdx {
            tidKeyIdxOffset = r.offset
            try r.skip(1, "TID/Y/KEYIDX")
        }
        length = r.offset
    }
}

/// The VP8 payload header's key frame fields (RFC 6386 §9.1): after the start code 9d 01 2a, the
/// 14-bit width and height, each with a 2-bit upscaling mode.
public struct VP8KeyFrameDimensions: Hashable, Sendable {
    public var width: UInt16
    public var horizontalScale: UInt8
    public var height: UInt16
    public var verticalScale: UInt8

    public init(width: UInt16, horizontalScale: UInt8 = 0, height: UInt16, verticalScale: UInt8 = 0) {
        self.width = width & 0x3FFF
        self.horizontalScale = horizontalScale & 0x03
        self.height = height & 0x3FFF
        self.verticalScale = verticalScale & 0x03
    }
}

/// What the forwarding path reads from a VP8 RTP payload, without allocating: the descriptor, where the
/// VP8 data starts, and whether the packet starts a key frame.
public struct VP8Payload: Hashable, Sendable {
    public var descriptor: VP8PayloadDescriptor
    /// The descriptor's length as received: the offset of the VP8 data in the payload.
    public var descriptorLength: Int
    /// The packet starts a key frame: S = 1, PID = 0, and the P bit (the low bit of the first VP8 payload
    /// header octet, "inverse key frame flag") is 0 (RFC 7741 §4.3, RFC 6386 §9.1).
    public var isKeyFrame: Bool
    /// The key frame's dimensions, when `isKeyFrame`, the 10-octet key frame header is in this packet and
    /// its start code 9d 01 2a is intact.
    public var keyFrameDimensions: VP8KeyFrameDimensions?

    public init(parsing payload: UnsafeRawBufferPointer) throws(WireError) {
        let layout = try VP8DescriptorLayout(payload)
        descriptor = VP8PayloadDescriptor(layout: layout, payload)
        descriptorLength = layout.length
        let at = layout.length
        isKeyFrame = descriptor.isStartOfPartition && descriptor.partitionIndex == 0
            && payload.count > at && payload[at] & 0x01 == 0
        keyFrameDimensions = nil
        // Frame tag (3 octets), start code (3), width (2, little endian), height (2): RFC 6386 §9.1.
        if isKeyFrame, payload.count - at >= 10,
            payload[at + 3] == 0x9D, payload[at + 4] == 0x01, payload[at + 5] == 0x2A
        {
            let w = UInt16(payload[at + 6]) | UInt16(payload[at + 7]) << 8
            let h = UInt16(payload[at + 8]) | UInt16(payload[at + 9]) << 8
            keyFrameDimensions = VP8KeyFrameDimensions(
                width: w & 0x3FFF, horizontalScale: UInt8(w >> 14), height: h & 0x3FFF, verticalScale: UInt8(h >> 14))
        }
    }
}

// MARK: - In-place rewriting on the forwarding path

extension VP8PayloadDescriptor {
    /// The fields `rewrite(_:pictureID:tl0PicIdx:keyIndex:)` wrote.
    public struct RewrittenFields: OptionSet, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let pictureID = RewrittenFields(rawValue: 1 << 0)
        public static let tl0PicIdx = RewrittenFields(rawValue: 1 << 1)
        public static let keyIndex = RewrittenFields(rawValue: 1 << 2)
        /// The picture ID field is the 7-bit form and the new value did not fit: its low 7 bits were written.
        public static let pictureIDTruncated = RewrittenFields(rawValue: 1 << 3)
    }

    /// Overwrites the picture ID, TL0PICIDX and KEYIDX of the descriptor at the start of `payload`, in place
    /// and without allocating (what an SFU does when it switches simulcast streams). The descriptor keeps
    /// its length and layout:
    /// - a field the descriptor does not carry is left absent (nothing is inserted), and a `nil` argument
    ///   leaves the field as it is;
    /// - a 15-bit picture ID field receives `pictureID` modulo 2^15; a 7-bit field receives it modulo 2^7
    ///   (reported as `.pictureIDTruncated` when it did not fit). Receivers compare picture IDs modulo the
    ///   field size, so a rewriter that keeps a continuous 15-bit sequence also yields a continuous 7-bit one;
    /// - KEYIDX keeps its 5 bits (modulo 32), and TID/Y beside it are preserved.
    ///
    /// Throws (writing nothing) when the descriptor is truncated.
    @discardableResult
    public static func rewrite(
        _ payload: UnsafeMutableRawBufferPointer, pictureID: UInt16? = nil, tl0PicIdx: UInt8? = nil,
        keyIndex: UInt8? = nil
    ) throws(WireError) -> RewrittenFields {
        let layout = try VP8DescriptorLayout(UnsafeRawBufferPointer(payload))
        var done: RewrittenFields = []
        if let pictureID, let at = layout.pictureIDOffset {
            if layout.pictureIDIsLong {
                payload[at] = 0x80 | UInt8(truncatingIfNeeded: pictureID >> 8) & 0x7F
                payload[at + 1] = UInt8(truncatingIfNeeded: pictureID)
            } else {
                payload[at] = UInt8(truncatingIfNeeded: pictureID) & 0x7F
                if pictureID > 0x7F { done.insert(.pictureIDTruncated) }
            }
            done.insert(.pictureID)
        }
        if let tl0PicIdx, let at = layout.tl0PicIdxOffset {
            payload[at] = tl0PicIdx
            done.insert(.tl0PicIdx)
        }
        if let keyIndex, layout.hasKeyIdx, let at = layout.tidKeyIdxOffset {
            payload[at] = payload[at] & 0xE0 | keyIndex & 0x1F
            done.insert(.keyIndex)
        }
        return done
    }
}
