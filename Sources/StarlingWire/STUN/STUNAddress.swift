/// A transport address (RFC 8445 §3: an IP address, a port and the transport protocol): what STUN carries
/// (RFC 8489 §14.1 holds the address and the port; the protocol is the one the message came over).
///
/// Deliberately free of Foundation and NIO types so Wire stays dependency-free; the socket layer converts
/// with `ipBytes` / `init(ipBytes:port:)`. `description` gives "1.2.3.4:5" or "[::1]:5" for logs, with
/// "/tcp" after a TCP address. A UDP and a TCP address of the same IP and port are different addresses:
/// ICE-TCP (RFC 6544) pairs are told apart from UDP ones by it.
public struct STUNAddress: Hashable, Sendable, CustomStringConvertible {
    /// The transport protocol of the address. Addresses parsed from STUN attributes are UDP.
    public enum TransportProtocol: UInt8, Hashable, Sendable {
        case udp
        /// ICE-TCP (RFC 6544), RFC 4571 framing on a TCP connection.
        case tcp
    }

    /// An IP address, stored as integers in network order (the first wire byte is the most significant).
    public enum IP: Hashable, Sendable, CustomStringConvertible {
        case v4(UInt32)
        case v6(high: UInt64, low: UInt64)

        /// The STUN address family (RFC 8489 §14.1): 0x01 for IPv4, 0x02 for IPv6.
        @inlinable
        public var family: UInt8 {
            switch self {
            case .v4: 0x01
            case .v6: 0x02
            }
        }

        /// 4 or 16 bytes, as sent.
        public var bytes: [UInt8] {
            var out: [UInt8] = []
            switch self {
            case .v4(let a):
                out.appendBE32(a)
            case .v6(let high, let low):
                out.reserveCapacity(16)
                out.appendBE64(high)
                out.appendBE64(low)
            }
            return out
        }

        /// From 4 (IPv4) or 16 (IPv6) bytes; nil for any other count.
        public init?(bytes: some Collection<UInt8>) {
            switch bytes.count {
            case 4:
                self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
            case 16:
                var high: UInt64 = 0
                var low: UInt64 = 0
                for (i, b) in bytes.enumerated() {
                    if i < 8 { high = high << 8 | UInt64(b) } else { low = low << 8 | UInt64(b) }
                }
                self = .v6(high: high, low: low)
            default:
                return nil
            }
        }

        /// Parses "192.0.2.1" or an RFC 4291 §2.2 IPv6 text form ("2001:db8::1", "::ffff:1.2.3.4").
        public init?(_ text: some StringProtocol) {
            let utf8 = Array(text.utf8)
            if let v4 = STUNAddress.parseIPv4(utf8[...]) {
                self = .v4(v4)
            } else if let (high, low) = STUNAddress.parseIPv6(utf8) {
                self = .v6(high: high, low: low)
            } else {
                return nil
            }
        }

        /// Dotted quad for IPv4; RFC 5952 canonical text for IPv6 (lowercase, longest zero run as "::",
        /// IPv4-mapped addresses as "::ffff:a.b.c.d").
        public var description: String {
            switch self {
            case .v4(let a):
                return STUNAddress.dottedQuad(a)
            case .v6(let high, let low):
                return STUNAddress.ipv6Text(high: high, low: low)
            }
        }
    }

    public var ip: IP
    public var port: UInt16
    public var transport: TransportProtocol

    @inlinable
    public init(ip: IP, port: UInt16, transport: TransportProtocol = .udp) {
        self.ip = ip
        self.port = port
        self.transport = transport
    }

    /// The same IP and port over `transport`.
    @inlinable
    public func over(_ transport: TransportProtocol) -> STUNAddress {
        STUNAddress(ip: ip, port: port, transport: transport)
    }

    /// An IPv4 address from its four octets, most significant first.
    @inlinable
    public init(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) {
        ip = .v4(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
        self.port = port
        transport = .udp
    }

    /// From 4 (IPv4) or 16 (IPv6) address bytes; nil for any other count.
    public init?(ipBytes: some Collection<UInt8>, port: UInt16) {
        guard let ip = IP(bytes: ipBytes) else { return nil }
        self.init(ip: ip, port: port)
    }

    /// Parses "1.2.3.4:5" or "[2001:db8::1]:5".
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard let colon = utf8.lastIndex(of: UInt8(ascii: ":")),
              let port = STUNAddress.parsePort(utf8[(colon + 1)...])
        else { return nil }
        let host = utf8[..<colon]
        if host.first == UInt8(ascii: "[") {
            guard host.count >= 2, host.last == UInt8(ascii: "]"),
                  let (high, low) = STUNAddress.parseIPv6(Array(host.dropFirst().dropLast()))
            else { return nil }
            self.init(ip: .v6(high: high, low: low), port: port)
        } else {
            guard let v4 = STUNAddress.parseIPv4(host) else { return nil }
            self.init(ip: .v4(v4), port: port)
        }
    }

