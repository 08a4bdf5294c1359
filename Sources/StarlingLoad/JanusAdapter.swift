import AsyncHTTPClient
import Foundation
import NIOCore
import StarlingAPI

/// Janus's VideoRoom plugin over Janus's HTTP transport (https://janus.conf.meetecho.com/docs/rest and
/// docs/videoroom): one Janus session for the whole run, one plugin handle per publisher and one per
/// subscribing peer connection, and one long poll (`GET /janus/<session>?maxev=N`) that receives every
/// asynchronous event and hands it to the request that waits for its transaction.
///
/// A publisher joins its room as `ptype: publisher` with a feed id the adapter assigns and publishes with our
/// offer (Janus answers); a subscriber's handle joins as `ptype: subscriber` with the feeds it watches (the 1.x
/// multistream API), gets Janus's offer and sends `start` with our answer. Rooms are created in `prepare` (VP8
/// and Opus, no bitrate cap, enough publishers) and destroyed in `finish`.
public final class JanusAdapter: SFUAdapter, @unchecked Sendable {
    public let kind = "janus"
    let base: String
    private let http = HTTPClient(eventLoopGroupProvider: .singleton)
    private let link: JanusLink
    private let lock = NSLock()
    private var roomIDs: [String: Int] = [:]

    /// `server` is Janus's HTTP endpoint, e.g. http://127.0.0.1:8088 (the API lives under /janus).
    public init(server: String) throws {
        guard let url = URL(string: server), url.scheme == "http", url.host != nil else {
            throw LoadFailure("the Janus server must be given as http://host:port (its HTTP transport; got \(server))")
        }
        base = server.hasSuffix("/") ? String(server.dropLast()) : server
        link = JanusLink(http: http, base: base)
    }

    deinit { try? http.syncShutdown() }

    func roomID(_ room: String) -> Int {
        lock.withLock {
            if let id = roomIDs[room] { return id }
            let id = 9000 + roomIDs.count
            roomIDs[room] = id
            return id
        }
    }

    /// A feed id per identity within a room: publishers are "pub-N".
    static func feedID(_ identity: String) -> Int {
        (Int(identity.split(separator: "-").last ?? "") ?? 0) + 1
    }

    public func prepare(rooms: [String]) async throws {
        try await link.start()
        let handle = try await link.attach()
        for room in rooms {
            let reply = try await link.message(
                handle: handle,
                body: [
                    "request": "create", "room": .int(roomID(room)), "publishers": 100, "bitrate": 0,
                    "videocodec": "vp8", "audiocodec": "opus", "notify_joining": false,
                ])
            let data = reply["plugindata"]?["data"]
            guard data?["videoroom"]?.string == "created" else {
                throw LoadFailure("Janus did not create room \(room): \(reply.text)")
            }
        }
        try? await link.detach(handle)
    }

    public func finish(rooms: [String]) async {
        guard let handle = try? await link.attach() else { return }
        for room in rooms { _ = try? await link.message(handle: handle, body: ["request": "destroy", "room": .int(roomID(room))]) }
        try? await link.detach(handle)
        await link.stop()
    }

    public func join(room: String, identity: String) async throws -> any SFUSession {
        JanusSession(link: link, room: roomID(room), identity: identity)
    }
}

/// One participant: its publisher handle (created on `publish`) and its subscriber handle.
final class JanusSession: SFUSession, @unchecked Sendable {
    let link: JanusLink
    let room: Int
    let identity: String
    private var handles: [Int] = []
    private let lock = NSLock()

    init(link: JanusLink, room: Int, identity: String) {
        self.link = link
        self.room = room
        self.identity = identity
    }

    private func keep(_ handle: Int) { lock.withLock { handles.append(handle) } }

    func publish(offer: String) async throws -> String {
        let handle = try await link.attach()
        keep(handle)
        let joined = try await link.request(
            handle: handle,
            body: [
                "request": "join", "ptype": "publisher", "room": .int(room), "id": .int(JanusAdapter.feedID(identity)),
                "display": .string(identity),
            ])
        guard joined["plugindata"]?["data"]?["videoroom"]?.string == "joined" else {
            throw LoadFailure("Janus refused \(identity)'s join: \(joined.text)")
        }
        let published = try await link.request(
            handle: handle, body: ["request": "publish"], jsep: ["type": "offer", "sdp": .string(offer)])
        guard let answer = published["jsep"]?["sdp"]?.string else {
            throw LoadFailure("Janus did not answer \(identity)'s offer: \(published.text)")
        }
        try await link.trickleCompleted(handle: handle)
        return answer
    }

    func subscribe(to publishers: [String], answer: @escaping @Sendable (String) async throws -> String) async throws {
        let handle = try await link.attach()
        keep(handle)
        let streams: [JSONValue] = publishers.map { ["feed": .int(JanusAdapter.feedID($0))] }
        let attached = try await link.request(
            handle: handle, body: ["request": "join", "ptype": "subscriber", "room": .int(room), "streams": .array(streams)])
        guard let offer = attached["jsep"]?["sdp"]?.string else {
            throw LoadFailure("Janus gave \(identity) no subscriber offer: \(attached.text)")
        }
        let sdp = try await answer(offer)
        let started = try await link.request(handle: handle, body: ["request": "start"], jsep: ["type": "answer", "sdp": .string(sdp)])
        guard started["plugindata"]?["data"]?["started"]?.string == "ok" else {
            throw LoadFailure("Janus did not start \(identity)'s subscription: \(started.text)")
        }
        try await link.trickleCompleted(handle: handle)
    }

