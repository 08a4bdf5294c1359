/// Which web pages may open the WebSocket APIs (`/rtc`, `/control`). A browser names the page's origin in
/// the `Origin` header of every WebSocket upgrade (RFC 6455 §4.1, §10.2) and lets any page open a socket to
/// any host, so without this check a page on another site could drive the APIs from a user's browser
/// (cross-site WebSocket hijacking). Requests without `Origin`, or with one that is not a web origin (the
/// `ws://host` that WebSocket libraries send), do not come from a browser page and pass; a browser's opaque
/// origin (`null`: sandboxed frames, files) does not.
struct OriginPolicy: Sendable {
    let allowsAny: Bool
    /// Normalized origins; empty: only the server's own origin (the request's Host).
    let allowed: Set<String>

    init(allowedOrigins: [String]) {
        allowsAny = allowedOrigins.contains("*")
        allowed = Set(allowedOrigins.compactMap(Self.normalized))
    }

    /// `scheme://host[:port]` in lower case with the scheme's default port left out; nil when `text` is not
    /// an http(s) origin (RFC 6454 §6.1 serialization).
    static func normalized(_ text: String) -> String? {
        guard let parts = parse(text) else { return nil }
        let defaultPort = parts.scheme == "https" ? 443 : 80
        return parts.port == defaultPort ? "\(parts.scheme)://\(parts.host)" : "\(parts.scheme)://\(parts.host):\(parts.port)"
    }

    private static func parse(_ text: String) -> (scheme: String, host: String, port: Int)? {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("http://") {
            scheme = "http"
        } else if lower.hasPrefix("https://") {
            scheme = "https"
        } else {
            return nil
        }
        let authority = lower.dropFirst(scheme.count + 3)
        guard !authority.isEmpty, authority.count <= 300, !authority.contains("/"), !authority.contains("@") else {
            return nil
        }
        guard let (host, port) = splitAuthority(Substring(authority)) else { return nil }
        return (scheme, host, port ?? (scheme == "https" ? 443 : 80))
    }

    /// `host[:port]` (IPv6 in brackets); nil when the port is not a number in 1...65535.
    static func splitAuthority(_ authority: Substring) -> (host: String, port: Int?)? {
        var host = authority
        var port: Int?
        if let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") {
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            host = authority[..<colon]
        }
        guard !host.isEmpty else { return nil }
        return (String(host), port)
    }

    /// Whether a WebSocket upgrade with these headers may proceed. `host` is the request's Host header.
    func allows(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if allowsAny { return true }
        let lower = origin.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower == "null" else { return true }
        guard let parsed = Self.parse(origin) else { return false }
        if !allowed.isEmpty { return Self.normalized(origin).map(allowed.contains) ?? false }
        // The server's own origin: the page came from the host and port this request is addressed to.
        guard let host, let (hostName, hostPort) = Self.splitAuthority(Substring(host.lowercased())) else { return false }
        return hostName == parsed.host && (hostPort ?? (parsed.scheme == "https" ? 443 : 80)) == parsed.port
    }
}
