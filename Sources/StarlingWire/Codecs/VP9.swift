/// The VP9 payload descriptor at the start of every VP9 RTP payload (RFC 9628 §4.2), apart from the
/// content of its scalability structure (`VP9ScalabilityStructure`):
///
///          0 1 2 3 4 5 6 7
///         +-+-+-+-+-+-+-+-+
///         |I|P|L|F|B|E|V|Z| (REQUIRED)
///         +-+-+-+-+-+-+-+-+
///    I:   |M| PICTURE ID  | (REQUIRED in flexible mode)
///         +-+-+-+-+-+-+-+-+
///    M:   | EXTENDED PID  | (RECOMMENDED)
///         +-+-+-+-+-+-+-+-+
///    L:   | TID |U| SID |D| (Conditionally RECOMMENDED)
///         +-+-+-+-+-+-+-+-+
///         |   TL0PICIDX   | (non-flexible mode only, with L)
///         +-+-+-+-+-+-+-+-+                             -\
///   P,F:  | P_DIFF      |N| (flexible mode only, with P)  - up to 3 times
///         +-+-+-+-+-+-+-+-+                             -/
///    V:   | SS            |
///         | ..            |
///         +-+-+-+-+-+-+-+-+
///
/// This type never allocates. `VP9Payload` reads it from a payload, skipping the scalability structure;
/// `serialize(into:scalabilityStructure:)` writes it back.
public struct VP9PayloadDescriptor: Hashable, Sendable {
    /// P: the frame uses inter-picture prediction.
    public var isInterPicturePredicted: Bool
    /// F: flexible mode (reference indices in the descriptor) rather than non-flexible mode.
    public var isFlexibleMode: Bool
    /// B: the packet starts a layer frame.
    public var isStartOfLayerFrame: Bool
    /// E: the packet ends a layer frame.
    public var isEndOfLayerFrame: Bool
    /// V: a scalability structure follows the other fields.
    public var hasScalabilityStructure: Bool
    /// Z: the frame is not used for inter-layer prediction by upper spatial layers.
    public var isNotReferenceForUpperSpatialLayers: Bool
    /// I: the picture ID, 7 or 15 bits.
    public var pictureID: PictureID?
    /// L: the layer indices.
    public var layerIndices: VP9LayerIndices?
    /// TL0PICIDX: present exactly in non-flexible mode with layer indices (written as 0 there when nil).
    public var tl0PicIdx: UInt8?
    /// The P_DIFFs: present exactly in flexible mode with P = 1, where at least one is required.
    public var referenceDiffs: VP9ReferenceDiffs

    public init(
        isInterPicturePredicted: Bool, isFlexibleMode: Bool = false, isStartOfLayerFrame: Bool,
        isEndOfLayerFrame: Bool, hasScalabilityStructure: Bool = false,
        isNotReferenceForUpperSpatialLayers: Bool = false, pictureID: PictureID? = nil,
        layerIndices: VP9LayerIndices? = nil, tl0PicIdx: UInt8? = nil, referenceDiffs: VP9ReferenceDiffs = VP9ReferenceDiffs()
    ) {
        self.isInterPicturePredicted = isInterPicturePredicted
        self.isFlexibleMode = isFlexibleMode
        self.isStartOfLayerFrame = isStartOfLayerFrame
        self.isEndOfLayerFrame = isEndOfLayerFrame
        self.hasScalabilityStructure = hasScalabilityStructure
        self.isNotReferenceForUpperSpatialLayers = isNotReferenceForUpperSpatialLayers
        self.pictureID = pictureID
        self.layerIndices = layerIndices
        self.tl0PicIdx = tl0PicIdx
        self.referenceDiffs = referenceDiffs
    }

    /// The packet starts a key frame: P = 0 (no inter-picture prediction), B = 1 (start of a layer frame)
    /// and SID = 0 (or no layer indices, so a single spatial layer). A picture whose base spatial layer frame
    /// is intra-coded can be decoded from scratch (RFC 9628 §4.2, the P and B bits; upper spatial layers with
    /// P = 0 still depend on the layers below through D). mediasoup and libwebrtc use the same rule.
    @inlinable
    public var isKeyFrame: Bool {
        !isInterPicturePredicted && isStartOfLayerFrame && (layerIndices?.spatialID ?? 0) == 0
    }

