public import HTTPTypes
public import StarlingAPI

/// A Swift client of the control API on `/control` (JSON-RPC 2.0, docs/API.md), authenticated with the API
/// key at the upgrade. `subscribe` turns on room events, delivered on `events` (their `params`).
public actor ControlClient {
    public let socket: JSONSocket
    public nonisolated let events: AsyncStream<JSONValue>
    private let eventSink: AsyncStream<JSONValue>.Continuation
    private var pending: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
    private var nextID = 1
    private var reader: Task<Void, Never>?

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
        let client = ControlClient(socket: try await JSONSocket.connect(url: url, headers: headers))
        await client.startReading()
        return client
    }

    init(socket: JSONSocket) {
        self.socket = socket
        (events, eventSink) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingNewest(4096))
    }

    private func startReading() {
        let socket = self.socket
        reader = Task { [weak self] in
            for await text in socket.incoming {
                guard let self else { return }
                await self.receive(text)
            }
            await self?.closed()
        }
    }

    private func receive(_ text: String) {
        guard let message = JSONValue(parsing: text) else { return }
        if message["method"]?.string == "event" {
            eventSink.yield(message["params"] ?? .null)
            return
        }
        guard let id = message["id"]?.int, let waiter = pending.removeValue(forKey: id) else { return }
        if let error = message["error"] {
            waiter.resume(
                throwing: Failure(
                    number: error["code"]?.int ?? 0, code: error["data"]?["code"]?.string ?? "unknown",
                    message: error["message"]?.string ?? ""))
        } else {
            waiter.resume(returning: message["result"] ?? .null)
        }
    }

    private func closed() {
        for (_, waiter) in pending { waiter.resume(throwing: Failure(number: 0, code: "closed", message: "the connection closed")) }
        pending.removeAll()
        eventSink.finish()
    }

    /// Calls `method` with `params`; returns its result or throws its error.
    public func call(_ method: String, _ params: [String: JSONValue] = [:]) async throws -> JSONValue {
        let id = nextID
        nextID += 1
        let text = JSONValue.object(["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": .object(params)]).text
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = continuation
            let socket = self.socket
            Task {
                do {
                    try await socket.send(text)
                } catch {
                    self.fail(id, error)
                }
            }
        }
    }

    private func fail(_ id: Int, _ error: any Error) {
        pending.removeValue(forKey: id)?.resume(throwing: error)
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
