import StarlingRouting
import StarlingTransport
import StarlingWire

/// The SDP side of a subscribing peer connection, where Starling is the offerer (JSEP, RFC 8829 §5.2) and
/// renegotiates as tracks come and go: one sendonly m-line per subscribed track, all bundled (RFC 8843) on
/// one ICE-lite transport, `a=setup:actpass` (RFC 5763 §5). A track that goes away leaves its m-line
/// `inactive` (RFC 8829 §5.2.2 keeps m-lines in place); a later track of the same kind reuses it under a new
/// SSRC and msid.
///
/// Payload types are ours: one per distinct codec configuration (name, clock rate, channels, fmtp) across
/// the whole session, so that bundled m-lines never give one payload type two meanings (RFC 8843 §9.1),
/// from the dynamic range 96-127 and then 35-63 (the ranges RFC 5761 §4 leaves to RTP with RTCP
/// multiplexing). The session holds at most `maxLines` media m-lines (the room's track limit), so an offer,
/// and the client's answer, stays within what signaling accepts.
struct SubscriberNegotiation {
    struct Line {
        var mid: String
        var kind: SDP.MediaKind
        var producer: ProducerID?
        var codec: SDP.Codec
        var rtxPayloadType: UInt8?
        var ssrc: UInt32
        var rtxSSRC: UInt32?
        var streamID: String
        var trackID: String
        /// Set once the client's answer accepted the line and the consumer exists.
        var consumer: ConsumerID?
    }

    /// The data channel line (`m=application ... UDP/DTLS/SCTP webrtc-datachannel`, RFC 8841), offered first in
    /// every offer when data channels are on. Once the client rejects it (port 0) it stays rejected.
    struct DataLine {
        enum State: Equatable { case offered, accepted, rejected }
        static let mid = "dc"
        var state = State.offered
        /// From the answer that accepted it: the client's SCTP port and max-message-size (RFC 8841 §5, §6;
        /// 65536 when absent).
        var remotePort: UInt16 = 5000
        var remoteMaxMessageSize = 65_536
    }

    /// What an answer changes: lines to consume now (accepted, no consumer yet), with their parameters.
    struct Accepted {
        var mid: String
        var producer: ProducerID
        var parameters: ConsumerParameters
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Our header extension ids (RFC 8285 one-byte range).
    static let extensions: [(id: UInt16, uri: String, audio: Bool, video: Bool)] = [
        (1, RTPHeaderExtensionURI.sdesMid, true, true),
        (2, RTPHeaderExtensionURI.absSendTime, true, true),
        (3, RTPHeaderExtensionURI.transportWideCC, true, true),
        (4, RTPHeaderExtensionURI.audioLevel, true, false),
        (5, RTPHeaderExtensionURI.videoOrientation, false, true),
    ]

    private(set) var local: ICECredentials
    let fingerprint: SDP.Fingerprint
    let candidates: [ICECandidate]
    let cname: String
    private(set) var lines: [Line] = []
    private let sessionID = String(UInt64.random(in: 1...UInt64(Int64.max)))
    private var version: UInt64 = 0
    private var payloadTypes: [String: (pt: UInt8, rtx: UInt8?)] = [:]
    private var nextPayloadType: UInt8 = 96
    /// Media m-lines the session may hold.
    let maxLines: Int
    /// Whether lines changed since the last offer.
    private(set) var needsOffer = false
    /// The revision of the offer waiting for its answer, if any, and its lines as offered (lines may change
    /// or be added meanwhile; the answer speaks of these).
    private(set) var pendingRevision: UInt64?
    private var offeredLines: [Line] = []
    /// Data channels: our line (nil when off), our SCTP port and our `a=max-message-size`.
    private(set) var data: DataLine?
    let localSCTPPort: UInt16 = 5000
    let maxMessageSize: Int
    /// From the first answer: the client's transport parameters.
    private(set) var remote: (credentials: ICECredentials, fingerprints: [SDP.Fingerprint], role: DTLSEndpoint.Role)?

