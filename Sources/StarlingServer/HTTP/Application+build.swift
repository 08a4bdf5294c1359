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
public func buildApplication(
    configuration: StarlingConfiguration, logger: Logger
) -> some ApplicationProtocol {
    let router = Router()
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.get("healthz") { _, _ -> HealthStatus in
        HealthStatus(status: "ok", version: starlingVersion)
    }
    return Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.http.host, port: configuration.http.port),
            serverName: "starling/\(starlingVersion)"
        ),
        logger: logger
    )
}
