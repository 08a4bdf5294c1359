import Testing
@testable import StarlingWire

/// Offers captured from Chromium 156 and aiortc 1.16 on loopback (scripts/capture-sdp-fixtures.py).
@Suite struct SDPFixtureTests {
    typealias URI = SDP.ExtMap.URI

    @Test(arguments: SDPFixtures.names)
    func serializesBackByteForByte(name: String) throws {
        let text = try SDPFixtures.text(name)
        let sdp = try SessionDescription(parsing: text)
        #expect(Array(sdp.serialized().utf8) == Array(text.utf8))
        #expect(try SessionDescription(parsing: sdp.serialized()) == sdp)
    }

    @Test(arguments: SDPFixtures.names)
    func acceptsBareNewlines(name: String) throws {
        let text = try SDPFixtures.text(name)
        let lf = String(decoding: Array(text.utf8).filter { $0 != 0x0D }, as: UTF8.self)
        #expect(try SessionDescription(parsing: lf) == SessionDescription(parsing: text))
        #expect(try SessionDescription(parsing: lf).serialized() == text)
    }

    @Test(arguments: SDPFixtures.names)
    func everyCandidateIsLoopbackAndEveryLineIsTyped(name: String) throws {
        let sdp = try SDPFixtures.parsed(name)
        #expect(sdp.origin.username == "-")
        #expect(sdp.timing == [SDP.Timing(start: 0, stop: 0)])
        #expect(sdp.otherLines.isEmpty)
        for m in sdp.media {
            #expect(m.connection == SDP.Connection(address: "127.0.0.1"))
            #expect(!m.candidates.isEmpty)
            for c in m.candidates {
                #expect(c.address == "127.0.0.1")
                #expect(c.type == .host)
                #expect(c.component == 1)
            }
            #expect(m.setup == .actpass)
            #expect(sdp.iceCredentials(for: m) != nil)
            #expect(m.otherLines.isEmpty)
            // Only attributes the model does not type are left as `.other`.
            let untyped = Set(m.attributes.compactMap { if case .other(let n, _) = $0 { n } else { nil } })
            #expect(untyped.isSubset(of: ["rtcp-xr"]), "\(untyped)")
        }
    }

    @Test func chromiumCameraMic() throws {
        let sdp = try SDPFixtures.parsed("chromium-camera-mic")
        #expect(sdp.origin.sessionID == "2857982470043792986")
        #expect(sdp.origin.sessionVersion == 2)
        #expect(sdp.bundleGroups == [SDP.Group(semantics: .bundle, mids: ["0", "1"])])
        #expect(sdp.bundleGroup(containing: "1")?.mids == ["0", "1"])
        #expect(sdp.bundleGroup(containing: "7") == nil)
        #expect(sdp.extmapAllowMixed)
        #expect(!sdp.isICELite)
        #expect(
            sdp.msidSemantic
                == SDP.MSIDSemantic(
                    semantic: "WMS", identifiers: ["f8a307aa-ec3f-4e60-86d7-c87d8fe9dbae"], spaceAfterColon: true))
        #expect(sdp.media.map(\.kind) == [.audio, .video])
        #expect(sdp.media.map(\.mid) == ["0", "1"])

        let audio = try #require(sdp.media(mid: "0"))
        #expect(audio.port == 49820)
        #expect(audio.proto == "UDP/TLS/RTP/SAVPF")
        #expect(audio.formats == ["111", "63", "9", "0", "8", "13", "110", "126"])
        #expect(audio.direction == .sendrecv)
        #expect(audio.rtcpMux && audio.rtcpRsize)
        #expect(audio.attributes.contains(.rtcp(SDP.RTCPAddress(port: 9, connection: SDP.Connection(address: "0.0.0.0")))))
        #expect(audio.iceUfrag == "wOow")
        #expect(audio.icePwd == "H+/7KYFzmEUi/aGVtWzceWcB")
        #expect(audio.iceOptions == ["trickle"])
        let opus = try #require(audio.codecs.first)
        #expect(opus.payloadType == 111)
        #expect(opus.name == "opus" && opus.clockRate == 48000 && opus.channels == 2)
        #expect(opus.formatParameters == "minptime=10;useinbandfec=1")
        #expect(opus.parameter("useinbandfec") == "1")
        #expect(opus.parameters == [.init(name: "minptime", value: "10"), .init(name: "useinbandfec", value: "1")])
        #expect(opus.hasFeedback("transport-cc"))
        #expect(audio.codec(payloadType: 63)?.parameters == [.init(name: "111/111", value: nil)])
        #expect(audio.codecs.map(\.name) == ["opus", "red", "G722", "PCMU", "PCMA", "CN", "telephone-event", "telephone-event"])
        #expect(audio.extmapID(for: URI.audioLevel) == 1)
        #expect(audio.extmapID(for: URI.absSendTime) == 2)
        #expect(audio.extmapID(for: URI.transportWideCC) == 3)
        #expect(audio.extmapID(for: URI.sdesMid) == 4)
        #expect(audio.otherAttributeValues("rtcp-xr") == ["rcvr-rtt=all"])
        #expect(audio.msids == [SDP.MSID(streamID: "f8a307aa-ec3f-4e60-86d7-c87d8fe9dbae", trackID: "236f893f-1677-4fd5-96c4-5b72ea292e35")])
        #expect(audio.ssrcAttributes.first == SDP.SSRCAttribute(ssrc: 3_252_878_907, attribute: "cname", value: "zC+BO+dnCB/J4j4e"))
        #expect(audio.ssrcAttributes.map(\.attribute) == ["cname", "msid"])

