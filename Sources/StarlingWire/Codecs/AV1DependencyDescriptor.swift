// The Dependency Descriptor RTP header extension: "RTP Payload Format for AV1", Appendix A
// (https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension).
// Section numbers below are those of Appendix A: A.8.2 syntax, A.8.3 semantics.

/// A Decode Target Indication: how a frame relates to one decode target (A.8.3, Table A.1).
public enum AV1DecodeTargetIndication: UInt8, Hashable, Sendable {
    /// No payload for this decode target is present.
    case notPresent = 0
    /// Present and discardable: no later frame of the decode target depends on it.
    case discardable = 1
    /// Present, and a switch to the decode target is possible from this frame.
    case switchIndication = 2
    /// Present, and neither discardable nor a switch point.
    case required = 3

    /// The DTI coded in the low two bits of `bits`.
    @inlinable
    public init(twoBits bits: UInt32) {
        switch bits & 0x03 {
        case 0: self = .notPresent
        case 1: self = .discardable
        case 2: self = .switchIndication
        default: self = .required
        }
    }
}

/// The DTIs of one frame or template for up to 32 decode targets, packed two bits each (never allocates).
public struct AV1DecodeTargetIndications: RandomAccessCollection, Hashable, Sendable {
    public static let capacity = 32
    /// DTI `i` in bits `2i` and `2i + 1`.
    public private(set) var packed: UInt64 = 0
    @usableFromInline var length: UInt8 = 0

    public init() {}

    /// Keeps the first 32 values.
    public init(_ values: some Sequence<AV1DecodeTargetIndication>) {
        for v in values where length < 32 { append(v) }
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { Int(length) }

    @inlinable
    public subscript(i: Int) -> AV1DecodeTargetIndication {
        precondition(i >= 0 && i < Int(length), "AV1DecodeTargetIndications index out of range")
        return AV1DecodeTargetIndication(twoBits: UInt32(truncatingIfNeeded: packed >> UInt64(2 * i)))
    }

    /// Appends `v`; returns false when already holding 32.
    @discardableResult
    public mutating func append(_ v: AV1DecodeTargetIndication) -> Bool {
        guard length < 32 else { return false }
        packed |= UInt64(v.rawValue) << UInt64(2 * Int(length))
        length += 1
        return true
    }
}

/// Frame differences (frame_number minus the Referred frame's): at most 8, stored inline. The syntax
/// allows any number; no codec references more than 7 frames, and more than 8 is reported as unsupported.
public typealias AV1FrameDiffs = InlineList<8, UInt16>
/// Chain differences (frame_chain_fdiff), one per chain: at most 32 (there are at most 32 decode targets
/// and so at most 32 chains).
public typealias AV1ChainDiffs = InlineList<32, UInt8>

/// The maximum render resolution of one spatial layer (A.8.3, max_render_width_minus_1 + 1, ...).
public struct AV1RenderResolution: Hashable, Sendable {
    /// 1...65536
    public var width: Int
    /// 1...65536
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// A frame dependency template (A.8.1): the information a frame refers to with
/// `frame_dependency_template_id` instead of sending it.
public struct AV1FrameDependencyTemplate: Hashable, Sendable {
    /// 0...3 (MAX_SPATIAL_ID)
    public var spatialID: UInt8
    /// 0...7 (MAX_TEMPORAL_ID)
    public var temporalID: UInt8
    /// template_dti: one per decode target.
    public var decodeTargetIndications: AV1DecodeTargetIndications
    /// TemplateFdiff: 1...16 each.
    public var frameDiffs: AV1FrameDiffs
    /// template_chain_fdiff: one per chain, 0...15 each.
    public var chainDiffs: AV1ChainDiffs

