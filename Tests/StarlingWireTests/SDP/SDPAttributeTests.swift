import Testing
@testable import StarlingWire

@Suite struct SDPAttributeTests {
    func attribute(_ line: String) throws -> SDP.Attribute { try SDP.Attribute(parsing: line) }

    /// Each line parses to a typed value and writes back unchanged.
    @Test(arguments: [
        "group:BUNDLE 0 1 2", "group:BUNDLE", "group:LS a b", "msid-semantic: WMS", "msid-semantic:WMS *",
        "ice-lite", "ice-ufrag:F7gI", "ice-pwd:x9cml/YzichV2+XlhiMu8g", "ice-options:trickle ice2",
        "fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB", "setup:passive",
        "setup:holdconn", "extmap-allow-mixed", "mid:audio", "bundle-only", "rtcp-mux", "rtcp-mux-only", "rtcp-rsize",
        "rtcp:53020", "rtcp:9 IN IP6 ::", "end-of-candidates", "sendonly", "inactive", "rtpmap:0 PCMU/8000",
        "rtpmap:111 opus/48000/2", "fmtp:97 apt=96", "fmtp:96", "rtcp-fb:* nack", "rtcp-fb:96 ccm fir",
        "rtcp-fb:96 trr-int 100", "extmap:2/recvonly urn:ietf:params:rtp-hdrext:toffset",
        "extmap:4096 urn:x-nego some attrs", "ssrc:1 cname:a:b", "ssrc:4294967295 label", "ssrc-group:SIM 1 2 3",
        "rid:1 send pt=97,98;max-width=1280;max-height=720", "rid:lo-res_1 recv", "rid:2 recv depend=1;x",
        "simulcast:send 1,~2;3 recv 4", "simulcast:recv ~a", "simulcast:recv r0 send s0;s1", "msid:- track",
        "msid:stream", "sctp-port:5000", "max-message-size:0", "sctpmap:5000 webrtc-datachannel 1024",
        "sctpmap:5000 webrtc-datachannel", "rtcp-xr:rcvr-rtt=all", "x-unknown", "x-empty:", "framerate:29.97",
        "fmtp:webrtc-datachannel max-message-size=100000",
    ])
    func roundTrips(line: String) throws {
        let a = try attribute(line)
        #expect(a.sdpLine == line)
        #expect(try attribute(a.sdpLine) == a)
    }