    init(
        local: ICECredentials, fingerprint: SDP.Fingerprint, candidateAddresses: [String], port: Int, tcpPort: Int? = nil,
        cname: String,
        dataChannels: Bool = false, maxMessageSize: Int = 262_144, maxLines: Int = 48
    ) {
        self.local = local
        self.maxLines = maxLines
        self.maxMessageSize = maxMessageSize
        if dataChannels {
            data = DataLine()
            needsOffer = true
        }
        self.fingerprint = fingerprint
        self.cname = cname
        candidates = BundledAnswer.hostCandidates(addresses: candidateAddresses, port: port, tcpPort: tcpPort)
    }

    /// Adds a line sending `producer` (its codec as the publisher negotiated it); returns its mid.
    mutating func add(
        producer: ProducerID, kind: SDP.MediaKind, codec: SDP.Codec, rtx: Bool, streamID: String, trackID: String,
        newSSRC: () -> UInt32
    ) throws(Failure) -> String {
        let reusable = lines.firstIndex(where: { $0.producer == nil && $0.kind == kind })
        guard reusable != nil || lines.count < maxLines else {
            throw Failure(description: "the subscribing connection holds its maximum of \(maxLines) tracks (limits.tracksPerRoom)")
        }
        let signature = "\(codec.name.lowercased())/\(codec.clockRate)/\(codec.channels ?? 1)/\(codec.formatParameters ?? "")"
        if payloadTypes[signature] == nil {
            let wantsRTX = rtx && kind == .video
            guard let pt = takePayloadType(), let rtxPT = wantsRTX ? takePayloadType() : 0 else {
                throw Failure(description: "out of payload types: the room's tracks use too many codec configurations")
            }
            payloadTypes[signature] = (pt, wantsRTX ? rtxPT : nil)
        }
        let (pt, rtxPT) = payloadTypes[signature]!
        var ours = codec
        ours.payloadType = pt
        ours.feedback = ([("nack", nil), ("nack", "pli"), ("ccm", "fir"), ("transport-cc", nil), ("goog-remb", nil)]
            as [(String, String?)]).filter { kind == .video || $0.0 == "transport-cc" }
            .map { SDP.RTCPFeedback(payloadType: pt, type: $0.0, subtype: $0.1) }
        let line = Line(
            mid: "", kind: kind, producer: producer, codec: ours, rtxPayloadType: rtxPT, ssrc: newSSRC(),
            rtxSSRC: rtxPT == nil ? nil : newSSRC(), streamID: streamID, trackID: trackID, consumer: nil)
        needsOffer = true
        // Reuse an inactive line of the same kind (its mid stays), else append one.
        if let i = reusable {
            let mid = lines[i].mid
            lines[i] = line
            lines[i].mid = mid
            return mid
        }
        var fresh = line
        fresh.mid = String(lines.count)
        lines.append(fresh)
        return fresh.mid
    }

    /// The next free dynamic payload type: 96-127, then 35-63 (RFC 5761 §4); nil when none is left.
    private mutating func takePayloadType() -> UInt8? {
        guard nextPayloadType != 0 else { return nil }
        let pt = nextPayloadType
        nextPayloadType = pt == 127 ? 35 : pt == 63 ? 0 : pt + 1
        return pt
    }

    /// Stops sending `producer`: its line goes inactive. Returns the consumer to remove, if it had one.
    mutating func remove(producer: ProducerID) -> ConsumerID? {
        guard let i = lines.firstIndex(where: { $0.producer == producer }) else { return nil }
        let consumer = lines[i].consumer
        lines[i].producer = nil
        lines[i].consumer = nil
        needsOffer = true
        return consumer
    }