    /// The serialized length of every field before the scalability structure.
    public var encodedLengthBeforeScalabilityStructure: Int {
        var n = 1 + (pictureID?.encodedLength ?? 0)
        if layerIndices != nil { n += isFlexibleMode ? 1 : 2 }
        if isFlexibleMode && isInterPicturePredicted { n += max(1, referenceDiffs.count) }
        return n
    }

    /// Appends the descriptor. The V bit is written from `hasScalabilityStructure`, and the structure's
    /// octets follow when one is given (pass one exactly when `hasScalabilityStructure` is set).
    public func serialize(into out: inout [UInt8], scalabilityStructure: VP9ScalabilityStructure? = nil) {
        var first: UInt8 = 0
        if pictureID != nil { first |= 0x80 }
        if isInterPicturePredicted { first |= 0x40 }
        if layerIndices != nil { first |= 0x20 }
        if isFlexibleMode { first |= 0x10 }
        if isStartOfLayerFrame { first |= 0x08 }
        if isEndOfLayerFrame { first |= 0x04 }
        if hasScalabilityStructure { first |= 0x02 }
        if isNotReferenceForUpperSpatialLayers { first |= 0x01 }
        out.append(first)
        pictureID?.serialize(into: &out)
        if let layerIndices {
            out.append(layerIndices.encoded)
            if !isFlexibleMode { out.append(tl0PicIdx ?? 0) }
        }
        if isFlexibleMode && isInterPicturePredicted {
            let n = referenceDiffs.count
            if n == 0 { out.append(0) }  // invalid value; a P_DIFF is required here
            for i in 0..<n {
                out.append(referenceDiffs[i] << 1 | (i + 1 < n ? 1 : 0))
            }
        }
        if hasScalabilityStructure { scalabilityStructure?.serialize(into: &out) }
    }
}

/// The L octet of the VP9 payload descriptor (RFC 9628 §4.2): | TID |U| SID |D|.
public struct VP9LayerIndices: Hashable, Sendable {
    /// TID: the temporal layer (3 bits).
    public var temporalID: UInt8
    /// U: switching up point, to a higher temporal layer from this frame on.
    public var isSwitchingUpPoint: Bool
    /// SID: the spatial layer (3 bits).
    public var spatialID: UInt8
    /// D: the frame depends on the frame of the spatial layer below in the same picture (inter-layer
    /// prediction).
    public var isInterLayerPredicted: Bool

    public init(temporalID: UInt8, isSwitchingUpPoint: Bool = false, spatialID: UInt8, isInterLayerPredicted: Bool = false) {
        self.temporalID = temporalID & 0x07
        self.isSwitchingUpPoint = isSwitchingUpPoint
        self.spatialID = spatialID & 0x07
        self.isInterLayerPredicted = isInterLayerPredicted
    }

    @inlinable
    init(encoded b: UInt8) {
        temporalID = b >> 5
        isSwitchingUpPoint = b & 0x10 != 0
        spatialID = (b >> 1) & 0x07
        isInterLayerPredicted = b & 0x01 != 0
    }

    var encoded: UInt8 {
        (temporalID & 0x07) << 5 | (isSwitchingUpPoint ? 0x10 : 0) | (spatialID & 0x07) << 1 | (isInterLayerPredicted ? 1 : 0)
    }
}

/// Up to three reference picture differences (P_DIFF), stored inline so reading them never allocates.
/// Used for the descriptor's 7-bit P_DIFFs (RFC 9628 §4.2) and the picture group's 8-bit ones (§4.2.1).
public typealias VP9ReferenceDiffs = InlineList<3, UInt8>

/// What the forwarding path reads from a VP9 RTP payload, without allocating: the descriptor, where its
/// scalability structure lies (read it on demand with `scalabilityStructure(in:)`), and where the VP9 data
/// starts.
public struct VP9Payload: Hashable, Sendable {
    public var descriptor: VP9PayloadDescriptor
    /// The octets of the scalability structure within the parsed payload, when V = 1.
    public var scalabilityStructureRange: Range<Int>?
    /// The descriptor's length, scalability structure included: the offset of the VP9 data.
    public var descriptorLength: Int

