import StarlingTestSupport
import StarlingWireChecks
import Testing

@testable import StarlingWire

/// Random strings for claims: ASCII, JSON's special characters, control characters and non-ASCII scalars.
enum JWTTestStrings {
    static func random(_ rng: inout SeededRandom, nonEmpty: Bool = false) -> String {
        let pool: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "\u{7F}", "é", "\u{301}", "€", "😀", "\u{FFFF}"]
        var scalars = String.UnicodeScalarView()
        for _ in 0..<rng.int((nonEmpty ? 1 : 0)...20) { scalars.append(pool[rng.int(0...(pool.count - 1))]) }
        return String(scalars)
    }
}

@Suite struct JSONWebTokenTests {
    typealias Claims = JSONWebToken.Claims
    let secret = JWTFixtures.secret
    let now: Int64 = 1_750_000_000

    var aliceClaims: Claims {
        Claims(
            room: "standup", identity: "alice", name: "Alice", grants: .init(publish: true, subscribe: true),
            expiresAt: now + 3600, issuedAt: now)
    }

    func verifyError(_ token: String, now: Int64? = nil, expectedRoom: String? = nil) -> JWTError? {
        do {
            _ = try JSONWebToken.verify(token, secret: secret, now: now ?? self.now, expectedRoom: expectedRoom)
            return nil
        } catch {
            return error
        }
    }

    /// A token over hand-written claims JSON, correctly signed.
    func token(_ payload: String) -> String { JWTFixtures.token(payload: payload) }

    // MARK: Round trips