    /// The address bytes: 4 for IPv4, 16 for IPv6.
    public var ipBytes: [UInt8] { ip.bytes }

    /// "1.2.3.4:5" or "[::1]:5".
    public var description: String {
        let text: String
        switch ip {
        case .v4: text = "\(ip):\(port)"
        case .v6: text = "[\(ip)]:\(port)"
        }
        return transport == .tcp ? text + "/tcp" : text
    }
}

// MARK: - Text forms

extension STUNAddress {
    static func dottedQuad(_ a: UInt32) -> String {
        "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF)"
    }

    static func ipv6Text(high: UInt64, low: UInt64) -> String {
        // RFC 5952 §5: IPv4-mapped addresses keep the dotted form of their last 32 bits.
        if high == 0, low >> 32 == 0xFFFF {
            return "::ffff:" + dottedQuad(UInt32(truncatingIfNeeded: low))
        }
        var groups: [UInt16] = []
        groups.reserveCapacity(8)
        for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: low >> UInt64(shift))) }
        // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
        var bestStart = -1
        var bestLength = 1
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8, groups[j] == 0 { j += 1 }
            if j - i > bestLength {
                bestStart = i
                bestLength = j - i
            }
            i = j
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    static func parsePort(_ digits: ArraySlice<UInt8>) -> UInt16? {
        guard !digits.isEmpty, digits.count <= 5 else { return nil }
        var value = 0
        for c in digits {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
        }
        return value <= 0xFFFF ? UInt16(value) : nil
    }

    static func parseIPv4(_ text: ArraySlice<UInt8>) -> UInt32? {
        var result: UInt32 = 0
        var parts = 0
        var value = 0
        var digits = 0
        for c in text {
            if c == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                result = result << 8 | UInt32(value)
                parts += 1
                value = 0
                digits = 0
            } else if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                digits += 1
                value = value * 10 + Int(c - UInt8(ascii: "0"))
                guard digits <= 3, value <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return result << 8 | UInt32(value)
    }

    /// RFC 4291 §2.2: eight 16-bit hex groups, one "::" for a run of zero groups, and an optional
    /// dotted IPv4 tail standing for the last two groups.
    static func parseIPv6(_ text: [UInt8]) -> (UInt64, UInt64)? {
        guard text.count >= 2, text.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var i = 0
        if text[0] == UInt8(ascii: ":") {
            guard text[1] == UInt8(ascii: ":") else { return nil }
            sawGap = true
            i = 2
        }
        while i < text.count {
            // One group (or a dotted IPv4 tail) starting at i.
            var j = i
            while j < text.count, text[j] != UInt8(ascii: ":") { j += 1 }
            let token = text[i..<j]
            if token.contains(UInt8(ascii: ".")) {
                guard j == text.count, let v4 = parseIPv4(token) else { return nil }
                let pair = [UInt16(truncatingIfNeeded: v4 >> 16), UInt16(truncatingIfNeeded: v4)]
                if sawGap { tail += pair } else { head += pair }
                i = j
                break
            }
            guard let group = parseHexGroup(token) else { return nil }
            if sawGap { tail.append(group) } else { head.append(group) }
            guard j < text.count else { i = j; break }
            // At a colon: either a separator or the start of "::".
            if j + 1 < text.count, text[j + 1] == UInt8(ascii: ":") {
                guard !sawGap else { return nil }
                sawGap = true
                i = j + 2
            } else {
                guard j + 1 < text.count else { return nil }  // a trailing single ":"
                i = j + 1
            }
        }
        let total = head.count + tail.count
        if sawGap {
            guard total <= 7 else { return nil }
        } else {
            guard total == 8 else { return nil }
        }
        let groups = head + Array(repeating: 0, count: 8 - total) + tail
        var high: UInt64 = 0
        var low: UInt64 = 0
        for g in groups[0..<4] { high = high << 16 | UInt64(g) }
        for g in groups[4..<8] { low = low << 16 | UInt64(g) }
        return (high, low)
    }

    static func parseHexGroup(_ token: ArraySlice<UInt8>) -> UInt16? {
        guard !token.isEmpty, token.count <= 4 else { return nil }
        var value: UInt16 = 0
        for c in token {
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }
}