        let fp = try #require(audio.fingerprints.first)
        #expect(fp.hashFunction == "sha-256")
        #expect(fp.bytes.count == 32)
        #expect(fp.bytes.prefix(4) == [0x69, 0x75, 0x55, 0xA4])
        #expect(sdp.fingerprints(for: audio) == [fp])

        let host = try #require(audio.candidates.first)
        #expect(host.foundation == "3393105878")
        #expect(host.isUDP && host.priority == 2_122_260_223 && host.port == 49820)
        #expect(host.extensions.map(\.name) == ["generation", "network-id", "network-cost"])
        #expect(host.extension("network-cost") == "50")
        let tcp = try #require(audio.candidates.last)
        #expect(tcp.isTCP && tcp.tcpType == "active" && tcp.port == 9)

        let video = try #require(sdp.media(mid: "1"))
        let vp8 = try #require(video.codec(payloadType: 96))
        #expect(vp8.name == "VP8" && vp8.clockRate == 90000 && vp8.channels == nil)
        #expect(vp8.feedback.map { [$0.type, $0.subtype ?? ""] } == [
            ["goog-remb", ""], ["transport-cc", ""], ["ccm", "fir"], ["nack", ""], ["nack", "pli"],
        ])
        #expect(vp8.hasFeedback("nack") && vp8.hasFeedback("nack", "pli") && vp8.hasFeedback("transport-cc"))
        #expect(video.rtxPayloadType(for: 96) == 97)
        #expect(video.codec(payloadType: 97)?.associatedPayloadType == 96)
        let h264 = video.codecs.filter { $0.name == "H264" }
        #expect(h264.map(\.payloadType) == [102, 104, 108, 114, 116, 39])
        #expect(h264.first?.parameter("profile-level-id") == "42001f")
        #expect(h264.first?.parameter("packetization-mode") == "1")
        #expect(video.rtxPayloadType(for: 102) == 103)
        #expect(video.codec(payloadType: 45)?.name == "AV1")
        #expect(video.codecs.filter { $0.name == "VP9" }.map(\.payloadType) == [98, 100])
        #expect(video.codecs.count == 23)
        #expect(video.extmapID(for: URI.sdesMid) == 4)
        #expect(video.extmapID(for: URI.rtpStreamID) == 10)
        #expect(video.extmapID(for: URI.repairedRTPStreamID) == 11)
        #expect(video.extmapID(for: URI.absSendTime) == 2)
        #expect(video.extmapID(for: URI.transportWideCC) == 3)
        #expect(video.extmapID(for: URI.dependencyDescriptor) == nil)  // offered only with simulcast
        #expect(video.extmapID(for: URI.audioLevel) == nil)
        #expect(video.ssrcGroup(.fid)?.ssrcs == [1_763_224_221, 2_518_481_997])
        #expect(video.rids.isEmpty && video.simulcast == nil)
    }

    @Test func chromiumSimulcast() throws {
        let sdp = try SDPFixtures.parsed("chromium-simulcast")
        #expect(sdp.bundleGroups.first?.mids == ["0", "1"])
        let audio = try #require(sdp.media.first)
        #expect(audio.direction == .sendonly)
        #expect(audio.codecs.first?.name == "opus")
        let video = try #require(sdp.media.last)
        #expect(video.kind == .video)
        #expect(video.direction == .sendonly)
        #expect(video.rids == ["q", "h", "f"].map { SDP.RID(id: $0, direction: .send) })
        let simulcast = try #require(video.simulcast)
        #expect(simulcast.send == [[.init(rid: "q")], [.init(rid: "h")], [.init(rid: "f")]])
        #expect(simulcast.recv.isEmpty)
        #expect(simulcast.rids(.send) == ["q", "h", "f"])
        // Chromium 156 announces simulcast through rids only: no SIM/FID groups and no a=ssrc lines.
        #expect(video.ssrcGroups.isEmpty && video.ssrcAttributes.isEmpty)
        #expect(video.extmapID(for: URI.rtpStreamID) == 10)
        #expect(video.extmapID(for: URI.repairedRTPStreamID) == 11)
        #expect(video.extmapID(for: URI.dependencyDescriptor) == 12)
        #expect(video.rtxPayloadType(for: 96) == 97)
        #expect(video.fingerprints.first?.bytes.prefix(2) == [0xB3, 0x5F])
    }

    @Test func chromiumDataChannel() throws {
        let sdp = try SDPFixtures.parsed("chromium-datachannel")
        #expect(sdp.bundleGroups.first?.mids == ["0", "1", "2"])
        #expect(sdp.media.map(\.kind) == [.audio, .video, .application])
        let app = try #require(sdp.media(mid: "2"))
        #expect(app.proto == "UDP/DTLS/SCTP")
        #expect(app.formats == ["webrtc-datachannel"])
        #expect(app.payloadTypes.isEmpty && app.codecs.isEmpty)
        #expect(app.sctpPort == 5000)
        #expect(app.maxMessageSize == 262_144)
        #expect(app.direction == nil && app.effectiveDirection == .sendrecv)
        #expect(app.iceUfrag == "NVaI")
        #expect(sdp.media[1].ssrcGroup(.fid)?.ssrcs == [2_577_997_652, 4_058_537_473])
    }

    @Test func aiortcVideoAudio() throws {
        let sdp = try SDPFixtures.parsed("aiortc-video-audio")
        #expect(sdp.origin.address == "0.0.0.0")
        #expect(sdp.bundleGroups.first?.mids == ["0", "1"])
        #expect(sdp.msidSemantic == SDP.MSIDSemantic(semantic: "WMS", identifiers: ["*"]))
        #expect(!sdp.extmapAllowMixed)
        let audio = sdp.media[0], video = sdp.media[1]
        #expect(audio.codecs.map(\.name) == ["opus", "G722", "PCMU", "PCMA"])
        #expect(audio.codecs.first?.payloadType == 96)
        #expect(audio.extmapID(for: URI.sdesMid) == 1)
        #expect(audio.extmapID(for: URI.audioLevel) == 2)
        #expect(audio.hasEndOfCandidates)
        #expect(audio.direction == .sendrecv)
        let candidate = try #require(audio.candidates.first)
        #expect(candidate.foundation.utf8.count == 32 && candidate.extensions.isEmpty)
        #expect(video.codecs.map(\.name) == ["VP8", "rtx", "H264", "rtx", "H264", "rtx"])
        let vp8 = try #require(video.codec(payloadType: 97))
        #expect(vp8.hasFeedback("nack") && vp8.hasFeedback("nack", "pli") && vp8.hasFeedback("goog-remb"))
        #expect(!vp8.hasFeedback("transport-cc"))
        #expect(video.rtxPayloadType(for: 97) == 98)
        #expect(video.codec(payloadType: 99)?.parameter("profile-level-id") == "42001f")
        #expect(video.extmapID(for: URI.absSendTime) == 3)
        #expect(video.ssrcGroup(.fid)?.ssrcs == [4_292_439_787, 224_904_911])
        // aiortc offers three fingerprints (sha-256/384/512).
        #expect(video.fingerprints.map(\.hashFunction) == ["sha-256", "sha-384", "sha-512"])
        #expect(video.fingerprints.map(\.bytes.count) == [32, 48, 64])
        #expect(video.fingerprints.first?.hexValue.hasPrefix("1D:EB:8B:BB") == true)
    }

    @Test func aiortcDataChannel() throws {
        let sdp = try SDPFixtures.parsed("aiortc-datachannel")
        #expect(sdp.bundleGroups.first?.mids == ["0", "1", "2"])
        let app = try #require(sdp.media.last)
        #expect(app.kind == .application && app.mid == "2")
        #expect(app.sctpPort == 5000)
        #expect(app.maxMessageSize == 262_144)
        #expect(app.setup == .actpass)
        #expect(app.hasEndOfCandidates)
        #expect(sdp.media[1].ssrcGroup(.fid)?.ssrcs == [1_053_282_216, 3_981_842_237])
    }
}
