import Configuration
import Foundation
import Logging
import SystemPackage
import Yams

/// Reads `StarlingConfiguration` from a YAML file with `STARLING_*` environment overrides
/// (`http.port` is overridden by `STARLING_HTTP_PORT`, `shutdown.gracePeriodSeconds` by
/// `STARLING_SHUTDOWN_GRACE_PERIOD_SECONDS`), validating every field and collecting every problem.
public enum ConfigurationLoader {
    /// The file `starling serve` reads when no `--config` is given; a missing default file means defaults.
    public static let defaultPath = "config/starling.yaml"

    /// Every key Starling reads, with its kind; anything else in the file is reported as unknown.
    static let knownKeys: [String] = [
        "http.host", "http.port", "http.webRoot", "http.maxConnections", "http.maxConnectionsPerAddress",
        "http.requestTimeoutSeconds", "http.idleTimeoutSeconds", "http.allowedOrigins",
        "media.listenAddress", "media.announcedAddresses", "media.portMode", "media.udpPort",
        "media.portRangeStart", "media.portRangeEnd", "media.eventLoops", "media.tcpEnabled", "media.tcpPort",
        "media.tcpMaxConnections", "media.tcpConnectionsPerAddress", "media.tcpConnectionsPerPeer", "media.tcpMaxFrameBytes",
        "media.disconnectedTimeoutSeconds",
        "dtls.certificateFile", "dtls.privateKeyFile",
        "log.level",
        "shutdown.gracePeriodSeconds",
        "auth.jwtSecret", "auth.devTokens",
        "signaling.maxMessageBytes", "signaling.requestsPerSecond", "signaling.reconnectWindowSeconds",
        "signaling.joinTimeoutSeconds",
        "rooms.maxParticipants", "rooms.emptyTimeoutSeconds", "control.apiKey", "control.authenticationTimeoutSeconds",
        "echo.enabled", "echo.token", "echo.maxSessions", "echo.maxSessionsPerAddress", "echo.sessionSeconds",
        "limits.rooms", "limits.sdpBytes", "limits.mediaSectionsPerOffer", "limits.sendingSectionsPerOffer", "limits.simulcastLayers",
        "limits.tracksPerParticipant", "limits.tracksPerRoom", "limits.inboundSSRCsPerTransport",
        "limits.retransmissionsPerSecond",
        "turn.urls", "turn.secret", "turn.credentialSeconds",
        "data.enabled", "data.maxMessageBytes", "data.reliableQueueBytes", "data.lossyQueueBytes",
        "data.messagesPerSecond", "data.bytesPerSecond",
    ]

