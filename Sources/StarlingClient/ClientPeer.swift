public import StarlingTransport
public import StarlingWire

/// The client side of a WebRTC peer on Starling's own cores (sans-IO): it builds an SDP offer for the
/// tracks it sends, applies the server's answer, and then runs a `PeerTransport` with a controlling ICE
/// agent (RFC 8445 §7.2) and the DTLS role the answer's `a=setup` gives it (RFC 5763 §5). Used by our
/// tests and by the load tool; the caller moves datagrams between it and a socket.
public final class ClientPeer {
    public struct Track: Hashable, Sendable {
        public enum Kind: String, Sendable { case audio, video }
        /// Which way media flows on the track's m-line, from our side.
        public enum Direction: String, Sendable { case send, receive, sendReceive, inactive }
        public var kind: Kind
        public var mid: String
        /// The media SSRCs we send, lowest simulcast layer first (`a=ssrc-group:SIM` when several).
        public var ssrcs: [UInt32]
        /// One RTX SSRC per media SSRC when RTX is offered (`a=ssrc-group:FID`, RFC 4588 §8.7).
        public var rtxSSRCs: [UInt32]
        public var payloadType: UInt8
        /// Offered as `rtx` with `apt=payloadType` (RFC 4588 §8.6) when set.
        public var rtxPayloadType: UInt8?
        public var direction: Direction

        public var ssrc: UInt32 { ssrcs.first ?? 0 }

        public init(kind: Kind, mid: String, ssrc: UInt32, payloadType: UInt8) {
            self.init(kind: kind, mid: mid, ssrcs: [ssrc], payloadType: payloadType)
        }

        public init(
            kind: Kind, mid: String, ssrcs: [UInt32], rtxSSRCs: [UInt32] = [], payloadType: UInt8,
            rtxPayloadType: UInt8? = nil, direction: Direction = .sendReceive
        ) {
            self.kind = kind
            self.mid = mid
            self.ssrcs = ssrcs
            self.rtxSSRCs = rtxSSRCs
            self.payloadType = payloadType
            self.rtxPayloadType = rtxPayloadType
            self.direction = direction
        }
    }

    /// The SSRCs the answer announces for an m-line we receive on (`a=ssrc`, `a=ssrc-group:FID`).
    public struct ReceivedStream: Hashable, Sendable {
        public var ssrc: UInt32
        public var rtxSSRC: UInt32?
    }

    public enum ClientError: Error, CustomStringConvertible {
        case badAnswer(String)
        public var description: String {
            switch self {
            case .badAnswer(let why): "unusable SDP answer: \(why)"
            }
        }
    }

    public let certificate: DTLSCertificate
    public private(set) var localCredentials = ICECredentials.random()
    public private(set) var tracks: [Track]
    public private(set) var transport: PeerTransport?
    /// The server's ICE credentials as the last exchange gave them.
    private var remoteCredentials: ICECredentials?
    /// Our credentials the transport uses.
    private var transportCredentials: ICECredentials?
    private let sessionID = String(UInt32.random(in: 1...UInt32.max))
    private var sessionVersion: UInt64 = 0
    /// Extension ids we offer (RFC 8285): `sdes:mid` (RFC 8843 §15), abs-send-time, transport-wide-cc.
    public static let midExtensionID: UInt16 = 1
    public static let absSendTimeExtensionID: UInt16 = 2
    public static let transportWideCCExtensionID: UInt16 = 3
    /// Our candidates, written into every offer and answer with `a=end-of-candidates` (RFC 8839 §5.1, RFC 8840
    /// §8.2). An ICE-lite server learns our address from our checks anyway (peer-reflexive, RFC 8445 §7.3.1.3),
    /// but some lite agents (libnice's, in Janus) only answer checks from candidates they were given.
    public var localCandidates: [ICECandidate] = []

    /// A host candidate for a local UDP socket, with the RFC 8445 §5.1.2.1 priority of a host candidate.
    public static func hostCandidate(address: String, port: UInt16) -> ICECandidate {
        ICECandidate(foundation: "1", priority: (126 << 24) | (65535 << 8) | 255, address: address, port: port)
    }

