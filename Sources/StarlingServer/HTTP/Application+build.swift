import Foundation
import Hummingbird
import Logging
import NIOCore

/// What `/healthz` answers.
struct HealthStatus: ResponseEncodable {
    var status: String
    var version: String
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
    let router = Router()
    router.add(middleware: LogRequestsMiddleware(.debug))
    if !configuration.http.webRoot.isEmpty, FileManager.default.fileExists(atPath: configuration.http.webRoot) {
        router.add(middleware: FileMiddleware(configuration.http.webRoot, searchForIndexHtml: true, logger: logger))
    }
    router.get("healthz") { _, _ -> HealthStatus in
        HealthStatus(status: "ok", version: starlingVersion)
    }
    if let media {
        addEchoRoutes(to: router, media: media)
    }
    return Application(
        router: router,
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
/// `DELETE /v1/echo/{id}` ends the session (RFC 9725 §4.3).
func addEchoRoutes(to router: Router<BasicRequestContext>, media: MediaService) {
    router.post("v1/echo") { request, context -> Response in
        let body = try await request.body.collect(upTo: 128 * 1024)
        let offer = String(buffer: body)
        do {
            let (id, answer) = try await media.createEchoSession(offer: offer)
            var headers = HTTPFields()
            headers[.contentType] = "application/sdp"
            headers[.location] = "/v1/echo/\(id)"
            return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer)))
        } catch let error as Room.RoomError {
            context.logger.info("echo offer rejected", metadata: ["reason": "\(error)"])
            return textResponse(.badRequest, "\(error)\n")
        }
    }
    router.delete("v1/echo/:id") { _, context -> Response in
        let id = try context.parameters.require("id")
        return await media.endEchoSession(id: id) ? Response(status: .ok) : textResponse(.notFound, "no such session\n")
    }
}

func textResponse(_ status: HTTPResponse.Status, _ text: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/plain; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
}