    /// Loads and validates; throws `ConfigurationError` listing every invalid field.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> StarlingConfiguration {
        let (config, issues) = try await validate(path: path, environment: environment)
        guard issues.isEmpty else {
            throw ConfigurationError(source: path ?? defaultPath, issues: issues)
        }
        return config
    }

    /// Loads and returns the configuration with every problem found (empty when valid). Throws only when
    /// an explicitly named file cannot be read.
    public static func validate(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> (StarlingConfiguration, [ConfigIssue]) {
        var issues: [ConfigIssue] = []
        let filePath = path ?? defaultPath
        let exists = FileManager.default.fileExists(atPath: filePath)
        if path != nil && !exists {
            issues.append(ConfigIssue(key: filePath, reason: "file not found"))
            return (StarlingConfiguration(), issues)
        }

        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "starling")
        ]
        if exists {
            let text: String
            do {
                text = try String(contentsOfFile: filePath, encoding: .utf8)
            } catch {
                issues.append(ConfigIssue(key: filePath, reason: "cannot be read: \(error)"))
                return (StarlingConfiguration(), issues)
            }
            do {
                issues += try unknownKeys(inYAML: text)
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(filePath)))
            } catch {
                issues.append(ConfigIssue(key: filePath, reason: "not valid YAML: \(error)"))
                return (StarlingConfiguration(), issues)
            }
        }
        issues += unknownEnvironmentVariables(environment)

        var reader = FieldReader(config: ConfigReader(providers: providers))
        var config = StarlingConfiguration()
        config.http.host = reader.string("http.host", default: config.http.host) { value in
            value.isEmpty || value.contains(where: \.isWhitespace) ? "must be an IP address or host name" : nil
        }
        config.http.port = reader.int("http.port", default: config.http.port, in: 0...65535)
        config.http.webRoot = reader.string("http.webRoot", default: config.http.webRoot) { _ in nil }
        config.http.maxConnections = reader.int("http.maxConnections", default: config.http.maxConnections, in: 1...1_000_000)
        config.http.maxConnectionsPerAddress = reader.int(
            "http.maxConnectionsPerAddress", default: config.http.maxConnectionsPerAddress, in: 1...1_000_000)
        config.http.requestTimeoutSeconds = reader.double(
            "http.requestTimeoutSeconds", default: config.http.requestTimeoutSeconds, in: 0.1...3600)
        config.http.idleTimeoutSeconds = reader.double(
            "http.idleTimeoutSeconds", default: config.http.idleTimeoutSeconds, in: 0.1...86_400)
        config.http.allowedOrigins = reader.stringArray("http.allowedOrigins", default: config.http.allowedOrigins) { origin in
            origin == "*" || OriginPolicy.normalized(origin) != nil
                ? nil : "must be * or an origin such as https://example.com or http://127.0.0.1:8080"
        }
        config.media.listenAddress = reader.string("media.listenAddress", default: config.media.listenAddress) {
            IPAddressText.isValid($0) ? nil : "must be an IPv4 or IPv6 address"
        }
        config.media.announcedAddresses = reader.stringArray(
            "media.announcedAddresses", default: config.media.announcedAddresses
        ) { IPAddressText.isValid($0) && !IPAddressText.isWildcard($0) ? nil : "must be a specific IPv4 or IPv6 address" }
        config.media.portMode = reader.enumeration("media.portMode", default: config.media.portMode)
        config.media.udpPort = reader.int("media.udpPort", default: config.media.udpPort, in: 0...65535)
        config.media.portRangeStart = reader.int("media.portRangeStart", default: config.media.portRangeStart, in: 1...65535)
        config.media.portRangeEnd = reader.int("media.portRangeEnd", default: config.media.portRangeEnd, in: 1...65535)
        config.media.eventLoops = reader.int("media.eventLoops", default: config.media.eventLoops, in: 0...256)
        config.media.tcpEnabled = reader.bool("media.tcpEnabled", default: config.media.tcpEnabled)
        config.media.tcpPort = reader.int("media.tcpPort", default: config.media.tcpPort, in: 0...65535)
        config.media.tcpMaxConnections = reader.int(
            "media.tcpMaxConnections", default: config.media.tcpMaxConnections, in: 1...1_000_000)
        config.media.tcpConnectionsPerAddress = reader.int(
            "media.tcpConnectionsPerAddress", default: config.media.tcpConnectionsPerAddress, in: 1...1_000_000)
        config.media.tcpConnectionsPerPeer = reader.int(
            "media.tcpConnectionsPerPeer", default: config.media.tcpConnectionsPerPeer, in: 1...64)
        config.media.tcpMaxFrameBytes = reader.int(
            "media.tcpMaxFrameBytes", default: config.media.tcpMaxFrameBytes, in: 1500...65_535)
        config.media.disconnectedTimeoutSeconds = reader.double(
            "media.disconnectedTimeoutSeconds", default: config.media.disconnectedTimeoutSeconds, in: 1...3600)
        if config.media.portRangeEnd < config.media.portRangeStart {
            reader.issues.append(ConfigIssue(key: "media.portRangeEnd", reason: "must not be below media.portRangeStart"))
        }
        if config.media.announcedAddresses.isEmpty && IPAddressText.isWildcard(config.media.listenAddress) {
            reader.issues.append(
                ConfigIssue(
                    key: "media.announcedAddresses",
                    reason: "must name the addresses peers reach when media.listenAddress is a wildcard"))
        }
        config.dtls.certificateFile = reader.string("dtls.certificateFile", default: "") { _ in nil }
        config.dtls.privateKeyFile = reader.string("dtls.privateKeyFile", default: "") { _ in nil }
        if config.dtls.certificateFile.isEmpty != config.dtls.privateKeyFile.isEmpty {
            reader.issues.append(
                ConfigIssue(key: "dtls.privateKeyFile", reason: "dtls.certificateFile and dtls.privateKeyFile go together"))
        }
        config.auth.jwtSecret = reader.string("auth.jwtSecret", default: config.auth.jwtSecret) { value in
            value.isEmpty || value.utf8.count >= 32 ? nil : "must be at least 32 bytes (RFC 7518 §3.2), or empty"
        }
        config.auth.devTokens = reader.bool("auth.devTokens", default: config.auth.devTokens)
        config.signaling.maxMessageBytes = reader.int(
            "signaling.maxMessageBytes", default: config.signaling.maxMessageBytes, in: 1024...(1 << 20))
        config.signaling.requestsPerSecond = reader.int(
            "signaling.requestsPerSecond", default: config.signaling.requestsPerSecond, in: 1...10_000)
        config.signaling.reconnectWindowSeconds = reader.double(
            "signaling.reconnectWindowSeconds", default: config.signaling.reconnectWindowSeconds, in: 0...3600)
        config.signaling.joinTimeoutSeconds = reader.double(
            "signaling.joinTimeoutSeconds", default: config.signaling.joinTimeoutSeconds, in: 0.1...3600)
        config.rooms.maxParticipants = reader.int("rooms.maxParticipants", default: config.rooms.maxParticipants, in: 0...100_000)
        config.rooms.emptyTimeoutSeconds = reader.double(
            "rooms.emptyTimeoutSeconds", default: config.rooms.emptyTimeoutSeconds, in: 1...86_400)
        config.control.apiKey = reader.string("control.apiKey", default: config.control.apiKey) { value in
            value.isEmpty || value.utf8.count >= 16 ? nil : "must be at least 16 bytes, or empty (control API off)"
        }
        config.control.authenticationTimeoutSeconds = reader.double(
            "control.authenticationTimeoutSeconds", default: config.control.authenticationTimeoutSeconds, in: 0.1...3600)
        config.echo.enabled = reader.bool("echo.enabled", default: config.echo.enabled)
        config.echo.token = reader.string("echo.token", default: config.echo.token) { value in
            value.isEmpty || value.utf8.count >= 16 ? nil : "must be at least 16 bytes, or empty (no credential)"
        }
        config.echo.maxSessions = reader.int("echo.maxSessions", default: config.echo.maxSessions, in: 1...100_000)
        config.echo.maxSessionsPerAddress = reader.int(
            "echo.maxSessionsPerAddress", default: config.echo.maxSessionsPerAddress, in: 1...100_000)
        config.echo.sessionSeconds = reader.double("echo.sessionSeconds", default: config.echo.sessionSeconds, in: 1...86_400)
        config.limits.rooms = reader.int("limits.rooms", default: config.limits.rooms, in: 1...1_000_000)
        config.limits.sdpBytes = reader.int("limits.sdpBytes", default: config.limits.sdpBytes, in: 4096...(1 << 20))
        config.limits.mediaSectionsPerOffer = reader.int(
            "limits.mediaSectionsPerOffer", default: config.limits.mediaSectionsPerOffer, in: 1...1024)
        config.limits.sendingSectionsPerOffer = reader.int(
            "limits.sendingSectionsPerOffer", default: config.limits.sendingSectionsPerOffer, in: 1...1024)
        config.limits.simulcastLayers = reader.int("limits.simulcastLayers", default: config.limits.simulcastLayers, in: 1...8)
        config.limits.tracksPerParticipant = reader.int(
            "limits.tracksPerParticipant", default: config.limits.tracksPerParticipant, in: 1...1024)
        config.limits.tracksPerRoom = reader.int("limits.tracksPerRoom", default: config.limits.tracksPerRoom, in: 1...4096)
        config.limits.inboundSSRCsPerTransport = reader.int(
            "limits.inboundSSRCsPerTransport", default: config.limits.inboundSSRCsPerTransport, in: 4...4096)
        config.limits.retransmissionsPerSecond = reader.int(
            "limits.retransmissionsPerSecond", default: config.limits.retransmissionsPerSecond, in: 1...100_000)
        // An SDP of limits.sdpBytes must fit a /rtc message once JSON-escaped (CRLF doubles: at most about 5 %).
        if config.signaling.maxMessageBytes < config.limits.sdpBytes + config.limits.sdpBytes / 10 + 1024 {
            reader.issues.append(
                ConfigIssue(
                    key: "signaling.maxMessageBytes",
                    reason: "must be at least limits.sdpBytes + 10 % + 1 KiB (\(config.limits.sdpBytes * 11 / 10 + 1024)), "
                        + "so that a subscriber's answer always fits"))
        }
        config.turn.urls = reader.stringArray("turn.urls", default: config.turn.urls) { url in
            let lower = url.lowercased()
            return lower.hasPrefix("turn:") || lower.hasPrefix("turns:") ? nil : "must be a turn: or turns: URL (RFC 7065)"
        }
        config.turn.secret = reader.string("turn.secret", default: config.turn.secret) { _ in nil }
        config.turn.credentialSeconds = reader.int(
            "turn.credentialSeconds", default: config.turn.credentialSeconds, in: 60...(7 * 86_400))
        if !config.turn.urls.isEmpty && config.turn.secret.isEmpty {
            reader.issues.append(ConfigIssue(key: "turn.secret", reason: "turn.urls need the TURN server's shared secret"))
        }
        config.data.enabled = reader.bool("data.enabled", default: config.data.enabled)
        config.data.maxMessageBytes = reader.int(
            "data.maxMessageBytes", default: config.data.maxMessageBytes, in: 1024...(16 << 20))
        config.data.reliableQueueBytes = reader.int(
            "data.reliableQueueBytes", default: config.data.reliableQueueBytes, in: 1024...(1 << 30))
        config.data.lossyQueueBytes = reader.int(
            "data.lossyQueueBytes", default: config.data.lossyQueueBytes, in: 1024...(1 << 30))
        config.data.messagesPerSecond = reader.int(
            "data.messagesPerSecond", default: config.data.messagesPerSecond, in: 1...1_000_000)
        config.data.bytesPerSecond = reader.int(
            "data.bytesPerSecond", default: config.data.bytesPerSecond, in: 1024...(1 << 30))
        if config.data.reliableQueueBytes < config.data.maxMessageBytes {
            reader.issues.append(
                ConfigIssue(key: "data.reliableQueueBytes", reason: "must hold at least one message of data.maxMessageBytes"))
        }
        reader.issues += exposureIssues(config)
        config.log.level = reader.logLevel("log.level", default: config.log.level)
        config.shutdown.gracePeriodSeconds = reader.double(
            "shutdown.gracePeriodSeconds", default: config.shutdown.gracePeriodSeconds, in: 0...3600)
        return (config, issues + reader.issues)
    }

    /// Secrets known from the repository's own examples: a server others can reach must not use them.
    static let placeholderSecrets: Set<String> = ["change-this-shared-secret", "change-me", "changeme", "secret"]

    /// What a server others can reach (an HTTP host other than loopback) must not run with: development
    /// tokens (they are signed with the real secret and given to anyone who asks), a short or example TURN
    /// secret, an example JWT secret or API key.
    static func exposureIssues(_ config: StarlingConfiguration) -> [ConfigIssue] {
        guard !IPAddressText.isLoopback(config.http.host) else { return [] }
        var issues: [ConfigIssue] = []
        let why = "http.host \(config.http.host) is reachable from other machines"
        if config.auth.devTokens {
            issues.append(ConfigIssue(key: "auth.devTokens", reason: "must be off: \(why); development tokens are for loopback only"))
        }
        if !config.turn.secret.isEmpty,
            config.turn.secret.utf8.count < 16 || placeholderSecrets.contains(config.turn.secret.lowercased())
        {
            issues.append(ConfigIssue(key: "turn.secret", reason: "must be at least 16 bytes and not an example value: \(why)"))
        }
        for (key, value) in [("auth.jwtSecret", config.auth.jwtSecret), ("control.apiKey", config.control.apiKey)]
        where placeholderSecrets.contains(value.lowercased()) {
            issues.append(ConfigIssue(key: key, reason: "must not be an example value: \(why)"))
        }
        if config.echo.enabled, !config.echo.token.isEmpty, placeholderSecrets.contains(config.echo.token.lowercased()) {
            issues.append(ConfigIssue(key: "echo.token", reason: "must not be an example value: \(why)"))
        }
        return issues
    }

    /// The environment variable that overrides a dotted key, e.g. `http.port` -> `STARLING_HTTP_PORT`.
    public static func environmentName(for key: String) -> String {
        var out = "STARLING"
        for component in key.split(separator: ".") {
            out += "_"
            var previousLower = false
            for character in component {
                if character.isUppercase && previousLower { out += "_" }
                previousLower = character.isLowercase
                out += character.isLetter || character.isNumber ? character.uppercased() : "_"
            }
        }
        return out
    }

    static func unknownKeys(inYAML text: String) throws -> [ConfigIssue] {
        guard let root = try Yams.load(yaml: text) else { return [] }
        guard let mapping = root as? [String: Any] else {
            return [ConfigIssue(key: "(root)", reason: "must be a mapping of sections")]
        }
        var issues: [ConfigIssue] = []
        func walk(_ node: [String: Any], prefix: String) {
            for (name, value) in node.sorted(by: { $0.key < $1.key }) {
                let key = prefix.isEmpty ? name : "\(prefix).\(name)"
                if knownKeys.contains(key) { continue }
                let isSection = knownKeys.contains { $0.hasPrefix(key + ".") }
                if let child = value as? [String: Any] {
                    walk(child, prefix: key)
                } else if isSection {
                    if !(value is NSNull) { issues.append(ConfigIssue(key: key, reason: "must be a mapping")) }
                } else {
                    issues.append(ConfigIssue(key: key, reason: "unknown setting"))
                }
            }
        }
        walk(mapping, prefix: "")
        return issues
    }

    static func unknownEnvironmentVariables(_ environment: [String: String]) -> [ConfigIssue] {
        let known = Set(knownKeys.map(environmentName(for:)))
        return environment.keys.filter { $0.hasPrefix("STARLING_") && !known.contains($0) }.sorted().map {
            ConfigIssue(key: $0, reason: "unknown setting (environment)")
        }
    }
}

