/// Typed reads over an ordered attribute list; shared by the session and media levels because ICE,
/// DTLS and extmap attributes may appear at either (RFC 8839 §5, RFC 8842 §5, RFC 8285 §7).
public protocol SDPAttributeContainer {
    var attributes: [SDP.Attribute] { get set }
}

extension SDPAttributeContainer {
    public var iceUfrag: String? { attributes.lazy.compactMap { if case .iceUfrag(let v) = $0 { v } else { nil } }.first }
    public var icePwd: String? { attributes.lazy.compactMap { if case .icePwd(let v) = $0 { v } else { nil } }.first }
    public var iceOptions: [String] {
        attributes.flatMap { (a: SDP.Attribute) -> [String] in if case .iceOptions(let v) = a { v } else { [] } }
    }
    public var isICELite: Bool { attributes.contains(.iceLite) }
    public var fingerprints: [SDP.Fingerprint] { attributes.compactMap { if case .fingerprint(let v) = $0 { v } else { nil } } }
    public var setup: SDP.Setup? { attributes.lazy.compactMap { if case .setup(let v) = $0 { v } else { nil } }.first }
    public var candidates: [ICECandidate] { attributes.compactMap { if case .candidate(let v) = $0 { v } else { nil } } }
    public var hasEndOfCandidates: Bool { attributes.contains(.endOfCandidates) }
    public var extmaps: [SDP.ExtMap] { attributes.compactMap { if case .extmap(let v) = $0 { v } else { nil } } }
    public var extmapAllowMixed: Bool { attributes.contains(.extmapAllowMixed) }
    public var direction: SDP.Direction? {
        attributes.lazy.compactMap { if case .direction(let v) = $0 { v } else { nil } }.first
    }

    /// The id negotiated for header extension `uri` at this level (RFC 8285 §7).
    public func extmapID(for uri: String) -> UInt16? {
        extmaps.first { $0.uri == uri }?.id
    }

    /// Every `a=<name>` of an untyped attribute, e.g. `otherAttributes("rtcp-xr")`.
    public func otherAttributeValues(_ name: String) -> [String?] {
        attributes.compactMap { if case .other(name, let v) = $0 { .some(v) } else { nil } }
    }
}

extension SessionDescription {
    public var groups: [SDP.Group] { attributes.compactMap { if case .group(let v) = $0 { v } else { nil } } }

    /// The `a=group:BUNDLE` groups (RFC 8843 §7); JSEP peers send one.
    public var bundleGroups: [SDP.Group] { groups.filter { $0.semantics == .bundle } }

    /// The BUNDLE group `mid` belongs to, if any.
    public func bundleGroup(containing mid: String) -> SDP.Group? {
        bundleGroups.first { $0.mids.contains(mid) }
    }

    public var msidSemantic: SDP.MSIDSemantic? {
        attributes.lazy.compactMap { if case .msidSemantic(let v) = $0 { v } else { nil } }.first
    }

    /// The media section with `a=mid:<mid>`.
    public func media(mid: String) -> MediaDescription? { media.first { $0.mid == mid } }

    /// ICE credentials for a media section: its own, else the session-level ones (RFC 8839 §5.4).
    public func iceCredentials(for m: MediaDescription) -> (ufrag: String, pwd: String)? {
        guard let ufrag = m.iceUfrag ?? iceUfrag, let pwd = m.icePwd ?? icePwd else { return nil }
        return (ufrag, pwd)
    }

    /// DTLS fingerprints for a media section: its own, else the session-level ones (RFC 8122 §5).
    public func fingerprints(for m: MediaDescription) -> [SDP.Fingerprint] {
        let own = m.fingerprints
        return own.isEmpty ? fingerprints : own
    }

    /// The DTLS role offered or answered for a media section (RFC 8842 §5).
    public func setup(for m: MediaDescription) -> SDP.Setup? { m.setup ?? setup }
}

