import ArgumentParser
import Foundation
import Logging
import StarlingServer

@main
struct Starling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starling",
        abstract: "Starling, a WebRTC Selective Forwarding Unit.",
        version: starlingVersion,
        subcommands: [Serve.self, CheckConfig.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (HTTP API, web app and media) until SIGINT or SIGTERM.")

    @Option(name: .long, help: "YAML configuration file (default: \(ConfigurationLoader.defaultPath) if present). STARLING_* variables override it.")
    var config: String?

    func run() async throws {
        let configuration: StarlingConfiguration
        do {
            configuration = try await ConfigurationLoader.load(path: config)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        let level = configuration.log.level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        try await StarlingServer.run(configuration: configuration, logger: Logger(label: "starling"))
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file (with STARLING_* overrides); list every invalid field.")

    @Argument(help: "The YAML configuration file to check.")
    var file: String

    func run() async throws {
        let (_, issues) = try await ConfigurationLoader.validate(path: file)
        if issues.isEmpty {
            print("\(file): valid")
            return
        }
        FileHandle.standardError.write(Data("\(file): \(issues.count) invalid setting(s)\n".utf8))
        for issue in issues {
            FileHandle.standardError.write(Data("  - \(issue)\n".utf8))
        }
        throw ExitCode(1)
    }
}
