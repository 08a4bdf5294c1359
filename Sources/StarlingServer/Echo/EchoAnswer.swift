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
    let transport: BundledAnswer
    var dtlsRole: DTLSEndpoint.Role { transport.dtlsRole }
    var remoteCredentials: ICECredentials { transport.remoteCredentials }
    var remoteFingerprints: [SDP.Fingerprint] { transport.remoteFingerprints }

    init(
        offer: SessionDescription, local: ICECredentials, fingerprint: SDP.Fingerprint, candidateAddresses: [String],
        port: Int, newSSRC: () -> UInt32
    ) throws {
        let transport = try BundledAnswer(
            offer: offer, local: local, fingerprint: fingerprint, candidateAddresses: candidateAddresses, port: port)
        var answer = transport.makeSession(name: "starling-echo")
        var tracks: [Track] = []
        var midExtensionID: UInt8?
        var bundled: [String] = []
        for m in offer.media {
            guard let mid = m.mid else { throw Unanswerable(description: "m=\(m.kind) without a=mid") }
            let wanted = m.kind == .audio ? "opus" : m.kind == .video ? "vp8" : nil
            guard let wanted, m.port != 0, let codec = m.codecs.first(where: { $0.name.lowercased() == wanted }) else {
                answer.media.append(BundledAnswer.rejected(m, mid: mid))
                continue
            }
            bundled.append(mid)
            var section = transport.accepted(m, mid: mid)
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
        BundledAnswer.finish(&answer, bundled: bundled, streamIDs: ["starling-echo"])
        self.transport = transport
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
