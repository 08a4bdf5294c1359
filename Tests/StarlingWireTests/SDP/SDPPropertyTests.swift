import StarlingTestSupport
import Testing
@testable import StarlingWire
import StarlingWireChecks

/// Random valid descriptions with every attribute kind, for parse(serialize(x)) == x.
struct SDPGenerator {
    var rng: SeededRandom

    mutating func pick<T>(_ xs: [T]) -> T { xs[rng.int(0...(xs.count - 1))] }
    mutating func maybe<T>(_ make: (inout SDPGenerator) -> T) -> T? { rng.bool() ? make(&self) : nil }

    mutating func string(_ alphabet: String, _ len: ClosedRange<Int>) -> String {
        let chars = Array(alphabet)
        return String((0..<rng.int(len)).map { _ in pick(chars) })
    }
    mutating func token() -> String { string("abcXYZ0189-_.+/#*!%&", 1...12) }
    mutating func iceChars(_ len: ClosedRange<Int>) -> String { string("abcdefXYZ0189+/", len) }
    mutating func ridID() -> String { string("abcqhfXYZ019-_", 1...8) }
    /// Free text: printable ASCII with spaces and separators, plus a little non-ASCII UTF-8.
    mutating func text(_ len: ClosedRange<Int>) -> String { string("abcXYZ 019:;=,/~*-_.é€", len) }
    mutating func nonEmptyText() -> String { text(1...16) }
    mutating func u<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) -> T { T.random(in: T.min...T.max, using: &rng) }
    mutating func pt() -> UInt8 { UInt8(rng.int(0...127)) }

    mutating func connection() -> SDP.Connection {
        SDP.Connection(networkType: "IN", addressType: pick(["IP4", "IP6"]), address: token())
    }

    mutating func candidate() -> ICECandidate {
        ICECandidate(
            foundation: iceChars(1...32), component: UInt16(rng.int(1...65535)), transport: pick(["udp", "UDP", "tcp"]),
            priority: u(), address: token(), port: u(), type: .init(rawValue: pick(["host", "srflx", "prflx", "relay", "x"])),
            relatedAddress: maybe { $0.token() }, relatedPort: maybe { $0.u() }, tcpType: maybe { $0.pick(["active", "passive", "so"]) },
            extensions: (0..<rng.int(0...3)).map { _ in .init(name: pick(["generation", "ufrag", "network-id", "x"]), value: token()) })
    }

    mutating func streams() -> [[SDP.Simulcast.StreamID]] {
        (0..<rng.int(1...3)).map { _ in (0..<rng.int(1...2)).map { _ in .init(rid: ridID(), paused: rng.bool()) } }
    }

    mutating func attribute() -> SDP.Attribute {
        switch rng.int(0...31) {
        case 0: return .group(.init(semantics: .init(rawValue: pick(["BUNDLE", "LS"])), mids: (0..<rng.int(0...3)).map { _ in token() }))
        case 1:
            return .msidSemantic(.init(semantic: token(), identifiers: (0..<rng.int(0...2)).map { _ in token() }, spaceAfterColon: rng.bool()))
        case 2: return .iceLite
        case 3: return .iceUfrag(iceChars(1...8))
        case 4: return .icePwd(iceChars(1...32))
        case 5: return .iceOptions((0..<rng.int(1...3)).map { _ in token() })
        case 6: return .fingerprint(.init(hashFunction: pick(["sha-256", "sha-1", "SHA-512"]), bytes: rng.bytes(rng.int(1...64))))
        case 7: return .setup(pick(SDP.Setup.allCases))
        case 8: return .extmapAllowMixed
        case 9: return .mid(token())
        case 10: return pick([.bundleOnly, .rtcpMux, .rtcpMuxOnly, .rtcpRsize, .endOfCandidates])
        case 11: return .rtcp(.init(port: u(), connection: maybe { $0.connection() }))
        case 12: return .candidate(candidate())
        case 13: return .direction(pick(SDP.Direction.allCases))
        case 14: return .rtpmap(.init(payloadType: pt(), encodingName: string("abcVP8H264-", 1...8), clockRate: u(), channels: maybe { $0.u() }))
        case 15: return .fmtp(.init(payloadType: pt(), rawParameters: text(0...24)))
        case 16:
            return .rtcpFeedback(.init(payloadType: maybe { $0.pt() }, type: token(), subtype: maybe { $0.nonEmptyText() }))
        case 17:
            let id = rng.bool() ? UInt16(rng.int(1...255)) : UInt16(rng.int(4096...4351))
            return .extmap(.init(id: id, direction: maybe { $0.pick(SDP.Direction.allCases) }, uri: token(), attributes: maybe { $0.nonEmptyText() }))
        case 18: return .ssrc(.init(ssrc: u(), attribute: string("abcmsidcname-", 1...8), value: maybe { $0.text(0...20) }))
        case 19: return .ssrcGroup(.init(semantics: .init(rawValue: pick(["FID", "SIM", "FEC-FR"])), ssrcs: (0..<rng.int(0...3)).map { _ in u() }))
        case 20:
            let restrictions = (0..<rng.int(0...3)).map { _ in
                SDP.RID.Restriction(name: string("ptmax-widthfps", 1...9), value: maybe { $0.string("0123456789,= abc", 0...6) })
            }
            return .rid(.init(id: ridID(), direction: pick([.send, .recv]), restrictions: restrictions))
        case 21:
            switch rng.int(0...2) {
            case 0: return .simulcast(.init(send: streams()))
            case 1: return .simulcast(.init(recv: streams()))
            default: return .simulcast(.init(send: streams(), recv: streams(), recvListedFirst: rng.bool()))
            }
        case 22: return .msid(.init(streamID: token(), trackID: maybe { $0.token() }))
        case 23: return .sctpPort(u())
        case 24: return .maxMessageSize(u())
        case 25: return .sctpmap(.init(port: u(), app: token(), streams: maybe { $0.u() }))
        case 26: return .other(name: "x-" + token().filter { $0 != ":" }, value: maybe { $0.text(0...20) })
        default: return .other(name: pick(["rtcp-xr", "ptime", "framerate", "x-google-flag"]), value: maybe { $0.text(0...10) })
        }
    }

    mutating func otherLines(_ types: [Character], _ rank: (Character) -> Int) -> [SDP.Line] {
        let lines = (0..<rng.int(0...2)).map { _ in SDP.Line(type: pick(types), value: text(0...12)) }
        return SessionDescription.ordered(lines, rank)
    }

    mutating func media() -> MediaDescription {
        MediaDescription(
            kind: .init(rawValue: pick(["audio", "video", "application", "text"])), port: u(), numberOfPorts: maybe { $0.u() },
            proto: pick(["UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", "RTP/AVP"]), formats: (0..<rng.int(1...4)).map { _ in token() },
            connection: maybe { $0.connection() }, bandwidths: (0..<rng.int(0...2)).map { _ in .init(type: pick(["AS", "TIAS"]), value: u()) },
            attributes: (0..<rng.int(0...20)).map { _ in attribute() },
            otherLines: otherLines(["i", "k", "x", "t", "o"], SessionDescription.mediaRank))
    }

    mutating func session() -> SessionDescription {
        SessionDescription(
            origin: .init(username: token(), sessionID: string("0123456789", 1...20), sessionVersion: u(), addressType: pick(["IP4", "IP6"]), address: token()),
            sessionName: text(0...12), connection: maybe { $0.connection() },
            bandwidths: (0..<rng.int(0...2)).map { _ in .init(type: "AS", value: u()) },
            timing: (0..<rng.int(1...2)).map { _ in .init(start: u(), stop: u()) },
            attributes: (0..<rng.int(0...12)).map { _ in attribute() }, media: (0..<rng.int(0...4)).map { _ in media() },
            otherLines: otherLines(["i", "u", "e", "p", "r", "z", "k", "x"], SessionDescription.sessionRank))
    }
}