    func leave() async {
        for handle in lock.withLock({ handles }) { try? await link.detach(handle) }
    }
}

/// The Janus session and its long poll.
actor JanusLink {
    let http: HTTPClient
    let base: String
    private var session: Int?
    private var nextTransaction = 1
    private var waiting: [String: CheckedContinuation<JSONValue, any Error>] = [:]
    private var poller: Task<Void, Never>?

    init(http: HTTPClient, base: String) {
        self.http = http
        self.base = base
    }

    private func transaction() -> String {
        defer { nextTransaction += 1 }
        return "t\(nextTransaction)"
    }

    private func post(_ path: String, _ body: [String: JSONValue]) async throws -> JSONValue {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: JSONValue.object(body).text))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(10))
        } catch {
            throw LoadFailure("cannot reach Janus at \(base)\(path): \(error)")
        }
        let bytes = try await response.body.collect(upTo: 1 << 22)
        guard response.status == .ok, let value = JSONValue(parsing: String(buffer: bytes)) else {
            throw LoadFailure("Janus answered \(response.status) to \(path)")
        }
        if value["janus"]?.string == "error" {
            throw LoadFailure("Janus error: \(value["error"]?["reason"]?.string ?? value.text)")
        }
        return value
    }

    /// Creates the session and starts the long poll.
    func start() async throws {
        guard session == nil else { return }
        let created = try await post("/janus", ["janus": "create", "transaction": .string(transaction())])
        guard let id = created["data"]?["id"]?.int else { throw LoadFailure("Janus did not create a session: \(created.text)") }
        session = id
        let http = self.http
        let url = "\(base)/janus/\(id)?maxev=20"
        poller = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
                    let body = try await response.body.collect(upTo: 1 << 24)
                    guard let value = JSONValue(parsing: String(buffer: body)) else { continue }
                    await self?.deliver(value.array ?? [value])
                } catch {
                    // A failed poll is retried; a request whose event never comes times out on its own.
                    if Task.isCancelled { return }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    func stop() async {
        poller?.cancel()
        if let session { _ = try? await post("/janus/\(session)", ["janus": "destroy", "transaction": .string(transaction())]) }
        session = nil
        for (_, w) in waiting { w.resume(throwing: LoadFailure("the Janus session ended")) }
        waiting.removeAll()
    }

    private func deliver(_ events: [JSONValue]) {
        for event in events {
            guard let transaction = event["transaction"]?.string, event["janus"]?.string == "event" else { continue }
            waiting.removeValue(forKey: transaction)?.resume(returning: event)
        }
    }

    func attach() async throws -> Int {
        guard let session else { throw LoadFailure("no Janus session") }
        let attached = try await post(
            "/janus/\(session)", ["janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": .string(transaction())])
        guard let id = attached["data"]?["id"]?.int else { throw LoadFailure("Janus did not attach the VideoRoom plugin: \(attached.text)") }
        return id
    }

    func detach(_ handle: Int) async throws {
        guard let session else { return }
        _ = try await post("/janus/\(session)/\(handle)", ["janus": "detach", "transaction": .string(transaction())])
    }

    /// A synchronous plugin request (create, destroy, ...): the reply is the HTTP response.
    func message(handle: Int, body: [String: JSONValue]) async throws -> JSONValue {
        guard let session else { throw LoadFailure("no Janus session") }
        return try await post(
            "/janus/\(session)/\(handle)", ["janus": "message", "transaction": .string(transaction()), "body": .object(body)])
    }

    /// An asynchronous plugin request (join, publish, start): acked at once, answered by an event with the
    /// same transaction on the long poll. The waiter is registered before the request goes out, so an event
    /// that beats the ack is not lost.
    func request(handle: Int, body: [String: JSONValue], jsep: [String: JSONValue]? = nil) async throws -> JSONValue {
        guard let session else { throw LoadFailure("no Janus session") }
        let id = transaction()
        var message: [String: JSONValue] = ["janus": "message", "transaction": .string(id), "body": .object(body)]
        if let jsep { message["jsep"] = .object(jsep) }
        let what = body["request"]?.string ?? "a request"
        let event: JSONValue = try await withCheckedThrowingContinuation { continuation in
            waiting[id] = continuation
            Task {
                do {
                    let ack = try await self.post("/janus/\(session)/\(handle)", message)
                    // Anything but an ack is the (synchronous) reply itself.
                    if ack["janus"]?.string != "ack" { self.settle(id, .success(ack)) }
                } catch {
                    self.settle(id, .failure(error))
                }
                try? await Task.sleep(for: .seconds(20))
                self.settle(id, .failure(LoadFailure("Janus sent no event for \(what) within 20 s")))
            }
        }
        if let error = event["plugindata"]?["data"]?["error"]?.string { throw LoadFailure("Janus VideoRoom error on \(what): \(error)") }
        return event
    }

    private func settle(_ transaction: String, _ result: Result<JSONValue, any Error>) {
        waiting.removeValue(forKey: transaction)?.resume(with: result)
    }

    /// Tells Janus we have no more candidates (our offers and answers carry none: Janus is ICE-lite here and
    /// learns our address from our connectivity checks, RFC 8445 §7.3.1.3).
    func trickleCompleted(handle: Int) async throws {
        guard let session else { return }
        _ = try await post(
            "/janus/\(session)/\(handle)", ["janus": "trickle", "transaction": .string(transaction()), "candidate": ["completed": true]])
    }
}
