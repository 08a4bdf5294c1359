public import StarlingAPI

/// A Swift client of the participant signaling protocol on `/rtc` (docs/PROTOCOL.md): requests carry an id
/// and are answered by a `response` or an `error`; everything else the server sends is an event, on `events`.
/// Media goes through `ClientPeer` (publishing: its offer goes into `publish`; subscribing: its answer to
/// each `subscriberOffer` goes into `subscriberAnswer`).
public actor RTCClient {
    private let link: RequestLink
    public nonisolated var socket: JSONSocket { link.socket }
    /// Server events (`participantJoined`, `subscriberOffer`, ...), in order; finishes when the connection closes.
    public nonisolated var events: AsyncStream<JSONValue> { link.events }

    /// An `error` reply: its code (docs/PROTOCOL.md) and message.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var code: String
        public var message: String
        public var description: String { "\(code): \(message)" }
        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    /// Connects to `ws://host:port/rtc`.
    public static func connect(url: String) async throws -> RTCClient {
        let link = RequestLink(
            socket: try await JSONSocket.connect(url: url), closedError: Failure(code: "closed", message: "the connection closed"))
        await link.start { message in
            let type = message["type"]?.string
            guard type == "response" || type == "error", let id = message["id"]?.int else { return .event(message) }
            if type == "response" { return .reply(id: id, .success(message["result"] ?? .object([:]))) }
            return .reply(
                id: id,
                .failure(
                    Failure(code: message["error"]?["code"]?.string ?? "unknown", message: message["error"]?["message"]?.string ?? "")))
        }
        return RTCClient(link: link)
    }

    init(link: RequestLink) { self.link = link }

    /// Sends a request of `type` with `fields`; returns its `result` or throws its error.
    public func request(_ type: String, _ fields: [String: JSONValue] = [:]) async throws -> JSONValue {
        try await link.request { id in
            var message = fields
            message["type"] = .string(type)
            message["id"] = .int(id)
            return .object(message)
        }
    }

    /// `join {token}`; with `resumeToken` (from an earlier join's response), `reconnect: true`: resumes the
    /// participant if it is still in the room.
    public func join(token: String, resumeToken: String? = nil) async throws -> JSONValue {
        var fields: [String: JSONValue] = ["token": .string(token)]
        if let resumeToken {
            fields["reconnect"] = .bool(true)
            fields["resumeToken"] = .string(resumeToken)
        }
        return try await request("join", fields)
    }

    /// `publish {sdp, tracks}`: the publishing connection's offer and what each mid carries
    /// (`source`: camera, microphone, screen, screen_audio). Returns the answer SDP and the tracks.
    public func publish(offer: String, tracks: [(mid: String, source: String)]) async throws -> (answer: String, tracks: [JSONValue]) {
        let result = try await request(
            "publish",
            [
                "sdp": .string(offer),
                "tracks": .array(tracks.map { ["mid": .string($0.mid), "source": .string($0.source)] }),
            ])
        return (result["sdp"]?.string ?? "", result["tracks"]?.array ?? [])
    }

    public func subscriberAnswer(sdp: String, revision: Int) async throws {
        _ = try await request("subscriberAnswer", ["sdp": .string(sdp), "revision": .int(revision)])
    }

    public func mute(trackID: String, muted: Bool) async throws {
        _ = try await request("mute", ["trackId": .string(trackID), "muted": .bool(muted)])
    }

    public func setSubscription(trackID: String, maxSpatialLayer: Int? = nil, maxTemporalLayer: Int? = nil, paused: Bool? = nil)
        async throws
    {
        var fields: [String: JSONValue] = ["trackId": .string(trackID)]
        if let maxSpatialLayer { fields["maxSpatialLayer"] = .int(maxSpatialLayer) }
        if let maxTemporalLayer { fields["maxTemporalLayer"] = .int(maxTemporalLayer) }
        if let paused { fields["paused"] = .bool(paused) }
        _ = try await request("setSubscription", fields)
    }

    public func leave() async throws { _ = try await request("leave") }

    public nonisolated func close() { socket.close() }
}
