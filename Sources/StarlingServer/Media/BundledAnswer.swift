import StarlingTransport
import StarlingWire

/// The transport half of every answer Starling gives (the echo endpoint's and a room's): we are an
/// ICE-lite peer (RFC 8445 §2.5) with host candidates on the configured addresses only, one DTLS
/// transport for every accepted m-line (BUNDLE, RFC 8843) with RTP/RTCP multiplexing (RFC 5761), and the
/// DTLS server unless the offerer is passive (RFC 5763 §5).
struct BundledAnswer {
    struct Unanswerable: Error, CustomStringConvertible {
        var description: String
        /// The offer is well formed but claims more than a configured limit allows.
        var isLimit = false
    }

    let remoteCredentials: ICECredentials
    let remoteFingerprints: [SDP.Fingerprint]
    let dtlsRole: DTLSEndpoint.Role
    let setup: SDP.Setup
    let local: ICECredentials
    let fingerprint: SDP.Fingerprint
    let candidates: [ICECandidate]

    /// `setup`: the role this transport already has, for a renegotiation (RFC 8842 §5.5: an answer in a later
    /// exchange keeps the DTLS role of the association it continues).
    init(
        offer: SessionDescription, local: ICECredentials, fingerprint: SDP.Fingerprint, candidateAddresses: [String],
        port: Int, tcpPort: Int? = nil, setup existing: SDP.Setup? = nil
    ) throws(Unanswerable) {
        guard let first = offer.media.first(where: { !$0.isRejected }) else {
            throw Unanswerable(description: "the offer has no m-line that is not rejected")
        }
        guard let credentials = offer.iceCredentials(for: first) else {
            throw Unanswerable(description: "the offer has no a=ice-ufrag/a=ice-pwd")
        }
        remoteCredentials = ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd)
        remoteFingerprints = offer.fingerprints(for: first)
        guard !remoteFingerprints.isEmpty else { throw Unanswerable(description: "the offer has no a=fingerprint") }
        // RFC 5763 §5: answer an actpass or active offer with passive (we are the DTLS server).
        setup = existing ?? (offer.setup(for: first) == .passive ? .active : .passive)
        dtlsRole = setup == .active ? .client : .server
        self.local = local
        self.fingerprint = fingerprint
        candidates = Self.hostCandidates(addresses: candidateAddresses, port: port, tcpPort: tcpPort)
    }

    /// Host candidates on the configured addresses only, the first preferred: UDP on `port`, and with
    /// `tcpPort` a passive ICE-TCP candidate on each address too (RFC 6544 §4.5, `tcptype passive`).
    ///
    /// Priorities follow RFC 8445 §5.1.2.1: type preference 126 (host) for both, local preference 65535
    /// less the address's rank for UDP, and for TCP RFC 6544 §4.2's (2^13 * direction-pref + other-pref)
    /// with direction-pref 4 for passive, so that a peer reaching us both ways prefers UDP.
    static func hostCandidates(addresses: [String], port: Int, tcpPort: Int? = nil) -> [ICECandidate] {
        let udp = addresses.enumerated().map { i, address in
            ICECandidate(
                foundation: "\(i + 1)", priority: priority(localPreference: 65_535 - i), address: address,
                port: UInt16(clamping: port))
        }
        guard let tcpPort else { return udp }
        let tcp = addresses.enumerated().map { i, address in
            ICECandidate(
                foundation: "\(addresses.count + i + 1)", transport: "tcp",
                priority: priority(localPreference: (1 << 13) * 4 + 8191 - i), address: address,
                port: UInt16(clamping: tcpPort), tcpType: "passive")
        }
        return udp + tcp
    }

    /// RFC 8445 §5.1.2.1 for a host candidate of component 1.
    private static func priority(localPreference: Int) -> UInt32 {
        UInt32(126 << 24 | max(0, min(localPreference, 65_535)) << 8 | 255)
    }

    /// The transport attributes every bundled m-line of ours carries: candidates, ICE credentials and
    /// options, fingerprint, DTLS setup, mid.
    static func transportAttributes(
        candidates: [ICECandidate], local: ICECredentials, fingerprint: SDP.Fingerprint, setup: SDP.Setup, mid: String
    ) -> [SDP.Attribute] {
        candidates.map { .candidate($0) } + [
            .endOfCandidates, .iceUfrag(local.ufrag), .icePwd(local.pwd), .iceOptions(["ice2"]),
            .fingerprint(fingerprint), .setup(setup), .mid(mid),
        ]
    }

    /// An empty ICE-lite session description to add the media sections to; a renegotiation keeps the
    /// session id and raises the version (RFC 3264 §8). `extmapAllowMixed` when the offer allows one- and
    /// two-byte header extensions in one stream (RFC 8285 §6).
    func makeSession(name: String, origin: SDP.Origin? = nil, extmapAllowMixed: Bool = false) -> SessionDescription {
        var answer = SessionDescription(
            origin: origin ?? SDP.Origin(sessionID: String(UInt64.random(in: 1...UInt64(Int64.max))), sessionVersion: 1))
        answer.sessionName = name
        answer.attributes = Self.sessionAttributes(local: local, fingerprint: fingerprint)
        if extmapAllowMixed { answer.attributes.append(.extmapAllowMixed) }
        return answer
    }

    /// What every session description of ours carries at session level besides the media sections' own
    /// copies: ICE-lite, the ICE credentials (RFC 8839 §5.4) and the fingerprint (RFC 8122 §5), so that a
    /// parser that looks for them at session level, or in a rejected section, finds them.
    static func sessionAttributes(local: ICECredentials, fingerprint: SDP.Fingerprint) -> [SDP.Attribute] {
        [.iceLite, .iceUfrag(local.ufrag), .icePwd(local.pwd), .fingerprint(fingerprint)]
    }

    /// The answer to an m-line we refuse (RFC 8829 §5.3.1): port 0, the same format list, the mid kept.
    static func rejected(_ m: MediaDescription, mid: String) -> MediaDescription {
        var section = MediaDescription(kind: m.kind, port: 0, proto: m.proto, connection: SDP.Connection(address: "0.0.0.0"))
        section.formats = m.formats
        section.attributes = [.mid(mid)]
        return section
    }

    /// An accepted m-line with the transport attributes (candidates, ICE, DTLS, mid); the caller adds
    /// direction, codecs and the rest.
    func accepted(_ m: MediaDescription, mid: String) -> MediaDescription {
        var section = MediaDescription(kind: m.kind, port: 9, proto: m.proto, connection: SDP.Connection(address: "0.0.0.0"))
        section.attributes = Self.transportAttributes(
            candidates: candidates, local: local, fingerprint: fingerprint, setup: setup, mid: mid)
        return section
    }

    /// Ends the session: the BUNDLE group of the accepted mids first (RFC 8843 §7.3), when the offer had one,
    /// and the msid semantic.
    static func finish(_ answer: inout SessionDescription, bundled: [String]?, streamIDs: [String]) {
        if let bundled { answer.attributes.insert(.group(SDP.Group(semantics: .bundle, mids: bundled)), at: 0) }
        answer.attributes.append(.msidSemantic(SDP.MSIDSemantic(semantic: "WMS", identifiers: streamIDs)))
    }
}
