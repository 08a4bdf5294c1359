extension SDP {
    /// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 8866 §6.6).
    public struct RTPMap: Hashable, Sendable {
        public var payloadType: UInt8
        /// As written (`VP8`, `opus`, `H264`, `rtx`); compare case-insensitively (RFC 8866 §6.6).
        public var encodingName: String
        public var clockRate: UInt32
        /// Encoding parameters; for audio, the channel count (`opus/48000/2`).
        public var channels: UInt16?

        public init(payloadType: UInt8, encodingName: String, clockRate: UInt32, channels: UInt16? = nil) {
            self.payloadType = payloadType
            self.encodingName = encodingName
            self.clockRate = clockRate
            self.channels = channels
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (pt, rest) = SDPScan.splitOnce(v, SDPScan.space)
            payloadType = try SDPScan.number(pt, "a=rtpmap payload type", in: 0...127)
            guard let rest else { throw WireError.invalid(.sdp, "a=rtpmap encoding", "missing") }
            let parts = SDPScan.split(rest, SDPScan.slash)
            guard parts.count == 2 || parts.count == 3 else {
                throw WireError.invalid(.sdp, "a=rtpmap encoding", "expected <name>/<clock rate>[/<channels>]")
            }
            encodingName = try SDPScan.token(parts[0], "a=rtpmap encoding name")
            clockRate = try SDPScan.number(parts[1], "a=rtpmap clock rate")
            channels = parts.count == 3 ? try SDPScan.number(parts[2], "a=rtpmap channels") : nil
        }

        public var sdpValue: String {
            "\(payloadType) \(encodingName)/\(clockRate)" + (channels.map { "/\($0)" } ?? "")
        }
    }

    /// `a=fmtp:<payload type> <format specific parameters>` (RFC 8866 §6.15). The parameter string
    /// is kept exactly as written; `parameters` reads it as the usual `key=value;key=value` list.
    ///
    /// An `a=fmtp` whose format is not a payload type number (non-RTP media) stays `.other`.
    public struct FormatParameters: Hashable, Sendable {
        /// One `key=value` (or bare `value`, as in RED's `111/111`) of the list.
        public struct Parameter: Hashable, Sendable {
            public var name: String
            public var value: String?
            public init(name: String, value: String?) {
                self.name = name
                self.value = value
            }
        }

        public var payloadType: UInt8
        public var rawParameters: String

        public init(payloadType: UInt8, rawParameters: String) {
            self.payloadType = payloadType
            self.rawParameters = rawParameters
        }

        /// Builds the string from `key=value` pairs joined by `;` (the form Chromium writes).
        public init(payloadType: UInt8, parameters: [Parameter]) {
            self.payloadType = payloadType
            self.rawParameters = parameters.map { p in p.value.map { "\(p.name)=\($0)" } ?? p.name }
                .joined(separator: ";")
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (pt, rest) = SDPScan.splitOnce(v, SDPScan.space)
            payloadType = try SDPScan.number(pt, "a=fmtp payload type", in: 0...127)
            rawParameters = rest.map(SDPScan.string) ?? ""
        }

        public var sdpValue: String {
            rawParameters.isEmpty ? "\(payloadType)" : "\(payloadType) \(rawParameters)"
        }

        /// The `;`-separated list with surrounding spaces trimmed, split at the first `=`.
        public var parameters: [Parameter] {
            SDPScan.split(SDPScan.bytes(rawParameters), SDPScan.semicolon).compactMap { part in
                let bytes = SDPScan.trimSpaces(part)
                guard !bytes.isEmpty else { return nil }
                let (k, v) = SDPScan.splitOnce(bytes, SDPScan.equals)
                return Parameter(name: SDPScan.string(k), value: v.map(SDPScan.string))
            }
        }

        /// The value of `key` (keys compare case-insensitively, RFC 8866 §6.15 leaves case to the format).
        public subscript(key: String) -> String? {
            let k = key.lowercased()
            return parameters.first { $0.name.lowercased() == k }?.value
        }

        /// `apt=` of an RTX format (RFC 4588 §8.6): the payload type it repairs.
        public var associatedPayloadType: UInt8? {
            self["apt"].flatMap { SDPScan.decimal(SDPScan.bytes($0)) }.flatMap { (v: UInt8) in v <= 127 ? v : nil }
        }
    }

    /// `a=rtcp-fb:<payload type|*> <type> [<subtype/parameters>]` (RFC 4585 §4.2), e.g. `nack pli`,
    /// `ccm fir`, `transport-cc`, `goog-remb`.
    public struct RTCPFeedback: Hashable, Sendable {
        /// nil for `*` (every payload type of the section).
        public var payloadType: UInt8?
        public var type: String
        /// Everything after the type (`pli`, `fir`, `100` for `trr-int`), or nil.
        public var subtype: String?

        public init(payloadType: UInt8?, type: String, subtype: String? = nil) {
            self.payloadType = payloadType
            self.type = type
            self.subtype = subtype
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (pt, rest) = SDPScan.splitOnce(v, SDPScan.space)
            payloadType = pt.elementsEqual("*".utf8) ? nil : try SDPScan.number(pt, "a=rtcp-fb payload type", in: 0...127)
            guard let rest else { throw WireError.invalid(.sdp, "a=rtcp-fb type", "missing") }
            let (t, sub) = SDPScan.splitOnce(rest, SDPScan.space)
            type = try SDPScan.token(t, "a=rtcp-fb type")
            if let sub, sub.isEmpty { throw WireError.invalid(.sdp, "a=rtcp-fb subtype", "empty") }
            subtype = sub.map(SDPScan.string)
        }

        public var sdpValue: String {
            (payloadType.map { String($0) } ?? "*") + " " + type + (subtype.map { " " + $0 } ?? "")
        }
    }

    /// `a=extmap:<id>[/<direction>] <URI> [<extension attributes>]` (RFC 8285 §7).
    public struct ExtMap: Hashable, Sendable {
        /// Header extension URIs WebRTC peers negotiate.
        public enum URI {
            public static let sdesMid = "urn:ietf:params:rtp-hdrext:sdes:mid"
            public static let rtpStreamID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
            public static let repairedRTPStreamID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
            public static let audioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
            public static let absSendTime = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            public static let transportWideCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
            public static let toffset = "urn:ietf:params:rtp-hdrext:toffset"
            public static let videoOrientation = "urn:3gpp:video-orientation"
            public static let playoutDelay = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
            public static let dependencyDescriptor =
                "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
        }

        /// 1-14 for one-byte headers, 1-255 for two-byte ones, 4096-4351 in offers (RFC 8285 §5, §7).
        public var id: UInt16
        public var direction: Direction?
        public var uri: String
        /// Everything after the URI, as written.
        public var attributes: String?

        public init(id: UInt16, direction: Direction? = nil, uri: String, attributes: String? = nil) {
            self.id = id
            self.direction = direction
            self.uri = uri
            self.attributes = attributes
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (entry, rest) = SDPScan.splitOnce(v, SDPScan.space)
            let (idBytes, dir) = SDPScan.splitOnce(entry, SDPScan.slash)
            let id: UInt16 = try SDPScan.number(idBytes, "a=extmap id", in: 1...4351)
            guard id <= 255 || id >= 4096 else {
                throw WireError.invalid(.sdp, "a=extmap id", "\(id) is neither 1-255 nor 4096-4351")
            }
            self.id = id
            if let dir {
                guard let d = Direction(rawValue: SDPScan.string(dir)) else {
                    throw WireError.invalid(.sdp, "a=extmap direction", "'\(SDPScan.quote(dir))' is not a direction")
                }
                direction = d
            } else {
                direction = nil
            }
            guard let rest else { throw WireError.invalid(.sdp, "a=extmap URI", "missing") }
            let (u, attrs) = SDPScan.splitOnce(rest, SDPScan.space)
            uri = try SDPScan.token(u, "a=extmap URI")
            if let attrs, attrs.isEmpty { throw WireError.invalid(.sdp, "a=extmap attributes", "empty") }
            attributes = attrs.map(SDPScan.string)
        }

        public var sdpValue: String {
            "\(id)" + (direction.map { "/\($0.rawValue)" } ?? "") + " " + uri + (attributes.map { " " + $0 } ?? "")
        }
    }

    /// `a=ssrc:<ssrc-id> <attribute>[:<value>]` (RFC 5576 §4.1), e.g. `cname:...`, `msid:<stream> <track>`.
    public struct SSRCAttribute: Hashable, Sendable {
        public var ssrc: UInt32
        public var attribute: String
        public var value: String?

        public init(ssrc: UInt32, attribute: String, value: String? = nil) {
            self.ssrc = ssrc
            self.attribute = attribute
            self.value = value
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (id, rest) = SDPScan.splitOnce(v, SDPScan.space)
            ssrc = try SDPScan.number(id, "a=ssrc ssrc-id")
            guard let rest else { throw WireError.invalid(.sdp, "a=ssrc attribute", "missing") }
            let (name, value) = SDPScan.splitOnce(rest, SDPScan.colon)
            attribute = try SDPScan.token(name, "a=ssrc attribute")
            self.value = value.map(SDPScan.string)
        }

        public var sdpValue: String { "\(ssrc) \(attribute)" + (value.map { ":" + $0 } ?? "") }
    }

    /// `a=ssrc-group:<semantics> <ssrc-id>...` (RFC 5576 §4.2).
    public struct SSRCGroup: Hashable, Sendable {
        public struct Semantics: RawRepresentable, Hashable, Sendable {
            public var rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }
            /// Flow identification: media SSRC then its RTX SSRC (RFC 5576 §4.2, RFC 4588).
            public static let fid = Semantics(rawValue: "FID")
            /// Legacy simulcast layers, lowest first.
            public static let sim = Semantics(rawValue: "SIM")
            /// FEC: media SSRC then FEC SSRC (RFC 5956 §4.3).
            public static let fecFR = Semantics(rawValue: "FEC-FR")
            public static let fec = Semantics(rawValue: "FEC")
        }

        public var semantics: Semantics
        public var ssrcs: [UInt32]

        public init(semantics: Semantics, ssrcs: [UInt32]) {
            self.semantics = semantics
            self.ssrcs = ssrcs
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "a=ssrc-group")
            semantics = Semantics(rawValue: SDPScan.string(t[0]))
            var ssrcs: [UInt32] = []
            for s in t.dropFirst() { ssrcs.append(try SDPScan.number(s, "a=ssrc-group ssrc-id")) }
            self.ssrcs = ssrcs
        }

        public var sdpValue: String {
            ([semantics.rawValue] + ssrcs.map { String($0) }).joined(separator: " ")
        }
    }

    /// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605 §2.1).
    public struct RTCPAddress: Hashable, Sendable {
        public var port: UInt16
        public var connection: Connection?

        public init(port: UInt16, connection: Connection? = nil) {
            self.port = port
            self.connection = connection
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (p, rest) = SDPScan.splitOnce(v, SDPScan.space)
            port = try SDPScan.number(p, "a=rtcp port")
            connection = try rest.map { (r) throws(WireError) -> Connection in try Connection(sdpValue: r, field: "a=rtcp address") }
        }

        public var sdpValue: String { "\(port)" + (connection.map { " " + $0.sdpValue } ?? "") }
    }
}
