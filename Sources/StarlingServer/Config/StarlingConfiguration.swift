import Logging

/// Every setting of a Starling server. Each field is documented, with its default, in
/// `config/starling.yaml`; `ConfigurationLoader` reads that file with `STARLING_*` overrides.
public struct StarlingConfiguration: Sendable, Equatable {
    public struct HTTP: Sendable, Equatable {
        /// Address the HTTP/WebSocket front listens on (web app, APIs, /healthz).
        public var host: String = "127.0.0.1"
        /// TCP port; 0 picks a free port (tests).
        public var port: Int = 8080
        /// Folder of static files served at / (the web app and the echo test page); empty serves none.
        public var webRoot: String = "Web"
        /// TCP connections the front holds at most; more are closed as they are accepted.
        public var maxConnections: Int = 2048
        /// TCP connections from one IP address at most.
        public var maxConnectionsPerAddress: Int = 64
        /// A request's head and body must arrive within this many seconds of its first byte (or of the
        /// connection, for the first request); else the connection is closed.
        public var requestTimeoutSeconds: Double = 10
        /// A connection with no request in progress is closed after this many seconds.
        public var idleTimeoutSeconds: Double = 60
        /// Origins (`scheme://host[:port]`) whose pages may open `/rtc` and `/control`; empty: only the server's
        /// own origin (the request's Host); `*`: any. Requests without an Origin (not from a browser) pass.
        public var allowedOrigins: [String] = []
        public init() {}
    }

    /// How media (ICE, DTLS, SRTP over UDP) reaches Starling.
    public struct Media: Sendable, Equatable {
        public enum PortMode: String, Sendable, Equatable, CaseIterable {
            /// One UDP port per event loop, shared by all its peers (first packet matched by STUN USERNAME,
            /// then by source address). What containers want.
            case singlePort = "single-port"
            /// One UDP port per peer transport, taken from `portRangeStart...portRangeEnd`.
            case portRange = "port-range"
        }
        /// Address the UDP media sockets bind to.
        public var listenAddress: String = "127.0.0.1"
        /// Addresses announced to peers as ICE host candidates: Starling announces these and nothing else.
        /// Empty means the listen address, which must then not be a wildcard.
        public var announcedAddresses: [String] = []
        public var portMode: PortMode = .singlePort
        /// First UDP port in single-port mode; event loop i listens on udpPort + i.
        public var udpPort: Int = 7881
        public var portRangeStart: Int = 50000
        public var portRangeEnd: Int = 50199
        /// ICE-TCP (RFC 6544): a passive TCP host candidate beside every UDP one, for peers whose network
        /// blocks UDP. Event loop i listens on tcpPort + i (0: free ports, for tests).
        public var tcpEnabled: Bool = true
        public var tcpPort: Int = 7881
        /// Event loops (threads) for media; 0 means one per core.
        public var eventLoops: Int = 0
        /// ICE-TCP connections a loop holds at most, from one IP address at most, and bound to one peer at most.
        public var tcpMaxConnections: Int = 4096
        public var tcpConnectionsPerAddress: Int = 16
        public var tcpConnectionsPerPeer: Int = 4
        /// The largest RFC 4571 frame accepted (a bigger one closes its connection): what a connection may
        /// hold buffered before a frame is complete.
        public var tcpMaxFrameBytes: Int = 4096
        /// A transport whose consent expired (RFC 7675) or that lost its path is ended, with everything it
        /// held, after this many seconds without recovering.
        public var disconnectedTimeoutSeconds: Double = 30
        public init() {}

        /// The addresses put into candidates.
        public var candidateAddresses: [String] { announcedAddresses.isEmpty ? [listenAddress] : announcedAddresses }
    }

    public struct DTLS: Sendable, Equatable {
        /// PEM certificate and private key for DTLS; both empty means an ECDSA P-256 certificate is generated
        /// at start.
        public var certificateFile: String = ""
        public var privateKeyFile: String = ""
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

    /// How participants and applications prove who they are.
    public struct Auth: Sendable, Equatable {
        /// HS256 secret that participants' JWTs are signed with (at least 32 bytes). Empty: `/rtc` refuses
        /// every join, unless `devTokens` is on, in which case a random secret lives as long as the process.
        public var jwtSecret: String = ""
        /// Serves `GET /dev/token?room=&identity=` issuing tokens with every grant, for the bundled web app on a
        /// development machine. Never turn it on where others can reach the server.
        public var devTokens: Bool = false
        public init() {}
    }

    /// The participant signaling WebSocket `/rtc`.
    public struct Signaling: Sendable, Equatable {
        /// Largest message accepted (bytes); larger ones get a `too_large` error. Must hold an SDP of
        /// `limits.sdpBytes` with its JSON escaping.
        public var maxMessageBytes: Int = 128 * 1024
        /// Requests per second per connection before `rate_limited` errors (bursts of twice this pass).
        public var requestsPerSecond: Int = 50
        /// How long a participant whose WebSocket dropped stays in its room, waiting to resume (seconds).
        public var reconnectWindowSeconds: Double = 20
        /// A connection that has not joined within this many seconds is closed.
        public var joinTimeoutSeconds: Double = 10
        public init() {}
    }