/// Textual IP address checks without resolving anything.
enum IPAddressText {
    static func isValid(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    static func isWildcard(_ text: String) -> Bool { text == "0.0.0.0" || text == "::" }

    /// 127.0.0.0/8, ::1, or the name localhost: reachable from this machine only.
    static func isLoopback(_ text: String) -> Bool {
        if text == "localhost" || text == "::1" || text == "[::1]" { return true }
        var v4 = in_addr()
        guard inet_pton(AF_INET, text, &v4) == 1 else { return false }
        return UInt32(bigEndian: v4.s_addr) >> 24 == 127
    }
}

/// Reads typed fields, recording a `ConfigIssue` for each value that is present but invalid.
struct FieldReader {
    let config: ConfigReader
    var issues: [ConfigIssue] = []

    private mutating func raw(_ key: String) -> String? {
        config.string(forKey: ConfigKey(key))
    }

    mutating func string(_ key: String, default value: String, check: (String) -> String?) -> String {
        guard let raw = raw(key) else { return value }
        if let problem = check(raw) {
            issues.append(ConfigIssue(key: key, reason: "\(problem), got '\(raw)'"))
            return value
        }
        return raw
    }

    mutating func int(_ key: String, default value: Int, in range: ClosedRange<Int>) -> Int {
        guard let raw = raw(key) else { return value }
        guard let parsed = Int(raw.trimmingCharacters(in: .whitespaces)) else {
            issues.append(ConfigIssue(key: key, reason: "expected an integer, got '\(raw)'"))
            return value
        }
        guard range.contains(parsed) else {
            issues.append(ConfigIssue(key: key, reason: "must be in \(range.lowerBound)...\(range.upperBound), got \(parsed)"))
            return value
        }
        return parsed
    }

