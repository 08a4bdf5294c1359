extension SDP {
    /// `send` or `recv` in `a=rid` and `a=simulcast`.
    public enum RIDDirection: String, Hashable, Sendable {
        case send, recv
    }

    /// `a=rid:<rid-id> <send|recv> [<restrictions>]` (RFC 8851 §10): one RTP stream of a simulcast
    /// (or otherwise restricted) media section, e.g. `a=rid:f send pt=96;max-width=1280`.
    public struct RID: Hashable, Sendable {
        /// One `;`-separated restriction: `pt=96,97`, `max-width=1280`, `max-fps=30`, `depend=q`...
        public struct Restriction: Hashable, Sendable {
            public var name: String
            public var value: String?
            public init(name: String, value: String? = nil) {
                self.name = name
                self.value = value
            }
        }

        public var id: String
        public var direction: RIDDirection
        /// In the order written.
        public var restrictions: [Restriction]

        public init(id: String, direction: RIDDirection, restrictions: [Restriction] = []) {
            self.id = id
            self.direction = direction
            self.restrictions = restrictions
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let (idBytes, rest) = SDPScan.splitOnce(v, SDPScan.space)
            guard !idBytes.isEmpty, idBytes.allSatisfy(RID.isRIDChar) else {
                throw WireError.invalid(.sdp, "a=rid id", "'\(SDPScan.quote(idBytes))' is not 1*(alpha-numeric / '-' / '_')")
            }
            id = SDPScan.string(idBytes)
            guard let rest else { throw WireError.invalid(.sdp, "a=rid direction", "missing") }
            let (dir, params) = SDPScan.splitOnce(rest, SDPScan.space)
            guard let d = RIDDirection(rawValue: SDPScan.string(dir)) else {
                throw WireError.invalid(.sdp, "a=rid direction", "'\(SDPScan.quote(dir))' is neither send nor recv")
            }
            direction = d
            var restrictions: [Restriction] = []
            if let params {
                for part in SDPScan.split(params, SDPScan.semicolon) {
                    let (name, value) = SDPScan.splitOnce(part, SDPScan.equals)
                    guard !name.isEmpty, !name.contains(SDPScan.space) else {
                        throw WireError.invalid(.sdp, "a=rid restriction", "'\(SDPScan.quote(part))' has no name")
                    }
                    restrictions.append(Restriction(name: SDPScan.string(name), value: value.map(SDPScan.string)))
                }
            }
            self.restrictions = restrictions
        }

        public var sdpValue: String {
            var s = "\(id) \(direction.rawValue)"
            if !restrictions.isEmpty {
                s += " " + restrictions.map { r in r.value.map { "\(r.name)=\($0)" } ?? r.name }.joined(separator: ";")
            }
            return s
        }

        /// The value of restriction `name` (e.g. `max-width`).
        public func restriction(_ name: String) -> String? {
            restrictions.first { $0.name == name }?.value
        }

        /// The `pt=` list (RFC 8851 §4): the payload types this stream may use; empty means any.
        public var payloadTypes: [UInt8] {
            guard let list = restriction("pt") else { return [] }
            return SDPScan.split(SDPScan.bytes(list), SDPScan.comma).compactMap { SDPScan.decimal($0) }
        }

        static func isRIDChar(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
    }

    /// `a=simulcast:send <list> [recv <list>]` (RFC 8853 §5.1). A list is simulcast streams separated
    /// by `;`, each a `,`-separated set of alternative rids; `~` marks a paused rid.
    public struct Simulcast: Hashable, Sendable {
        /// One `sc-id`: a rid, possibly paused.
        public struct StreamID: Hashable, Sendable {
            public var rid: String
            public var paused: Bool
            public init(rid: String, paused: Bool = false) {
                self.rid = rid
                self.paused = paused
            }
        }

        /// Outer array: the simulcast streams in order; inner: the alternatives for one stream.
        /// Empty when the direction is absent.
        public var send: [[StreamID]]
        public var recv: [[StreamID]]
        /// Both lists are present and `recv` was written first (kept for a byte-exact round trip).
        public var recvListedFirst: Bool

        public init(send: [[StreamID]] = [], recv: [[StreamID]] = [], recvListedFirst: Bool = false) {
            self.send = send
            self.recv = recv
            self.recvListedFirst = recvListedFirst
        }

        /// One stream per rid, none paused: `Simulcast(sendRIDs: ["q", "h", "f"])` is `send q;h;f`.
        public init(sendRIDs: [String] = [], recvRIDs: [String] = []) {
            self.init(
                send: sendRIDs.map { [StreamID(rid: $0)] }, recv: recvRIDs.map { [StreamID(rid: $0)] })
        }

        init(sdpValue v: SDPScan.Bytes) throws(WireError) {
            let t = try SDPScan.tokens(v, "a=simulcast")
            guard t.count == 2 || t.count == 4 else {
                throw WireError.invalid(.sdp, "a=simulcast", "expected <send|recv> <list> [<send|recv> <list>]")
            }
            send = []
            recv = []
            recvListedFirst = false
            var seen: [RIDDirection] = []
            for i in stride(from: 0, to: t.count, by: 2) {
                guard let dir = RIDDirection(rawValue: SDPScan.string(t[i])), !seen.contains(dir) else {
                    throw WireError.invalid(.sdp, "a=simulcast direction", "'\(SDPScan.quote(t[i]))' is not a new send/recv")
                }
                seen.append(dir)
                let list = try Simulcast.parseList(t[i + 1])
                if dir == .send { send = list } else { recv = list }
            }
            recvListedFirst = seen == [.recv, .send]
        }

        static func parseList(_ b: SDPScan.Bytes) throws(WireError) -> [[StreamID]] {
            var streams: [[StreamID]] = []
            for alt in SDPScan.split(b, SDPScan.semicolon) {
                var ids: [StreamID] = []
                for id in SDPScan.split(alt, SDPScan.comma) {
                    let paused = id.first == UInt8(ascii: "~")
                    let rid = paused ? id.dropFirst() : id
                    guard !rid.isEmpty, rid.allSatisfy(RID.isRIDChar) else {
                        throw WireError.invalid(.sdp, "a=simulcast rid", "'\(SDPScan.quote(id))' is not a rid")
                    }
                    ids.append(StreamID(rid: SDPScan.string(rid), paused: paused))
                }
                streams.append(ids)
            }
            return streams
        }

        static func format(_ list: [[StreamID]]) -> String {
            list.map { alts in alts.map { ($0.paused ? "~" : "") + $0.rid }.joined(separator: ",") }
                .joined(separator: ";")
        }

        public var sdpValue: String {
            let s = send.isEmpty ? nil : "send " + Simulcast.format(send)
            let r = recv.isEmpty ? nil : "recv " + Simulcast.format(recv)
            return (recvListedFirst ? [r, s] : [s, r]).compactMap { $0 }.joined(separator: " ")
        }

        /// Every rid named for `direction`, in order (alternatives included).
        public func rids(_ direction: RIDDirection) -> [String] {
            (direction == .send ? send : recv).flatMap { $0.map(\.rid) }
        }
    }
}
