import StarlingWire

extension WireInvariants {
    /// The secret the JWT check signs and verifies with.
    public static let jwtSecret = Array("starling-fuzz-secret-0123456789abcdef".utf8)

    /// JWT (RFC 7519 over RFC 7515 HS256), with the input taken both ways: as a token, verification never
    /// traps (and anything it accepts re-signs to the same claims); as a payload, sign -> verify gives the
    /// same bytes back, and claims read from it re-serialize, re-sign and verify to equal claims.
    public static func jwt(_ bytes: UnsafeRawBufferPointer) -> String? {
        let verifier: JSONWebToken.Verifier
        do { verifier = try JSONWebToken.Verifier(secret: jwtSecret) } catch { return "verifier refused the fuzz secret" }
        let now: Int64 = 1_700_000_000

        // As a token.
        let token = String(decoding: bytes, as: UTF8.self)
        if let claims = try? verifier.verify(token, now: now, expectedRoom: nil) {
            guard let again = try? JSONWebToken.sign(claims: claims, secret: jwtSecret),
                (try? verifier.verify(again, now: now, expectedRoom: claims.room)) == claims
            else { return "accepted claims do not survive re-signing: \(claims)" }
        }

        // As a payload.
        let payload = Array(bytes)
        guard !payload.isEmpty else { return nil }
        let signed: String
        do { signed = try JWS.sign(payload: payload, secret: jwtSecret) } catch { return "signing failed: \(error)" }
        guard let verified = try? JWS.verify(signed, secret: jwtSecret) else {
            if signed.utf8.count <= JWS.maxTokenLength { return "a token we signed did not verify" }
            return nil
        }
        if verified != payload { return "payload changed through sign -> verify" }

        guard let claims = try? JSONWebToken.Claims(json: payload) else { return nil }
        let json = claims.json()
        guard let reread = try? JSONWebToken.Claims(json: json) else { return "re-serialized claims do not parse: \(claims)" }
        if reread != claims { return "claims round-trip mismatch: \(claims) vs \(reread)" }
        let resigned: String
        do { resigned = try JSONWebToken.sign(claims: claims, secret: jwtSecret) } catch { return "signing claims failed: \(error)" }
        guard resigned.utf8.count <= JWS.maxTokenLength else { return nil }
        do {
            let checker = try JSONWebToken.Verifier(secret: jwtSecret, audience: claims.audience.first)
            let checked = try checker.verify(resigned, now: claims.notBefore ?? Int64.min, expectedRoom: claims.room)
            if checked != claims { return "claims changed through sign -> verify" }
        } catch {
            // An nbf at or past exp + skew leaves no instant at which the token is valid.
            guard case .expired = error else { return "re-signed claims refused: \(error)" }
        }
        return nil
    }
}