    /// Which of the server's candidates we check: its UDP host candidates, or (ICE-TCP, RFC 6544) its passive
    /// TCP ones, whose addresses then come back as TCP transport addresses. Over TCP the caller connects to
    /// them, frames every packet (RFC 4571) and hands what arrives to the transport as from that address.
    public var iceTransport: STUNAddress.TransportProtocol = .udp

    /// By mid, what the server sends us on each m-line we receive on (from the answer).
    public private(set) var receivedStreams: [String: ReceivedStream] = [:]

    public init(tracks: [Track], certificate: DTLSCertificate) {
        self.tracks = tracks
        self.certificate = certificate
    }

    /// Adds a track (a new m-line in the next offer: a renegotiation once the transport exists).
    public func addTrack(_ track: Track) { tracks.append(track) }

    /// Changes a track's direction, e.g. `.inactive` to stop sending it (its m-line stays, RFC 8829 §5.2.2).
    public func setDirection(_ direction: Track.Direction, mid: String) {
        if let i = tracks.firstIndex(where: { $0.mid == mid }) { tracks[i].direction = direction }
    }

    /// ICE restart (RFC 8445 §9, RFC 8829 §5.2.1): the next offer carries new credentials; media keeps flowing
    /// until the answer's are applied.
    public func restartICE() { localCredentials = ICECredentials.random() }

    /// The offer (JSEP RFC 8829 §5.2): one m-line per track in its direction, bundled, rtcp-mux, actpass,
    /// VP8 (NACK, PLI, FIR, transport-cc, optional RTX) or Opus, with the mid, abs-send-time and
    /// transport-wide-cc extensions.
    public func makeOffer() -> String {
        sessionVersion += 1
        var offer = SessionDescription(origin: SDP.Origin(sessionID: sessionID, sessionVersion: sessionVersion))
        offer.attributes.append(.group(SDP.Group(semantics: .bundle, mids: tracks.map(\.mid))))
        for track in tracks {
            var m = MediaDescription(
                kind: track.kind == .audio ? .audio : .video, port: 9, proto: "UDP/TLS/RTP/SAVPF",
                connection: SDP.Connection(address: "0.0.0.0"))
            let direction: SDP.Direction =
                switch track.direction {
                case .send: .sendonly
                case .receive: .recvonly
                case .sendReceive: .sendrecv
                case .inactive: .inactive
                }
            m.attributes = [
                .iceUfrag(localCredentials.ufrag), .icePwd(localCredentials.pwd), .fingerprint(certificate.fingerprint),
                .setup(.actpass), .mid(track.mid),
                .extmap(SDP.ExtMap(id: Self.midExtensionID, uri: SDP.ExtMap.URI.sdesMid)),
                .extmap(SDP.ExtMap(id: Self.absSendTimeExtensionID, uri: SDP.ExtMap.URI.absSendTime)),
                .extmap(SDP.ExtMap(id: Self.transportWideCCExtensionID, uri: SDP.ExtMap.URI.transportWideCC)),
                .direction(direction), .rtcpMux, .rtcpRsize,
            ]
            m.attributes += candidateAttributes
            let pt = track.payloadType
            if track.kind == .audio {
                m.attributes += [
                    .rtpmap(SDP.RTPMap(payloadType: pt, encodingName: "opus", clockRate: 48000, channels: 2)),
                    .rtcpFeedback(SDP.RTCPFeedback(payloadType: pt, type: "transport-cc")),
                ]
            } else {
                m.attributes += [
                    .rtpmap(SDP.RTPMap(payloadType: pt, encodingName: "VP8", clockRate: 90000)),
                    .rtcpFeedback(SDP.RTCPFeedback(payloadType: pt, type: "nack")),
                    .rtcpFeedback(SDP.RTCPFeedback(payloadType: pt, type: "nack", subtype: "pli")),
                    .rtcpFeedback(SDP.RTCPFeedback(payloadType: pt, type: "ccm", subtype: "fir")),
                    .rtcpFeedback(SDP.RTCPFeedback(payloadType: pt, type: "transport-cc")),
                ]
            }
            m.formats = ["\(pt)"]
            if let rtx = track.rtxPayloadType {
                m.attributes += [
                    .rtpmap(SDP.RTPMap(payloadType: rtx, encodingName: "rtx", clockRate: 90000)),
                    .fmtp(SDP.FormatParameters(payloadType: rtx, rawParameters: "apt=\(pt)")),
                ]
                m.formats.append("\(rtx)")
            }
            if track.direction == .send || track.direction == .sendReceive {
                if track.ssrcs.count > 1 { m.attributes.append(.ssrcGroup(SDP.SSRCGroup(semantics: .sim, ssrcs: track.ssrcs))) }
                for (i, ssrc) in track.ssrcs.enumerated() where i < track.rtxSSRCs.count {
                    m.attributes.append(.ssrcGroup(SDP.SSRCGroup(semantics: .fid, ssrcs: [ssrc, track.rtxSSRCs[i]])))
                }
                for ssrc in track.ssrcs + track.rtxSSRCs {
                    m.attributes.append(.ssrc(SDP.SSRCAttribute(ssrc: ssrc, attribute: "cname", value: "starling-client")))
                }
            }
            offer.media.append(m)
        }
        return offer.serialized()
    }