    @inlinable public var isKeyFrame: Bool { descriptor.isKeyFrame }

    /// Parses the descriptor at the start of `payload`, walking the scalability structure (to find its end
    /// and check it is complete) without storing it.
    public init(parsing payload: UnsafeRawBufferPointer) throws(WireError) {
        var r = ByteReader(payload, proto: .vp9)
        let first = try r.u8("payload descriptor")
        var d = VP9PayloadDescriptor(
            isInterPicturePredicted: first & 0x40 != 0, isFlexibleMode: first & 0x10 != 0,
            isStartOfLayerFrame: first & 0x08 != 0, isEndOfLayerFrame: first & 0x04 != 0,
            hasScalabilityStructure: first & 0x02 != 0, isNotReferenceForUpperSpatialLayers: first & 0x01 != 0)
        if first & 0x80 != 0 {
            d.pictureID = try PictureID.parse(&r, "PICTURE ID")
        }
        if first & 0x20 != 0 {
            d.layerIndices = VP9LayerIndices(encoded: try r.u8("TID/U/SID/D"))
            if !d.isFlexibleMode { d.tl0PicIdx = try r.u8("TL0PICIDX") }
        }
        if d.isFlexibleMode && d.isInterPicturePredicted {
            while true {
                let b = try r.u8("P_DIFF")
                d.referenceDiffs.append(b >> 1)
                if b & 0x01 == 0 { break }
                if d.referenceDiffs.count == 3 {
                    throw WireError.invalid(.vp9, "P_DIFF", "N set on the third reference index")
                }
            }
        }
        if d.hasScalabilityStructure {
            let start = r.offset
            try VP9ScalabilityStructure.skip(&r)
            scalabilityStructureRange = start..<r.offset
        } else {
            scalabilityStructureRange = nil
        }
        descriptor = d
        descriptorLength = r.offset
    }

    /// The scalability structure, read (allocating) from the payload this value was parsed from.
    public func scalabilityStructure(in payload: UnsafeRawBufferPointer) throws(WireError) -> VP9ScalabilityStructure? {
        guard let range = scalabilityStructureRange else { return nil }
        guard range.upperBound <= payload.count else {
            throw WireError.truncated(.vp9, "SS", needed: range.upperBound, available: payload.count)
        }
        return try VP9ScalabilityStructure(parsing: UnsafeRawBufferPointer(rebasing: payload[range]))
    }
}

/// The scalability structure (SS) of the VP9 payload descriptor (RFC 9628 §4.2.1), sent with V = 1,
/// typically on the first packet of a key picture:
///
///         +-+-+-+-+-+-+-+-+
///    V:   | N_S |Y|G|-|-|-|
///         +-+-+-+-+-+-+-+-+              -\
///    Y:   |     WIDTH     | (16 bits)     . N_S + 1 times
///         |     HEIGHT    | (16 bits)     .
///         +-+-+-+-+-+-+-+-+              -/
///    G:   |      N_G      |
///         +-+-+-+-+-+-+-+-+                           -\
///    N_G: |  TID  |U| R |-|-|                          . N_G times
///         +-+-+-+-+-+-+-+-+              -\           .
///         |    P_DIFF     |               . R times   .
///         +-+-+-+-+-+-+-+-+              -/          -/
///
/// It allocates (two arrays); `VP9Payload` skips it on the forwarding path.
public struct VP9ScalabilityStructure: WireCodable, Hashable {
    /// N_S + 1: the number of spatial layers (1...8).
    public var spatialLayerCount: Int
    /// Y: the resolution of each spatial layer, lowest first (`spatialLayerCount` entries).
    public var resolutions: [VP9Resolution]?
    /// G: the picture group description (N_G entries, at most 255).
    public var pictureGroup: [VP9PictureGroupEntry]?

    public init(spatialLayerCount: Int, resolutions: [VP9Resolution]? = nil, pictureGroup: [VP9PictureGroupEntry]? = nil) {
        self.spatialLayerCount = spatialLayerCount
        self.resolutions = resolutions
        self.pictureGroup = pictureGroup
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        var r = ByteReader(bytes, proto: .vp9)
        try self.init(reading: &r)
        if !r.isAtEnd {
            throw WireError.invalid(.vp9, "SS", "\(r.remaining) octets after the scalability structure")
        }
    }

