import Logging

/// Every setting of a Starling server. Each field is documented, with its default, in
/// `config/starling.yaml`; `ConfigurationLoader` reads that file with `STARLING_*` overrides.
public struct StarlingConfiguration: Sendable, Equatable {
    public struct HTTP: Sendable, Equatable {
        /// Address the HTTP/WebSocket front listens on (web app, APIs, /healthz).
        public var host: String = "127.0.0.1"
        /// TCP port; 0 picks a free port (tests).
        public var port: Int = 8080
        public init() {}
    }

    public struct Log: Sendable, Equatable {
        public var level: Logger.Level = .info
        public init() {}
    }

    public struct Shutdown: Sendable, Equatable {
        /// How long a graceful shutdown may take before remaining work is cancelled.
        public var gracePeriodSeconds: Double = 10
        public init() {}
    }

    public var http = HTTP()
    public var log = Log()
    public var shutdown = Shutdown()

    public init() {}
}

/// One invalid setting: the dotted key (or environment variable) and why it was rejected.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var reason: String
    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }
    public var description: String { "\(key): \(reason)" }
}

/// Thrown by `ConfigurationLoader.load` when any setting is invalid; lists all of them.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var source: String
    public var issues: [ConfigIssue]
    public var description: String {
        "invalid configuration (\(source)):\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
    }
}
