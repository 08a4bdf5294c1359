import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// What an offer may claim and how strict peers must find our answers: bundle-only sections (RFC 8843 §6),
/// extension directions (RFC 8285 §6), session-level transport attributes, and the configured bounds on
/// m-lines and simulcast encodings (docs/OPERATIONS.md).
@Suite struct OfferChecksTests {
    static let head = """
        v=0\r
        o=- 1 1 IN IP4 127.0.0.1\r
        s=-\r
        t=0 0\r

        """
    static let transport = """
        c=IN IP4 0.0.0.0\r
        a=ice-ufrag:abcd\r
        a=ice-pwd:abcdefghijklmnopqrstuvwx\r
        a=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00\r
        a=setup:actpass\r

        """

    static func video(mid: String, port: Int = 9, extra: String = "", bundleOnly: Bool = false) -> String {
        "m=video \(port) UDP/TLS/RTP/SAVPF 96\r\n" + (bundleOnly ? "c=IN IP4 0.0.0.0\r\na=bundle-only\r\n" : transport)
            + "a=mid:\(mid)\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n" + extra
    }

    static func answer(_ sdp: String, limits: OfferLimits = OfferLimits()) throws -> RoomAnswer {
        var next: UInt32 = 1000
        return try RoomAnswer(
            offer: try SessionDescription(parsing: sdp), local: ICECredentials.random(), fingerprint: RoomAnswerTests.fingerprint,
            candidateAddresses: ["127.0.0.1"], port: 40000, sources: [:], cname: "starling", limits: limits,
            newSSRC: {
                next += 1
                return next
            })
    }

    /// Firefox with `bundlePolicy: "max-bundle"` (and GStreamer) offers every section but the first with port 0
    /// and `a=bundle-only`: they are part of the BUNDLE group, not rejected.
    @Test func bundleOnlySectionsAreAnsweredInTheBundle() throws {
        let sdp =
            Self.head + "a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\n"
            + "m=audio 9 UDP/TLS/RTP/SAVPF 109\r\n" + Self.transport
            + "a=mid:0\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:109 opus/48000/2\r\n"
            + Self.video(mid: "1", port: 0, extra: "a=extmap:4/sendonly urn:ietf:params:rtp-hdrext:sdes:mid\r\n", bundleOnly: true)
        let plan = try Self.answer(sdp)
        #expect(plan.published.map(\.mid) == ["0", "1"])
        let answer = plan.answer
        #expect(answer.bundleGroups.first?.mids == ["0", "1"])
        #expect(!answer.media[1].isRejected && answer.media[1].port != 0)
        // Every section a strict parser reads carries the transport; the session level too.
        for m in answer.media {
            #expect(m.attributes.contains { if case .fingerprint = $0 { true } else { false } })
            #expect(m.attributes.contains { if case .iceUfrag = $0 { true } else { false } })
            #expect(m.attributes.contains { if case .setup = $0 { true } else { false } })
        }
        #expect(answer.attributes.contains { if case .fingerprint = $0 { true } else { false } })
        #expect(answer.attributes.contains { if case .iceUfrag = $0 { true } else { false } })
        #expect(answer.extmapAllowMixed)
        // RFC 8285 §6: a sendonly extension is answered recvonly.
        #expect(answer.media[1].extmaps.first?.direction == .recvonly)
        _ = try SessionDescription(parsing: answer.serialized())
    }

    /// A bundle-only section outside every BUNDLE group has no transport: it is rejected, not bundled.
    @Test func bundleOnlyOutsideTheGroupIsRejected() throws {
        let sdp = Self.head + "a=group:BUNDLE 0\r\n" + Self.video(mid: "0") + Self.video(mid: "1", port: 0, bundleOnly: true)
        let plan = try Self.answer(sdp)
        #expect(plan.published.map(\.mid) == ["0"])
        #expect(plan.answer.media[1].isRejected)
    }

    static func simulcast(_ rids: [String], declared: [String]? = nil) -> String {
        let lines = (declared ?? rids).map { "a=rid:\($0) send\r\n" }.joined()
        return Self.head + Self.video(mid: "0", extra: lines + "a=simulcast:send \(rids.joined(separator: ";"))\r\n")
    }

    /// `count` sending video sections in one BUNDLE group.
    static func bundled(_ count: Int) -> String {
        Self.head + "a=group:BUNDLE \((0..<count).map(String.init).joined(separator: " "))\r\n"
            + (0..<count).map { Self.video(mid: "\($0)") }.joined()
    }

    /// Without a BUNDLE group only the first section is answered (the others would each need a transport of
    /// their own), and the answer has no group the offer did not ask for (RFC 8843 §7.3); sections outside
    /// the offer's group are rejected.
    @Test func onlyTheOfferedBundleIsAccepted() throws {
        let unbundled = Self.head + Self.video(mid: "a") + Self.video(mid: "b")
        let plan = try Self.answer(unbundled)
        #expect(plan.published.map(\.mid) == ["a"])
        #expect(plan.answer.bundleGroups.isEmpty && plan.answer.media[1].isRejected)
        let partly = Self.head + "a=group:BUNDLE a\r\n" + Self.video(mid: "a") + Self.video(mid: "b")
        let partlyPlan = try Self.answer(partly)
        #expect(partlyPlan.published.map(\.mid) == ["a"] && partlyPlan.answer.media[1].isRejected)
        #expect(partlyPlan.answer.bundleGroups.first?.mids == ["a"])
    }

    @Test func simulcastEncodingsAreBoundedUniqueAndDeclared() throws {
        #expect(try Self.answer(Self.simulcast(["q", "h", "f"])).published.first?.parameters.encodings.count == 3)
        let many = (0..<48).map { "r\($0)" }
        do {
            _ = try Self.answer(Self.simulcast(many))
            Issue.record("48 rids were accepted")
        } catch let error as RoomAnswer.Unanswerable {
            #expect(error.isLimit && error.description.contains("limits.simulcastLayers"))
        }
        #expect(throws: RoomAnswer.Unanswerable.self) { try Self.answer(Self.simulcast(["a", "a"], declared: ["a"])) }
        #expect(throws: RoomAnswer.Unanswerable.self) { try Self.answer(Self.simulcast(["q", "h"], declared: ["q"])) }
        // The same bound on an SSRC-signalled group.
        let sim =
            Self.head
            + Self.video(mid: "0", extra: "a=ssrc-group:SIM 1 2 3 4 5\r\n" + (1...5).map { "a=ssrc:\($0) cname:x\r\n" }.joined())
        #expect(throws: RoomAnswer.Unanswerable.self) { try Self.answer(sim) }
    }

    @Test func mediaSectionsAndSendingSectionsAreBounded() throws {
        let forty = Self.bundled(40)
        do {
            _ = try Self.answer(forty)
            Issue.record("40 sending m-lines were accepted")
        } catch let error as RoomAnswer.Unanswerable {
            #expect(error.isLimit)
        }
        let nine = Self.bundled(9)
        #expect(throws: RoomAnswer.Unanswerable.self) { try Self.answer(nine) }
        let eight = Self.bundled(8)
        #expect(try Self.answer(eight).published.count == 8)
        #expect(throws: RoomAnswer.Unanswerable.self) {
            try Self.answer(eight, limits: OfferLimits(mediaSections: 4, sendingSections: 8, simulcastLayers: 4))
        }
    }
}