    public init(
        spatialID: UInt8, temporalID: UInt8, decodeTargetIndications: AV1DecodeTargetIndications,
        frameDiffs: AV1FrameDiffs = AV1FrameDiffs(), chainDiffs: AV1ChainDiffs = AV1ChainDiffs()
    ) {
        self.spatialID = spatialID
        self.temporalID = temporalID
        self.decodeTargetIndications = decodeTargetIndications
        self.frameDiffs = frameDiffs
        self.chainDiffs = chainDiffs
    }
}

/// The template dependency structure (A.8.2 `template_dependency_structure()`), sent on the first packet
/// of a coded video sequence and kept by receivers to interpret the packets that follow. Parsing it
/// allocates (at most 64 templates); it arrives with key frames only.
///
/// Templates are listed in the order the syntax allows: the first is spatial 0, temporal 0, and each next
/// one has the same layers, the temporal ID plus one, or the spatial ID plus one with temporal ID 0
/// (`next_layer_idc`, Table A.2). Serialization relies on that order.
public struct AV1TemplateDependencyStructure: Hashable, Sendable {
    /// template_id_offset: the frame_dependency_template_id of template 0 (0...63).
    public var templateIDOffset: UInt8
    /// DtCnt: 1...32.
    public var decodeTargetCount: Int
    /// 1...64 templates.
    public var templates: [AV1FrameDependencyTemplate]
    /// chain_cnt: 0...decodeTargetCount.
    public var chainCount: Int
    /// decode_target_protected_by: for each decode target, the chain protecting it; empty when there are
    /// no chains.
    public var decodeTargetProtectedBy: [UInt8]
    /// max_render_width/height_minus_1 + 1 for spatial layers 0...maxSpatialID, when present.
    public var renderResolutions: [AV1RenderResolution]?

    public init(
        templateIDOffset: UInt8, decodeTargetCount: Int, templates: [AV1FrameDependencyTemplate],
        chainCount: Int = 0, decodeTargetProtectedBy: [UInt8] = [], renderResolutions: [AV1RenderResolution]? = nil
    ) {
        self.templateIDOffset = templateIDOffset
        self.decodeTargetCount = decodeTargetCount
        self.templates = templates
        self.chainCount = chainCount
        self.decodeTargetProtectedBy = decodeTargetProtectedBy
        self.renderResolutions = renderResolutions
    }

    /// MaxSpatialId: the last template's spatial ID (spatial IDs never decrease through the list).
    public var maxSpatialID: UInt8 { templates.last?.spatialID ?? 0 }
    /// MaxTemporalId.
    public var maxTemporalID: UInt8 { templates.reduce(0) { max($0, $1.temporalID) } }

    /// The template a frame_dependency_template_id designates (A.8.2 `frame_dependency_definition()`), or nil
    /// when it is outside this structure (A.8.3: a newer structure may have been lost).
    @inlinable
    public func templateIndex(forTemplateID id: UInt8) -> Int? {
        let index = (Int(id & 0x3F) + 64 - Int(templateIDOffset & 0x3F)) % 64
        return index < templates.count ? index : nil
    }

    /// DecodeTargetSpatialId and DecodeTargetTemporalId (A.8.2 `decode_target_layers()`): the highest layers
    /// of the templates that belong to decode target `index`.
    public func decodeTargetLayer(_ index: Int) -> (spatialID: UInt8, temporalID: UInt8) {
        var s: UInt8 = 0
        var t: UInt8 = 0
        for template in templates where index < template.decodeTargetIndications.count {
            if template.decodeTargetIndications[index] != .notPresent {
                s = max(s, template.spatialID)
                t = max(t, template.temporalID)
            }
        }
        return (s, t)
    }