    /// Applies the answer and creates the transport. Returns the server's candidates (UDP host candidates,
    /// which an ICE-lite server announces).
    @discardableResult
    public func applyAnswer(_ text: String, now: Instant) throws -> [STUNAddress] {
        let answer: SessionDescription
        do {
            answer = try SessionDescription(parsing: text)
        } catch {
            throw ClientError.badAnswer("\(error)")
        }
        guard let first = answer.media.first(where: { $0.port != 0 }) else { throw ClientError.badAnswer("no accepted m-line") }
        guard let credentials = answer.iceCredentials(for: first) else { throw ClientError.badAnswer("no ICE credentials") }
        let fingerprints = answer.fingerprints(for: first)
        let candidates = serverCandidates(of: first)
        guard !candidates.isEmpty else { throw ClientError.badAnswer("no \(iceTransport == .tcp ? "passive TCP" : "UDP") candidate") }
        for m in answer.media where !m.isRejected {
            guard let mid = m.mid, let stream = Self.announcedStream(in: m) else { continue }
            receivedStreams[mid] = stream
        }
        let remote = ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd)
        if let transport {
            // A renegotiation; new credentials on either side are an ICE restart (RFC 8445 §9).
            if remote != remoteCredentials || transportCredentials != localCredentials {
                transport.restartICE(local: localCredentials, remote: remote, now: now)
                transportCredentials = localCredentials
            }
        } else {
            // RFC 5763 §5: the answerer's passive makes us the DTLS client.
            let role: DTLSEndpoint.Role = (first.setup ?? answer.setup) == .active ? .server : .client
            try makeTransport(credentials: credentials, candidates: candidates, role: role, fingerprints: fingerprints, now: now)
        }
        remoteCredentials = remote
        return candidates
    }

    /// Answers an offer from the server (its subscribing connection, RFC 8829 §5.3): each sendonly m-line is
    /// received (recvonly) with the offer's first codec and its RTX, feedback and extensions as offered;
    /// inactive and rejected m-lines stay so. The first offer creates the transport: we are the controlling
    /// ICE agent (the server is ICE-lite) and answer `a=setup:active`, so we are the DTLS client (RFC 5763
    /// §5). Later offers (renegotiation) keep the transport and update `receivedStreams`.
    public func answer(offer text: String, now: Instant) throws -> String {
        let offer: SessionDescription
        do {
            offer = try SessionDescription(parsing: text)
        } catch {
            throw ClientError.badAnswer("the offer does not parse: \(error)")
        }
        guard let first = offer.media.first(where: { !$0.isRejected }), let credentials = offer.iceCredentials(for: first)
        else { throw ClientError.badAnswer("the offer has no ICE credentials") }
        let remote = ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd)
        // The server restarted ICE: we answer with new credentials too (RFC 8445 §9.1).
        let restart = transport != nil && remote != remoteCredentials
        if restart { localCredentials = ICECredentials.random() }
        var answer = SessionDescription(
            origin: SDP.Origin(sessionID: String(UInt32.random(in: 1...UInt32.max)), sessionVersion: offer.origin.sessionVersion))
        var bundled: [String] = []
        for m in offer.media {
            guard let mid = m.mid else { throw ClientError.badAnswer("an offered m-line has no mid") }
            var section = MediaDescription(kind: m.kind, port: 9, proto: m.proto, connection: SDP.Connection(address: "0.0.0.0"))
            guard !m.isRejected, let codec = m.codecs.first(where: { !$0.isRTX }) else {
                section.port = 0
                section.formats = m.formats
                section.attributes = [.mid(mid)]
                answer.media.append(section)
                continue
            }
            bundled.append(mid)
            section.attributes = [
                .iceUfrag(localCredentials.ufrag), .icePwd(localCredentials.pwd), .fingerprint(certificate.fingerprint),
                .setup(.active), .mid(mid),
            ]
            section.attributes += m.extmaps.map { .extmap(SDP.ExtMap(id: $0.id, uri: $0.uri)) }
            section.attributes += [.direction(m.effectiveDirection == .sendonly ? .recvonly : .inactive), .rtcpMux]
            section.attributes += candidateAttributes
            if m.rtcpRsize { section.attributes.append(.rtcpRsize) }
            section.appendCodec(codec)
            if let rtx = m.rtxPayloadType(for: codec.payloadType).flatMap({ m.codec(payloadType: $0) }) { section.appendCodec(rtx) }
            answer.media.append(section)
            receivedStreams[mid] = m.effectiveDirection == .sendonly ? Self.announcedStream(in: m) : nil
        }
        answer.attributes.append(.group(SDP.Group(semantics: .bundle, mids: bundled)))
        defer { remoteCredentials = remote }
        if let transport, restart {
            transport.restartICE(local: localCredentials, remote: remote, now: now)
            transportCredentials = localCredentials
        }
        // Nothing accepted yet (say, only a data channel line we do not take): no transport until something is.
        if transport == nil, !bundled.isEmpty {
            let candidates = serverCandidates(of: first)
            guard !candidates.isEmpty else {
                throw ClientError.badAnswer("the offer has no \(iceTransport == .tcp ? "passive TCP" : "UDP") candidate")
            }
            try makeTransport(
                credentials: credentials, candidates: candidates, role: .client, fingerprints: offer.fingerprints(for: first),
                now: now)
        }
        return answer.serialized()
    }

    private var candidateAttributes: [SDP.Attribute] {
        localCandidates.isEmpty ? [] : localCandidates.map { .candidate($0) } + [.endOfCandidates]
    }

    /// The UDP host candidates of an m-line (what an ICE-lite server announces).
    /// The server's candidates of `iceTransport`: UDP ones, or TCP ones we can connect to (`tcptype passive`).
    private func serverCandidates(of m: MediaDescription) -> [STUNAddress] {
        let wanted = m.candidates.filter {
            iceTransport == .udp ? $0.isUDP : $0.isTCP && $0.tcpType?.lowercased() == "passive"
        }
        return wanted.compactMap {
            STUNAddress("\($0.address.contains(":") ? "[\($0.address)]" : $0.address):\($0.port)")?.over(iceTransport)
        }
    }

    /// The media SSRC an m-line announces and its RTX SSRC (`a=ssrc-group:FID`, RFC 4588 §8.7).
    private static func announcedStream(in m: MediaDescription) -> ReceivedStream? {
        guard let ssrc = m.ssrcAttributes.first?.ssrc else { return nil }
        let fid = m.ssrcGroup(.fid).flatMap { $0.ssrcs.count == 2 && $0.ssrcs[0] == ssrc ? $0.ssrcs[1] : nil }
        return ReceivedStream(ssrc: ssrc, rtxSSRC: fid)
    }

    /// Our transport towards the server: the controlling ICE agent (RFC 8445 §7.2) and the given DTLS role.
    private func makeTransport(
        credentials: (ufrag: String, pwd: String), candidates: [STUNAddress], role: DTLSEndpoint.Role,
        fingerprints: [SDP.Fingerprint], now: Instant
    ) throws {
        transportCredentials = localCredentials
        transport = try PeerTransport(
            configuration: .init(
                localCredentials: localCredentials, remoteCredentials: ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd),
                ice: .controlling(remoteCandidates: candidates, tieBreaker: UInt64.random(in: 0...UInt64.max)),
                dtls: .init(certificate: certificate, role: role, remoteFingerprints: fingerprints)),
            now: now)
    }
}
