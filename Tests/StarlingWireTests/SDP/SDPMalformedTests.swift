import Testing
@testable import StarlingWire

/// Clearly malformed input is rejected with a `WireError` naming the line and the field.
@Suite struct SDPMalformedTests {
    static let head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

    /// (description, expected `field` prefix) for a description with one bad line.
    @Test(arguments: [
        ("", "v="),
        ("o=- 1 2 IN IP4 127.0.0.1\r\n", "line 1: v="),
        ("v=1\r\n", "line 1: v="),
        ("v=0\r\ns=-\r\nt=0 0\r\n", "o="),
        ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nt=0 0\r\n", "s="),
        ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n", "t="),
        ("v=0\r\no=- 1 2 IN IP4\r\n", "line 2: o="),
        ("v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n", "line 2: o= sess-version"),
        ("v=0\r\nthis is not sdp\r\n", "line 2: line"),
        ("v=0\r\nA=b\r\n", "line 2: type"),
        ("v=0\r\n=\r\n", "line 2: line"),
    ])
    func rejectsStructure(text: String, field: String) throws {
        let error = try #require(sdpError(text))
        #expect(error.proto == .sdp)
        #expect(error.field.hasPrefix(field), "\(error)")
    }

    /// Lines placed after the session head (line 5) or in a media section (line 6).
    @Test(arguments: [
        ("t=now 0", "line 5: t= start-time"),
        ("c=IN IP4", "line 5: c="),
        ("b=AS", "line 5: b="),
        ("b=AS:lots", "line 5: b= bandwidth"),
        ("m=audio 9 UDP/TLS/RTP/SAVPF", "line 5: m="),
        ("m=audio 70000 UDP/TLS/RTP/SAVPF 111", "line 5: m= port"),
        ("m=audio 9/x RTP/AVP 0", "line 5: m= number of ports"),
        ("a=group", "line 5: a=group"),
        ("a=ice-ufrag:has space", "line 5: a=ice-ufrag"),
        ("a=ice-pwd:", "line 5: a=ice-pwd"),
        ("a=ice-options:", "line 5: a=ice-options"),
        ("a=fingerprint:sha-256", "line 5: a=fingerprint"),
        ("a=fingerprint:sha-256 AB:CD:G1", "line 5: a=fingerprint value"),
        ("a=fingerprint:sha-256 ABC:DE", "line 5: a=fingerprint value"),
        ("a=setup:maybe", "line 5: a=setup"),
        ("a=msid-semantic:", "line 5: a=msid-semantic"),
    ])
    func rejectsSessionAttributes(line: String, field: String) throws {
        let error = try #require(sdpError(Self.head + line + "\r\n"))
        #expect(error.proto == .sdp)
        #expect(error.field.hasPrefix(field), "\(error)")
    }

