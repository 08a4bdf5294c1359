import StarlingRouting
import StarlingTransport
import StarlingWire

/// The answer to a participant's offer for one transport of a room (JSEP, RFC 8829 §5.3), and what it
/// sets up in the router: each m-line the peer sends on becomes a producer, each m-line it receives on
/// and that the caller gave a source for becomes a consumer (with `echo`, a sendrecv m-line without a
/// source receives back what it sends). Every accepted m-line is bundled on one
/// ICE/DTLS transport (RFC 8843) with RTP/RTCP multiplexing (RFC 5761); we are ICE-lite and the DTLS
/// server unless the offer says passive (RFC 5763 §5).
///
/// Simulcast encodings come from `a=simulcast` send rids (RFC 8853), in the order listed, lowest layer
/// first; or from `a=ssrc-group:SIM` (lowest first) with `a=ssrc-group:FID` naming each RTX SSRC
/// (RFC 4588 §8.7, RFC 5576 §4.2); or from the m-line's single SSRC; or none, bound later by mid.
struct RoomAnswer {
    /// What a receiving m-line carries: the producer it is fed from.
    struct Source {
        var producer: ProducerID
        var kind: MediaKind
        var codec: CodecKind
        /// `a=msid` stream and track ids (the publishing participant and its track).
        var streamID: String
        var trackID: String
    }

    struct Published {
        var mid: String
        var parameters: ProducerParameters
        /// The codec as the publisher negotiated it (with its fmtp), for subscribers' offers.
        var codec: SDP.Codec
        var kind: SDP.MediaKind
    }

    struct Subscribed {
        var mid: String
        /// nil: the producer this same offer publishes on the same m-line (echo).
        var producer: ProducerID?
        var parameters: ConsumerParameters
    }

    typealias Unanswerable = BundledAnswer.Unanswerable

    /// Payload formats the router forwards, in the order we prefer them when the offer does not decide.
    static let supportedCodecs: [String: CodecKind] = ["opus": .opus, "vp8": .vp8, "vp9": .vp9, "h264": .h264, "av1": .av1]
    /// Header extensions we read from publishers or write to subscribers (RFC 8285).
    static let supportedExtensions: Set<String> = [
        RTPHeaderExtensionURI.sdesMid, RTPHeaderExtensionURI.rtpStreamID, RTPHeaderExtensionURI.repairedRTPStreamID,
        RTPHeaderExtensionURI.absSendTime, RTPHeaderExtensionURI.transportWideCC, RTPHeaderExtensionURI.audioLevel,
        RTPHeaderExtensionURI.videoOrientation, RTPHeaderExtensionURI.dependencyDescriptor,
    ]
    /// RTCP feedback we honour (RFC 4585 §4.2, RFC 5104 §7.1, transport-cc and REMB).
    static let supportedFeedback: Set<String> = ["nack", "nack pli", "ccm fir", "transport-cc", "goog-remb"]

    let answer: SessionDescription
    let transport: BundledAnswer
    let published: [Published]
    let subscribed: [Subscribed]

    var remoteCredentials: ICECredentials { transport.remoteCredentials }
    var remoteFingerprints: [SDP.Fingerprint] { transport.remoteFingerprints }
    var dtlsRole: DTLSEndpoint.Role { transport.dtlsRole }

