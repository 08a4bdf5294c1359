import StarlingTransport
import StarlingWire

/// Builds the SDP answer of the echo endpoint (JSEP RFC 8829 §5.3 as an ICE-lite peer): every audio and
/// video m-line of the offer is answered sendrecv with Opus or VP8 (the offer's payload types, parameters
/// and feedback kept), one SSRC of ours per m-line for the echoed stream, our ICE credentials, our
/// certificate fingerprint and host candidates on the configured addresses only. Other m-lines are
/// rejected (port 0, RFC 8829 §5.3.1).
struct EchoAnswer {
    struct Track: Hashable {
        var mid: String
        var kind: SDP.MediaKind
        var payloadType: UInt8
        /// Our SSRC for the echoed stream.
        var echoSSRC: UInt32
        /// The SSRC the peer announced for this m-line, when it did (a=ssrc).
        var announcedSourceSSRCs: [UInt32]
    }

    struct Unanswerable: Error, CustomStringConvertible {
        var description: String
    }

    var answer: SessionDescription
    var tracks: [Track]
    /// Extension id of `sdes:mid` in the offer (kept in the answer), if offered.
    var midExtensionID: UInt8?
    var dtlsRole: DTLSEndpoint.Role
    var remoteCredentials: ICECredentials
    var remoteFingerprints: [SDP.Fingerprint]

    init(
        offer: SessionDescription, local: ICECredentials, fingerprint: SDP.Fingerprint, candidateAddresses: [String],
        port: Int, newSSRC: () -> UInt32
    ) throws {
        guard let firstMedia = offer.media.first else { throw Unanswerable(description: "the offer has no m= line") }
        guard let credentials = offer.iceCredentials(for: firstMedia) else {
            throw Unanswerable(description: "the offer has no a=ice-ufrag/a=ice-pwd")
        }
        remoteCredentials = ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd)
        remoteFingerprints = offer.fingerprints(for: firstMedia)
        guard !remoteFingerprints.isEmpty else { throw Unanswerable(description: "the offer has no a=fingerprint") }
        // RFC 5763 §5: answer an actpass or active offer with passive (we are the DTLS server).
        let offeredSetup = firstMedia.setup ?? offer.setup ?? .actpass
        let ourSetup: SDP.Setup = offeredSetup == .passive ? .active : .passive
        dtlsRole = ourSetup == .active ? .client : .server

        var answer = SessionDescription(origin: SDP.Origin(sessionID: String(UInt64.random(in: 1...UInt64(Int64.max))), sessionVersion: 1))
        answer.sessionName = "starling-echo"
        answer.attributes.append(.iceLite)
        var tracks: [Track] = []
        var midExtensionID: UInt8?
        var bundled: [String] = []
        let candidates = candidateAddresses.enumerated().map { i, address in
            ICECandidate(
                foundation: "\(i + 1)", priority: UInt32(2_130_706_431 - i), address: address, port: UInt16(clamping: port))
        }
        for m in offer.media {
            guard let mid = m.mid else { throw Unanswerable(description: "m=\(m.kind) without a=mid") }
            var section = MediaDescription(kind: m.kind, port: 9, proto: m.proto, connection: SDP.Connection(address: "0.0.0.0"))
            let wanted = m.kind == .audio ? "opus" : m.kind == .video ? "vp8" : nil
            guard let wanted, m.port != 0, let codec = m.codecs.first(where: { $0.name.lowercased() == wanted }) else {
                // Rejected m-line (RFC 8829 §5.3.1): port 0, same format list, mid kept.
                section.port = 0
                section.formats = m.formats
                section.attributes = [.mid(mid)]
                answer.media.append(section)
                continue
            }
            bundled.append(mid)
            section.attributes = candidates.map { .candidate($0) } + [
                .endOfCandidates, .iceUfrag(local.ufrag), .icePwd(local.pwd), .iceOptions(["ice2"]),
                .fingerprint(fingerprint), .setup(ourSetup), .mid(mid),
            ]
            if let id = m.extmapID(for: SDP.ExtMap.URI.sdesMid) {
                section.attributes.append(.extmap(SDP.ExtMap(id: id, uri: SDP.ExtMap.URI.sdesMid)))
                midExtensionID = UInt8(clamping: id)
            }
            section.attributes.append(.direction(m.direction == .recvonly ? .sendonly : m.direction == .sendonly ? .recvonly : .sendrecv))
            section.attributes.append(.rtcpMux)
            if m.rtcpRsize { section.attributes.append(.rtcpRsize) }
            var kept = codec
            kept.feedback = codec.feedback.filter { ["nack", "ccm"].contains($0.type) }
            section.appendCodec(kept)
            let echoSSRC = newSSRC()
            section.attributes.append(.msid(SDP.MSID(streamID: "starling-echo", trackID: "echo-\(mid)")))
            section.attributes.append(.ssrc(SDP.SSRCAttribute(ssrc: echoSSRC, attribute: "cname", value: "starling-echo")))
            answer.media.append(section)
            tracks.append(
                Track(
                    mid: mid, kind: m.kind, payloadType: codec.payloadType, echoSSRC: echoSSRC,
                    announcedSourceSSRCs: m.ssrcAttributes.map(\.ssrc).uniqued()))
        }
        guard !tracks.isEmpty else { throw Unanswerable(description: "the offer has no audio (Opus) or video (VP8) to echo") }
        answer.attributes.insert(.group(SDP.Group(semantics: .bundle, mids: bundled)), at: 0)
        answer.attributes.append(.msidSemantic(SDP.MSIDSemantic(semantic: "WMS", identifiers: ["starling-echo"])))
        self.answer = answer
        self.tracks = tracks
        self.midExtensionID = midExtensionID
    }
}

extension Array where Element: Hashable {
    fileprivate func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