    init(reading r: inout BitReader) throws(WireError) {
        templateIDOffset = UInt8(try r.bits(6, "template_id_offset"))
        let dtCount = Int(try r.bits(5, "dt_cnt_minus_one")) + 1
        decodeTargetCount = dtCount

        // template_layers()
        var layers: [(spatial: UInt8, temporal: UInt8)] = []
        var spatial: UInt8 = 0
        var temporal: UInt8 = 0
        while true {
            if layers.count == 64 {
                throw WireError.invalid(.av1DependencyDescriptor, "next_layer_idc", "more than 64 templates")
            }
            layers.append((spatial, temporal))
            let idc = try r.bits(2, "next_layer_idc")
            if idc == 3 { break }
            if idc == 1 {
                temporal += 1
                if temporal > 7 {
                    throw WireError.invalid(.av1DependencyDescriptor, "next_layer_idc", "temporal ID above MAX_TEMPORAL_ID (7)")
                }
            } else if idc == 2 {
                temporal = 0
                spatial += 1
                if spatial > 3 {
                    throw WireError.invalid(.av1DependencyDescriptor, "next_layer_idc", "spatial ID above MAX_SPATIAL_ID (3)")
                }
            }
        }

        // template_dtis()
        var templates: [AV1FrameDependencyTemplate] = []
        templates.reserveCapacity(layers.count)
        for layer in layers {
            var dtis = AV1DecodeTargetIndications()
            for _ in 0..<dtCount {
                dtis.append(AV1DecodeTargetIndication(twoBits: try r.bits(2, "template_dti")))
            }
            templates.append(AV1FrameDependencyTemplate(spatialID: layer.spatial, temporalID: layer.temporal, decodeTargetIndications: dtis))
        }

        // template_fdiffs()
        for i in templates.indices {
            while try r.bit("fdiff_follows_flag") {
                let fdiff = UInt16(try r.bits(4, "fdiff_minus_one")) + 1
                if !templates[i].frameDiffs.append(fdiff) {
                    throw WireError.unsupported(.av1DependencyDescriptor, "fdiff_minus_one", "more than 8 frame differences")
                }
            }
        }

        // template_chains()
        chainCount = Int(try r.nonSymmetric(UInt32(dtCount + 1), "chain_cnt"))
        decodeTargetProtectedBy = []
        if chainCount > 0 {
            decodeTargetProtectedBy.reserveCapacity(dtCount)
            for _ in 0..<dtCount {
                decodeTargetProtectedBy.append(UInt8(try r.nonSymmetric(UInt32(chainCount), "decode_target_protected_by")))
            }
            for i in templates.indices {
                for _ in 0..<chainCount {
                    templates[i].chainDiffs.append(UInt8(try r.bits(4, "template_chain_fdiff")))
                }
            }
        }
        self.templates = templates

        // decode_target_layers() is derived: see decodeTargetLayer(_:).
        if try r.bit("resolutions_present_flag") {
            var resolutions: [AV1RenderResolution] = []
            for _ in 0...Int(spatial) {
                let w = Int(try r.bits(16, "max_render_width_minus_1")) + 1
                let h = Int(try r.bits(16, "max_render_height_minus_1")) + 1
                resolutions.append(AV1RenderResolution(width: w, height: h))
            }
            renderResolutions = resolutions
        } else {
            renderResolutions = nil
        }
    }

