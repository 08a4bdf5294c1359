import StarlingAPI
import Foundation
import Hummingbird
import HummingbirdWebSocket
import StarlingWire
import Logging
import NIOCore

/// What `/healthz` answers: `ok`, or `draining` (with status 503) once the server is shutting down.
struct HealthStatus: ResponseEncodable {
    var status: String
    var version: String
}

/// The request context of the HTTP routes: Hummingbird's basic context plus the client's address (for the
/// echo endpoint's per-address limit).
struct StarlingRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Starling's release version, reported by `/healthz` and `starling --version`.
public let starlingVersion = "0.1.0"

/// Assembles the HTTP front: every route and service of a Starling server, in one place, so tests
/// build the same application in-process (Hummingbird's test client) that `starling serve` runs.
/// `media` is nil for an HTTP-only application (configuration and health tests).
public func buildApplication(
    configuration: StarlingConfiguration, logger: Logger, media: MediaService? = nil,
    eventLoopGroup: (any EventLoopGroup)? = nil
) -> some ApplicationProtocol {
    let router = Router(context: StarlingRequestContext.self)
    router.add(middleware: LogRequestsMiddleware(.debug))
    if !configuration.http.webRoot.isEmpty, FileManager.default.fileExists(atPath: configuration.http.webRoot) {
        router.add(middleware: FileMiddleware(configuration.http.webRoot, searchForIndexHtml: true, logger: logger))
    }
    router.get("healthz") { _, _ -> Response in
        let draining = media?.isDraining ?? false
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let body = #"{"status":""# + (draining ? "draining" : "ok") + #"","version":""# + starlingVersion + #""}"#
        return Response(
            status: draining ? .serviceUnavailable : .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    let origins = OriginPolicy(allowedOrigins: configuration.http.allowedOrigins)
    /// What each WebSocket path runs once upgraded, given the upgrade request.
    var webSockets: [String: @Sendable (HTTPRequest) -> WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>] = [:]
    if let media {
        addEchoRoutes(to: router, media: media, echo: configuration.echo, sdpBytes: configuration.limits.sdpBytes)
        let secret = signingSecret(configuration: configuration)
        if configuration.auth.devTokens, let secret { addDevTokenRoute(to: router, secret: secret) }
        let settings = SignalingSettings(
            media: media, verifier: secret.flatMap { try? JSONWebToken.Verifier(secret: $0) },
            maxMessageBytes: configuration.signaling.maxMessageBytes,
            requestsPerSecond: configuration.signaling.requestsPerSecond,
            reconnectWindow: .seconds(configuration.signaling.reconnectWindowSeconds),
            joinTimeout: .seconds(configuration.signaling.joinTimeoutSeconds), turn: configuration.turn)
        let control = ControlAPI(
            media: media, apiKey: configuration.control.apiKey, tokenSecret: secret,
            maxMessageBytes: configuration.signaling.maxMessageBytes)
        addControlRoutes(to: router, api: control)
        let authenticationTimeout = Duration.seconds(configuration.control.authenticationTimeoutSeconds)
        webSockets["/control"] = { head in
            let authorization = head.headerFields[.authorization]
            return { inbound, outbound, context in
                await ControlSession.run(
                    inbound: inbound, outbound: outbound, api: control, authorization: authorization,
                    authenticationTimeout: authenticationTimeout, logger: context.logger)
            }
        }
        webSockets["/rtc"] = { _ in
            { inbound, outbound, context in
                await SignalingSession.run(inbound: inbound, outbound: outbound, settings: settings, logger: context.logger)
            }
        }
    }
    let table = ConnectionTable(
        limits: .init(
            total: configuration.http.maxConnections, perAddress: configuration.http.maxConnectionsPerAddress,
            requestTimeout: .nanoseconds(Int64(configuration.http.requestTimeoutSeconds * 1e9)),
            idleTimeout: .nanoseconds(Int64(configuration.http.idleTimeoutSeconds * 1e9))))
    media?.httpConnections = table
    // Frames up to the message limit and 64 KiB more reach the session, which answers messages over the limit
    // with a too_large error and keeps the connection.
    let upgradeConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
        ws: .init(maxFrameSize: configuration.signaling.maxMessageBytes + (64 << 10)))
    let routes = webSockets
    // WebSocket upgrades are matched here by path, not through a WebSocket router: a router's request context keeps
    // a reference to itself (hummingbird-websocket 2.8), about 600 bytes leaked per connection. A page of another
    // origin gets no upgrade (docs/OPERATIONS.md, http.allowedOrigins); the failed upgrade is answered 400.
    let shouldUpgrade: @Sendable (HTTPRequest, any Channel, Logger) async throws
        -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> = { head, _, logger in
            let path = head.path.map { String($0.prefix { $0 != "?" }) } ?? ""
            guard head.method == .get, let route = routes[path] else { return .dontUpgrade }
            guard origins.allows(origin: head.headerFields[.origin], host: head.authority) else {
                logger.debug("WebSocket upgrade refused: origin not allowed", metadata: ["origin": "\(head.headerFields[.origin] ?? "")"])
                return .dontUpgrade
            }
            return .upgrade([:], route(head))
        }
    return Application(
        router: router,
        server: .guarded(table) { responder in
            HTTP1WebSocketUpgradeChannel(responder: responder, configuration: upgradeConfiguration, shouldUpgrade: shouldUpgrade)
        },
        configuration: .init(
            address: .hostname(configuration.http.host, port: configuration.http.port),
            serverName: "starling/\(starlingVersion)"
        ),
        eventLoopGroupProvider: eventLoopGroup.map { .shared($0) } ?? .singleton,
        logger: logger
    )
}

/// `POST /v1/echo` takes an SDP offer (the request shape of WHIP, RFC 9725 §4.2: `application/sdp` in,
/// `201 Created` with the answer and a `Location` out) and echoes the peer's media back to it;
/// `DELETE /v1/echo/{id}` ends the session (RFC 9725 §4.3). A connectivity check with limits of its own
/// (`echo.*`): off (404), behind a bearer token (401), sessions in all and per address (429), lifetime.
func addEchoRoutes(
    to router: Router<StarlingRequestContext>, media: MediaService, echo: StarlingConfiguration.Echo, sdpBytes: Int
) {
    @Sendable func authorized(_ request: Request) -> Bool {
        guard !echo.token.isEmpty else { return true }
        return ControlAPI.constantTimeEqual(ControlSession.bearer(request.headers[.authorization]) ?? "", echo.token)
    }
    router.post("v1/echo") { request, context -> Response in
        guard echo.enabled else { return textResponse(.notFound, "the echo endpoint is turned off (echo.enabled)\n") }
        guard authorized(request) else {
            var response = textResponse(.unauthorized, "the echo endpoint needs its token (Authorization: Bearer)\n")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: sdpBytes)
        } catch {
            return textResponse(.contentTooLarge, "the offer is larger than \(sdpBytes) bytes (limits.sdpBytes)\n")
        }
        let offer = String(buffer: body)
        let client = context.remoteAddress?.ipAddress ?? "unknown"
        do {
            let (id, answer) = try await media.createEchoSession(offer: offer, client: client)
            var headers = HTTPFields()
            headers[.contentType] = "application/sdp"
            headers[.location] = "/v1/echo/\(id)"
            return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer)))
        } catch let error as MediaService.EchoRefusal {
            var response = textResponse(.tooManyRequests, "\(error)\n")
            response.headers[.retryAfter] = "\(error.retryAfterSeconds)"
            return response
        } catch let error as Room.RoomError {
            context.logger.info("echo offer rejected", metadata: ["reason": "\(error)"])
            return textResponse(.badRequest, "\(error)\n")
        }
    }
    router.delete("v1/echo/:id") { request, context -> Response in
        guard echo.enabled else { return textResponse(.notFound, "the echo endpoint is turned off (echo.enabled)\n") }
        guard authorized(request) else { return textResponse(.unauthorized, "the echo endpoint needs its token\n") }
        let id = try context.parameters.require("id")
        return await media.endEchoSession(id: id) ? Response(status: .ok) : textResponse(.notFound, "no such session\n")
    }
}