    /// The next offer, or nil when nothing changed or an offer still waits for its answer (one offer at a
    /// time: changes meanwhile go into the next one).
    mutating func makeOffer() -> (sdp: String, revision: UInt64)? {
        guard needsOffer, pendingRevision == nil, !lines.isEmpty || data != nil else { return nil }
        version += 1
        pendingRevision = version
        offeredLines = lines
        needsOffer = false
        var offer = SessionDescription(origin: SDP.Origin(sessionID: sessionID, sessionVersion: version))
        offer.sessionName = "starling"
        let dataMids = data.map { $0.state == .rejected ? [] : [DataLine.mid] } ?? []
        offer.attributes =
            [.group(SDP.Group(semantics: .bundle, mids: dataMids + lines.map(\.mid)))]
            + BundledAnswer.sessionAttributes(local: local, fingerprint: fingerprint) + [
                .extmapAllowMixed, .msidSemantic(SDP.MSIDSemantic(semantic: "WMS", identifiers: ["*"])),
            ]
        if let data { offer.media.append(dataSection(data)) }
        for line in lines {
            var m = MediaDescription(
                kind: line.kind, port: 9, proto: "UDP/TLS/RTP/SAVPF", connection: SDP.Connection(address: "0.0.0.0"))
            // RFC 5763 §5: the offerer is actpass.
            m.attributes = BundledAnswer.transportAttributes(
                candidates: candidates, local: local, fingerprint: fingerprint, setup: .actpass, mid: line.mid)
            for ext in Self.extensions where line.kind == .audio ? ext.audio : ext.video {
                m.attributes.append(.extmap(SDP.ExtMap(id: ext.id, uri: ext.uri)))
            }
            m.attributes += [.direction(line.producer == nil ? .inactive : .sendonly), .rtcpMux, .rtcpRsize]
            m.appendCodec(line.codec)
            if let rtx = line.rtxPayloadType {
                m.appendCodec(
                    SDP.Codec(
                        payloadType: rtx, name: "rtx", clockRate: line.codec.clockRate,
                        formatParameters: "apt=\(line.codec.payloadType)"))
            }
            if line.producer != nil {
                m.attributes.append(.msid(SDP.MSID(streamID: line.streamID, trackID: line.trackID)))
                if let r = line.rtxSSRC { m.attributes.append(.ssrcGroup(SDP.SSRCGroup(semantics: .fid, ssrcs: [line.ssrc, r]))) }
                for s in [line.ssrc] + (line.rtxSSRC.map { [$0] } ?? []) {
                    m.attributes.append(.ssrc(SDP.SSRCAttribute(ssrc: s, attribute: "cname", value: cname)))
                }
            }
            offer.media.append(m)
        }
        return (offer.serialized(), version)
    }

    /// The data channel m-line (RFC 8841 §4-6, RFC 8829 §5.2.1): SCTP over DTLS on the bundled transport, our
    /// SCTP port and our maximum message size. A line the client rejected stays in place with port 0 (RFC 8829
    /// §5.2.2).
    private func dataSection(_ data: DataLine) -> MediaDescription {
        var m = MediaDescription(
            kind: .application, port: data.state == .rejected ? 0 : 9, proto: "UDP/DTLS/SCTP", formats: ["webrtc-datachannel"],
            connection: SDP.Connection(address: "0.0.0.0"))
        guard data.state != .rejected else {
            m.attributes = [.mid(DataLine.mid)]
            return m
        }
        m.attributes = BundledAnswer.transportAttributes(
            candidates: candidates, local: local, fingerprint: fingerprint, setup: .actpass, mid: DataLine.mid)
        m.attributes += [.sctpPort(localSCTPPort), .maxMessageSize(UInt64(maxMessageSize))]
        return m
    }