    /// Out-of-range values are clamped or padded with zeros rather than trapping: counts to their ranges,
    /// missing DTIs and chain differences as 0, frame differences to 1...16, resolutions to 1...65536.
    func write(to w: inout BitWriter) {
        let dtCount = min(max(decodeTargetCount, 1), 32)
        let chains = min(max(chainCount, 0), dtCount)
        let list = templates.isEmpty
            ? [AV1FrameDependencyTemplate(spatialID: 0, temporalID: 0, decodeTargetIndications: AV1DecodeTargetIndications())]
            : Array(templates.prefix(64))
        w.write(UInt32(templateIDOffset & 0x3F), bits: 6)
        w.write(UInt32(dtCount - 1), bits: 5)
        for i in list.indices {
            if i + 1 == list.count {
                w.write(3, bits: 2)
            } else if list[i + 1].spatialID != list[i].spatialID {
                w.write(2, bits: 2)
            } else if list[i + 1].temporalID != list[i].temporalID {
                w.write(1, bits: 2)
            } else {
                w.write(0, bits: 2)
            }
        }
        for t in list {
            for d in 0..<dtCount {
                w.write(UInt32(d < t.decodeTargetIndications.count ? t.decodeTargetIndications[d].rawValue : 0), bits: 2)
            }
        }
        for t in list {
            for fdiff in t.frameDiffs {
                w.write(true)
                w.write(UInt32(min(max(fdiff, 1), 16) - 1), bits: 4)
            }
            w.write(false)
        }
        w.writeNonSymmetric(UInt32(chains), UInt32(dtCount + 1))
        if chains > 0 {
            for d in 0..<dtCount {
                w.writeNonSymmetric(UInt32(d < decodeTargetProtectedBy.count ? decodeTargetProtectedBy[d] : 0), UInt32(chains))
            }
            for t in list {
                for c in 0..<chains {
                    w.write(UInt32(c < t.chainDiffs.count ? t.chainDiffs[c] & 0x0F : 0), bits: 4)
                }
            }
        }
        w.write(renderResolutions != nil)
        if let renderResolutions {
            for s in 0...Int(list.last?.spatialID ?? 0) {
                let res = s < renderResolutions.count ? renderResolutions[s] : AV1RenderResolution(width: 1, height: 1)
                w.write(UInt32(min(max(res.width, 1), 65536) - 1), bits: 16)
                w.write(UInt32(min(max(res.height, 1), 65536) - 1), bits: 16)
            }
        }
    }
}

/// What a frame's dependency descriptor says once its template is applied (A.8.2
/// `frame_dependency_definition()`): its layers, DTIs, Referred frames and chains.
public struct AV1FrameDependency: Hashable, Sendable {
    /// FrameSpatialId
    public var spatialID: UInt8
    /// FrameTemporalId
    public var temporalID: UInt8
    /// frame_dti: one per decode target.
    public var decodeTargetIndications: AV1DecodeTargetIndications
    /// FrameFdiff: the Referred frames are frame_number minus each (modulo 2^16).
    public var frameDiffs: AV1FrameDiffs
    /// frame_chain_fdiff: one per chain; 0 means the chain needs no earlier frame.
    public var chainDiffs: AV1ChainDiffs
    /// FrameMaxWidth / FrameMaxHeight, when the structure has resolutions.
    public var renderResolution: AV1RenderResolution?
}

/// The Dependency Descriptor RTP header extension (A.8.2 `dependency_descriptor(sz)`), the extension's
/// octets without the RTP extension element header:
///
/// - the mandatory fields (3 octets) are always present;
/// - when the extension is longer than 3 octets, five flags follow, then the template dependency
///   structure, active_decode_targets_bitmask, frame_dtis, frame_fdiffs and frame_chain_fdiff when flagged;
/// - zero padding fills the last octet (ignored on receipt).
///
/// The widths of active_decode_targets_bitmask, frame_dtis and frame_chain_fdiff come from the template
/// dependency structure: the one in the same descriptor, or else the latest one received, which the
/// caller keeps and passes in. Parsing allocates only when the descriptor carries a structure.
public struct AV1DependencyDescriptor: Hashable, Sendable {
    public var startOfFrame: Bool
    public var endOfFrame: Bool
    /// 0...63
    public var frameDependencyTemplateID: UInt8
    public var frameNumber: UInt16
    /// Present on the first packet of a coded video sequence (template_dependency_structure_present_flag).
    public var templateDependencyStructure: AV1TemplateDependencyStructure?
    /// Bit i: decode target i is available (active_decode_targets_present_flag). When absent and a
    /// structure is present, every decode target is active.
    public var activeDecodeTargetsBitmask: UInt32?
    /// frame_dtis (custom_dtis_flag), overriding the template's.
    public var customDecodeTargetIndications: AV1DecodeTargetIndications?
    /// frame_fdiffs (custom_fdiffs_flag), 1...4096 each, overriding the template's.
    public var customFrameDiffs: AV1FrameDiffs?
    /// frame_chain_fdiff (custom_chains_flag), overriding the template's.
    public var customChainDiffs: AV1ChainDiffs?

    /// The `field` of the `WireError` thrown when the descriptor needs a template dependency structure
    /// and none was given: the caller should request a key frame.
    public static let missingStructureField = "template_dependency_structure"

    public init(
        startOfFrame: Bool, endOfFrame: Bool, frameDependencyTemplateID: UInt8, frameNumber: UInt16,
        templateDependencyStructure: AV1TemplateDependencyStructure? = nil, activeDecodeTargetsBitmask: UInt32? = nil,
        customDecodeTargetIndications: AV1DecodeTargetIndications? = nil, customFrameDiffs: AV1FrameDiffs? = nil,
        customChainDiffs: AV1ChainDiffs? = nil
    ) {
        self.startOfFrame = startOfFrame
        self.endOfFrame = endOfFrame
        self.frameDependencyTemplateID = frameDependencyTemplateID & 0x3F
        self.frameNumber = frameNumber
        self.templateDependencyStructure = templateDependencyStructure
        self.activeDecodeTargetsBitmask = activeDecodeTargetsBitmask
        self.customDecodeTargetIndications = customDecodeTargetIndications
        self.customFrameDiffs = customFrameDiffs
        self.customChainDiffs = customChainDiffs
    }

    /// Whether serialization writes the extended fields (the descriptor is then longer than 3 octets).
    public var hasExtendedFields: Bool {
        templateDependencyStructure != nil || activeDecodeTargetsBitmask != nil || customDecodeTargetIndications != nil
            || customFrameDiffs != nil || customChainDiffs != nil
    }

