extension SDP {
    /// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>` (RFC 8866 §5.2).
    public struct Origin: Hashable, Sendable {
        public var username: String
        /// Kept as text: RFC 8866 allows any number of digits.
        public var sessionID: String
        /// JSEP increments this on every new description in a session (RFC 8829 §5.2.2).
        public var sessionVersion: UInt64
        public var networkType: String
        public var addressType: String
        public var address: String

        /// Defaults are what JSEP writes: `o=- <id> <version> IN IP4 0.0.0.0` (RFC 8829 §5.2.1).
        public init(
            username: String = "-", sessionID: String, sessionVersion: UInt64,
            networkType: String = "IN", addressType: String = "IP4", address: String = "0.0.0.0"
        ) {
            self.username = username
            self.sessionID = sessionID
            self.sessionVersion = sessionVersion
            self.networkType = networkType
            self.addressType = addressType
            self.address = address
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "o=")
            guard t.count == 6 else {
                throw WireError.invalid(.sdp, "o=", "expected 6 fields, found \(t.count)")
            }
            username = SDPScan.string(t[0])
            sessionID = SDPScan.string(t[1])
            sessionVersion = try SDPScan.number(t[2], "o= sess-version")
            networkType = SDPScan.string(t[3])
            addressType = SDPScan.string(t[4])
            address = SDPScan.string(t[5])
        }

        public var sdpValue: String {
            "\(username) \(sessionID) \(sessionVersion) \(networkType) \(addressType) \(address)"
        }
    }

    /// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7); also the tail of `a=rtcp`.
    public struct Connection: Hashable, Sendable {
        public var networkType: String
        public var addressType: String
        /// As written, including any multicast `/ttl/count` suffix.
        public var address: String

        public init(networkType: String = "IN", addressType: String = "IP4", address: String) {
            self.networkType = networkType
            self.addressType = addressType
            self.address = address
        }

        init(sdpValue v: SDPScan.Bytes, field: String = "c=") throws(WireError) {
            let t = try SDPScan.tokens(v, field)
            guard t.count == 3 else {
                throw WireError.invalid(.sdp, field, "expected <nettype> <addrtype> <address>, found \(t.count) fields")
            }
            networkType = SDPScan.string(t[0])
            addressType = SDPScan.string(t[1])
            address = SDPScan.string(t[2])
        }

        public var sdpValue: String { "\(networkType) \(addressType) \(address)" }
    }

    /// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8), e.g. `b=AS:30`, `b=TIAS:128000`.
    public struct Bandwidth: Hashable, Sendable {
        public var type: String
        public var value: UInt64

        public init(type: String, value: UInt64) {
            self.type = type
            self.value = value
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (t, rest) = SDPScan.splitOnce(v, SDPScan.colon)
            guard let rest else { throw WireError.invalid(.sdp, "b=", "expected <bwtype>:<bandwidth>") }
            type = try SDPScan.token(t, "b= bwtype")
            value = try SDPScan.number(rest, "b= bandwidth")
        }

        public var sdpValue: String { "\(type):\(value)" }
    }

    /// `t=<start-time> <stop-time>` (RFC 8866 §5.9); JSEP always writes `t=0 0`.
    public struct Timing: Hashable, Sendable {
        public var start: UInt64
        public var stop: UInt64

        public init(start: UInt64 = 0, stop: UInt64 = 0) {
            self.start = start
            self.stop = stop
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "t=")
            guard t.count == 2 else { throw WireError.invalid(.sdp, "t=", "expected <start> <stop>") }
            start = try SDPScan.number(t[0], "t= start-time")
            stop = try SDPScan.number(t[1], "t= stop-time")
        }

        public var sdpValue: String { "\(start) \(stop)" }
    }

    /// A line this model does not type (`i=`, `u=`, `e=`, `p=`, `r=`, `z=`, `k=`, a second `c=`,
    /// or a type letter RFC 8866 does not define), kept verbatim.
    public struct Line: Hashable, Sendable {
        /// The type letter, `a`...`z`.
        public var type: Character
        public var value: String

        public init(type: Character, value: String) {
            self.type = type
            self.value = value
        }
    }

    /// The `<media>` of an `m=` line (RFC 8866 §5.14).
    public struct MediaKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let audio = MediaKind(rawValue: "audio")
        public static let video = MediaKind(rawValue: "video")
        public static let application = MediaKind(rawValue: "application")
        public var description: String { rawValue }
    }

    /// Media direction attributes (RFC 8866 §6.7): `a=sendrecv` and friends.
    public enum Direction: String, Hashable, Sendable, CaseIterable {
        case sendrecv, sendonly, recvonly, inactive

        /// The direction seen from the other side: JSEP answers reverse the offer's (RFC 8829 §5.3.1).
        public var reversed: Direction {
            switch self {
            case .sendonly: return .recvonly
            case .recvonly: return .sendonly
            case .sendrecv, .inactive: return self
            }
        }
    }
}