    init(reading r: inout ByteReader) throws(WireError) {
        let head = try r.u8("SS N_S/Y/G")
        spatialLayerCount = Int(head >> 5) + 1
        if head & 0x10 != 0 {
            try r.require(4 * spatialLayerCount, "SS WIDTH/HEIGHT")
            var res: [VP9Resolution] = []
            res.reserveCapacity(spatialLayerCount)
            for _ in 0..<spatialLayerCount {
                res.append(VP9Resolution(width: try r.u16("SS WIDTH"), height: try r.u16("SS HEIGHT")))
            }
            resolutions = res
        } else {
            resolutions = nil
        }
        if head & 0x08 != 0 {
            let count = Int(try r.u8("SS N_G"))
            var group: [VP9PictureGroupEntry] = []
            group.reserveCapacity(count)
            for _ in 0..<count {
                let b = try r.u8("SS TID/U/R")
                var diffs = VP9ReferenceDiffs()
                for _ in 0..<Int((b >> 2) & 0x03) { diffs.append(try r.u8("SS P_DIFF")) }
                group.append(VP9PictureGroupEntry(temporalID: b >> 5, isSwitchingUpPoint: b & 0x10 != 0, referenceDiffs: diffs))
            }
            pictureGroup = group
        } else {
            pictureGroup = nil
        }
    }

    /// Steps over a scalability structure without storing it.
    @usableFromInline
    static func skip(_ r: inout ByteReader) throws(WireError) {
        let head = try r.u8("SS N_S/Y/G")
        if head & 0x10 != 0 { try r.skip(4 * (Int(head >> 5) + 1), "SS WIDTH/HEIGHT") }
        if head & 0x08 != 0 {
            let count = Int(try r.u8("SS N_G"))
            for _ in 0..<count {
                let b = try r.u8("SS TID/U/R")
                try r.skip(Int((b >> 2) & 0x03), "SS P_DIFF")
            }
        }
    }

    /// `spatialLayerCount` is clamped to 1...8; `resolutions` is written for exactly that many layers
    /// (missing ones as 0x0) and at most 255 picture group entries are written.
    public func serialize(into out: inout [UInt8]) {
        let layers = min(max(spatialLayerCount, 1), 8)
        out.append(UInt8(layers - 1) << 5 | (resolutions != nil ? 0x10 : 0) | (pictureGroup != nil ? 0x08 : 0))
        if let resolutions {
            for i in 0..<layers {
                let res = i < resolutions.count ? resolutions[i] : VP9Resolution(width: 0, height: 0)
                out.appendBE16(res.width)
                out.appendBE16(res.height)
            }
        }
        if let pictureGroup {
            let entries = pictureGroup.prefix(255)
            out.append(UInt8(entries.count))
            for e in entries {
                out.append((e.temporalID & 0x07) << 5 | (e.isSwitchingUpPoint ? 0x10 : 0) | UInt8(e.referenceDiffs.count) << 2)
                out.append(contentsOf: e.referenceDiffs)
            }
        }
    }
}

/// One spatial layer's resolution in the scalability structure (RFC 9628 §4.2.1).
public struct VP9Resolution: Hashable, Sendable {
    public var width: UInt16
    public var height: UInt16
    public init(width: UInt16, height: UInt16) {
        self.width = width
        self.height = height
    }
}

/// One picture of the picture group in the scalability structure (RFC 9628 §4.2.1).
public struct VP9PictureGroupEntry: Hashable, Sendable {
    /// TID: the picture's temporal layer (3 bits).
    public var temporalID: UInt8
    /// U: switching up point.
    public var isSwitchingUpPoint: Bool
    /// The R P_DIFFs (8 bits each, at most 3).
    public var referenceDiffs: VP9ReferenceDiffs

    public init(temporalID: UInt8, isSwitchingUpPoint: Bool = false, referenceDiffs: VP9ReferenceDiffs = VP9ReferenceDiffs()) {
        self.temporalID = temporalID & 0x07
        self.isSwitchingUpPoint = isSwitchingUpPoint
        self.referenceDiffs = referenceDiffs
    }
}
