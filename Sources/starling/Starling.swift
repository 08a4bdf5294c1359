import ArgumentParser
import Foundation
import Logging
import StarlingServer

import CMallocTuning

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
        tuneAllocator()
        let level = configuration.log.level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        try await StarlingServer.run(configuration: configuration, logger: Logger(label: "starling"))
    }
}

/// glibc's malloc keeps what threads free in per-thread arenas (up to 8 per core) and, once a large block was
/// freed, serves later large blocks (a track's 768 KiB retransmission ring) from the heap instead of their own
/// mapping: after a busy period the idle process keeps its high-water mark of memory without leaking anything.
/// Two arenas, and a fixed 128 KiB threshold above which blocks get a mapping of their own and go back to the
/// system when freed, make memory follow what the server holds (docs/OPERATIONS.md, "Memory"). The
/// MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ environment variables still win when set.
func tuneAllocator() {
    let environment = ProcessInfo.processInfo.environment
    _ = starling_tune_malloc(
        environment["MALLOC_ARENA_MAX"] == nil ? 2 : 0, environment["MALLOC_MMAP_THRESHOLD_"] == nil ? 128 * 1024 : 0)
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