    /// Parses the extension's octets. `structure` is the latest template dependency structure received
    /// (ignored when this descriptor carries its own); it is needed only when the descriptor has an
    /// active_decode_targets_bitmask, frame_dtis or frame_chain_fdiff, and its absence then throws a
    /// `WireError` with field `missingStructureField`. Throws, never traps, on short or malformed input.
    public init(parsing bytes: UnsafeRawBufferPointer, structure: AV1TemplateDependencyStructure?) throws(WireError) {
        var r = BitReader(bytes, proto: .av1DependencyDescriptor)
        startOfFrame = try r.bit("start_of_frame")
        endOfFrame = try r.bit("end_of_frame")
        frameDependencyTemplateID = UInt8(try r.bits(6, "frame_dependency_template_id"))
        frameNumber = UInt16(try r.bits(16, "frame_number"))
        templateDependencyStructure = nil
        activeDecodeTargetsBitmask = nil
        customDecodeTargetIndications = nil
        customFrameDiffs = nil
        customChainDiffs = nil
        guard bytes.count > 3 else { return }  // no_extended_descriptor_fields()

        let structurePresent = try r.bit("template_dependency_structure_present_flag")
        let activePresent = try r.bit("active_decode_targets_present_flag")
        let customDTIs = try r.bit("custom_dtis_flag")
        let customFdiffs = try r.bit("custom_fdiffs_flag")
        let customChains = try r.bit("custom_chains_flag")
        if structurePresent {
            templateDependencyStructure = try AV1TemplateDependencyStructure(reading: &r)
        }
        let dtCount: Int
        let chainCount: Int
        if let s = templateDependencyStructure ?? structure {
            dtCount = min(max(s.decodeTargetCount, 1), 32)
            chainCount = min(max(s.chainCount, 0), dtCount)
        } else if activePresent || customDTIs || customChains {
            throw WireError.unsupported(
                .av1DependencyDescriptor, Self.missingStructureField, "needed to read this descriptor, none received yet")
        } else {
            dtCount = 0
            chainCount = 0
        }
        if activePresent {
            activeDecodeTargetsBitmask = try r.bits(dtCount, "active_decode_targets_bitmask")
        }
        // frame_dependency_definition(): the template index is checked by frameDependency(structure:).
        if customDTIs {
            var dtis = AV1DecodeTargetIndications()
            for _ in 0..<dtCount {
                dtis.append(AV1DecodeTargetIndication(twoBits: try r.bits(2, "frame_dti")))
            }
            customDecodeTargetIndications = dtis
        }
        if customFdiffs {
            var fdiffs = AV1FrameDiffs()
            var size = try r.bits(2, "next_fdiff_size")
            while size != 0 {
                let fdiff = UInt16(try r.bits(4 * Int(size), "fdiff_minus_one")) + 1
                if !fdiffs.append(fdiff) {
                    throw WireError.unsupported(.av1DependencyDescriptor, "fdiff_minus_one", "more than 8 frame differences")
                }
                size = try r.bits(2, "next_fdiff_size")
            }
            customFrameDiffs = fdiffs
        }
        if customChains {
            var chains = AV1ChainDiffs()
            for _ in 0..<chainCount {
                chains.append(UInt8(try r.bits(8, "frame_chain_fdiff")))
            }
            customChainDiffs = chains
        }
        // zero_padding: ignored (A.8.3).
    }

    /// Parses an extension known to carry its own structure or no field that needs one.
    public init(parsing array: [UInt8], structure: AV1TemplateDependencyStructure? = nil) throws(WireError) {
        self = try withWireBytes(array) { (bytes) throws(WireError) -> Self in try Self(parsing: bytes, structure: structure) }
    }

    /// Applies the template (from this descriptor's structure, or else `structure`) and the custom fields.
    /// Never allocates. Throws when no structure is known, or when frame_dependency_template_id is outside
    /// it (A.8.3: the packet carrying a newer structure was probably lost; request a key frame).
    public func frameDependency(structure: AV1TemplateDependencyStructure?) throws(WireError) -> AV1FrameDependency {
        guard let s = templateDependencyStructure ?? structure else {
            throw WireError.unsupported(.av1DependencyDescriptor, Self.missingStructureField, "none received yet")
        }
        guard let index = s.templateIndex(forTemplateID: frameDependencyTemplateID) else {
            throw WireError.invalid(
                .av1DependencyDescriptor, "frame_dependency_template_id", "outside the current template dependency structure")
        }
        let t = s.templates[index]
        var resolution: AV1RenderResolution?
        if let resolutions = s.renderResolutions, Int(t.spatialID) < resolutions.count {
            resolution = resolutions[Int(t.spatialID)]
        }
        return AV1FrameDependency(
            spatialID: t.spatialID, temporalID: t.temporalID,
            decodeTargetIndications: customDecodeTargetIndications ?? t.decodeTargetIndications,
            frameDiffs: customFrameDiffs ?? t.frameDiffs, chainDiffs: customChainDiffs ?? t.chainDiffs,
            renderResolution: resolution)
    }