    mutating func bool(_ key: String, default value: Bool) -> Bool {
        guard let raw = raw(key) else { return value }
        switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            issues.append(ConfigIssue(key: key, reason: "expected true or false, got '\(raw)'"))
            return value
        }
    }

    mutating func double(_ key: String, default value: Double, in range: ClosedRange<Double>) -> Double {
        guard let raw = raw(key) else { return value }
        guard let parsed = Double(raw.trimmingCharacters(in: .whitespaces)), parsed.isFinite else {
            issues.append(ConfigIssue(key: key, reason: "expected a number, got '\(raw)'"))
            return value
        }
        guard range.contains(parsed) else {
            issues.append(ConfigIssue(key: key, reason: "must be in \(range.lowerBound)...\(range.upperBound), got \(parsed)"))
            return value
        }
        return parsed
    }

    /// A list: a YAML sequence, or a comma-separated string (as environment variables give it).
    mutating func stringArray(_ key: String, default value: [String], check: (String) -> String?) -> [String] {
        let items: [String]
        if let list = config.stringArray(forKey: ConfigKey(key)) {
            items = list
        } else if let raw = raw(key) {
            items = raw.split(separator: ",").map(String.init)
        } else {
            return value
        }
        var out: [String] = []
        for item in items.map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            if let problem = check(item) {
                issues.append(ConfigIssue(key: key, reason: "\(problem), got '\(item)'"))
                return value
            }
            out.append(item)
        }
        return out
    }

    mutating func enumeration<T: RawRepresentable & CaseIterable>(_ key: String, default value: T) -> T
    where T.RawValue == String {
        guard let raw = raw(key) else { return value }
        guard let parsed = T(rawValue: raw) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            issues.append(ConfigIssue(key: key, reason: "must be one of \(allowed), got '\(raw)'"))
            return value
        }
        return parsed
    }

    mutating func logLevel(_ key: String, default value: Logger.Level) -> Logger.Level {
        guard let raw = raw(key) else { return value }
        guard let level = Logger.Level(rawValue: raw.lowercased()) else {
            let allowed = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            issues.append(ConfigIssue(key: key, reason: "must be one of \(allowed), got '\(raw)'"))
            return value
        }
        return level
    }
}