    /// Defaults for rooms (a room made by a join gets these; `createRoom` may set its own).
    public struct Rooms: Sendable, Equatable {
        /// Most participants in one room; 0: no limit.
        public var maxParticipants: Int = 0
        /// A room nobody is in closes after this many seconds (at least 1).
        public var emptyTimeoutSeconds: Double = 300
        public init() {}
    }

    /// The application control API (`/control`, `POST /api/<method>`).
    public struct Control: Sendable, Equatable {
        /// The key applications present (`Authorization: Bearer <key>`); at least 16 bytes. Empty: the control
        /// API refuses every call.
        public var apiKey: String = ""
        /// A `/control` WebSocket that has not authenticated within this many seconds is closed.
        public var authenticationTimeoutSeconds: Double = 10
        public init() {}
    }

    /// TURN servers for participants behind firewalls (coturn with `use-auth-secret`): every join response
    /// carries them with credentials in the TURN REST form (`TURNCredentials`).
    public struct TURN: Sendable, Equatable {
        /// `turn:` and `turns:` URLs (RFC 7065), e.g. `turn:turn.example.com:3478?transport=udp`,
        /// `turns:turn.example.com:443?transport=tcp`. Empty: no TURN servers are given out.
        public var urls: [String] = []
        /// coturn's `static-auth-secret`.
        public var secret: String = ""
        /// How long the credentials of a join stay valid.
        public var credentialSeconds: Int = 86_400
        public init() {}
    }

    /// Data channels (RFC 8831) on every participant's subscribing connection, relayed in its room.
    public struct DataChannels: Sendable, Equatable {
        /// Offer an `m=application` data channel line to participants.
        public var enabled: Bool = true
        /// Our `a=max-message-size` (RFC 8841 §6): the largest message a participant may send, relay envelope
        /// included. Larger ones are dropped and the sender gets a `dataRefused` event.
        public var maxMessageBytes: Int = 262_144
        /// Per receiver: what may wait for its reliable channel before it overflows (the channel is reset).
        public var reliableQueueBytes: Int = 4 << 20
        /// Per receiver: what may wait for its lossy channel (newer messages are dropped past it).
        public var lossyQueueBytes: Int = 256 << 10
        /// Per sender, before `rate_limited` refusals (a second's worth may come in one burst).
        public var messagesPerSecond: Int = 1000
        public var bytesPerSecond: Int = 4 << 20
        public init() {}
    }

    /// `POST /v1/echo`, the connectivity check: open by default with its own limits, or behind a
    /// credential, or off.
    public struct Echo: Sendable, Equatable {
        public var enabled: Bool = true
        /// When set, a request must carry `Authorization: Bearer <token>`.
        public var token: String = ""
        /// Echo sessions at once, in all and per client IP address.
        public var maxSessions: Int = 16
        public var maxSessionsPerAddress: Int = 2
        /// An echo session ends after this many seconds, connected or not.
        public var sessionSeconds: Double = 120
        public init() {}
    }

    /// Bounds on what one offer, participant, room and transport may claim (docs/OPERATIONS.md, "Limits and
    /// abuse"). Memory follows use, never what an offer announces.
    public struct Limits: Sendable, Equatable {
        /// Rooms open at once (echo sessions apart); a join or createRoom that would open one more is refused.
        public var rooms: Int = 1024
        /// The largest SDP (offer or answer, `/rtc` or `/v1/echo`).
        public var sdpBytes: Int = 96 * 1024
        /// m-sections in one offer, whatever their direction.
        public var mediaSectionsPerOffer: Int = 32
        /// m-sections a client sends on in one offer.
        public var sendingSectionsPerOffer: Int = 8
        /// Simulcast encodings (rids, or SSRCs of a SIM group) of one m-section.
        public var simulcastLayers: Int = 4
        /// Tracks one participant publishes at once, and a room holds at once.
        public var tracksPerParticipant: Int = 8
        public var tracksPerRoom: Int = 48
        /// SSRCs one transport may send us (libsrtp keeps a stream for each): media, RTX and RTCP senders.
        public var inboundSSRCsPerTransport: Int = 64
        /// Packets a consumer resends per second to answer NACKs (a second's worth may burst).
        public var retransmissionsPerSecond: Int = 250
        public init() {}
    }

    public var http = HTTP()
    public var echo = Echo()
    public var limits = Limits()
    public var data = DataChannels()
    public var turn = TURN()
    public var auth = Auth()
    public var signaling = Signaling()
    public var rooms = Rooms()
    public var control = Control()
    public var media = Media()
    public var dtls = DTLS()
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
