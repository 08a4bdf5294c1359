import Testing

@testable import StarlingWire

/// TURN REST credentials (draft-uberti-behave-turn-rest-00 §2.2) against values computed independently
/// (Python: base64.b64encode(hmac.new(secret, username, hashlib.sha1).digest())).
@Suite struct TURNCredentialsTests {
    @Test func matchesTheRESTForm() {
        let c = TURNCredentials(secret: Array("coturn-shared-secret".utf8), user: "ada", expiresAt: 1_700_000_000)
        #expect(c.username == "1700000000:ada")
        #expect(c.password == "u0D6ENPbIrwbyButnVqcRYGPdwY=")
        #expect(c.expiresAt == 1_700_000_000)
        // Another secret or another expiry gives another password.
        #expect(TURNCredentials(secret: Array("other".utf8), user: "ada", expiresAt: 1_700_000_000).password != c.password)
        #expect(TURNCredentials(secret: Array("coturn-shared-secret".utf8), user: "ada", expiresAt: 1_700_000_001).password != c.password)
    }

    @Test func base64IsPaddedStandardBase64() {
        #expect(TURNCredentials.base64(Array("f".utf8)) == "Zg==")
        #expect(TURNCredentials.base64(Array("fo".utf8)) == "Zm8=")
        #expect(TURNCredentials.base64(Array("foo".utf8)) == "Zm9v")
        #expect(TURNCredentials.base64([0xFB, 0xFF]) == "+/8=")
        #expect(TURNCredentials.base64([]) == "")
    }
}