    /// Applies the client's answer to the pending offer; returns the lines to start consuming. The first
    /// answer also fixes the client's ICE credentials, fingerprints and our DTLS role (its `active` makes us
    /// the DTLS server).
    mutating func apply(answer text: String, codecKinds: [ProducerID: CodecKind]) throws(Failure) -> [Accepted] {
        guard pendingRevision != nil else { throw Failure(description: "no offer is waiting for an answer") }
        let answer: SessionDescription
        do {
            answer = try SessionDescription(parsing: text)
        } catch {
            throw Failure(description: "the SDP answer does not parse: \(error)")
        }
        let skip = data == nil ? 0 : 1
        guard answer.media.count == offeredLines.count + skip else {
            throw Failure(description: "the answer has \(answer.media.count) m-lines, the offer \(offeredLines.count + skip)")
        }
        let expected = (data == nil ? [] : [DataLine.mid]) + offeredLines.map(\.mid)
        for (i, m) in answer.media.enumerated() where m.mid != expected[i] {
            throw Failure(description: "m-line \(i) of the answer has mid \(m.mid ?? "none"), expected \(expected[i])")
        }
        if var line = data, let m = answer.media.first, line.state == .offered {
            // RFC 8841: the answerer's port and limit; a rejected line stays rejected in later offers.
            if m.isRejected || m.proto.uppercased() != "UDP/DTLS/SCTP" && m.proto.uppercased() != "DTLS/SCTP" {
                line.state = .rejected
            } else {
                line.state = .accepted
                line.remotePort = m.sctpPort ?? 5000
                line.remoteMaxMessageSize = m.maxMessageSize.map { Int(clamping: $0) } ?? 65_536
            }
            data = line
        }
        guard let first = answer.media.first(where: { !$0.isRejected }) else {
            // Everything refused (a client without data channels, no tracks yet): no transport until a line is
            // accepted.
            pendingRevision = nil
            return []
        }
        guard let credentials = answer.iceCredentials(for: first)
        else { throw Failure(description: "the answer has no a=ice-ufrag/a=ice-pwd") }
        let credentialsNow = ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd)
        if let known = remote {
            // After an ICE restart the answer brings new credentials (RFC 8445 §9); the DTLS association stays.
            remote = (credentialsNow, known.fingerprints, known.role)
        } else {
            let fingerprints = answer.fingerprints(for: first)
            guard !fingerprints.isEmpty else { throw Failure(description: "the answer has no a=fingerprint") }
            // RFC 5763 §5: the answerer picks active or passive; active makes us the server.
            let role: DTLSEndpoint.Role = answer.setup(for: first) == .passive ? .client : .server
            remote = (credentialsNow, fingerprints, role)
        }
        pendingRevision = nil
        var accepted: [Accepted] = []
        for (i, m) in answer.media.dropFirst(skip).enumerated() {
            // Only what was offered, and is still the same line now, is consumed.
            let line = lines[i]
            guard let producer = line.producer, producer == offeredLines[i].producer, line.ssrc == offeredLines[i].ssrc,
                line.consumer == nil, !m.isRejected,
                m.effectiveDirection == .recvonly || m.effectiveDirection == .sendrecv,
                m.payloadTypes.contains(line.codec.payloadType), let kind = codecKinds[producer]
            else { continue }
            var uris: [String: UInt8] = [:]
            for ext in m.extmaps where ext.id <= 255 { uris[ext.uri] = UInt8(ext.id) }
            let rtx = line.rtxPayloadType.flatMap { m.payloadTypes.contains($0) ? $0 : nil }
            let answered = m.codec(payloadType: line.codec.payloadType)
            accepted.append(
                Accepted(
                    mid: line.mid, producer: producer,
                    parameters: ConsumerParameters(
                        ssrc: line.ssrc, rtxSSRC: rtx == nil ? nil : line.rtxSSRC,
                        codec: RTPCodec(
                            kind: kind, payloadType: line.codec.payloadType, clockRate: line.codec.clockRate,
                            rtxPayloadType: rtx),
                        extensions: HeaderExtensionIDs(uris: uris), mid: line.mid,
                        nack: answered?.hasFeedback("nack") ?? false)))
        }
        return accepted
    }

    /// ICE restart from our side (RFC 8445 §9, RFC 8829 §5.2.1 "iceRestart"): new local credentials go into the
    /// next offer, which is due now. An offer still waiting is forgotten (the client that would have answered it
    /// is gone: this runs when a participant resumes); its lines are offered again.
    mutating func restartICE() -> ICECredentials {
        local = ICECredentials.random()
        pendingRevision = nil
        needsOffer = !lines.isEmpty || data != nil
        return local
    }

    /// Records the consumer created for an accepted line.
    mutating func consuming(mid: String, consumer: ConsumerID) {
        if let i = lines.firstIndex(where: { $0.mid == mid }) { lines[i].consumer = consumer }
    }
}
