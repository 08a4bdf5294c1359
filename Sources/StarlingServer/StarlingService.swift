import Hummingbird
import Logging
import NIOPosix
import ServiceLifecycle

/// Runs a Starling server until SIGINT or SIGTERM, then shuts down gracefully: listeners close,
/// in-flight work finishes within `shutdown.gracePeriodSeconds`, and what remains is cancelled.
public enum StarlingServer {
    public static func run(configuration: StarlingConfiguration, logger: Logger) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let media = try await MediaService.start(configuration: configuration, group: group, logger: logger)
        let app = buildApplication(configuration: configuration, logger: logger, media: media, eventLoopGroup: group)
        let grace = configuration.shutdown.gracePeriodSeconds
        // Shutdown goes in reverse order: media drains first (rooms close, participants and control subscribers
        // are told, /healthz says draining) while the HTTP front still carries their WebSockets; then it stops.
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: app), .init(service: media)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(grace)
        let services = ServiceGroup(configuration: groupConfiguration)
        logger.info(
            "starling starting",
            metadata: ["http": "\(configuration.http.host):\(configuration.http.port)", "version": "\(starlingVersion)"]
        )
        try await services.run()
        logger.info("starling stopped")
    }
}