/// `POST /api/<method>`: the control API over plain HTTP. The body is the params object (empty: none); the
/// answer is `200 {"result": ...}` or the error's status with `{"error": {"code", "message"}}`.
func addControlRoutes(to router: Router<StarlingRequestContext>, api: ControlAPI) {
    router.post("api/:method") { request, context -> Response in
        let method = try context.parameters.require("method")
        func reply(_ status: Int, _ body: JSONValue) -> Response {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(
                status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.text)))
        }
        func failure(_ error: ControlError) -> Response { reply(error.code.httpStatus, ["error": error.json]) }
        guard api.authorizes(ControlSession.bearer(request.headers[.authorization])) else { return failure(api.unauthorized) }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: api.maxMessageBytes)
        } catch {
            return failure(ControlError(.tooLarge, "the body is larger than \(api.maxMessageBytes) bytes"))
        }
        var params = JSONValue.null
        if body.readableBytes > 0 {
            guard let value = JSONValue(parsing: String(buffer: body)) else {
                return failure(ControlError(.parseError, "the body is not valid JSON"))
            }
            params = value
        }
        do throws(ControlError) {
            return reply(200, ["result": try await api.call(method, params: params)])
        } catch {
            if error.code == .internalError { context.logger.error("control call failed", metadata: ["error": "\(error)"]) }
            return failure(error)
        }
    }
}