@Suite struct SDPPropertyTests {
    @Test func randomDescriptionsRoundTrip() throws {
        for seed in UInt64(0)..<200 {
            var g = SDPGenerator(rng: SeededRandom(seed: seed))
            let sdp = g.session()
            let text = sdp.serialized()
            let parsed: SessionDescription
            do {
                parsed = try SessionDescription(parsing: text)
            } catch {
                Issue.record("seed \(seed): \(error)\n\(text)")
                continue
            }
            #expect(parsed == sdp, "seed \(seed)")
            #expect(parsed.serialized() == text, "seed \(seed)")
        }
    }

    @Test func randomAttributesRoundTripAlone() throws {
        var g = SDPGenerator(rng: SeededRandom(seed: 42))
        for i in 0..<2000 {
            let a = g.attribute()
            #expect(try SDP.Attribute(parsing: a.sdpLine) == a, "attribute #\(i): \(a.sdpLine)")
        }
    }

    /// Prefixes of a capture parse or throw a WireError; whatever parses round-trips. Cut points: the
    /// bytes around every line break (where the parser changes state) and every 41st byte (inside fields).
    /// (Two captures: one per peer; debug builds parse a 6 KB description in about 2 ms.)
    @Test(arguments: ["chromium-simulcast", "aiortc-datachannel"])
    func truncationsNeverCrash(name: String) throws {
        let bytes = Array(try SDPFixtures.text(name).utf8)
        var cuts = Set(stride(from: 0, through: bytes.count, by: 41))
        for (i, b) in bytes.enumerated() where b == 0x0A {
            for d in -2...2 where (0...bytes.count).contains(i + d) { cuts.insert(i + d) }
        }
        for n in cuts.sorted() {
            checkInvariants(WireInvariants.sdp, Array(bytes.prefix(n)), "\(name) prefix \(n)")
        }
    }

