/// Why a token was refused or could not be made. The `description` is fit to send to the client that
/// presented the token: it names the problem and the offending header parameter or claim, never the
/// secret or the token (values the client supplied are shortened).
public enum JWTError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The HS256 secret is shorter than 32 bytes (RFC 7518 §3.2: at least the size of the hash output).
    case secretTooShort(length: Int)
    /// Not a JWS compact serialization (RFC 7515 §7.1): too long, wrong segment count, empty segment,
    /// bad base64url (RFC 7515 §2), or a header or payload that is not a JSON object.
    case malformed(String)
    /// `alg` is anything but "HS256" ("none" included: RFC 8725 §3.1).
    case unsupportedAlgorithm(String)
    /// A JOSE header parameter we refuse: `alg` missing or not a string, `typ` other than JWT,
    /// any `crit` (RFC 7515 §4.1.11).
    case invalidHeader(name: String, reason: String)
    /// The HMAC does not match: forged, altered, or signed with another secret.
    case badSignature
    /// `exp` (RFC 7519 §4.1.4) has passed, allowing for clock skew.
    case expired(at: Int64)
    /// `nbf` (RFC 7519 §4.1.5) has not come yet, allowing for clock skew.
    case notYetValid(until: Int64)
    /// The token is for another room than the one being joined.
    case wrongRoom(expected: String, got: String)
    /// A claim is missing, of the wrong JSON type, or out of range.
    case invalidClaim(name: String, reason: String)

    public var description: String {
        switch self {
        case .secretTooShort(let length):
            return "JWT secret is \(length) bytes; HS256 needs at least \(JWS.minimumSecretLength)"
        case .malformed(let reason):
            return "malformed token: \(reason)"
        case .unsupportedAlgorithm(let alg):
            return "unsupported token algorithm \"\(Self.shortened(alg))\"; only HS256 is accepted"
        case .invalidHeader(let name, let reason):
            return "token header \"\(Self.shortened(name))\": \(reason)"
        case .badSignature:
            return "token signature does not verify"
        case .expired(let at):
            return "token expired at \(at) (Unix time)"
        case .notYetValid(let until):
            return "token not valid before \(until) (Unix time)"
        case .wrongRoom(let expected, let got):
            return "token is for room \"\(Self.shortened(got))\", not \"\(Self.shortened(expected))\""
        case .invalidClaim(let name, let reason):
            return "token claim \"\(Self.shortened(name))\": \(reason)"
        }
    }

    /// Client-supplied text in a message: at most 64 characters, control characters replaced.
    static func shortened(_ text: String) -> String {
        var out = String(text.unicodeScalars.prefix(64).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
        if text.unicodeScalars.count > 64 { out += "…" }
        return out
    }
}