    @Test func signsAndVerifies() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        #expect(try JSONWebToken.verify(token, secret: secret, now: now, expectedRoom: "standup") == aliceClaims)
        let payload = String(decoding: try JWS.verify(token, secret: secret), as: UTF8.self)
        #expect(
            payload
                == #"{"sub":"alice","name":"Alice","room":"standup","grants":{"publish":true,"subscribe":true,"publishData":false},"iat":1750000000,"exp":1750003600}"#
        )
    }

    @Test func randomClaimsRoundTrip() throws {
        var rng = SeededRandom(seed: 0x1_07)
        for _ in 0..<400 {
            var audience: [String] = []
            for _ in 0..<rng.int(0...3) { audience.append(JWTTestStrings.random(&rng)) }
            let claims = Claims(
                room: JWTTestStrings.random(&rng, nonEmpty: true), identity: JWTTestStrings.random(&rng, nonEmpty: true),
                name: rng.bool() ? JWTTestStrings.random(&rng) : nil,
                grants: .init(publish: rng.bool(), subscribe: rng.bool(), publishData: rng.bool()),
                expiresAt: Int64(rng.int(-(1 << 53)...(1 << 53))),
                notBefore: rng.bool() ? Int64(rng.int(-(1 << 53)...(1 << 53))) : nil,
                issuedAt: rng.bool() ? Int64(rng.int(-(1 << 53)...(1 << 53))) : nil,
                issuer: rng.bool() ? JWTTestStrings.random(&rng) : nil, audience: audience)
            #expect(try Claims(json: claims.json()) == claims)
            let token = try JSONWebToken.sign(claims: claims, secret: secret)
            let verifier = try JSONWebToken.Verifier(secret: secret, clockSkew: 0, audience: audience.first)
            // Any instant in [nbf, exp) will do; when there is none, expiry is what is reported.
            let instant = claims.notBefore.map { max($0, claims.expiresAt - 1) } ?? claims.expiresAt - 1
            do {
                #expect(try verifier.verify(token, now: instant, expectedRoom: claims.room) == claims)
            } catch {
                #expect(error == .expired(at: claims.expiresAt) && (claims.notBefore ?? .min) >= claims.expiresAt)
            }
        }
    }

    // MARK: Secrets

    @Test func refusesShortSecretsWhenSigning() {
        #expect(throws: JWTError.secretTooShort(length: 31)) {
            try JSONWebToken.sign(claims: aliceClaims, secret: Array(repeating: 7, count: 31))
        }
        #expect(throws: JWTError.secretTooShort(length: 0)) { try JWS.sign(payload: [1], secret: []) }
    }

    @Test func refusesShortSecretsWhenMakingAVerifier() {
        #expect(throws: JWTError.secretTooShort(length: 16)) { try JSONWebToken.Verifier(secret: Array(repeating: 1, count: 16)) }
        #expect(throws: JWTError.secretTooShort(length: 5)) { try JWS.verify(RFC7515A1.token, secret: Array("short".utf8)) }
        #expect((try? JSONWebToken.Verifier(secret: Array(repeating: 1, count: 32))) != nil)
    }

    @Test func tokenSignedWithAnotherSecretIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: JWTFixtures.otherSecret)
        #expect(verifyError(token) == .badSignature)
    }

    // MARK: Structure (RFC 7515 §7.1, §2)

    @Test func tooLongTokenIsRefusedBeforeDecoding() {
        let token = String(repeating: "a", count: JWS.maxTokenLength + 1)
        #expect(verifyError(token) == .malformed("token is longer than 8192 bytes"))
    }

    @Test func emptyTokenIsRefused() {
        #expect(verifyError("") == .malformed("token is empty"))
    }

    @Test func twoSegmentsAreRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        let twoSegments = String(token[..<(token.lastIndex(of: ".") ?? token.endIndex)])
        #expect(verifyError(twoSegments) == .malformed("expected 3 segments separated by '.', found 2"))
        #expect(verifyError("abc") == .malformed("expected 3 segments separated by '.', found 1"))
    }

    @Test func fourSegmentsAreRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        #expect(verifyError(token + ".abc") == .malformed("expected 3 segments separated by '.', found more than 3"))
        #expect(verifyError("a.b.c.d.e") == .malformed("expected 3 segments separated by '.', found more than 3"))
    }

    @Test func emptyHeaderSegmentIsRefused() {
        #expect(verifyError(".eyJhIjoxfQ.AAAA") == .malformed("header segment is empty"))
    }

    @Test func emptyPayloadSegmentIsRefused() {
        let header = JWTFixtures.b64(#"{"alg":"HS256"}"#)
        #expect(verifyError(JWTFixtures.token(segments: header, "")) == .malformed("payload segment is empty"))
    }

    @Test func emptySignatureSegmentIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        let unsigned = String(token[...(token.lastIndex(of: ".") ?? token.startIndex)])
        #expect(verifyError(unsigned) == .malformed("signature segment is empty"))
    }

    @Test func paddedSegmentIsRefused() throws {
        // {"alg":"HS256"} is 15 bytes: its base64 has one '=' of padding.
        let padded = JWTFixtures.token(segments: "eyJhbGciOiJIUzI1NiJ9", JWTFixtures.b64("{\"sub\":\"a\"}") + "=")
        #expect(verifyError(padded) == .malformed("payload segment: invalid base64url character at offset 15"))
        let paddedHeader = JWTFixtures.token(segments: "eyJhbGciOiJIUzI1NiJ9" + "==", "e30")
        #expect(verifyError(paddedHeader) == .malformed("header segment: invalid base64url character at offset 20"))
    }

    @Test func whitespaceInSegmentIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        var withSpace = token
        withSpace.insert(" ", at: withSpace.index(withSpace.startIndex, offsetBy: 4))
        #expect(verifyError(withSpace) == .malformed("header segment: invalid base64url character at offset 4"))
        #expect(verifyError(token + "\n") == .malformed("signature segment: invalid base64url character at offset 43"))
        #expect(verifyError(" " + token)?.description.hasPrefix("malformed token: header segment") == true)
    }

    @Test func invalidBase64CharacterIsRefused() throws {
        // Standard base64's '+' and '/' are not base64url.
        let header = JWTFixtures.b64(#"{"alg":"HS256"}"#)
        let token = JWTFixtures.token(segments: header, "ab/c")
        #expect(verifyError(token) == .malformed("payload segment: invalid base64url character at offset 2"))
        let signature = try JSONWebToken.sign(claims: aliceClaims, secret: secret).dropLast() + "+"
        #expect(verifyError(String(signature)) == .malformed("signature segment: invalid base64url character at offset 42"))
    }

    @Test func nonCanonicalBase64IsRefused() throws {
        // The last character of a 32-byte signature carries 2 unused bits: setting one gives another
        // spelling of the same bytes, which is refused.
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        let last = try #require(token.last)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let index = try #require(alphabet.firstIndex(of: last))
        let twin = String(token.dropLast()) + String(alphabet[index | 1])
        #expect(verifyError(twin) == .malformed("signature segment: non-canonical base64url (trailing bits set)"))
    }

    @Test func headerThatIsNotJSONIsRefused() {
        let token = JWTFixtures.token(header: "alg=HS256", payload: "{}")
        #expect(verifyError(token) == .malformed("header is not valid JSON: unexpected character at offset 0"))
    }

    @Test func headerThatIsNotAnObjectIsRefused() {
        #expect(verifyError(JWTFixtures.token(header: #"["HS256"]"#, payload: "{}")) == .malformed("header is not a JSON object"))
    }

    @Test func headerWithDuplicateAlgIsRefused() {
        // Which "alg" counts must not depend on the parser: duplicates are refused (RFC 7515 §4).
        let token = JWTFixtures.token(header: #"{"alg":"none","alg":"HS256"}"#, payload: "{}")
        #expect(verifyError(token) == .malformed("header is not valid JSON: duplicate member name at offset 14"))
    }

    // MARK: Header parameters (RFC 7515 §4.1, RFC 8725 §3.1)

    @Test func algNoneWithEmptySignatureIsRefused() throws {
        let claims = String(decoding: aliceClaims.json(), as: UTF8.self)
        let token = JWTFixtures.b64(#"{"alg":"none","typ":"JWT"}"#) + "." + JWTFixtures.b64(claims) + "."
        #expect(verifyError(token) == .unsupportedAlgorithm("none"))
        #expect(verifyError(token)?.description == #"unsupported token algorithm "none"; only HS256 is accepted"#)
    }

    @Test func otherAlgorithmsAreRefused() {
        for alg in ["HS512", "RS256", "hs256", "HS256 ", "", "ES256"] {
            let token = JWTFixtures.token(header: #"{"alg":"\#(alg)"}"#, payload: "{}")
            #expect(verifyError(token) == .unsupportedAlgorithm(alg), "\(alg)")
        }
    }

    @Test func missingAlgIsRefused() {
        let token = JWTFixtures.token(header: #"{"typ":"JWT"}"#, payload: "{}")
        #expect(verifyError(token) == .invalidHeader(name: "alg", reason: "missing"))
    }

    @Test func algOfWrongTypeIsRefused() {
        let token = JWTFixtures.token(header: #"{"alg":["HS256"]}"#, payload: "{}")
        #expect(verifyError(token) == .invalidHeader(name: "alg", reason: "must be a string"))
    }

    @Test func typOtherThanJWTIsRefused() throws {
        let token = JWTFixtures.token(header: #"{"alg":"HS256","typ":"JOSE"}"#, payload: "{}")
        #expect(verifyError(token) == .invalidHeader(name: "typ", reason: "must be \"JWT\""))
        let number = JWTFixtures.token(header: #"{"alg":"HS256","typ":1}"#, payload: "{}")
        #expect(verifyError(number) == .invalidHeader(name: "typ", reason: "must be a string"))
        // Media types compare case-insensitively, "application/" optional (RFC 7515 §4.1.9).
        let payload = String(decoding: aliceClaims.json(), as: UTF8.self)
        for typ in ["jwt", "application/JWT"] {
            let accepted = JWTFixtures.token(header: #"{"alg":"HS256","typ":"\#(typ)"}"#, payload: payload)
            #expect(verifyError(accepted) == nil, "\(typ)")
        }
    }

    @Test func critHeaderIsRefused() {
        let token = JWTFixtures.token(header: #"{"alg":"HS256","b64":false,"crit":["b64"]}"#, payload: "{}")
        #expect(verifyError(token) == .invalidHeader(name: "crit", reason: "critical header extensions are not supported"))
    }

    @Test func unknownHeaderParametersAreIgnored() throws {
        let payload = String(decoding: aliceClaims.json(), as: UTF8.self)
        let token = JWTFixtures.token(header: #"{"kid":"key-1","alg":"HS256","x5u":null}"#, payload: payload)
        #expect(try JSONWebToken.verify(token, secret: secret, now: now) == aliceClaims)
    }

    // MARK: Signature

    @Test func alteredPayloadIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var forged = aliceClaims
        forged.grants = .all
        parts[1] = Base64URL.encode(forged.json())
        #expect(verifyError(parts.joined(separator: ".")) == .badSignature)
    }

    @Test func flippedSignatureBitIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        let parts = token.split(separator: ".").map(String.init)
        var signature = try Base64URL.decode(ArraySlice(parts[2].utf8))
        signature[31] ^= 0x80
        #expect(verifyError(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)) == .badSignature)
    }

    @Test func signatureOfWrongLengthIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        let parts = token.split(separator: ".").map(String.init)
        let signature = try Base64URL.decode(ArraySlice(parts[2].utf8))
        for cut in [Array(signature.dropLast(1)), Array(signature.prefix(16)), signature + [0]] {
            #expect(verifyError(parts[0] + "." + parts[1] + "." + Base64URL.encode(cut)) == .badSignature)
        }
    }

    @Test func constantTimeCompare() {
        #expect(JWS.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!JWS.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!JWS.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(!JWS.constantTimeEqual([], []))
    }

    // MARK: Time (RFC 7519 §4.1.4, §4.1.5)

    @Test func expiredTokenIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        let exp = aliceClaims.expiresAt
        #expect(verifyError(token, now: exp + 29) == nil)
        #expect(verifyError(token, now: exp + 30) == .expired(at: exp))
        #expect(verifyError(token, now: exp + 30)?.description == "token expired at 1750003600 (Unix time)")
        let strict = try JSONWebToken.Verifier(secret: secret, clockSkew: 0)
        #expect(throws: JWTError.expired(at: exp)) { try strict.verify(token, now: exp) }
        #expect(try strict.verify(token, now: exp - 1) == aliceClaims)
    }

    @Test func notYetValidTokenIsRefused() throws {
        var claims = aliceClaims
        claims.notBefore = now + 100
        let token = try JSONWebToken.sign(claims: claims, secret: secret)
        #expect(verifyError(token, now: now + 69) == .notYetValid(until: now + 100))
        #expect(verifyError(token, now: now + 70) == nil)
        let strict = try JSONWebToken.Verifier(secret: secret, clockSkew: 0)
        #expect(throws: JWTError.notYetValid(until: now + 100)) { try strict.verify(token, now: now + 99) }
        #expect(try strict.verify(token, now: now + 100) == claims)
    }

    @Test func extremeDatesDoNotOverflow() throws {
        let late = token(#"{"room":"r","sub":"s","exp":9007199254740992,"nbf":-9007199254740992}"#)
        let verifier = try JSONWebToken.Verifier(secret: secret, clockSkew: .max)
        #expect(try verifier.verify(late, now: .max).expiresAt == 1 << 53)
        #expect(try verifier.verify(late, now: .min).notBefore == -(1 << 53))
    }

    @Test func fractionalDatesRoundToTheStricterSide() throws {
        let claims = try JSONWebToken.verify(
            token(#"{"room":"r","sub":"s","exp":1750000100.9,"nbf":1749999999.1,"iat":1.7e9}"#), secret: secret, now: now)
        #expect(claims.expiresAt == 1_750_000_100)
        #expect(claims.notBefore == 1_750_000_000)
        #expect(claims.issuedAt == 1_700_000_000)
    }

    @Test func hugeDatesAreRefused() {
        for exp in ["9007199254740993", "99999999999999999999999999", "1e400", "-1e400", "1e16", "123456789012345678901234567890.5"] {
            #expect(verifyError(token(#"{"room":"r","sub":"s","exp":\#(exp)}"#)) == .invalidClaim(name: "exp", reason: "out of range"), "\(exp)")
        }
    }

    // MARK: Room

    @Test func wrongRoomIsRefused() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        #expect(verifyError(token, expectedRoom: "board") == .wrongRoom(expected: "board", got: "standup"))
        #expect(verifyError(token, expectedRoom: "board")?.description == #"token is for room "standup", not "board""#)
        #expect(verifyError(token, expectedRoom: "Standup") == .wrongRoom(expected: "Standup", got: "standup"))
        #expect(verifyError(token, expectedRoom: "standup") == nil)
    }

    // MARK: Claims

    @Test func missingGrantsGrantNothing() throws {
        let claims = try JSONWebToken.verify(token(#"{"room":"r","sub":"s","exp":1750000100}"#), secret: secret, now: now)
        #expect(claims == Claims(room: "r", identity: "s", grants: .none, expiresAt: 1_750_000_100))
        let partial = try JSONWebToken.verify(
            token(#"{"room":"r","sub":"s","exp":1750000100,"grants":{"subscribe":true,"publish":null}}"#), secret: secret, now: now)
        #expect(partial.grants == .init(subscribe: true))
    }

    @Test func nullOptionalClaimsAreAbsent() throws {
        let claims = try JSONWebToken.verify(
            token(#"{"room":"r","sub":"s","exp":1750000100,"name":null,"nbf":null,"iat":null,"iss":null,"aud":null,"grants":null}"#),
            secret: secret, now: now)
        #expect(claims == Claims(room: "r", identity: "s", expiresAt: 1_750_000_100))
    }

    @Test func unknownClaimsAreIgnored() throws {
        let claims = try JSONWebToken.verify(
            token(#"{"room":"r","sub":"s","exp":1750000100,"jti":"x","video":{"roomJoin":true},"n":1e999,"grants":{"admin":true}}"#),
            secret: secret, now: now)
        #expect(claims == Claims(room: "r", identity: "s", expiresAt: 1_750_000_100))
    }

    @Test func missingRequiredClaimsAreNamed() {
        #expect(verifyError(token(#"{"sub":"s","exp":1750000100}"#)) == .invalidClaim(name: "room", reason: "missing"))
        #expect(verifyError(token(#"{"room":"r","exp":1750000100}"#)) == .invalidClaim(name: "sub", reason: "missing"))
        #expect(verifyError(token(#"{"room":"r","sub":"s"}"#)) == .invalidClaim(name: "exp", reason: "missing"))
        #expect(verifyError(token(#"{"room":null,"sub":"s","exp":1750000100}"#)) == .invalidClaim(name: "room", reason: "missing"))
    }

    @Test func emptyRoomOrIdentityIsRefused() {
        #expect(verifyError(token(#"{"room":"","sub":"s","exp":1750000100}"#)) == .invalidClaim(name: "room", reason: "must not be empty"))
        #expect(verifyError(token(#"{"room":"r","sub":"","exp":1750000100}"#)) == .invalidClaim(name: "sub", reason: "must not be empty"))
        var claims = aliceClaims
        claims.room = ""
        #expect(throws: JWTError.invalidClaim(name: "room", reason: "must not be empty")) { try JSONWebToken.sign(claims: claims, secret: secret) }
        claims = aliceClaims
        claims.identity = ""
        #expect(throws: JWTError.invalidClaim(name: "sub", reason: "must not be empty")) { try JSONWebToken.sign(claims: claims, secret: secret) }
    }

    @Test(arguments: [
        (#""room":5"#, "room", "must be a string"),
        (#""sub":true"#, "sub", "must be a string"),
        (#""name":["A"]"#, "name", "must be a string"),
        (#""iss":3"#, "iss", "must be a string"),
        (#""exp":"1750000100""#, "exp", "must be a number (NumericDate)"),
        (#""nbf":{}"#, "nbf", "must be a number (NumericDate)"),
        (#""iat":false"#, "iat", "must be a number (NumericDate)"),
        (#""grants":[]"#, "grants", "must be an object"),
        (#""grants":true"#, "grants", "must be an object"),
        (#""grants":{"publish":"yes"}"#, "grants.publish", "must be a boolean"),
        (#""grants":{"subscribe":1}"#, "grants.subscribe", "must be a boolean"),
        (#""grants":{"publishData":{}}"#, "grants.publishData", "must be a boolean"),
        (#""aud":5"#, "aud", "must be a string or an array of strings"),
        (#""aud":["a",1]"#, "aud", "must be a string or an array of strings"),
    ])
    func wrongTypesAreNamed(member: String, name: String, reason: String) {
        // The member goes first so that it replaces the default (duplicates are refused).
        var fields = [#""room":"r""#, #""sub":"s""#, #""exp":1750000100"#]
        let key = String(member.prefix { $0 != ":" })
        fields.removeAll { $0.hasPrefix(key + ":") }
        let payload = "{" + ([member] + fields).joined(separator: ",") + "}"
        let error = verifyError(token(payload))
        #expect(error == .invalidClaim(name: name, reason: reason), "\(payload)")
        #expect(error?.description == "token claim \"\(name)\": \(reason)")
    }

    @Test func payloadThatIsNotAnObjectIsRefused() {
        for payload in [#"["room"]"#, "\"room\"", "17", "null"] {
            #expect(verifyError(token(payload)) == .malformed("payload is not a JSON object"), "\(payload)")
        }
    }

    @Test func payloadThatIsNotJSONIsRefused() {
        #expect(verifyError(token("room=r")) == .malformed("payload is not valid JSON: unexpected character at offset 0"))
        #expect(verifyError(token(#"{"room":"r""#)) == .malformed("payload is not valid JSON: unexpected end of JSON"))
    }

    @Test func duplicateClaimsAreRefused() {
        let payload = #"{"room":"r","sub":"s","exp":1750000100,"room":"other"}"#
        #expect(verifyError(token(payload)) == .malformed("payload is not valid JSON: duplicate member name at offset 39"))
    }

    @Test func deeplyNestedPayloadIsRefused() {
        let depth = 3000
        let payload = #"{"room":"r","sub":"s","exp":1750000100,"x":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        let token = token(payload)
        #expect(token.utf8.count <= JWS.maxTokenLength)
        #expect(verifyError(token) == .malformed("payload is not valid JSON: nested deeper than 16 levels"))
    }

    @Test func audienceMustIncludeOurs() throws {
        let single = token(#"{"room":"r","sub":"s","exp":1750000100,"aud":"starling"}"#)
        let list = token(#"{"room":"r","sub":"s","exp":1750000100,"aud":["other","starling"]}"#)
        let refusal = JWTError.invalidClaim(name: "aud", reason: "this server is not among the token's audiences")
        #expect(verifyError(single) == refusal)
        let ours = try JSONWebToken.Verifier(secret: secret, audience: "starling")
        #expect(try ours.verify(single, now: now).audience == ["starling"])
        #expect(try ours.verify(list, now: now).audience == ["other", "starling"])
        let theirs = try JSONWebToken.Verifier(secret: secret, audience: "elsewhere")
        #expect(throws: refusal) { try theirs.verify(list, now: now) }
        // No aud claim: any verifier accepts.
        #expect(try theirs.verify(try JSONWebToken.sign(claims: aliceClaims, secret: secret), now: now) == aliceClaims)
    }

    // MARK: Messages

    @Test func messagesNeverEchoTheSecretOrTheToken() throws {
        let token = try JSONWebToken.sign(claims: aliceClaims, secret: secret)
        let secretText = String(decoding: secret, as: UTF8.self)
        let longAlg = String(repeating: "X", count: 500) + "\n"
        let errors: [JWTError?] = [
            verifyError(token + "x"), verifyError(token, now: now + 100_000), verifyError(token, expectedRoom: "x"),
            verifyError(try JSONWebToken.sign(claims: aliceClaims, secret: JWTFixtures.otherSecret)),
            verifyError(JWTFixtures.token(header: #"{"alg":"\#(longAlg.replacingNewlines())"}"#, payload: "{}")),
        ]
        for case let error? in errors {
            #expect(!error.description.contains(secretText))
            #expect(!error.description.contains(token))
            #expect(error.description.count < 200, "\(error)")
        }
        let verifier = try JSONWebToken.Verifier(secret: secret)
        #expect(!String(describing: verifier).contains(secretText))
        #expect(!String(reflecting: verifier).contains(secretText))
        #expect(!String(describing: verifier).contains("48"))  // the secret's first byte, as an array would print it
    }

    @Test func longClientTextIsShortenedInMessages() {
        let message = JWTError.unsupportedAlgorithm(String(repeating: "A", count: 100) + "\u{1}").description
        #expect(message == "unsupported token algorithm \"" + String(repeating: "A", count: 64) + "…\"; only HS256 is accepted")
        #expect(JWTError.unsupportedAlgorithm("a\nb").description.contains("a?b"))
    }

    // MARK: Robustness

    @Test func everyTruncationIsRefused() throws {
        var rng = SeededRandom(seed: 0x7_2C)
        var tokens = [try JSONWebToken.sign(claims: aliceClaims, secret: secret), RFC7515A1.token]
        for _ in 0..<3 {
            var claims = aliceClaims
            claims.name = JWTTestStrings.random(&rng)
            claims.notBefore = now - 10
            tokens.append(try JSONWebToken.sign(claims: claims, secret: secret))
        }
        for token in tokens {
            let bytes = Array(token.utf8)
            for n in 0..<bytes.count {
                let prefix = String(decoding: bytes.prefix(n), as: UTF8.self)
                if (try? JWS.verify(prefix, secret: secret)) != nil { Issue.record("prefix \(n) of \(token) verified") }
                checkInvariants(WireInvariants.jwt, Array(bytes.prefix(n)))
            }
        }
    }

    @Test func randomMutationsNeverTrap() throws {
        var rng = SeededRandom(seed: 0xB17_F11B)
        let token = Array(try JSONWebToken.sign(claims: aliceClaims, secret: secret).utf8)
        let payload = aliceClaims.json()
        var accepted = 0
        for _ in 0..<1500 {
            for original in [token, payload] {
                var mutated = original
                for _ in 0..<rng.int(1...4) {
                    let i = rng.int(0...(mutated.count - 1))
                    switch rng.int(0...3) {
                    case 0: mutated[i] ^= 1 << UInt8(rng.int(0...7))
                    case 1: mutated[i] = rng.byte()
                    case 2: mutated.remove(at: i)
                    default:
                        let specials = Array(#".{}[]":,\-_=eyJ0"#.utf8)
                        mutated[i] = specials[rng.int(0...(specials.count - 1))]
                    }
                    if mutated.isEmpty { break }
                }
                if (try? JSONWebToken.verify(String(decoding: mutated, as: UTF8.self), secret: secret, now: now)) != nil {
                    accepted += 1
                }
                checkInvariants(WireInvariants.jwt, mutated)
            }
        }
        // Only a mutation that leaves the token's bytes as they were can verify.
        #expect(accepted <= 30)
        for _ in 0..<500 { checkInvariants(WireInvariants.jwt, rng.bytes(rng.int(0...200))) }
    }

    @Test func invariantsHoldOnValidInputs() throws {
        var samples = [Array(try JSONWebToken.sign(claims: aliceClaims, secret: secret).utf8), aliceClaims.json(), RFC7515A1.payload]
        samples.append(Array(try JSONWebToken.sign(claims: aliceClaims, secret: WireInvariants.jwtSecret).utf8))
        for sample in samples { checkInvariants(WireInvariants.jwt, sample) }
    }
}

extension String {
    fileprivate func replacingNewlines() -> String { String(map { $0 == "\n" ? " " : $0 }) }
}
