import StarlingTestSupport
import StarlingWireChecks
import Testing

@testable import StarlingWire

/// RFC 7515 Appendix A.1: the HS256 example, written out from the RFC.
enum RFC7515A1 {
    /// `{"typ":"JWT",\r\n "alg":"HS256"}`
    static let header: [UInt8] = [
        123, 34, 116, 121, 112, 34, 58, 34, 74, 87, 84, 34, 44, 13, 10, 32, 34, 97, 108, 103, 34, 58, 34, 72, 83, 50,
        53, 54, 34, 125,
    ]
    /// `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`
    static let payload: [UInt8] = [
        123, 34, 105, 115, 115, 34, 58, 34, 106, 111, 101, 34, 44, 13, 10, 32, 34, 101, 120, 112, 34, 58, 49, 51, 48,
        48, 56, 49, 57, 51, 56, 48, 44, 13, 10, 32, 34, 104, 116, 116, 112, 58, 47, 47, 101, 120, 97, 109, 112, 108,
        101, 46, 99, 111, 109, 47, 105, 115, 95, 114, 111, 111, 116, 34, 58, 116, 114, 117, 101, 125,
    ]
    /// The JWK's "k", base64url-decoded (64 bytes).
    static let key: [UInt8] = [
        3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123, 166, 143, 90, 179, 40, 230, 240, 84, 201, 40,
        169, 15, 132, 178, 210, 80, 46, 191, 211, 251, 90, 146, 210, 6, 71, 239, 150, 138, 180, 195, 119, 98, 61, 34,
        61, 46, 33, 114, 5, 46, 79, 8, 192, 205, 154, 245, 103, 208, 128, 163,
    ]
    static let token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
}

/// Secrets and token builders shared by the JWT tests.
enum JWTFixtures {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let otherSecret = Array("fedcba9876543210fedcba9876543210".utf8)

    /// A token over hand-written header and payload JSON, signed with `secret`.
    static func token(header: String = #"{"alg":"HS256","typ":"JWT"}"#, payload: String, secret: [UInt8] = secret) -> String {
        // The fixtures' secrets are long enough; a failure here is a test bug.
        (try? JWS.sign(header: Array(header.utf8), payload: Array(payload.utf8), secret: secret)) ?? "unsigned"
    }

    /// Header and payload segments as given, then a correct HS256 signature over them.
    static func token(segments header: String, _ payload: String, secret: [UInt8] = secret) -> String {
        let input = header + "." + payload
        return input + "." + Base64URL.encode(JWS.hmacSHA256(key: secret, Array(input.utf8)))
    }

    static func b64(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }

    static func jwsError(_ token: String, secret: [UInt8] = secret) -> JWTError? {
        do {
            _ = try JWS.verify(token, secret: secret)
            return nil
        } catch {
            return error
        }
    }
}

@Suite struct Base64URLTests {
    /// RFC 7515 Appendix C: [3, 236, 255, 224, 193] <-> "A-z_4ME".
    @Test func appendixCExample() throws {
        #expect(Base64URL.encode([3, 236, 255, 224, 193]) == "A-z_4ME")
        #expect(try Base64URL.decode(ArraySlice("A-z_4ME".utf8)) == [3, 236, 255, 224, 193])
    }

    @Test func rfc4648Vectors() throws {
        // RFC 4648 §10, without the padding.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(try Base64URL.decode(ArraySlice(encoded.utf8)) == Array(plain.utf8))
        }
    }

    @Test func rejectsPaddingWhitespaceAndForeignCharacters() {
        let bad: [(String, Base64URL.DecodeError)] = [
            ("Zg==", .invalidCharacter(offset: 2)), ("Zm8=", .invalidCharacter(offset: 3)),
            ("Zm 9vY", .invalidCharacter(offset: 2)), ("Zm9v\n", .invalidCharacter(offset: 4)), ("Zm9v\nYg", .invalidCharacter(offset: 4)),
            ("a+b/", .invalidCharacter(offset: 1)), ("ab/c", .invalidCharacter(offset: 2)), ("Z", .invalidLength),
            ("Zm9vY", .invalidLength), ("Zh", .nonZeroTrailingBits), ("Zm9", .nonZeroTrailingBits), ("Zé", .invalidCharacter(offset: 1)),
        ]
        for (text, expected) in bad {
            #expect(throws: expected, "\(text)") { try Base64URL.decode(ArraySlice(text.utf8)) }
        }
    }

    @Test func randomBytesRoundTrip() throws {
        var rng = SeededRandom(seed: 0xB64)
        for _ in 0..<2000 {
            let bytes = rng.bytes(rng.int(0...80))
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && text.count == (bytes.count * 4 + 2) / 3)
            #expect(try Base64URL.decode(ArraySlice(text.utf8)) == bytes)
        }
    }
}

