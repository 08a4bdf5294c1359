extension SDP {
    /// One `a=` line (RFC 8866 §5.13): `a=<name>` or `a=<name>:<value>`. The attributes JSEP uses are
    /// typed; any other is kept as `.other` so a description round-trips line for line.
    public enum Attribute: Hashable, Sendable {
        /// `a=group` (RFC 5888, BUNDLE: RFC 8843).
        case group(Group)
        case msidSemantic(MSIDSemantic)
        /// `a=ice-lite` (RFC 8839 §5.3), session level.
        case iceLite
        case iceUfrag(String)
        case icePwd(String)
        /// `a=ice-options:` tokens such as `trickle`, `ice2` (RFC 8839 §5.6).
        case iceOptions([String])
        case fingerprint(Fingerprint)
        case setup(Setup)
        /// `a=extmap-allow-mixed` (RFC 8285 §6): one- and two-byte header extensions may mix.
        case extmapAllowMixed
        /// `a=mid` (RFC 5888 §4, RFC 8843).
        case mid(String)
        /// `a=bundle-only` (RFC 8843 §6).
        case bundleOnly
        case rtcpMux
        /// `a=rtcp-mux-only` (RFC 8858).
        case rtcpMuxOnly
        /// `a=rtcp-rsize` (RFC 5506): reduced-size RTCP.
        case rtcpRsize
        case rtcp(RTCPAddress)
        case candidate(ICECandidate)
        /// `a=end-of-candidates` (RFC 8840 §8.2).
        case endOfCandidates
        case direction(Direction)
        case rtpmap(RTPMap)
        case fmtp(FormatParameters)
        case rtcpFeedback(RTCPFeedback)
        case extmap(ExtMap)
        case ssrc(SSRCAttribute)
        case ssrcGroup(SSRCGroup)
        case rid(RID)
        case simulcast(Simulcast)
        case msid(MSID)
        /// `a=sctp-port` (RFC 8841 §5).
        case sctpPort(UInt16)
        /// `a=max-message-size` (RFC 8841 §6); 0 means no limit.
        case maxMessageSize(UInt64)
        case sctpmap(SCTPMap)
        /// Any other attribute, verbatim: `value` is nil for `a=name`, `""` for `a=name:`.
        case other(name: String, value: String?)

        /// Parses the text after `a=`.
        public init(parsing text: String) throws(WireError) {
            try self.init(line: SDPScan.bytes(text))
        }

        init(line: SDPScan.Bytes) throws(WireError) {
            let (nameBytes, value) = SDPScan.splitOnce(line, SDPScan.colon)
            let name = SDPScan.string(nameBytes)
            guard let value else {
                switch name {
                case "ice-lite": self = .iceLite
                case "extmap-allow-mixed": self = .extmapAllowMixed
                case "bundle-only": self = .bundleOnly
                case "rtcp-mux": self = .rtcpMux
                case "rtcp-mux-only": self = .rtcpMuxOnly
                case "rtcp-rsize": self = .rtcpRsize
                case "end-of-candidates": self = .endOfCandidates
                case "sendrecv": self = .direction(.sendrecv)
                case "sendonly": self = .direction(.sendonly)
                case "recvonly": self = .direction(.recvonly)
                case "inactive": self = .direction(.inactive)
                case "group", "msid-semantic", "ice-ufrag", "ice-pwd", "ice-options", "fingerprint", "setup", "mid",
                    "rtcp", "candidate", "rtpmap", "fmtp", "rtcp-fb", "extmap", "ssrc", "ssrc-group", "rid",
                    "simulcast", "msid", "sctp-port", "max-message-size", "sctpmap":
                    throw WireError.invalid(.sdp, "a=\(name)", "value missing")
                default: self = .other(name: name, value: nil)
                }
                return
            }
            let field = "a=\(name)"
            switch name {
            case "group": self = .group(try Group(sdpValue: value))
            case "msid-semantic": self = .msidSemantic(try MSIDSemantic(sdpValue: value))
            case "ice-ufrag": self = .iceUfrag(try Attribute.iceCredential(value, field))
            case "ice-pwd": self = .icePwd(try Attribute.iceCredential(value, field))
            case "ice-options": self = .iceOptions(try SDPScan.tokens(value, field).map(SDPScan.string))
            case "fingerprint": self = .fingerprint(try Fingerprint(sdpValue: value))
            case "setup":
                guard let s = Setup(rawValue: SDPScan.string(value)) else {
                    throw WireError.invalid(.sdp, field, "'\(SDPScan.quote(value))' is not active/passive/actpass/holdconn")
                }
                self = .setup(s)
            case "mid": self = .mid(try SDPScan.token(value, field))
            case "rtcp": self = .rtcp(try RTCPAddress(sdpValue: value))
            case "candidate": self = .candidate(try ICECandidate(sdpValue: value))
            case "rtpmap": self = .rtpmap(try RTPMap(sdpValue: value))
            case "fmtp":
                // A non-numeric format belongs to non-RTP media (RFC 8866 §6.15): keep it untyped.
                let format = SDPScan.splitOnce(value, SDPScan.space).0
                if !format.isEmpty, format.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    self = .fmtp(try FormatParameters(sdpValue: value))
                } else {
                    self = .other(name: name, value: SDPScan.string(value))
                }
            case "rtcp-fb": self = .rtcpFeedback(try RTCPFeedback(sdpValue: value))
            case "extmap": self = .extmap(try ExtMap(sdpValue: value))
            case "ssrc": self = .ssrc(try SSRCAttribute(sdpValue: value))
            case "ssrc-group": self = .ssrcGroup(try SSRCGroup(sdpValue: value))
            case "rid": self = .rid(try RID(sdpValue: value))
            case "simulcast": self = .simulcast(try Simulcast(sdpValue: value))
            case "msid": self = .msid(try MSID(sdpValue: value))
            case "sctp-port": self = .sctpPort(try SDPScan.number(value, field))
            case "max-message-size": self = .maxMessageSize(try SDPScan.number(value, field))
            case "sctpmap": self = .sctpmap(try SCTPMap(sdpValue: value))
            default: self = .other(name: name, value: SDPScan.string(value))
            }
        }

        /// ice-ufrag / ice-pwd: ice-chars only (RFC 8839 §5.4). Lengths are for the ICE agent to judge.
        static func iceCredential(_ v: SDPScan.Bytes, _ field: String) throws(WireError) -> String {
            guard !v.isEmpty, v.allSatisfy(ICECandidate.isICEChar) else {
                throw WireError.invalid(.sdp, field, "'\(SDPScan.quote(v))' is not 1*ice-char")
            }
            return SDPScan.string(v)
        }

        /// The attribute name (the text between `a=` and `:`).
        public var name: String {
            switch self {
            case .group: return "group"
            case .msidSemantic: return "msid-semantic"
            case .iceLite: return "ice-lite"
            case .iceUfrag: return "ice-ufrag"
            case .icePwd: return "ice-pwd"
            case .iceOptions: return "ice-options"
            case .fingerprint: return "fingerprint"
            case .setup: return "setup"
            case .extmapAllowMixed: return "extmap-allow-mixed"
            case .mid: return "mid"
            case .bundleOnly: return "bundle-only"
            case .rtcpMux: return "rtcp-mux"
            case .rtcpMuxOnly: return "rtcp-mux-only"
            case .rtcpRsize: return "rtcp-rsize"
            case .rtcp: return "rtcp"
            case .candidate: return "candidate"
            case .endOfCandidates: return "end-of-candidates"
            case .direction(let d): return d.rawValue
            case .rtpmap: return "rtpmap"
            case .fmtp: return "fmtp"
            case .rtcpFeedback: return "rtcp-fb"
            case .extmap: return "extmap"
            case .ssrc: return "ssrc"
            case .ssrcGroup: return "ssrc-group"
            case .rid: return "rid"
            case .simulcast: return "simulcast"
            case .msid: return "msid"
            case .sctpPort: return "sctp-port"
            case .maxMessageSize: return "max-message-size"
            case .sctpmap: return "sctpmap"
            case .other(let name, _): return name
            }
        }

        /// The attribute value (the text after `:`), nil for property attributes.
        public var value: String? {
            switch self {
            case .group(let g): return g.sdpValue
            case .msidSemantic(let m): return m.sdpValue
            case .iceUfrag(let s), .icePwd(let s), .mid(let s): return s
            case .iceOptions(let o): return o.joined(separator: " ")
            case .fingerprint(let f): return f.sdpValue
            case .setup(let s): return s.rawValue
            case .rtcp(let r): return r.sdpValue
            case .candidate(let c): return c.sdpValue
            case .rtpmap(let r): return r.sdpValue
            case .fmtp(let f): return f.sdpValue
            case .rtcpFeedback(let f): return f.sdpValue
            case .extmap(let e): return e.sdpValue
            case .ssrc(let s): return s.sdpValue
            case .ssrcGroup(let g): return g.sdpValue
            case .rid(let r): return r.sdpValue
            case .simulcast(let s): return s.sdpValue
            case .msid(let m): return m.sdpValue
            case .sctpPort(let p): return String(p)
            case .maxMessageSize(let m): return String(m)
            case .sctpmap(let m): return m.sdpValue
            case .other(_, let value): return value
            case .iceLite, .extmapAllowMixed, .bundleOnly, .rtcpMux, .rtcpMuxOnly, .rtcpRsize, .endOfCandidates,
                .direction:
                return nil
            }
        }

        /// The line without `a=` and without the line ending.
        public var sdpLine: String { value.map { "\(name):\($0)" } ?? name }
    }
}