/// A query string's fields as an HTML form encodes them (`application/x-www-form-urlencoded`: `+` is a space,
/// then percent-decoding), which is what `URLSearchParams` in the web app writes. The first value of a name wins.
func formFields(_ query: String) -> [String: String] {
    var fields: [String: String] = [:]
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        func decode(_ s: Substring) -> String? { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
        guard let name = parts.first.flatMap(decode), fields[name] == nil else { continue }
        fields[name] = parts.count > 1 ? decode(parts[1]) : ""
    }
    return fields
}

func textResponse(_ status: HTTPResponse.Status, _ text: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/plain; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
}

/// The HS256 secret tokens are signed and verified with: `auth.jwtSecret`, or with development tokens on and
/// no secret configured, a random one for this process. nil: no tokens at all.
func signingSecret(configuration: StarlingConfiguration) -> [UInt8]? {
    if !configuration.auth.jwtSecret.isEmpty { return Array(configuration.auth.jwtSecret.utf8) }
    guard configuration.auth.devTokens else { return nil }
    var generator = SystemRandomNumberGenerator()
    return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// `GET /dev/token?room=&identity=&name=`: a token with every grant for six hours, for the bundled web app
/// on a development machine (`auth.devTokens`, off by default).
func addDevTokenRoute(to router: Router<StarlingRequestContext>, secret: [UInt8]) {
    router.get("dev/token") { request, _ -> Response in
        let query = formFields(request.uri.query ?? "")
        guard let room = query["room"], !room.isEmpty, room.utf8.count <= 128,
            let identity = query["identity"], !identity.isEmpty, identity.utf8.count <= 128
        else { return textResponse(.badRequest, "room and identity are required (at most 128 bytes each)\n") }
        guard !MediaService.isReserved(roomName: room) else {
            return textResponse(.badRequest, "room names starting with '\(MediaService.echoPrefix)' are reserved\n")
        }
        let now = Int64(Date().timeIntervalSince1970)
        let claims = JSONWebToken.Claims(
            room: room, identity: identity, name: query["name"].map { String($0.prefix(256)) }, grants: .all, expiresAt: now + 6 * 3600,
            issuedAt: now)
        guard let token = try? JSONWebToken.sign(claims: claims, secret: secret) else {
            return textResponse(.internalServerError, "could not sign a token\n")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let body = #"{"token":""# + token + #""}"#
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
