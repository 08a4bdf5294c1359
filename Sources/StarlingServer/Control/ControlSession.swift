import StarlingAPI
import Foundation
import HummingbirdWebSocket
import Logging

/// One `/control` WebSocket: JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over text messages. The
/// API key comes with the upgrade (`Authorization: Bearer <key>`) or in an `authenticate {apiKey}` call
/// first. Besides the `ControlAPI` methods: `subscribe {room?}` starts `event` notifications for one room
/// (or all), `unsubscribe` stops them. Requests without an `id` are notifications: run, never answered
/// (§4.1); a batch (an array) is answered with an array (§6). A bad message is answered with an error and
/// the connection stays up.
struct ControlSession {
    let api: ControlAPI
    let outbound: WebSocketOutboundWriter
    let logger: Logger
    private var authenticated: Bool {
        didSet { if authenticated { deadline?.reach() } }
    }
    private var bucket: TokenBucket
    /// Closes the connection unless it authenticates in time.
    private var deadline: SessionDeadline?
    private var subscription: (id: Int, task: Task<Void, Never>)?

    static let rateLimit = 100

    static func run(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, api: ControlAPI, authorization: String?,
        authenticationTimeout: Duration = .seconds(10), logger: Logger
    ) async {
        var session = ControlSession(api: api, outbound: outbound, logger: logger, authorization: authorization)
        if !session.authenticated {
            session.deadline = SessionDeadline(
                after: authenticationTimeout, outbound: outbound,
                message: Self.failure(nil, ControlError(.unauthorized, "not authenticated in time (control.authenticationTimeoutSeconds)")),
                reason: "authentication timeout")
        }
        let closer = api.media.registerCloser { try? await outbound.close(.goingAway, reason: "server shutdown") }
        defer {
            session.deadline?.reach()
            api.media.forgetCloser(closer)
        }
        do {
            for try await message in inbound.messages(maxSize: api.maxMessageBytes + (64 << 10)) {
                guard case .text(let text) = message else {
                    await session.send(Self.failure(nil, ControlError(.parseError, "messages are JSON text, not binary")))
                    continue
                }
                if let reply = await session.handle(text) { await session.send(reply) }
            }
        } catch {
            logger.debug("control connection ended", metadata: ["error": "\(error)"])
        }
        session.end()
    }

    init(api: ControlAPI, outbound: WebSocketOutboundWriter, logger: Logger, authorization: String?) {
        self.api = api
        self.outbound = outbound
        self.logger = logger
        authenticated = api.authorizes(ControlSession.bearer(authorization))
        bucket = TokenBucket(rate: Self.rateLimit)
    }

    /// The key of an `Authorization: Bearer <key>` header.
    static func bearer(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("bearer ") else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// One text message; the reply, if any.
    mutating func handle(_ text: String) async -> String? {
        guard bucket.take() else {
            // Not read at all (parsing it would cost what the limit saves): the error carries id null.
            return Self.failure(nil, ControlError(.rateLimited, "more than \(Self.rateLimit) messages per second"))
        }
        guard text.utf8.count <= api.maxMessageBytes else {
            return Self.failure(nil, ControlError(.tooLarge, "the message is \(text.utf8.count) bytes, the limit is \(api.maxMessageBytes)"))
        }
        guard let parsed = JSONValue(parsing: text) else {
            return Self.failure(nil, ControlError(.parseError, "the message is not valid JSON"))
        }
        if case .array(let batch) = parsed {
            guard !batch.isEmpty, batch.count <= 32 else {
                return Self.failure(nil, ControlError(.invalidRequest, "a batch holds 1 to 32 requests"))
            }
            var replies: [String] = []
            for element in batch {
                if let reply = await call(element) { replies.append(reply) }
            }
            return replies.isEmpty ? nil : "[" + replies.joined(separator: ",") + "]"
        }
        return await call(parsed)
    }

    /// One JSON-RPC request object.
    private mutating func call(_ request: JSONValue) async -> String? {
        guard case .object(let o) = request else {
            return Self.failure(nil, ControlError(.invalidRequest, "a request is a JSON object"))
        }
        let id: JSONValue?
        switch o["id"] {
        case nil: id = nil
        case .string(let s)? where s.utf8.count <= 128: id = .string(s)
        case .int(let n)?: id = .int(n)
        case .null?: id = .null
        default: return Self.failure(.null, ControlError(.invalidRequest, "'id' must be a string (at most 128 bytes), an integer or null"))
        }
        guard o["jsonrpc"] == .string("2.0") else {
            return Self.failure(id ?? .null, ControlError(.invalidRequest, "'jsonrpc' must be \"2.0\""))
        }
        guard case .string(let method)? = o["method"] else {
            return Self.failure(id ?? .null, ControlError(.invalidRequest, "'method' is missing or not a string"))
        }
        let params = o["params"] ?? .null
        do throws(ControlError) {
            let result = try await perform(method, params: params)
            guard let id else { return nil }
            return JSONValue.object(["jsonrpc": "2.0", "id": id, "result": result]).text
        } catch {
            if error.code == .internalError { logger.error("control call failed", metadata: ["error": "\(error)"]) }
            // Notifications get no reply, not even an error (§4.1).
            guard let id else { return nil }
            return Self.failure(id, error)
        }
    }

    private mutating func perform(_ method: String, params: JSONValue) async throws(ControlError) -> JSONValue {
        if method == "authenticate" {
            let key = try ControlParams(params).string("apiKey", maxBytes: 1024)
            guard api.authorizes(key) else {
                authenticated = false
                throw api.unauthorized
            }
            authenticated = true
            return ["authenticated": true]
        }
        guard authenticated else { throw api.unauthorized }
        switch method {
        case "subscribe":
            let room = try ControlParams(params).optionalString("room", maxBytes: 128)
            subscribe(room: room)
            return ["subscribed": true, "room": JSONValue(room)]
        case "unsubscribe":
            end()
            return ["subscribed": false]
        default:
            return try await api.call(method, params: params)
        }
    }

    /// Room events as `event` notifications from now on (one subscription per connection; a new one replaces it).
    private mutating func subscribe(room: String?) {
        end()
        let (id, stream) = api.media.events.subscribe(room: room)
        let outbound = self.outbound
        let task = Task {
            for await text in stream { try? await outbound.write(.text(text)) }
        }
        subscription = (id, task)
    }

    mutating func end() {
        if let (id, task) = subscription {
            api.media.events.cancel(id)
            task.cancel()
        }
        subscription = nil
    }

    func send(_ text: String) async { try? await outbound.write(.text(text)) }

    static func failure(_ id: JSONValue?, _ error: ControlError) -> String {
        JSONValue.object(["jsonrpc": "2.0", "id": id ?? .null, "error": error.rpc]).text
    }
}