    @Test(arguments: [
        ("a=mid", "line 6: a=mid"),
        ("a=mid:", "line 6: a=mid"),
        ("a=rtpmap:200 VP8/90000", "line 6: a=rtpmap payload type"),
        ("a=rtpmap:96", "line 6: a=rtpmap encoding"),
        ("a=rtpmap:96 VP8", "line 6: a=rtpmap encoding"),
        ("a=rtpmap:96 VP8/fast", "line 6: a=rtpmap clock rate"),
        ("a=rtpmap:96 VP8/90000/2/3", "line 6: a=rtpmap encoding"),
        ("a=rtpmap:+96 VP8/90000", "line 6: a=rtpmap payload type"),
        ("a=fmtp:128 apt=96", "line 6: a=fmtp payload type"),
        ("a=rtcp-fb:96", "line 6: a=rtcp-fb type"),
        ("a=rtcp-fb:x nack", "line 6: a=rtcp-fb payload type"),
        ("a=rtcp-fb:96 nack ", "line 6: a=rtcp-fb subtype"),
        ("a=extmap:0 urn:x", "line 6: a=extmap id"),
        ("a=extmap:300 urn:x", "line 6: a=extmap id"),
        ("a=extmap:1/upward urn:x", "line 6: a=extmap direction"),
        ("a=extmap:1", "line 6: a=extmap URI"),
        ("a=ssrc:abc cname:x", "line 6: a=ssrc ssrc-id"),
        ("a=ssrc:4294967296 cname:x", "line 6: a=ssrc ssrc-id"),
        ("a=ssrc:1", "line 6: a=ssrc attribute"),
        ("a=ssrc-group:FID 1 two", "line 6: a=ssrc-group ssrc-id"),
        ("a=rid:q", "line 6: a=rid direction"),
        ("a=rid:q sideways", "line 6: a=rid direction"),
        ("a=rid:q! send", "line 6: a=rid id"),
        ("a=rid:q send ;max-width=1", "line 6: a=rid restriction"),
        ("a=simulcast:send", "line 6: a=simulcast"),
        ("a=simulcast:send q;;f", "line 6: a=simulcast rid"),
        ("a=simulcast:send q send h", "line 6: a=simulcast direction"),
        ("a=simulcast:both q", "line 6: a=simulcast direction"),
        ("a=msid:a b c", "line 6: a=msid"),
        ("a=sctp-port:x", "line 6: a=sctp-port"),
        ("a=sctp-port:65536", "line 6: a=sctp-port"),
        ("a=max-message-size:-1", "line 6: a=max-message-size"),
        ("a=sctpmap:5000", "line 6: a=sctpmap"),
        ("a=rtcp:port", "line 6: a=rtcp port"),
        ("a=rtcp:9 IN IP4", "line 6: a=rtcp address"),
        ("a=candidate:1 1 udp 1 127.0.0.1 9 typ", "line 6: a=candidate"),
        ("a=candidate:1 1 udp 1 127.0.0.1 99999 typ host", "line 6: a=candidate port"),
        ("a=candidate:1 1 udp 1 127.0.0.1 9 type host", "line 6: a=candidate typ"),
        ("a=candidate:1 0 udp 1 127.0.0.1 9 typ host", "line 6: a=candidate component-id"),
        ("a=candidate:1 1 udp 99999999999 127.0.0.1 9 typ host", "line 6: a=candidate priority"),
        ("a=candidate:1 1 udp 1 127.0.0.1 9 typ host generation", "line 6: a=candidate extension"),
        ("a=candidate:1 1 udp 1 127.0.0.1 9 typ host raddr a raddr b", "line 6: a=candidate raddr"),
        ("a=candidate:1 1 udp 1 127.0.0.1 9 typ srflx raddr 1.2.3.4 rport x", "line 6: a=candidate rport"),
        ("a=candidate:1 1 udp 1  127.0.0.1 9 typ host", "line 6: a=candidate"),
        ("a=candidate:f-1 1 udp 1 127.0.0.1 9 typ host", "line 6: a=candidate foundation"),
    ])
    func rejectsMediaAttributes(line: String, field: String) throws {
        let error = try #require(sdpError(Self.head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + line + "\r\n"))
        #expect(error.proto == .sdp)
        #expect(error.field.hasPrefix(field), "\(error)")
    }

    @Test func rejectsInvalidUTF8WithItsLine() throws {
        var bytes = Array((Self.head + "a=x-note:").utf8)
        bytes += [0xC3, 0x28, 0x0D, 0x0A]
        let error = try #require(bytes.withUnsafeBytes { raw -> WireError? in
            do throws(WireError) {
                _ = try SessionDescription(parsing: raw)
                return nil
            } catch { return error }
        })
        #expect(error.field == "line 5: text")
    }

    @Test func errorDescriptionIsReadable() throws {
        let error = try #require(sdpError(Self.head + "a=rtpmap:96 VP8/fast\r\n"))
        #expect(error.description == "sdp: line 5: a=rtpmap clock rate: invalid: 'fast' is not a decimal in 0...4294967295")
    }

    /// Blank lines, a missing final newline and bare CRs are tolerated.
    @Test func toleratesLooseLineEndings() throws {
        let loose = "v=0\n\no=- 1 2 IN IP4 127.0.0.1\r\n\r\ns=-\nt=0 0\na=ice-lite"
        let sdp = try SessionDescription(parsing: loose)
        #expect(sdp.isICELite)
        #expect(sdp.serialized() == Self.head + "a=ice-lite\r\n")
    }
}
