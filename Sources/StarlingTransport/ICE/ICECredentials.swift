import StarlingWire

/// An ICE username fragment and password (RFC 8445 §5.3), as carried by `a=ice-ufrag` and `a=ice-pwd`
/// (RFC 8839 §5.4).
///
/// Connectivity checks are authenticated with them (RFC 8445 §7.2.2): a check from L to R carries
/// USERNAME "R.ufrag:L.ufrag" and MESSAGE-INTEGRITY keyed with R's password.
public struct ICECredentials: Hashable, Sendable, CustomStringConvertible {
    public var ufrag: String
    public var pwd: String

    @inlinable
    public init(ufrag: String, pwd: String) {
        self.ufrag = ufrag
        self.pwd = pwd
    }

    /// Length of a generated ufrag: 8 ice-chars, 48 random bits (RFC 8445 §5.3 asks for at least 24;
    /// more keeps ufrags unique among the peers of a shared UDP port, which routes by ufrag).
    public static let generatedUfragLength = 8
    /// Length of a generated password: 24 ice-chars, 144 random bits (RFC 8445 §5.3: at least 128).
    public static let generatedPwdLength = 24

    /// Fresh credentials from the system CSPRNG (`SystemRandomNumberGenerator`: getrandom(2) on Linux,
    /// arc4random on Darwin).
    public static func random() -> ICECredentials {
        var rng = SystemRandomNumberGenerator()
        return random(using: &rng)
    }

    /// Fresh credentials from `rng`; pass a cryptographically secure generator outside tests.
    public static func random(using rng: inout some RandomNumberGenerator) -> ICECredentials {
        ICECredentials(
            ufrag: randomIceChars(generatedUfragLength, using: &rng),
            pwd: randomIceChars(generatedPwdLength, using: &rng))
    }

    /// True when both values follow RFC 8839 §5.4: `ice-ufrag` is 4...256 ice-chars, `ice-pwd`
    /// 22...256 ice-chars, where ice-char = ALPHA / DIGIT / "+" / "/".
    public var isWellFormed: Bool {
        Self.isIceCharString(ufrag, length: 4...256) && Self.isIceCharString(pwd, length: 22...256)
    }

    /// The ufrag only: the password is a secret and stays out of logs.
    public var description: String { "ICECredentials(ufrag: \(ufrag))" }

    /// The 64 ice-chars of RFC 8839 §5.4.
    static let iceChars: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func randomIceChars(_ count: Int, using rng: inout some RandomNumberGenerator) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var bits: UInt64 = 0
        var available = 0
        for _ in 0..<count {
            if available < 6 {
                bits = rng.next()
                available = 64
            }
            // 64 symbols: six random bits pick one uniformly.
            bytes.append(iceChars[Int(bits & 0x3F)])
            bits >>= 6
            available -= 6
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isIceCharString(_ text: String, length: ClosedRange<Int>) -> Bool {
        let utf8 = text.utf8
        guard length.contains(utf8.count) else { return false }
        return utf8.allSatisfy { c in
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default:
                false
            }
        }
    }
}

/// What an ICE agent reports to its owner, polled with `pollEvent()`.
public enum ICEEvent: Hashable, Sendable {
    /// Media now goes to (lite agent) or comes from and goes to (controlling agent) this remote address.
    case selectedPairChanged(remote: STUNAddress)
    /// The selected pair has consent (RFC 7675): media may be sent. Also reported when consent revives.
    case connected
    /// Consent on the selected pair expired (RFC 7675 §5.1): stop sending media until `.connected`.
    case disconnected
    /// The peer is using the credentials given to the last `restart` (RFC 8445 §9); the old ones are
    /// no longer accepted.
    case restarted
    /// Controlling agent only: every connectivity check timed out or failed without a valid response.
    case failed
}

/// The connection state of an ICE agent (a subset of RFC 8445 §6.1.3 / W3C RTCIceTransportState).
public enum ICEState: Hashable, Sendable {
    /// Nothing has happened yet.
    case new
    /// Controlling agent only: checks are in flight, no valid pair yet.
    case checking
    /// A pair is selected and has consent.
    case connected
    /// A pair is selected but its consent expired; a valid check or response revives it.
    case disconnected
    /// Controlling agent only: all checks failed.
    case failed
}

/// The short-term credential key (RFC 8489 §9.1.1) for an ICE password.
func iceKey(_ pwd: String) -> [UInt8] { STUNCredentials.shortTermKey(password: pwd) }