    /// Appends the extension's octets. `structure` plays the same part as in parsing: it sizes the
    /// active_decode_targets_bitmask, frame_dtis and frame_chain_fdiff when this descriptor carries no
    /// structure; throws (leaving `out` unchanged) when one of those is set and no structure is given.
    /// Custom DTIs and chain differences are padded with zeros or cut to the structure's counts; frame
    /// differences are clamped to 1...4096 and written in the shortest next_fdiff_size.
    public func serialize(into out: inout [UInt8], structure: AV1TemplateDependencyStructure?) throws(WireError) {
        var w = BitWriter()
        w.write(startOfFrame)
        w.write(endOfFrame)
        w.write(UInt32(frameDependencyTemplateID & 0x3F), bits: 6)
        w.write(UInt32(frameNumber), bits: 16)
        if hasExtendedFields {
            let s = templateDependencyStructure ?? structure
            let needsStructure = activeDecodeTargetsBitmask != nil || customDecodeTargetIndications != nil || customChainDiffs != nil
            if s == nil && needsStructure {
                throw WireError.unsupported(.av1DependencyDescriptor, Self.missingStructureField, "needed to write this descriptor")
            }
            let dtCount = s.map { min(max($0.decodeTargetCount, 1), 32) } ?? 0
            let chainCount = s.map { min(max($0.chainCount, 0), dtCount) } ?? 0
            w.write(templateDependencyStructure != nil)
            w.write(activeDecodeTargetsBitmask != nil)
            w.write(customDecodeTargetIndications != nil)
            w.write(customFrameDiffs != nil)
            w.write(customChainDiffs != nil)
            templateDependencyStructure?.write(to: &w)
            if let mask = activeDecodeTargetsBitmask {
                w.write(UInt32(truncatingIfNeeded: UInt64(mask) & ((1 << UInt64(dtCount)) - 1)), bits: dtCount)
            }
            if let dtis = customDecodeTargetIndications {
                for d in 0..<dtCount { w.write(UInt32(d < dtis.count ? dtis[d].rawValue : 0), bits: 2) }
            }
            if let fdiffs = customFrameDiffs {
                for fdiff in fdiffs {
                    let v = UInt32(min(max(fdiff, 1), 4096) - 1)
                    let size = v < 16 ? 1 : v < 256 ? 2 : 3
                    w.write(UInt32(size), bits: 2)
                    w.write(v, bits: 4 * size)
                }
                w.write(0, bits: 2)
            }
            if let chains = customChainDiffs {
                for c in 0..<chainCount { w.write(UInt32(c < chains.count ? chains[c] : 0), bits: 8) }
            }
        }
        out.append(contentsOf: w.bytes)
    }

    public func serialized(structure: AV1TemplateDependencyStructure? = nil) throws(WireError) -> [UInt8] {
        var out: [UInt8] = []
        try serialize(into: &out, structure: structure)
        return out
    }
}

extension AV1DependencyDescriptor {
    /// Only the mandatory fields (A.8.2 `mandatory_descriptor_fields()`): readable from every descriptor,
    /// whatever structure is known.
    public struct MandatoryFields: Hashable, Sendable {
        public var startOfFrame: Bool
        public var endOfFrame: Bool
        public var frameDependencyTemplateID: UInt8
        public var frameNumber: UInt16

        @inlinable
        public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
            var r = ByteReader(bytes, proto: .av1DependencyDescriptor)
            let first = try r.u8("frame_dependency_template_id")
            frameNumber = try r.u16("frame_number")
            startOfFrame = first & 0x80 != 0
            endOfFrame = first & 0x40 != 0
            frameDependencyTemplateID = first & 0x3F
        }
    }
}
