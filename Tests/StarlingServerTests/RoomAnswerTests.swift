import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// The SDP side of a room transport: which m-lines become producers and consumers, with what encodings,
/// payload types, extensions and feedback, and which offers are refused.
@Suite struct RoomAnswerTests {
    static let fingerprint = SDP.Fingerprint(hashFunction: "sha-256", bytes: [UInt8](repeating: 0xAB, count: 32))

    static func answer(_ sdp: String, sources: [String: RoomAnswer.Source] = [:]) throws -> RoomAnswer {
        var next: UInt32 = 1000
        return try RoomAnswer(
            offer: try SessionDescription(parsing: sdp), local: ICECredentials.random(), fingerprint: fingerprint,
            candidateAddresses: ["127.0.0.1"], port: 40000, sources: sources, cname: "starling",
            newSSRC: {
                next += 1
                return next
            })
    }

    /// A Chromium-style publishing offer: Opus with audio level, VP8 with RTX and three rids (RFC 8853),
    /// and a data channel we do not take yet.
    static let chromeOffer = """
        v=0\r
        o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
        s=-\r
        t=0 0\r
        a=group:BUNDLE 0 1 2\r
        a=msid-semantic: WMS stream\r
        m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r
        c=IN IP4 0.0.0.0\r
        a=ice-ufrag:abcd\r
        a=ice-pwd:abcdefghijklmnopqrstuvwx\r
        a=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00\r
        a=setup:actpass\r
        a=mid:0\r
        a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r
        a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r
        a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
        a=sendonly\r
        a=rtcp-mux\r
        a=rtpmap:111 opus/48000/2\r
        a=rtcp-fb:111 transport-cc\r
        a=fmtp:111 minptime=10;useinbandfec=1\r
        a=rtpmap:0 PCMU/8000\r
        a=ssrc:1111 cname:x\r
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r
        c=IN IP4 0.0.0.0\r
        a=ice-ufrag:abcd\r
        a=ice-pwd:abcdefghijklmnopqrstuvwx\r
        a=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00\r
        a=setup:actpass\r
        a=mid:1\r
        a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r
        a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
        a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r
        a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r
        a=extmap:13 urn:ietf:params:rtp-hdrext:toffset\r
        a=sendonly\r
        a=rtcp-mux\r
        a=rtcp-rsize\r
        a=rtpmap:96 VP8/90000\r
        a=rtcp-fb:96 goog-remb\r
        a=rtcp-fb:96 transport-cc\r
        a=rtcp-fb:96 ccm fir\r
        a=rtcp-fb:96 nack\r
        a=rtcp-fb:96 nack pli\r
        a=rtpmap:97 rtx/90000\r
        a=fmtp:97 apt=96\r
        a=rtpmap:102 H264/90000\r
        a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r
        a=rid:q send\r
        a=rid:h send\r
        a=rid:f send\r
        a=simulcast:send q;h;f\r
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r
        c=IN IP4 0.0.0.0\r
        a=mid:2\r
        a=sctp-port:5000\r

        """

    @Test func chromiumStylePublishingOffer() throws {
        let plan = try Self.answer(Self.chromeOffer)
        #expect(plan.dtlsRole == .server)
        #expect(plan.remoteCredentials.ufrag == "abcd")
        #expect(plan.published.map(\.mid) == ["0", "1"])
        #expect(plan.subscribed.isEmpty)

        let audio = plan.published[0].parameters
        #expect(audio.kind == .audio && audio.codec == RTPCodec(kind: .opus, payloadType: 111, clockRate: 48000))
        #expect(audio.encodings == [.init(ssrc: 1111)])
        #expect(audio.extensions == HeaderExtensionIDs(mid: 4, transportWideCC: 3, audioLevel: 1))

        let video = plan.published[1].parameters
        #expect(video.codec == RTPCodec(kind: .vp8, payloadType: 96, clockRate: 90000, rtxPayloadType: 97))
        #expect(video.encodings.map(\.rid) == ["q", "h", "f"])
        #expect(video.extensions == HeaderExtensionIDs(mid: 4, rid: 10, repairedRID: 11, transportWideCC: 3))
        #expect(video.nack && video.remb && video.keyframeRequest == .pli)

        let answer = plan.answer
        #expect(answer.attributes.contains(.iceLite))
        #expect(answer.bundleGroups.first?.mids == ["0", "1"])
        let m = answer.media[1]
        #expect(m.effectiveDirection == .recvonly)
        #expect(m.payloadTypes == [96, 97], "VP8 and its RTX; H.264 packetization-mode 0 is not forwarded")
        #expect(m.rids.map(\.id) == ["q", "h", "f"] && m.rids.allSatisfy { $0.direction == .recv })
        #expect(m.simulcast == SDP.Simulcast(recvRIDs: ["q", "h", "f"]))
        #expect(m.extmapID(for: SDP.ExtMap.URI.toffset) == nil, "extensions we do not use are left out")
        #expect(m.candidates.map(\.address) == ["127.0.0.1"] && m.candidates.first?.port == 40000)
        #expect(answer.media[2].isRejected && answer.media[2].mid == "2", "the data channel section is rejected")
        // The answer parses back.
        _ = try SessionDescription(parsing: answer.serialized())
    }