extension SDP {
    /// One RTP payload format of a media section: its `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines joined
    /// by payload type (RFC 8866 §6.6, §6.15; RFC 4585 §4.2).
    public struct Codec: Hashable, Sendable {
        public var payloadType: UInt8
        public var name: String
        public var clockRate: UInt32
        public var channels: UInt16?
        public var formatParameters: String?
        /// Includes `a=rtcp-fb:*` entries (their `payloadType` is nil).
        public var feedback: [RTCPFeedback]

        public init(
            payloadType: UInt8, name: String, clockRate: UInt32, channels: UInt16? = nil,
            formatParameters: String? = nil, feedback: [RTCPFeedback] = []
        ) {
            self.payloadType = payloadType
            self.name = name
            self.clockRate = clockRate
            self.channels = channels
            self.formatParameters = formatParameters
            self.feedback = feedback
        }

        /// `video/VP8`, `audio/opus`: the form `RTCRtpCodecParameters.mimeType` uses.
        public func mimeType(kind: MediaKind) -> String { "\(kind.rawValue)/\(name)" }

        public var isRTX: Bool { name.lowercased() == "rtx" }

        /// The parsed `a=fmtp` parameters.
        public var parameters: [FormatParameters.Parameter] {
            formatParameters.map { FormatParameters(payloadType: payloadType, rawParameters: $0).parameters } ?? []
        }

        /// The value of an `a=fmtp` parameter (e.g. `apt`, `profile-level-id`).
        public func parameter(_ key: String) -> String? {
            formatParameters.flatMap { FormatParameters(payloadType: payloadType, rawParameters: $0)[key] }
        }

        /// For RTX, the payload type it repairs (`apt=`, RFC 4588 §8.6).
        public var associatedPayloadType: UInt8? {
            formatParameters.flatMap { FormatParameters(payloadType: payloadType, rawParameters: $0).associatedPayloadType }
        }

        /// True when `feedback` has `type` [`subtype`], e.g. `hasFeedback("nack", "pli")`.
        public func hasFeedback(_ type: String, _ subtype: String? = nil) -> Bool {
            feedback.contains { $0.type == type && $0.subtype == subtype }
        }

        /// The attribute lines for this codec in the order Chromium writes them: rtpmap, rtcp-fb, fmtp.
        /// Wildcard feedback entries are written for this payload type.
        public var attributes: [Attribute] {
            var out: [Attribute] = [
                .rtpmap(RTPMap(payloadType: payloadType, encodingName: name, clockRate: clockRate, channels: channels))
            ]
            for f in feedback {
                out.append(.rtcpFeedback(RTCPFeedback(payloadType: payloadType, type: f.type, subtype: f.subtype)))
            }
            if let formatParameters {
                out.append(.fmtp(FormatParameters(payloadType: payloadType, rawParameters: formatParameters)))
            }
            return out
        }
    }
}

extension MediaDescription {
    public var mid: String? { attributes.lazy.compactMap { if case .mid(let v) = $0 { v } else { nil } }.first }

    /// The section's direction, `sendrecv` when none is written (RFC 8866 §6.7).
    public var effectiveDirection: SDP.Direction { direction ?? .sendrecv }

    /// `a=bundle-only` (RFC 8843 §6): the section has port 0 yet takes part in its BUNDLE group, on the
    /// transport of the group's tagged section.
    public var isBundleOnly: Bool { attributes.contains(.bundleOnly) }

    /// Port 0 marks a rejected (or stopped) section (RFC 8829 §5.3.1, RFC 3264 §6), unless it is
    /// bundle-only (RFC 8843 §6, §7.3.1).
    public var isRejected: Bool { port == 0 && !isBundleOnly }

    /// The formats as RTP payload types (non-numeric formats are skipped).
    public var payloadTypes: [UInt8] {
        formats.compactMap { SDPScan.decimal(SDPScan.bytes($0)).flatMap { (v: UInt8) in v <= 127 ? v : nil } }
    }