@Suite struct JWTJSONTests {
    @Test func parsesTheGrammar() throws {
        let text = #" { "a" : [1, -0.5e+3, 0, true, false, null, {}], "b\u00e9\"\\\/\b\f\n\r\t\ud83d\ude00": "x", "c": -12 } "#
        let value = try JWTJSON.parse(Array(text.utf8))
        #expect(
            value
                == .object([
                    "a": .array([.number("1"), .number("-0.5e+3"), .number("0"), .bool(true), .bool(false), .null, .object([:])]),
                    "bé\"\\/\u{8}\u{c}\n\r\t😀": .string("x"),
                    "c": .number("-12"),
                ]))
    }

    @Test func rejectsMalformedText() {
        let bad = [
            "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]", "{a:1}", "{'a':1}", "01", "1.", ".5", "-",
            "1e", "+1", "tru", "nul", "\"abc", "\"\u{01}\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
            "\"\\ud800\\u0041\"", "{} {}", "{}x", "NaN", "Infinity", "[\"\\u00g0\"]",
        ]
        for text in bad {
            #expect(throws: JWTJSON.ParseError.self, "\(text)") { try JWTJSON.parse(Array(text.utf8)) }
        }
        // Not UTF-8: a lone continuation byte and an overlong encoding.
        for bytes: [UInt8] in [[0x22, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: JWTJSON.ParseError.self) { try JWTJSON.parse(bytes) }
        }
    }

    @Test func rejectsDuplicateMemberNames() {
        #expect(throws: JWTJSON.ParseError("duplicate member name at offset 7")) { try JWTJSON.parse(Array(#"{"a":1,"a":2}"#.utf8)) }
        #expect(throws: JWTJSON.ParseError.self) { try JWTJSON.parse(Array(#"{"x":{"a":1,"a":1}}"#.utf8)) }
    }

    @Test func capsNestingDepth() throws {
        let ok = String(repeating: "[", count: JWTJSON.maxDepth) + String(repeating: "]", count: JWTJSON.maxDepth)
        _ = try JWTJSON.parse(Array(ok.utf8))
        for depth in [JWTJSON.maxDepth + 1, 100_000] {
            let deep = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            #expect(throws: JWTJSON.ParseError("nested deeper than \(JWTJSON.maxDepth) levels")) { try JWTJSON.parse(Array(deep.utf8)) }
            let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
            #expect(throws: JWTJSON.ParseError.self) { try JWTJSON.parse(Array(objects.utf8)) }
        }
    }

    @Test func writerEscapesAndParsesBack() throws {
        var rng = SeededRandom(seed: 0x150)
        for _ in 0..<500 {
            let text = JWTTestStrings.random(&rng)
            var out: [UInt8] = []
            JWTJSONWriter.quote(text, into: &out)
            #expect(try JWTJSON.parse(out) == .string(text))
        }
    }
}

@Suite struct JWSTests {
    @Test func rfc7515A1Verifies() throws {
        let payload = try JWS.verify(RFC7515A1.token, secret: RFC7515A1.key)
        #expect(payload == RFC7515A1.payload)
    }

    @Test func rfc7515A1SignsToTheSameToken() throws {
        #expect(try JWS.sign(header: RFC7515A1.header, payload: RFC7515A1.payload, secret: RFC7515A1.key) == RFC7515A1.token)
    }

    /// The RFC's payload has none of Starling's claims: the claim layer refuses it, naming the first missing one.
    @Test func rfc7515A1PayloadLacksStarlingClaims() {
        #expect(throws: JWTError.invalidClaim(name: "room", reason: "missing")) {
            try JSONWebToken.verify(RFC7515A1.token, secret: RFC7515A1.key, now: 1_300_819_000)
        }
    }

    @Test func rfc7515A1WithAnotherKeyIsRefused() {
        var key = RFC7515A1.key
        key[0] ^= 1
        #expect(JWTFixtures.jwsError(RFC7515A1.token, secret: key) == .badSignature)
    }

    @Test func payloadBytesRoundTrip() throws {
        var rng = SeededRandom(seed: 0x1A5)
        for _ in 0..<300 {
            let payload = rng.bytes(rng.int(1...300))
            let token = try JWS.sign(payload: payload, secret: JWTFixtures.secret)
            #expect(try JWS.verify(token, secret: JWTFixtures.secret) == payload)
        }
    }

    @Test func signsWithTheStandardHeader() throws {
        let token = try JWS.sign(payload: Array("{}".utf8), secret: JWTFixtures.secret)
        #expect(token.hasPrefix(JWTFixtures.b64(#"{"alg":"HS256","typ":"JWT"}"#) + "."))
    }
}