    @Test func ssrcSimulcastAndSubscribingMLines() throws {
        let producer = ProducerID(7)
        let offer = """
            v=0\r
            o=- 1 1 IN IP4 127.0.0.1\r
            s=-\r
            t=0 0\r
            a=group:BUNDLE a b\r
            a=ice-ufrag:abcd\r
            a=ice-pwd:abcdefghijklmnopqrstuvwx\r
            a=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00\r
            a=setup:passive\r
            m=video 9 UDP/TLS/RTP/SAVPF 100 101\r
            a=mid:a\r
            a=sendonly\r
            a=rtpmap:100 VP8/90000\r
            a=rtcp-fb:100 ccm fir\r
            a=rtpmap:101 rtx/90000\r
            a=fmtp:101 apt=100\r
            a=ssrc-group:SIM 10 20\r
            a=ssrc-group:FID 10 11\r
            a=ssrc-group:FID 20 21\r
            a=ssrc:10 cname:x\r
            a=ssrc:11 cname:x\r
            a=ssrc:20 cname:x\r
            a=ssrc:21 cname:x\r
            m=video 9 UDP/TLS/RTP/SAVPF 98 99\r
            a=mid:b\r
            a=recvonly\r
            a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r
            a=rtpmap:98 VP8/90000\r
            a=rtcp-fb:98 nack\r
            a=rtpmap:99 rtx/90000\r
            a=fmtp:99 apt=98\r

            """
        let plan = try Self.answer(
            offer, sources: ["b": .init(producer: producer, kind: .video, codec: .vp8, streamID: "alice", trackID: "cam")])
        #expect(plan.dtlsRole == .client, "a passive offerer makes us the DTLS client (RFC 5763 §5)")
        let published = try #require(plan.published.first?.parameters)
        #expect(published.encodings == [.init(ssrc: 10, rtxSSRC: 11), .init(ssrc: 20, rtxSSRC: 21)])
        #expect(published.keyframeRequest == .fir && !published.nack)
        let subscribed = try #require(plan.subscribed.first)
        #expect(subscribed.producer == producer && subscribed.mid == "b")
        #expect(subscribed.parameters.codec == RTPCodec(kind: .vp8, payloadType: 98, clockRate: 90000, rtxPayloadType: 99))
        #expect(subscribed.parameters.extensions == HeaderExtensionIDs(absSendTime: 5))
        #expect(subscribed.parameters.nack)
        let m = plan.answer.media[1]
        #expect(m.effectiveDirection == .sendonly)
        let ssrc = subscribed.parameters.ssrc
        let rtx = try #require(subscribed.parameters.rtxSSRC)
        #expect(m.ssrcGroup(.fid)?.ssrcs == [ssrc, rtx])
        #expect(m.msids == [SDP.MSID(streamID: "alice", trackID: "cam")])
        #expect(Set(m.ssrcAttributes.map(\.ssrc)) == [ssrc, rtx])
    }

    @Test func refusedOffers() throws {
        let head = """
            v=0\r
            o=- 1 1 IN IP4 127.0.0.1\r
            s=-\r
            t=0 0\r
            a=ice-ufrag:abcd\r
            a=ice-pwd:abcdefghijklmnopqrstuvwx\r
            a=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00\r

            """
        // Only codecs we do not forward.
        #expect(throws: RoomAnswer.Unanswerable.self) {
            try Self.answer(head + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:0 PCMU/8000\r\n")
        }
        // A receiving m-line nobody feeds, and nothing else.
        #expect(throws: RoomAnswer.Unanswerable.self) {
            try Self.answer(head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n")
        }
        // A receiving m-line whose source publishes a codec the offer lacks.
        #expect(throws: RoomAnswer.Unanswerable.self) {
            try Self.answer(
                head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n",
                sources: ["0": .init(producer: ProducerID(1), kind: .video, codec: .h264, streamID: "s", trackID: "t")])
        }
        // No mid.
        #expect(throws: RoomAnswer.Unanswerable.self) {
            try Self.answer(head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n")
        }
        // No fingerprint.
        #expect(throws: RoomAnswer.Unanswerable.self) {
            try Self.answer(
                head.replacingOccurrences(of: "a=fingerprint", with: "a=x-fingerprint")
                    + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n")
        }
    }
}