    /// Random byte edits (biased towards SDP separators) never crash, and what parses round-trips.
    @Test func randomMutationsNeverCrash() throws {
        let fixtures = try SDPFixtures.names.map { Array(try SDPFixtures.text($0).utf8) }
        let specials = Array(" :=;,/~*\r\n\t0a".utf8) + [0x00, 0xFF, 0xC3, 0x80]
        var rng = SeededRandom(seed: 7)
        var parsed = 0
        for i in 0..<300 {
            var bytes = fixtures[rng.int(0...(fixtures.count - 1))]
            for _ in 0..<rng.int(1...6) {
                let at = rng.int(0...(bytes.count - 1))
                let b = rng.bool() ? specials[rng.int(0...(specials.count - 1))] : UInt8.random(in: 0...255, using: &rng)
                switch rng.int(0...3) {
                case 0: bytes[at] = b
                case 1: bytes.insert(b, at: at)
                case 2: bytes.remove(at: at)
                default: bytes.insert(contentsOf: Array(" a=".utf8), at: at)
                }
            }
            checkInvariants(WireInvariants.sdp, bytes, "mutation #\(i)")
            if (try? bytes.withUnsafeBytes { try SessionDescription(parsing: $0) }) != nil { parsed += 1 }
        }
        #expect(parsed > 20)  // the edits leave many descriptions valid, so the round-trip check is exercised
    }

    /// Whole-line edits: dropped, duplicated and swapped lines.
    @Test func lineShufflesNeverCrash() throws {
        var rng = SeededRandom(seed: 11)
        for name in SDPFixtures.names {
            let lines = try SDPFixtures.text(name).split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
            for _ in 0..<10 {
                var l = lines
                for _ in 0..<rng.int(1...4) {
                    let i = rng.int(0...(l.count - 1)), j = rng.int(0...(l.count - 1))
                    switch rng.int(0...2) {
                    case 0: l.remove(at: i)
                    case 1: l.insert(l[i], at: j)
                    default: l.swapAt(i, j)
                    }
                    if l.isEmpty { l = [""] }
                }
                checkInvariants(WireInvariants.sdp, Array(l.joined(separator: "\r\n").utf8))
            }
        }
    }
}
