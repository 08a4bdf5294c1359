import Foundation
import Testing
@testable import StarlingWire

/// Builds the answer an ICE-lite SFU gives a publishing browser (RFC 8829 §5.3 shape, RFC 8839 §5.3
/// ice-lite): same mids and BUNDLE group, recvonly, opus and VP8 (+ its RTX) only, passive DTLS, one
/// loopback host candidate. JSEP negotiation proper belongs to the transport layer; this is the
/// fixed shape the interop check (Tests/Interop/sdp_accept.py) feeds back to Chromium and aiortc.
enum SFUAnswer {
    static let ufrag = "sfu1"
    static let pwd = "StarlingSFUanswerPwd0123"
    /// Not a real certificate's: a well-formed sha-256 fingerprint is all setRemoteDescription checks.
    static let fingerprint = SDP.Fingerprint(hashFunction: "sha-256", bytes: (0..<32).map { UInt8($0 * 7 & 0xFF) })
    static let candidate = ICECandidate(foundation: "1", priority: 2_130_706_431, address: "127.0.0.1", port: 9)
    static let keptExtensions: Set<String> = [
        SDP.ExtMap.URI.sdesMid, SDP.ExtMap.URI.rtpStreamID, SDP.ExtMap.URI.repairedRTPStreamID,
        SDP.ExtMap.URI.absSendTime, SDP.ExtMap.URI.transportWideCC, SDP.ExtMap.URI.audioLevel,
    ]

    struct Unanswerable: Error, CustomStringConvertible {
        var description: String
    }

    static func answer(_ offer: SessionDescription) throws -> SessionDescription {
        var answer = SessionDescription(origin: SDP.Origin(sessionID: "4215775240449105457", sessionVersion: 1))
        answer.attributes.append(.iceLite)
        answer.attributes += offer.bundleGroups.map { .group($0) }
        if offer.extmapAllowMixed { answer.attributes.append(.extmapAllowMixed) }
        answer.attributes.append(.msidSemantic(SDP.MSIDSemantic(semantic: "WMS", identifiers: [])))
        for m in offer.media {
            answer.media.append(try section(answering: m))
        }
        return answer
    }

    static func section(answering m: MediaDescription) throws -> MediaDescription {
        guard let mid = m.mid else { throw Unanswerable(description: "m=\(m.kind) without a=mid") }
        var a = MediaDescription(kind: m.kind, port: 9, proto: m.proto, connection: SDP.Connection(address: "127.0.0.1"))
        a.attributes = [
            .candidate(candidate), .endOfCandidates, .iceUfrag(ufrag), .icePwd(pwd), .fingerprint(fingerprint),
            .setup(.passive), .mid(mid),
        ]
        if m.kind == .application {
            a.formats = m.formats
            a.attributes += [.sctpPort(5000), .maxMessageSize(262_144)]
            return a
        }
        a.attributes += m.extmaps.filter { keptExtensions.contains($0.uri) }.map { .extmap($0) }
        a.attributes.append(.direction(.recvonly))
        a.attributes.append(.rtcpMux)
        if m.rtcpRsize { a.attributes.append(.rtcpRsize) }
        let wanted = m.kind == .audio ? "opus" : "vp8"
        guard let main = m.codecs.first(where: { $0.name.lowercased() == wanted }) else {
            throw Unanswerable(description: "mid \(mid): no \(wanted) offered")
        }
        a.appendCodec(main)
        if let rtx = m.rtxPayloadType(for: main.payloadType), let rtxCodec = m.codec(payloadType: rtx) {
            a.appendCodec(rtxCodec)
        }
        if let simulcast = m.simulcast, !simulcast.send.isEmpty {
            a.attributes += simulcast.rids(.send).map { .rid(SDP.RID(id: $0, direction: .recv)) }
            a.attributes.append(.simulcast(SDP.Simulcast(recv: simulcast.send)))
        }
        return a
    }
}

@Suite struct SDPAnswerAcceptance {
    /// Offers from STARLING_SDP_OFFER_DIR (fresh ones from sdp_accept.py) or else the fixtures.
    static func offers() throws -> [(name: String, text: String)] {
        guard let dir = ProcessInfo.processInfo.environment["STARLING_SDP_OFFER_DIR"] else {
            return try SDPFixtures.names.map { ($0, try SDPFixtures.text($0)) }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".sdp") }.sorted()
        return try files.map { file in
            (String(file.dropLast(4)), try String(contentsOfFile: dir + "/" + file, encoding: .utf8))
        }
    }

    @Test func buildsAnswersForEveryOffer() throws {
        let answerDir = ProcessInfo.processInfo.environment["STARLING_SDP_ANSWER_DIR"]
        let offers = try Self.offers()
        #expect(!offers.isEmpty)
        for (name, text) in offers {
            let offer = try SessionDescription(parsing: text)
            let answer = try SFUAnswer.answer(offer)
            let written = answer.serialized()
            let reparsed = try SessionDescription(parsing: written)
            #expect(reparsed == answer, "\(name)")
            check(answer: reparsed, offer: offer, name: name)
            if let answerDir {
                try FileManager.default.createDirectory(atPath: answerDir, withIntermediateDirectories: true)
                try written.write(toFile: answerDir + "/" + name + ".sdp", atomically: true, encoding: .utf8)
            }
        }
    }

    func check(answer: SessionDescription, offer: SessionDescription, name: String) {
        #expect(answer.isICELite, "\(name)")
        #expect(answer.bundleGroups == offer.bundleGroups, "\(name)")
        #expect(answer.media.map(\.mid) == offer.media.map(\.mid), "\(name)")
        #expect(answer.media.map(\.kind) == offer.media.map(\.kind), "\(name)")
        for (a, o) in zip(answer.media, offer.media) {
            #expect(a.setup == .passive && a.iceUfrag == SFUAnswer.ufrag && a.fingerprints == [SFUAnswer.fingerprint])
            #expect(a.candidates == [SFUAnswer.candidate])
            if a.kind == .application {
                #expect(a.sctpPort == 5000 && a.maxMessageSize == 262_144 && a.formats == o.formats)
                continue
            }
            #expect(a.direction == .recvonly && a.rtcpMux)
            // A subset of the offer's codecs, with the offer's payload types, parameters and feedback.
            for c in a.codecs {
                #expect(o.codec(payloadType: c.payloadType) == c, "\(name) pt \(c.payloadType)")
            }
            #expect(a.codecs.map { $0.name.lowercased() } == (a.kind == .audio ? ["opus"] : ["vp8", "rtx"]), "\(name)")
            for e in a.extmaps {
                #expect(o.extmapID(for: e.uri) == e.id)
            }
            #expect(a.extmapID(for: SDP.ExtMap.URI.sdesMid) == o.extmapID(for: SDP.ExtMap.URI.sdesMid))
            if let sim = o.simulcast {
                #expect(a.rids.map(\.id) == sim.rids(.send) && a.rids.allSatisfy { $0.direction == .recv })
                #expect(a.simulcast?.recv == sim.send && a.simulcast?.send.isEmpty == true)
            } else {
                #expect(a.rids.isEmpty && a.simulcast == nil)
            }
        }
    }
}