    public var rtpMaps: [SDP.RTPMap] { attributes.compactMap { if case .rtpmap(let v) = $0 { v } else { nil } } }
    public var formatParameters: [SDP.FormatParameters] {
        attributes.compactMap { if case .fmtp(let v) = $0 { v } else { nil } }
    }
    public var rtcpFeedback: [SDP.RTCPFeedback] {
        attributes.compactMap { if case .rtcpFeedback(let v) = $0 { v } else { nil } }
    }
    public var ssrcAttributes: [SDP.SSRCAttribute] { attributes.compactMap { if case .ssrc(let v) = $0 { v } else { nil } } }
    public var ssrcGroups: [SDP.SSRCGroup] { attributes.compactMap { if case .ssrcGroup(let v) = $0 { v } else { nil } } }
    public var rids: [SDP.RID] { attributes.compactMap { if case .rid(let v) = $0 { v } else { nil } } }
    public var simulcast: SDP.Simulcast? {
        attributes.lazy.compactMap { if case .simulcast(let v) = $0 { v } else { nil } }.first
    }
    public var msids: [SDP.MSID] { attributes.compactMap { if case .msid(let v) = $0 { v } else { nil } } }
    public var rtcpMux: Bool { attributes.contains(.rtcpMux) }
    public var rtcpRsize: Bool { attributes.contains(.rtcpRsize) }
    public var sctpPort: UInt16? { attributes.lazy.compactMap { if case .sctpPort(let v) = $0 { v } else { nil } }.first }
    /// `a=max-message-size` (RFC 8841 §6); absent means 64 KiB.
    public var maxMessageSize: UInt64? {
        attributes.lazy.compactMap { if case .maxMessageSize(let v) = $0 { v } else { nil } }.first
    }

    /// The payload formats with an `a=rtpmap`, in `m=` line order, each joined with its `a=fmtp` and
    /// `a=rtcp-fb` lines (and the `a=rtcp-fb:*` ones).
    public var codecs: [SDP.Codec] {
        var maps: [UInt8: SDP.RTPMap] = [:]
        var fmtps: [UInt8: String] = [:]
        var feedback: [UInt8: [SDP.RTCPFeedback]] = [:]
        var wildcard: [SDP.RTCPFeedback] = []
        for a in attributes {
            switch a {
            case .rtpmap(let r) where maps[r.payloadType] == nil: maps[r.payloadType] = r
            case .fmtp(let f) where fmtps[f.payloadType] == nil: fmtps[f.payloadType] = f.rawParameters
            case .rtcpFeedback(let f):
                if let pt = f.payloadType { feedback[pt, default: []].append(f) } else { wildcard.append(f) }
            default: break
            }
        }
        var seen = Set<UInt8>()
        return payloadTypes.compactMap { pt in
            guard let map = maps[pt], seen.insert(pt).inserted else { return nil }
            return SDP.Codec(
                payloadType: pt, name: map.encodingName, clockRate: map.clockRate, channels: map.channels,
                formatParameters: fmtps[pt], feedback: (feedback[pt] ?? []) + wildcard)
        }
    }

    /// The codec with payload type `pt`.
    public func codec(payloadType pt: UInt8) -> SDP.Codec? { codecs.first { $0.payloadType == pt } }

    /// The RTX payload type repairing `pt` (`a=fmtp:<rtx> apt=<pt>`, RFC 4588 §8.6).
    public func rtxPayloadType(for pt: UInt8) -> UInt8? {
        codecs.first { $0.isRTX && $0.associatedPayloadType == pt }?.payloadType
    }

    /// The SSRCs of an `a=ssrc-group` with `semantics` (e.g. FID: media then RTX).
    public func ssrcGroup(_ semantics: SDP.SSRCGroup.Semantics) -> SDP.SSRCGroup? {
        ssrcGroups.first { $0.semantics == semantics }
    }

    /// Appends `codec` to the `m=` formats and its attribute lines to the section.
    public mutating func appendCodec(_ codec: SDP.Codec) {
        formats.append(String(codec.payloadType))
        attributes.append(contentsOf: codec.attributes)
    }
}
