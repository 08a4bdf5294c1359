/// An SDP session description (RFC 8866 §5) as JSEP (RFC 8829) offers and answers use it.
///
/// Parse with `SessionDescription(parsing:)`, write with `serialized()`. Attributes keep their order
/// and unknown lines are kept, so a description written by Chromium or aiortc serializes back to the
/// same bytes (see `serialized()` for the cases that are normalized).
public struct SessionDescription: Hashable, Sendable, SDPAttributeContainer, CustomStringConvertible {
    public var origin: SDP.Origin
    /// `s=`; JSEP writes `-`.
    public var sessionName: String
    public var connection: SDP.Connection?
    public var bandwidths: [SDP.Bandwidth]
    /// The `t=` lines; JSEP writes one, `t=0 0`.
    public var timing: [SDP.Timing]
    /// Session-level `a=` lines in order.
    public var attributes: [SDP.Attribute]
    public var media: [MediaDescription]
    /// Session-level lines not typed above, in the order they are written back (RFC 8866 §5 order).
    public var otherLines: [SDP.Line]

    public init(
        origin: SDP.Origin, sessionName: String = "-", connection: SDP.Connection? = nil,
        bandwidths: [SDP.Bandwidth] = [], timing: [SDP.Timing] = [SDP.Timing()], attributes: [SDP.Attribute] = [],
        media: [MediaDescription] = [], otherLines: [SDP.Line] = []
    ) {
        self.origin = origin
        self.sessionName = sessionName
        self.connection = connection
        self.bandwidths = bandwidths
        self.timing = timing
        self.attributes = attributes
        self.media = media
        self.otherLines = otherLines
    }

    public var description: String { serialized() }
}

/// One media description: an `m=` line and the lines up to the next (RFC 8866 §5.14).
public struct MediaDescription: Hashable, Sendable, SDPAttributeContainer {
    public var kind: SDP.MediaKind
    /// 0 rejects the section (RFC 8829 §5.3.1); JSEP writes 9 when candidates carry the real ports.
    public var port: UInt16
    /// The `/<number of ports>` suffix, when written.
    public var numberOfPorts: UInt16?
    /// `UDP/TLS/RTP/SAVPF` for media, `UDP/DTLS/SCTP` for data channels (RFC 8829 §5.1.2).
    public var proto: String
    /// Payload type numbers for RTP, `webrtc-datachannel` for SCTP.
    public var formats: [String]
    public var connection: SDP.Connection?
    public var bandwidths: [SDP.Bandwidth]
    public var attributes: [SDP.Attribute]
    /// Media-level lines not typed above (`i=`, `k=`, a second `c=`, unknown types).
    public var otherLines: [SDP.Line]

    public init(
        kind: SDP.MediaKind, port: UInt16 = 9, numberOfPorts: UInt16? = nil, proto: String, formats: [String] = [],
        connection: SDP.Connection? = SDP.Connection(address: "0.0.0.0"), bandwidths: [SDP.Bandwidth] = [],
        attributes: [SDP.Attribute] = [], otherLines: [SDP.Line] = []
    ) {
        self.kind = kind
        self.port = port
        self.numberOfPorts = numberOfPorts
        self.proto = proto
        self.formats = formats
        self.connection = connection
        self.bandwidths = bandwidths
        self.attributes = attributes
        self.otherLines = otherLines
    }

    init(sdpValue v: SDPScan.Bytes) throws(WireError) {
        let t = try SDPScan.tokens(v, "m=")
        guard t.count >= 4 else {
            throw WireError.invalid(.sdp, "m=", "expected <media> <port> <proto> <fmt>..., found \(t.count) fields")
        }
        kind = SDP.MediaKind(rawValue: SDPScan.string(t[0]))
        let (p, n) = SDPScan.splitOnce(t[1], SDPScan.slash)
        port = try SDPScan.number(p, "m= port")
        numberOfPorts = try n.map { (n) throws(WireError) -> UInt16 in try SDPScan.number(n, "m= number of ports") }
        proto = SDPScan.string(t[2])
        formats = t.dropFirst(3).map(SDPScan.string)
        connection = nil
        bandwidths = []
        attributes = []
        otherLines = []
    }

    /// The `m=` line's value.
    public var sdpValue: String {
        ([kind.rawValue, "\(port)" + (numberOfPorts.map { "/\($0)" } ?? ""), proto] + formats).joined(separator: " ")
    }
}
