/// Time-limited TURN credentials in the REST form coturn checks with `use-auth-secret`
/// (draft-uberti-behave-turn-rest-00 §2.2): the username is `<expiry, Unix seconds>:<user>` and the password
/// is base64 (RFC 4648 §4, padded) of HMAC-SHA1 keyed with the shared secret over the username. The TURN
/// server recomputes the password and refuses a username whose expiry has passed.
public struct TURNCredentials: Hashable, Sendable {
    public var username: String
    public var password: String
    /// When the credentials stop working (Unix seconds).
    public var expiresAt: Int64

    public init(secret: [UInt8], user: String, expiresAt: Int64) {
        username = "\(expiresAt):\(user)"
        self.expiresAt = expiresAt
        let mac = Array(username.utf8).withUnsafeBytes { STUNIntegrity.hmac(.sha1, key: secret, $0) }
        password = Self.base64(mac)
    }

    /// Standard base64 with '=' padding (RFC 4648 §4), from the base64url encoder.
    static func base64(_ bytes: [UInt8]) -> String {
        var text = Array(Base64URL.encode(bytes).utf8).map { c -> UInt8 in
            c == UInt8(ascii: "-") ? UInt8(ascii: "+") : c == UInt8(ascii: "_") ? UInt8(ascii: "/") : c
        }
        while text.count % 4 != 0 { text.append(UInt8(ascii: "=")) }
        return String(decoding: text, as: UTF8.self)
    }
}