    @Test func typedValues() throws {
        #expect(try attribute("setup:actpass") == .setup(.actpass))
        #expect(try attribute("recvonly") == .direction(.recvonly))
        #expect(try attribute("rtcp-mux:oops") == .other(name: "rtcp-mux", value: "oops"))
        #expect(try attribute("fmtp:webrtc-datachannel x") == .other(name: "fmtp", value: "webrtc-datachannel x"))
        #expect(try attribute("x-empty:") == .other(name: "x-empty", value: ""))
        #expect(try attribute("x-flag") == .other(name: "x-flag", value: nil))
        #expect(
            try attribute("extmap:2/recvonly urn:ietf:params:rtp-hdrext:toffset")
                == .extmap(SDP.ExtMap(id: 2, direction: .recvonly, uri: SDP.ExtMap.URI.toffset)))
        #expect(try attribute("ssrc:1 cname:a:b") == .ssrc(SDP.SSRCAttribute(ssrc: 1, attribute: "cname", value: "a:b")))
        #expect(try attribute("rtcp-fb:* nack") == .rtcpFeedback(SDP.RTCPFeedback(payloadType: nil, type: "nack")))
        #expect(try attribute("max-message-size:0") == .maxMessageSize(0))
        #expect(try attribute("ice-options:trickle ice2") == .iceOptions(["trickle", "ice2"]))
    }

    /// RFC 8851 §4 restrictions: `pt=` list and named limits, order kept.
    @Test func ridRestrictions() throws {
        guard case .rid(let rid) = try attribute("rid:1 send pt=97,98;max-width=1280;max-height=720") else {
            Issue.record("not a rid")
            return
        }
        #expect(rid.id == "1" && rid.direction == .send)
        #expect(rid.payloadTypes == [97, 98])
        #expect(rid.restriction("max-width") == "1280")
        #expect(rid.restrictions.map(\.name) == ["pt", "max-width", "max-height"])
        guard case .rid(let bare) = try attribute("rid:2 recv depend=1;x") else { return }
        #expect(bare.restrictions == [.init(name: "depend", value: "1"), .init(name: "x")])
        #expect(bare.payloadTypes.isEmpty)
    }

    /// RFC 8853 §5.1: `;` separates streams, `,` alternatives, `~` marks paused.
    @Test func simulcastLists() throws {
        guard case .simulcast(let s) = try attribute("simulcast:send 1,~2;3 recv 4") else {
            Issue.record("not simulcast")
            return
        }
        #expect(s.send == [[.init(rid: "1"), .init(rid: "2", paused: true)], [.init(rid: "3")]])
        #expect(s.recv == [[.init(rid: "4")]])
        #expect(!s.recvListedFirst)
        #expect(s.rids(.send) == ["1", "2", "3"])
        guard case .simulcast(let r) = try attribute("simulcast:recv r0 send s0;s1") else { return }
        #expect(r.recvListedFirst && r.rids(.send) == ["s0", "s1"] && r.rids(.recv) == ["r0"])
        #expect(SDP.Simulcast(recvRIDs: ["q", "h", "f"]).sdpValue == "recv q;h;f")
    }

    /// Candidates in the forms RFC 8839 §5.1 and RFC 6544 give, and trickle's `candidate:` form.
    @Test func candidates() throws {
        let srflx = try ICECandidate(
            parsing: "candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998")
        #expect(srflx.type == .srflx && srflx.isUDP && srflx.transport == "UDP")
        #expect(srflx.relatedAddress == "10.0.1.1" && srflx.relatedPort == 8998)
        #expect(srflx.description == "candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998")
        let tcp = try ICECandidate(
            parsing: "a=candidate:3 1 tcp 1518280447 192.0.2.3 9 typ host tcptype active generation 0 ufrag x9Z")
        #expect(tcp.isTCP && tcp.tcpType == "active")
        #expect(tcp.extensions == [.init(name: "generation", value: "0"), .init(name: "ufrag", value: "x9Z")])
        let relay = try ICECandidate(parsing: "candidate:r 2 udp 5 203.0.113.9 3478 typ relay raddr 0.0.0.0 rport 0")
        #expect(relay.component == 2 && relay.type == .relay)
        let built = ICECandidate(foundation: "1", priority: 2_130_706_431, address: "127.0.0.1", port: 9)
        #expect(built.description == "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host")
        #expect(try ICECandidate(parsing: built.description) == built)
        #expect(throws: WireError.self) { try ICECandidate(parsing: "1 1 udp 1 1.2.3.4 5 typ host") }
    }

    @Test func formatParametersAccessors() {
        let f = SDP.FormatParameters(payloadType: 102, rawParameters: "level-asymmetry-allowed=1; packetization-mode=1;Profile-Level-Id=42e01f;")
        #expect(f.parameters.count == 3)
        #expect(f["profile-level-id"] == "42e01f")
        #expect(f["packetization-mode"] == "1")
        #expect(f.associatedPayloadType == nil)
        #expect(SDP.FormatParameters(payloadType: 97, rawParameters: "apt=96").associatedPayloadType == 96)
        let built = SDP.FormatParameters(payloadType: 111, parameters: [.init(name: "minptime", value: "10"), .init(name: "x", value: nil)])
        #expect(built.sdpValue == "111 minptime=10;x")
    }

    @Test func fingerprintHex() throws {
        guard case .fingerprint(let f) = try attribute("fingerprint:sha-256 ab:0c:FF") else {
            Issue.record("not a fingerprint")
            return
        }
        #expect(f.bytes == [0xAB, 0x0C, 0xFF])
        #expect(f.sdpValue == "sha-256 AB:0C:FF")  // RFC 8122 §5 UHEX: lower case is read, upper case written
    }

    /// The RFC 8866 §5 example: the lines the model does not type (`i=`, `u=`, `e=`, `p=`) are kept
    /// and the description writes back unchanged.
    @Test func rfc8866Example() throws {
        let text = [
            "v=0", "o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1", "s=Call to John Smith", "i=SDP Offer #1",
            "u=http://www.jdoe.example.com/home.html", "e=Jane Doe <jane@jdoe.example.com>", "p=+1 617 555-6011",
            "c=IN IP4 198.51.100.1", "t=0 0", "m=audio 49170 RTP/AVP 0", "m=audio 49180 RTP/AVP 0",
            "m=video 51372 RTP/AVP 99", "c=IN IP6 2001:db8::2", "a=rtpmap:99 h263-1998/90000", "",
        ].joined(separator: "\r\n")
        let sdp = try SessionDescription(parsing: text)
        #expect(sdp.origin.username == "jdoe" && sdp.origin.sessionVersion == 3_724_394_405)
        #expect(sdp.sessionName == "Call to John Smith")
        #expect(sdp.otherLines.map(\.type) == ["i", "u", "e", "p"])
        #expect(sdp.connection?.address == "198.51.100.1")
        #expect(sdp.media.count == 3)
        #expect(sdp.media[0].connection == nil)
        #expect(sdp.media[2].connection == SDP.Connection(addressType: "IP6", address: "2001:db8::2"))
        #expect(sdp.media[2].codecs.first?.name == "h263-1998")
        #expect(sdp.serialized() == text)
    }

    /// Unknown and out-of-order lines are kept and written back in RFC 8866 order.
    @Test func keepsUnknownLinesInCanonicalOrder() throws {
        let text = "v=0\no=- 1 1 IN IP4 0.0.0.0\nt=0 0\ns=-\nx=extra\nk=prompt\nb=AS:30\nm=video 9 RTP/AVP 96\nz=?\na=mid:0\ni=title\nc=IN IP4 0.0.0.0\nc=IN IP4 0.0.0.1\n"
        let sdp = try SessionDescription(parsing: text)
        #expect(sdp.serialized() == "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nb=AS:30\r\nt=0 0\r\nk=prompt\r\nx=extra\r\nm=video 9 RTP/AVP 96\r\ni=title\r\nc=IN IP4 0.0.0.0\r\nc=IN IP4 0.0.0.1\r\nz=?\r\na=mid:0\r\n")
        #expect(try SessionDescription(parsing: sdp.serialized()) == sdp)
    }

    @Test func codecBuildingAppendsInChromiumOrder() throws {
        var m = MediaDescription(kind: .video, proto: "UDP/TLS/RTP/SAVPF")
        m.appendCodec(SDP.Codec(payloadType: 96, name: "VP8", clockRate: 90000, feedback: [.init(payloadType: nil, type: "nack", subtype: "pli")]))
        m.appendCodec(SDP.Codec(payloadType: 97, name: "rtx", clockRate: 90000, formatParameters: "apt=96"))
        #expect(m.formats == ["96", "97"])
        #expect(m.attributes.map(\.sdpLine) == ["rtpmap:96 VP8/90000", "rtcp-fb:96 nack pli", "rtpmap:97 rtx/90000", "fmtp:97 apt=96"])
        #expect(m.rtxPayloadType(for: 96) == 97)
        #expect(m.codecs.map(\.payloadType) == [96, 97])
    }
}