    init(
        offer: SessionDescription, local: ICECredentials, fingerprint: SDP.Fingerprint, candidateAddresses: [String],
        port: Int, tcpPort: Int? = nil, sources: [String: Source], echo: Bool = false, cname: String, setup: SDP.Setup? = nil,
        origin: SDP.Origin? = nil, limits: OfferLimits = OfferLimits(), newSSRC: () -> UInt32
    ) throws(Unanswerable) {
        try Self.check(offer, limits: limits)
        let transport = try BundledAnswer(
            offer: offer, local: local, fingerprint: fingerprint, candidateAddresses: candidateAddresses, port: port,
            tcpPort: tcpPort, setup: setup)
        var answer = transport.makeSession(name: "starling", origin: origin, extmapAllowMixed: offer.extmapAllowMixed)
        var active = 0
        var bundled: [String] = []
        var published: [Published] = []
        var subscribed: [Subscribed] = []
        var streamIDs: [String] = []
        // Everything we accept shares one transport, the one of the offer's first live section: with a BUNDLE
        // group, the sections of that group (RFC 8843 §7.3: no others can join it in an answer, and a
        // bundle-only section outside it has no transport, §6); without one, that section alone (the others
        // would each need a transport of their own, which we do not give).
        let firstMid = offer.media.first(where: { !$0.isRejected })?.mid
        let bundle: Set<String>? = firstMid.flatMap { mid in offer.bundleGroup(containing: mid).map { Set($0.mids) } }
        for m in offer.media {
            guard let mid = m.mid else { throw Unanswerable(description: "m=\(m.kind) without a=mid") }
            if let bundle, !bundle.contains(mid) {
                answer.media.append(BundledAnswer.rejected(m, mid: mid))
                continue
            }
            if bundle == nil, mid != firstMid {
                answer.media.append(BundledAnswer.rejected(m, mid: mid))
                continue
            }
            let direction = m.effectiveDirection
            let sends = direction == .sendonly || direction == .sendrecv
            // Echo: a sendrecv m-line receives what it sends, from the producer it becomes.
            let echoes = echo && direction == .sendrecv && sources[mid] == nil
            let source = sources[mid]
            let receives = (direction == .recvonly || direction == .sendrecv) && (source != nil || echoes)
            let wanted = source.map { [$0.codec] }
            // A line that neither sends nor receives (a stopped sender, a recvonly line nobody feeds) stays in
            // the bundle as `inactive` rather than rejected, so that a renegotiation never rejects the
            // BUNDLE-tagged line (RFC 8843 §7.3.3) and the transceiver can be used again later.
            let idle = !sends && !receives
            guard m.kind == .audio || m.kind == .video, !m.isRejected,
                let (codec, kind) = Self.pickCodec(in: m, restrictedTo: wanted)
            else {
                answer.media.append(BundledAnswer.rejected(m, mid: mid))
                continue
            }
            if !idle { active += 1 }
            bundled.append(mid)
            var section = transport.accepted(m, mid: mid)
            var uris: [String: UInt8] = [:]
            for ext in m.extmaps where Self.supportedExtensions.contains(ext.uri) && (1...255).contains(ext.id) {
                section.attributes.append(
                    .extmap(SDP.ExtMap(id: ext.id, direction: ext.direction.map(Self.answering), uri: ext.uri)))
                uris[ext.uri] = UInt8(truncatingIfNeeded: ext.id)
            }
            let answeredDirection: SDP.Direction =
                sends && receives ? .sendrecv : sends ? .recvonly : receives ? .sendonly : .inactive
            section.attributes.append(.direction(answeredDirection))
            section.attributes.append(.rtcpMux)
            if m.rtcpRsize { section.attributes.append(.rtcpRsize) }
            var kept = codec
            kept.feedback = codec.feedback.filter { fb in
                Self.supportedFeedback.contains(fb.subtype.map { "\(fb.type) \($0)" } ?? fb.type)
            }
            section.appendCodec(kept)
            let rtx = m.rtxPayloadType(for: codec.payloadType).flatMap { m.codec(payloadType: $0) }
            if let rtx { section.appendCodec(rtx) }
            let extensions = HeaderExtensionIDs(uris: uris)
            let nack = kept.hasFeedback("nack")
            let rtpCodec = RTPCodec(
                kind: kind, payloadType: codec.payloadType, clockRate: codec.clockRate, rtxPayloadType: rtx?.payloadType)

            if sends {
                var encodings: [ProducerParameters.Encoding] = []
                if let simulcast = m.simulcast, !simulcast.send.isEmpty {
                    // RFC 8853 §5.3: the answerer receives what the offerer sends.
                    let rids = try Self.simulcastRIDs(simulcast, in: m, limits: limits)
                    encodings = rids.map { .init(rid: $0) }
                    for rid in rids { section.attributes.append(.rid(SDP.RID(id: rid, direction: .recv))) }
                    section.attributes.append(.simulcast(SDP.Simulcast(recvRIDs: rids)))
                } else {
                    var rtxOf: [UInt32: UInt32] = [:]
                    for group in m.ssrcGroups where group.semantics == .fid && group.ssrcs.count == 2 {
                        rtxOf[group.ssrcs[0]] = group.ssrcs[1]
                    }
                    let media: [UInt32]
                    if let sim = m.ssrcGroup(.sim) {
                        guard sim.ssrcs.count <= limits.simulcastLayers else {
                            throw Unanswerable(
                                description: "m-line \(mid): \(sim.ssrcs.count) SSRCs in a=ssrc-group:SIM, more than \(limits.simulcastLayers) (limits.simulcastLayers)",
                                isLimit: true)
                        }
                        guard Set(sim.ssrcs).count == sim.ssrcs.count else {
                            throw Unanswerable(description: "m-line \(mid): a=ssrc-group:SIM lists an SSRC twice")
                        }
                        media = sim.ssrcs
                    } else {
                        let repair = Set(rtxOf.values)
                        media = m.ssrcAttributes.map(\.ssrc).first { !repair.contains($0) }.map { [$0] } ?? []
                    }
                    encodings = media.map { .init(ssrc: $0, rtxSSRC: rtx == nil ? nil : rtxOf[$0]) }
                }
                let keyframeRequest: KeyframeRequestKind =
                    kept.hasFeedback("nack", "pli") || !kept.hasFeedback("ccm", "fir") ? .pli : .fir
                published.append(
                    Published(
                        mid: mid,
                        parameters: ProducerParameters(
                            kind: m.kind == .audio ? .audio : .video, codec: rtpCodec, encodings: encodings,
                            extensions: extensions, mid: mid, nack: nack, keyframeRequest: keyframeRequest,
                            remb: kept.hasFeedback("goog-remb")),
                        codec: kept, kind: m.kind))
            }
            if receives {
                let streamID = source?.streamID ?? "starling-echo"
                let trackID = source?.trackID ?? "echo-\(mid)"
                let ssrc = newSSRC()
                let rtxSSRC = rtx == nil ? nil : newSSRC()
                section.attributes.append(.msid(SDP.MSID(streamID: streamID, trackID: trackID)))
                if let rtxSSRC {
                    section.attributes.append(.ssrcGroup(SDP.SSRCGroup(semantics: .fid, ssrcs: [ssrc, rtxSSRC])))
                }
                for s in [ssrc] + (rtxSSRC.map { [$0] } ?? []) {
                    section.attributes.append(.ssrc(SDP.SSRCAttribute(ssrc: s, attribute: "cname", value: cname)))
                    section.attributes.append(
                        .ssrc(SDP.SSRCAttribute(ssrc: s, attribute: "msid", value: "\(streamID) \(trackID)")))
                }
                if !streamIDs.contains(streamID) { streamIDs.append(streamID) }
                subscribed.append(
                    Subscribed(
                        mid: mid, producer: source?.producer,
                        parameters: ConsumerParameters(
                            ssrc: ssrc, rtxSSRC: rtxSSRC, codec: rtpCodec, extensions: extensions, mid: mid, nack: nack)))
            }
            answer.media.append(section)
        }
        guard active > 0 else {
            throw Unanswerable(description: "the offer has no m-line with a codec we forward (Opus, VP8, VP9, H.264, AV1)")
        }
        BundledAnswer.finish(&answer, bundled: bundle == nil ? nil : bundled, streamIDs: streamIDs)
        self.answer = answer
        self.transport = transport
        self.published = published
        self.subscribed = subscribed
    }

