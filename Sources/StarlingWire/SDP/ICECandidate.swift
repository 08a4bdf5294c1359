/// An ICE candidate: the value of `a=candidate:` (RFC 8839 §5.1), also what trickle ICE carries
/// (`candidate:...`, RFC 8840).
///
/// `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
/// [raddr <addr>] [rport <port>] *(<extension-name> <extension-value>)`. `tcptype` (RFC 6544) is an
/// extension attribute typed here; the others (`generation`, `ufrag`, `network-id`, ...) are kept in order.
public struct ICECandidate: Hashable, Sendable, CustomStringConvertible {
    /// `typ` values (RFC 8839 §5.1); any other token is kept.
    public struct CandidateType: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let host = CandidateType(rawValue: "host")
        public static let srflx = CandidateType(rawValue: "srflx")
        public static let prflx = CandidateType(rawValue: "prflx")
        public static let relay = CandidateType(rawValue: "relay")
    }

    /// An extension attribute name and value (RFC 8839 §5.1 `extension-att-name`/`-value`).
    public struct Extension: Hashable, Sendable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// 1 to 32 ice-chars.
    public var foundation: String
    /// 1 for RTP, 2 for RTCP (without rtcp-mux).
    public var component: UInt16
    /// As written: `udp` (JSEP peers), `UDP` (Firefox), `tcp`. Compare with `isUDP`/`isTCP`.
    public var transport: String
    public var priority: UInt32
    /// An IP address, or a hostname such as an mDNS `.local` name.
    public var address: String
    public var port: UInt16
    public var type: CandidateType
    public var relatedAddress: String?
    public var relatedPort: UInt16?
    /// RFC 6544 §4.5: `active`, `passive` or `so`; only on TCP candidates.
    public var tcpType: String?
    public var extensions: [Extension]

    public init(
        foundation: String, component: UInt16 = 1, transport: String = "udp", priority: UInt32,
        address: String, port: UInt16, type: CandidateType = .host, relatedAddress: String? = nil,
        relatedPort: UInt16? = nil, tcpType: String? = nil, extensions: [Extension] = []
    ) {
        self.foundation = foundation
        self.component = component
        self.transport = transport
        self.priority = priority
        self.address = address
        self.port = port
        self.type = type
        self.relatedAddress = relatedAddress
        self.relatedPort = relatedPort
        self.tcpType = tcpType
        self.extensions = extensions
    }

    public var isUDP: Bool { transport.lowercased() == "udp" }
    public var isTCP: Bool { transport.lowercased() == "tcp" }

    /// The value of an extension attribute, e.g. `extension("generation")`.
    public func `extension`(_ name: String) -> String? {
        extensions.first { $0.name == name }?.value
    }

    /// Parses `candidate:...` as trickle ICE sends it; a leading `a=` is accepted too.
    public init(parsing text: String) throws(WireError) {
        var b = SDPScan.bytes(text)
        if b.starts(with: "a=".utf8) { b = b.dropFirst(2) }
        guard b.starts(with: "candidate:".utf8) else {
            throw WireError.invalid(.sdp, "a=candidate", "does not start with 'candidate:'")
        }
        try self.init(sdpValue: b.dropFirst(10))
    }

    init(sdpValue v: SDPScan.Bytes) throws(WireError) {
        let t = try SDPScan.tokens(v, "a=candidate")
        guard t.count >= 8 else {
            throw WireError.invalid(.sdp, "a=candidate", "expected at least 8 fields, found \(t.count)")
        }
        guard t[0].count <= 32, t[0].allSatisfy(ICECandidate.isICEChar) else {
            throw WireError.invalid(.sdp, "a=candidate foundation", "'\(SDPScan.quote(t[0]))' is not 1-32 ice-chars")
        }
        foundation = SDPScan.string(t[0])
        component = try SDPScan.number(t[1], "a=candidate component-id", in: 1...UInt16.max)
        transport = SDPScan.string(t[2])
        priority = try SDPScan.number(t[3], "a=candidate priority")
        address = SDPScan.string(t[4])
        port = try SDPScan.number(t[5], "a=candidate port")
        guard t[6].elementsEqual("typ".utf8) else {
            throw WireError.invalid(.sdp, "a=candidate typ", "expected 'typ', found '\(SDPScan.quote(t[6]))'")
        }
        type = CandidateType(rawValue: SDPScan.string(t[7]))
        relatedAddress = nil
        relatedPort = nil
        tcpType = nil
        extensions = []
        var i = 8
        while i < t.count {
            guard i + 1 < t.count else {
                throw WireError.invalid(.sdp, "a=candidate extension", "'\(SDPScan.quote(t[i]))' has no value")
            }
            let name = SDPScan.string(t[i])
            let value = t[i + 1]
            switch name {
            case "raddr" where relatedAddress == nil:
                relatedAddress = SDPScan.string(value)
            case "rport" where relatedPort == nil:
                relatedPort = try SDPScan.number(value, "a=candidate rport")
            case "tcptype" where tcpType == nil:
                tcpType = SDPScan.string(value)
            case "raddr", "rport", "tcptype":
                throw WireError.invalid(.sdp, "a=candidate \(name)", "appears twice")
            default:
                extensions.append(Extension(name: name, value: SDPScan.string(value)))
            }
            i += 2
        }
    }

    /// The value after `a=candidate:`.
    public var sdpValue: String {
        var s = "\(foundation) \(component) \(transport) \(priority) \(address) \(port) typ \(type.rawValue)"
        if let relatedAddress { s += " raddr \(relatedAddress)" }
        if let relatedPort { s += " rport \(relatedPort)" }
        if let tcpType { s += " tcptype \(tcpType)" }
        for e in extensions { s += " \(e.name) \(e.value)" }
        return s
    }

    /// `candidate:...`, the form trickle ICE and `RTCIceCandidate.candidate` use.
    public var description: String { "candidate:" + sdpValue }

    /// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.1).
    static func isICEChar(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2B || c == 0x2F
    }
}
