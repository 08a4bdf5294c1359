import COpenSSL

/// JSON Web Signature (RFC 7515) in the compact serialization (§7.1), with HS256 (RFC 7518 §3.2) as the
/// only algorithm: `BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(HMAC-SHA256(secret, signing input))`.
///
/// `verify` returns the payload bytes only after the header is acceptable and the signature matches;
/// `JSONWebToken` reads Starling's claims from them.
public enum JWS {
    /// Longer tokens are refused before any decoding.
    public static let maxTokenLength = 8192
    /// RFC 7518 §3.2: an HS256 key is at least as long as the hash output.
    public static let minimumSecretLength = 32
    /// The header this implementation signs with.
    static let header = Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)
    static let signatureLength = 32

    /// Signs `payload` (any bytes but none; a JWT's is its claims JSON) with HS256 under `secret`. An empty
    /// payload is refused, as `verify` refuses empty segments.
    public static func sign(payload: [UInt8], secret: [UInt8]) throws(JWTError) -> String {
        guard !payload.isEmpty else { throw .malformed("payload is empty") }
        return try sign(header: header, payload: payload, secret: secret)
    }

    /// As `sign(payload:secret:)` with a header of the caller's (the tests reproduce RFC 7515 A.1 with it).
    static func sign(header: [UInt8], payload: [UInt8], secret: [UInt8]) throws(JWTError) -> String {
        guard secret.count >= minimumSecretLength else { throw .secretTooShort(length: secret.count) }
        let signingInput = Base64URL.encode(header) + "." + Base64URL.encode(payload)
        let mac = hmacSHA256(key: secret, Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(mac)
    }

    /// Checks `token` and returns its payload bytes: the length cap, exactly three non-empty canonical
    /// base64url segments (§7.1, §2), a JSON-object header (§4) whose `alg` is "HS256" (RFC 8725 §3.1),
    /// whose `typ`, if present, names JWT (§4.1.9, RFC 7519 §5.1) and which has no `crit` (§4.1.11), then
    /// the HMAC, compared in constant time.
    public static func verify(_ token: String, secret: [UInt8]) throws(JWTError) -> [UInt8] {
        guard secret.count >= minimumSecretLength else { throw .secretTooShort(length: secret.count) }
        let length = token.utf8.count
        guard length <= maxTokenLength else { throw .malformed("token is longer than \(maxTokenLength) bytes") }
        guard length > 0 else { throw .malformed("token is empty") }
        let bytes = Array(token.utf8)

        var dots: [Int] = []
        for (i, c) in bytes.enumerated() where c == UInt8(ascii: ".") {
            dots.append(i)
            if dots.count > 2 { break }
        }
        guard dots.count == 2 else {
            let found = dots.count > 2 ? "more than 3" : "\(dots.count + 1)"
            throw .malformed("expected 3 segments separated by '.', found \(found)")
        }
        let headerSegment = bytes[..<dots[0]]
        let payloadSegment = bytes[(dots[0] + 1)..<dots[1]]
        let signatureSegment = bytes[(dots[1] + 1)...]

        try checkHeader(try decodeJSONObject(segment: headerSegment, name: "header"))

        guard !payloadSegment.isEmpty else { throw .malformed("payload segment is empty") }
        guard !signatureSegment.isEmpty else { throw .malformed("signature segment is empty") }
        let signature = try decode(segment: signatureSegment, name: "signature")
        guard signature.count == signatureLength else { throw .badSignature }
        let mac = hmacSHA256(key: secret, Array(bytes[..<dots[1]]))
        guard constantTimeEqual(mac, signature) else { throw .badSignature }
        return try decode(segment: payloadSegment, name: "payload")
    }

    /// RFC 7515 §4.1: unknown parameters are ignored, but `alg` must be HS256, `typ` JWT, and `crit`
    /// (extensions that must be understood) is refused since we understand none.
    private static func checkHeader(_ header: [String: JWTJSON]) throws(JWTError) {
        switch header["alg"] {
        case .string(let alg):
            guard alg == "HS256" else { throw .unsupportedAlgorithm(alg) }
        case nil: throw .invalidHeader(name: "alg", reason: "missing")
        default: throw .invalidHeader(name: "alg", reason: "must be a string")
        }
        if header["crit"] != nil {
            throw .invalidHeader(name: "crit", reason: "critical header extensions are not supported")
        }
        switch header["typ"] {
        case nil: break
        case .string(let typ):
            // Media types compare case-insensitively; "application/" may be omitted (§4.1.9).
            let lowered = typ.lowercased()
            guard lowered == "jwt" || lowered == "application/jwt" else {
                throw .invalidHeader(name: "typ", reason: "must be \"JWT\"")
            }
        default: throw .invalidHeader(name: "typ", reason: "must be a string")
        }
    }

    static func decode(segment: ArraySlice<UInt8>, name: String) throws(JWTError) -> [UInt8] {
        do {
            return try Base64URL.decode(segment)
        } catch {
            switch error {
            case .invalidCharacter(let offset):
                throw .malformed("\(name) segment: invalid base64url character at offset \(offset)")
            case .invalidLength:
                throw .malformed("\(name) segment: invalid base64url length")
            case .nonZeroTrailingBits:
                throw .malformed("\(name) segment: non-canonical base64url (trailing bits set)")
            }
        }
    }

    /// A segment that must hold a JSON object: the header here, the claims set in `JSONWebToken`.
    static func decodeJSONObject(segment: ArraySlice<UInt8>, name: String) throws(JWTError) -> [String: JWTJSON] {
        guard !segment.isEmpty else { throw .malformed("\(name) segment is empty") }
        return try jsonObject(try decode(segment: segment, name: name), name: name)
    }

    static func jsonObject(_ bytes: [UInt8], name: String) throws(JWTError) -> [String: JWTJSON] {
        let value: JWTJSON
        do {
            value = try JWTJSON.parse(bytes)
        } catch {
            throw .malformed("\(name) is not valid JSON: \(error.reason)")
        }
        guard case .object(let members) = value else { throw .malformed("\(name) is not a JSON object") }
        return members
    }

    /// HMAC-SHA256 through OpenSSL (RFC 2104, RFC 7518 §3.2); empty on failure, which never verifies.
    static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var size: UInt32 = 0
        var placeholder: UInt8 = 0
        let ok = key.withUnsafeBytes { keyBytes in
            data.withUnsafeBytes { dataBytes in
                out.withUnsafeMutableBufferPointer { mac in
                    withUnsafeMutablePointer(to: &placeholder) { empty in
                        let keyPointer = keyBytes.baseAddress ?? UnsafeRawPointer(empty)
                        let dataPointer = dataBytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(empty)
                        return HMAC(
                            EVP_sha256(), keyPointer, Int32(clamping: keyBytes.count), dataPointer, dataBytes.count,
                            mac.baseAddress, &size) != nil
                    }
                }
            }
        }
        guard ok, size == UInt32(signatureLength) else { return [] }
        return Array(out.prefix(signatureLength))
    }

    /// Equal-length comparison whose time does not depend on where the bytes differ (CRYPTO_memcmp).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, x.count) == 0 }
        }
    }
}
