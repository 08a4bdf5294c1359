extension SDP {
    /// `a=fingerprint:<hash-func> <hex:hex:...>` (RFC 8122 §5), the DTLS certificate fingerprint.
    public struct Fingerprint: Hashable, Sendable {
        /// As written, e.g. `sha-256` (RFC 8122 §5 lists the IANA "Hash Function Textual Names").
        public var hashFunction: String
        public var bytes: [UInt8]

        public init(hashFunction: String, bytes: [UInt8]) {
            self.hashFunction = hashFunction
            self.bytes = bytes
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "a=fingerprint")
            guard t.count == 2 else {
                throw WireError.invalid(.sdp, "a=fingerprint", "expected <hash-func> <fingerprint>")
            }
            hashFunction = SDPScan.string(t[0])
            var bytes: [UInt8] = []
            for pair in SDPScan.split(t[1], SDPScan.colon) {
                guard pair.count == 2, let hi = Fingerprint.hex(pair[pair.startIndex]),
                    let lo = Fingerprint.hex(pair[pair.startIndex + 1])
                else {
                    throw WireError.invalid(.sdp, "a=fingerprint value", "'\(SDPScan.quote(pair))' is not two hex digits")
                }
                bytes.append(hi << 4 | lo)
            }
            self.bytes = bytes
        }

        /// Upper-case hex pairs joined by `:`, as RFC 8122 §5 (`UHEX`) asks.
        public var hexValue: String {
            let digits = Array("0123456789ABCDEF".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count * 3)
            for (i, b) in bytes.enumerated() {
                if i > 0 { out.append(SDPScan.colon) }
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0xF)])
            }
            return String(decoding: out, as: UTF8.self)
        }

        public var sdpValue: String { "\(hashFunction) \(hexValue)" }

        static func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
    }

    /// `a=setup:` (RFC 4145 §4, RFC 8842 §5): which side starts the DTLS handshake.
    public enum Setup: String, Hashable, Sendable, CaseIterable {
        case active, passive, actpass, holdconn
    }

    /// `a=group:<semantics> <mid>...` (RFC 5888 §5); `BUNDLE` (RFC 8843 §7).
    public struct Group: Hashable, Sendable {
        public struct Semantics: RawRepresentable, Hashable, Sendable {
            public var rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }
            public static let bundle = Semantics(rawValue: "BUNDLE")
            public static let lipSync = Semantics(rawValue: "LS")
        }

        public var semantics: Semantics
        public var mids: [String]

        public init(semantics: Semantics, mids: [String]) {
            self.semantics = semantics
            self.mids = mids
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "a=group")
            semantics = Semantics(rawValue: SDPScan.string(t[0]))
            mids = t.dropFirst().map(SDPScan.string)
        }

        public var sdpValue: String { ([semantics.rawValue] + mids).joined(separator: " ") }
    }

    /// `a=msid-semantic:<semantic> <identifier>...` (the WMS form JSEP peers still send).
    /// Chromium writes a space after the colon (`a=msid-semantic: WMS`); `spaceAfterColon` keeps it.
    public struct MSIDSemantic: Hashable, Sendable {
        public var semantic: String
        public var identifiers: [String]
        public var spaceAfterColon: Bool

        public init(semantic: String = "WMS", identifiers: [String] = ["*"], spaceAfterColon: Bool = false) {
            self.semantic = semantic
            self.identifiers = identifiers
            self.spaceAfterColon = spaceAfterColon
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            var v = v
            spaceAfterColon = v.first == SDPScan.space
            if spaceAfterColon { v = v.dropFirst() }
            let t = try SDPScan.tokens(v, "a=msid-semantic")
            semantic = SDPScan.string(t[0])
            identifiers = t.dropFirst().map(SDPScan.string)
        }

        public var sdpValue: String {
            (spaceAfterColon ? " " : "") + ([semantic] + identifiers).joined(separator: " ")
        }
    }

    /// `a=msid:<stream id> [<track id>]` (RFC 8830 §2); `-` as stream id means "no stream".
    public struct MSID: Hashable, Sendable {
        public var streamID: String
        public var trackID: String?

        public init(streamID: String, trackID: String? = nil) {
            self.streamID = streamID
            self.trackID = trackID
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "a=msid")
            guard t.count <= 2 else { throw WireError.invalid(.sdp, "a=msid", "more than <stream id> <track id>") }
            streamID = SDPScan.string(t[0])
            trackID = t.count == 2 ? SDPScan.string(t[1]) : nil
        }

        public var sdpValue: String { streamID + (trackID.map { " " + $0 } ?? "") }
    }

    /// `a=sctpmap:<port> <app> [<streams>]` (draft-ietf-mmusic-sctp-sdp-05, before RFC 8841's `a=sctp-port`).
    public struct SCTPMap: Hashable, Sendable {
        public var port: UInt16
        public var app: String
        public var streams: UInt32?

        public init(port: UInt16, app: String = "webrtc-datachannel", streams: UInt32? = nil) {
            self.port = port
            self.app = app
            self.streams = streams
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "a=sctpmap")
            guard t.count == 2 || t.count == 3 else {
                throw WireError.invalid(.sdp, "a=sctpmap", "expected <port> <app> [<streams>]")
            }
            port = try SDPScan.number(t[0], "a=sctpmap port")
            app = SDPScan.string(t[1])
            streams = t.count == 3 ? try SDPScan.number(t[2], "a=sctpmap streams") : nil
        }

        public var sdpValue: String { "\(port) \(app)" + (streams.map { " \($0)" } ?? "") }
    }
}
