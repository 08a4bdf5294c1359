public import HTTPTypes
public import StarlingAPI

/// A Swift client of the control API on `/control` (JSON-RPC 2.0, docs/API.md), authenticated with the API
/// key at the upgrade. `subscribe` turns on room events, delivered on `events` (their `params`).
public actor ControlClient {
    private let link: RequestLink
    public nonisolated var socket: JSONSocket { link.socket }
    /// Room events (the notifications' `params`) once `subscribe` was called.
    public nonisolated var events: AsyncStream<JSONValue> { link.events }

    /// A JSON-RPC error: its number, our code (`data.code`) and message.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var number: Int
        public var code: String
        public var message: String
        public var description: String { "\(code) (\(number)): \(message)" }
    }

    /// Connects to `ws://host:port/control` with `Authorization: Bearer <apiKey>`.
    public static func connect(url: String, apiKey: String) async throws -> ControlClient {
        var headers = HTTPFields()
        headers[.authorization] = "Bearer \(apiKey)"
        let link = RequestLink(
            socket: try await JSONSocket.connect(url: url, headers: headers),
            closedError: Failure(number: 0, code: "closed", message: "the connection closed"))
        await link.start { message in
            if message["method"]?.string == "event" { return .event(message["params"] ?? .null) }
            guard let id = message["id"]?.int else { return .ignore }
            guard let error = message["error"] else { return .reply(id: id, .success(message["result"] ?? .null)) }
            return .reply(
                id: id,
                .failure(
                    Failure(
                        number: error["code"]?.int ?? 0, code: error["data"]?["code"]?.string ?? "unknown",
                        message: error["message"]?.string ?? "")))
        }
        return ControlClient(link: link)
    }

    init(link: RequestLink) { self.link = link }

    /// Calls `method` with `params`; returns its result or throws its error.
    public func call(_ method: String, _ params: [String: JSONValue] = [:]) async throws -> JSONValue {
        try await link.request { id in
            ["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": .object(params)]
        }
    }

    public func createRoom(_ room: String, maxParticipants: Int? = nil, emptyTimeoutSeconds: Double? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["room": .string(room)]
        if let maxParticipants { params["maxParticipants"] = .int(maxParticipants) }
        if let emptyTimeoutSeconds { params["emptyTimeoutSeconds"] = .double(emptyTimeoutSeconds) }
        return try await call("createRoom", params)
    }

    public func listRooms() async throws -> [JSONValue] { try await call("listRooms")["rooms"]?.array ?? [] }
    public func getRoom(_ room: String) async throws -> JSONValue { try await call("getRoom", ["room": .string(room)])["room"] ?? .null }
    public func closeRoom(_ room: String) async throws { _ = try await call("closeRoom", ["room": .string(room)]) }

    public func listParticipants(_ room: String) async throws -> [JSONValue] {
        try await call("listParticipants", ["room": .string(room)])["participants"]?.array ?? []
    }

    public func removeParticipant(_ room: String, identity: String) async throws {
        _ = try await call("removeParticipant", ["room": .string(room), "identity": .string(identity)])
    }

    public func muteTrack(_ room: String, trackID: String, muted: Bool) async throws {
        _ = try await call("muteTrack", ["room": .string(room), "trackId": .string(trackID), "muted": .bool(muted)])
    }

    /// A participant token for `/rtc` (every grant unless `publish` is false).
    public func createToken(room: String, identity: String, name: String? = nil, publish: Bool = true) async throws -> String {
        var params: [String: JSONValue] = [
            "room": .string(room), "identity": .string(identity), "grants": ["publish": .bool(publish)],
        ]
        if let name { params["name"] = .string(name) }
        return try await call("createToken", params)["token"]?.string ?? ""
    }

    public func getStats(_ room: String, participantID: String? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["room": .string(room)]
        if let participantID { params["participantId"] = .string(participantID) }
        return try await call("getStats", params)
    }

    /// Room events from now on, for `room` or every room.
    public func subscribe(room: String? = nil) async throws {
        _ = try await call("subscribe", room.map { ["room": .string($0)] } ?? [:])
    }

    public nonisolated func close() { socket.close() }
}