    /// Refuses an offer with more m-sections, or more sending ones, than the limits allow.
    static func check(_ offer: SessionDescription, limits: OfferLimits) throws(Unanswerable) {
        guard offer.media.count <= limits.mediaSections else {
            throw Unanswerable(
                description: "the offer has \(offer.media.count) m-lines, more than \(limits.mediaSections) (limits.mediaSectionsPerOffer)",
                isLimit: true)
        }
        let sending = offer.media.filter { m in
            !m.isRejected && (m.effectiveDirection == .sendonly || m.effectiveDirection == .sendrecv)
        }.count
        guard sending <= limits.sendingSections else {
            throw Unanswerable(
                description: "the offer sends on \(sending) m-lines, more than \(limits.sendingSections) (limits.sendingSectionsPerOffer)",
                isLimit: true)
        }
    }

    /// The rids a sending m-line's `a=simulcast` names, one per encoding, lowest layer first. Each must be
    /// declared by an `a=rid:<id> send` line (RFC 8853 §5.2) and appear once; at most `simulcastLayers`.
    static func simulcastRIDs(_ simulcast: SDP.Simulcast, in m: MediaDescription, limits: OfferLimits) throws(Unanswerable)
        -> [String]
    {
        let mid = m.mid ?? "?"
        let declared = Set(m.rids.filter { $0.direction == .send }.map(\.id))
        var seen: Set<String> = []
        var rids: [String] = []
        for alternatives in simulcast.send {
            for stream in alternatives {
                guard stream.rid.utf8.count <= OfferLimits.maxRIDLength else {
                    throw Unanswerable(description: "m-line \(mid): a rid longer than \(OfferLimits.maxRIDLength) bytes")
                }
                guard declared.contains(stream.rid) else {
                    throw Unanswerable(
                        description: "m-line \(mid): a=simulcast names rid \(stream.rid) without an a=rid:\(stream.rid) send line (RFC 8853 §5.2)")
                }
                guard seen.insert(stream.rid).inserted else {
                    throw Unanswerable(description: "m-line \(mid): rid \(stream.rid) appears twice in a=simulcast")
                }
            }
            if let rid = alternatives.first(where: { !$0.paused })?.rid { rids.append(rid) }
        }
        guard rids.count <= limits.simulcastLayers else {
            throw Unanswerable(
                description: "m-line \(mid): \(rids.count) simulcast encodings, more than \(limits.simulcastLayers) (limits.simulcastLayers)",
                isLimit: true)
        }
        return rids
    }

    /// The direction of an answered `a=extmap` (RFC 8285 §6): the offerer's sendonly is our recvonly and
    /// its recvonly our sendonly; inactive stays inactive.
    static func answering(_ offered: SDP.Direction) -> SDP.Direction {
        switch offered {
        case .sendonly: .recvonly
        case .recvonly: .sendonly
        case .sendrecv: .sendrecv
        case .inactive: .inactive
        }
    }

    /// The offerer's first payload format we forward (RFC 8829 §5.3.1: the answer keeps the offer's
    /// order); `restrictedTo` limits it to the codec a source publishes.
    static func pickCodec(in m: MediaDescription, restrictedTo kinds: [CodecKind]?) -> (SDP.Codec, CodecKind)? {
        for codec in m.codecs where !codec.isRTX {
            guard let kind = supportedCodecs[codec.name.lowercased()] else { continue }
            if (kind == .opus) != (m.kind == .audio) { continue }
            if let kinds, !kinds.contains(kind) { continue }
            // H.264: only packetization-mode 1 (non-interleaved, RFC 6184 §6.3) is forwarded.
            if kind == .h264, codec.parameter("packetization-mode") != "1" { continue }
            return (codec, kind)
        }
        return nil
    }
}
