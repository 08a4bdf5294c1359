public import StarlingTransport
public import StarlingWire

/// The client side of a WebRTC peer on Starling's own cores (sans-IO): it builds an SDP offer for the
/// tracks it sends, applies the server's answer, and then runs a `PeerTransport` with a controlling ICE
/// agent (RFC 8445 §7.2) and the DTLS role the answer's `a=setup` gives it (RFC 5763 §5). Used by our
/// tests and by the load tool; the caller moves datagrams between it and a socket.
public final class ClientPeer {
    public struct Track: Hashable, Sendable {
        public enum Kind: String, Sendable { case audio, video }
        public var kind: Kind
        public var mid: String
        public var ssrc: UInt32
        public var payloadType: UInt8
        public init(kind: Kind, mid: String, ssrc: UInt32, payloadType: UInt8) {
            self.kind = kind
            self.mid = mid
            self.ssrc = ssrc
            self.payloadType = payloadType
        }
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
    public let localCredentials = ICECredentials.random()
    public let tracks: [Track]
    public private(set) var transport: PeerTransport?
    /// Extension id we use for `sdes:mid` (RFC 8843 §15).
    public static let midExtensionID: UInt16 = 4

    public init(tracks: [Track], certificate: DTLSCertificate) {
        self.tracks = tracks
        self.certificate = certificate
    }

    /// The offer (JSEP RFC 8829 §5.2): one sendrecv m-line per track, bundled, rtcp-mux, actpass,
    /// VP8 or Opus with NACK/PLI feedback.
    public func makeOffer() -> String {
        var offer = SessionDescription(origin: SDP.Origin(sessionID: String(UInt32.random(in: 1...UInt32.max)), sessionVersion: 1))
        offer.attributes.append(.group(SDP.Group(semantics: .bundle, mids: tracks.map(\.mid))))
        for track in tracks {
            var m = MediaDescription(
                kind: track.kind == .audio ? .audio : .video, port: 9, proto: "UDP/TLS/RTP/SAVPF",
                connection: SDP.Connection(address: "0.0.0.0"))
            m.attributes = [
                .iceUfrag(localCredentials.ufrag), .icePwd(localCredentials.pwd), .fingerprint(certificate.fingerprint),
                .setup(.actpass), .mid(track.mid),
                .extmap(SDP.ExtMap(id: Self.midExtensionID, uri: SDP.ExtMap.URI.sdesMid)),
                .direction(.sendrecv), .rtcpMux, .rtcpRsize,
            ]
            if track.kind == .audio {
                m.attributes += [
                    .rtpmap(SDP.RTPMap(payloadType: track.payloadType, encodingName: "opus", clockRate: 48000, channels: 2))
                ]
            } else {
                m.attributes += [
                    .rtpmap(SDP.RTPMap(payloadType: track.payloadType, encodingName: "VP8", clockRate: 90000)),
                    .rtcpFeedback(SDP.RTCPFeedback(payloadType: track.payloadType, type: "nack")),
                    .rtcpFeedback(SDP.RTCPFeedback(payloadType: track.payloadType, type: "nack", subtype: "pli")),
                ]
            }
            m.formats = ["\(track.payloadType)"]
            m.attributes.append(.ssrc(SDP.SSRCAttribute(ssrc: track.ssrc, attribute: "cname", value: "starling-client")))
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
        let candidates = first.candidates.filter { $0.transport.lowercased() == "udp" }.compactMap {
            STUNAddress("\($0.address.contains(":") ? "[\($0.address)]" : $0.address):\($0.port)")
        }
        guard !candidates.isEmpty else { throw ClientError.badAnswer("no UDP candidate") }
        // RFC 5763 §5: the answerer's passive makes us the DTLS client.
        let role: DTLSEndpoint.Role = (first.setup ?? answer.setup) == .active ? .server : .client
        transport = try PeerTransport(
            configuration: .init(
                localCredentials: localCredentials, remoteCredentials: ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd),
                ice: .controlling(remoteCandidates: candidates, tieBreaker: UInt64.random(in: 0...UInt64.max)),
                dtls: .init(certificate: certificate, role: role, remoteFingerprints: fingerprints)),
            now: now)
        return candidates
    }
}
