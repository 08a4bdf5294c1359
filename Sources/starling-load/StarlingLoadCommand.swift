import ArgumentParser
import Foundation
import StarlingLoad

/// starling-load: real VP8 simulcast and Opus publishers and decoding subscribers against Starling or Janus,
/// with per-second figures, a final table and `--json`. See docs/LOAD.md.
@main
struct StarlingLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starling-load",
        abstract: "Load and quality tool: VP8 simulcast + Opus publishers and decoding subscribers against Starling or Janus.")

    enum SFU: String, ExpressibleByArgument, CaseIterable { case starling, janus }

    enum Preset: String, ExpressibleByArgument, CaseIterable {
        /// 1 room: 2 publishers, 2 subscribers (the `make test` smoke run).
        case smoke
        /// 1 room of 4 publishers, each watching the other 3.
        case room4
        /// 1 publisher watched by 50 subscribers.
        case fanout50
        /// 10 rooms of 3 participants, each watching the other 2.
        case rooms10
    }

    @Option(help: "Which SFU to drive.") var sfu: SFU = .starling
    @Option(help: "The server: Starling's http://host:port, or Janus's WebSocket ws://host:port.")
    var server: String = "http://127.0.0.1:8080"
    @Option(help: "Starling's auth.jwtSecret, to sign join tokens (or set STARLING_LOAD_JWT_SECRET).") var jwtSecret: String?
    @Option(help: "Starling's control.apiKey, to ask the control API for tokens instead.") var apiKey: String?
    @Option(help: "A preset scenario; the options below override its numbers.") var scenario: Preset = .smoke
    @Option(help: "Rooms.") var rooms: Int?
    @Option(help: "Publishers per room.") var publishers: Int?
    @Option(help: "Subscribe-only participants per room.") var subscribers: Int?
    @Flag(inversion: .prefixedNo, help: "Whether publishers also watch each other.") var publishersSubscribe: Bool?
    @Option(help: "Seconds of media (the run ends by itself).") var duration: Double = 10
    @Option(help: "Seconds at the start left out of the totals.") var warmup: Double = 0
    @Option(help: "Share of received streams decoded, 0...1.") var decode: Double = 1
    @Option(help: "Local address for the media sockets.") var bind: String = "127.0.0.1"
    @Option(help: "The server's pid, for its CPU and memory from /proc.") var serverPID: Int32?
    @Option(help: "Seconds every peer connection has to connect.") var connectTimeout: Double = 15
    @Flag(help: "Print the report as JSON on stdout instead of the table.") var json = false
    @Option(help: "Also write the JSON report to this file.") var jsonFile: String?
    @Flag(help: "No progress line.") var quiet = false
    @Flag(help: "Exit 3 unless every video stream decoded frames with no loss after NACK recovery and no decoder errors.")
    var expectClean = false

    func scenarioValue() -> LoadScenario {
        var s: LoadScenario
        switch scenario {
        case .smoke: s = LoadScenario(name: "smoke", rooms: 1, publishersPerRoom: 2, subscribersPerRoom: 2)
        case .room4: s = LoadScenario(name: "room4", rooms: 1, publishersPerRoom: 4, subscribersPerRoom: 0, publishersSubscribe: true)
        case .fanout50: s = LoadScenario(name: "fanout50", rooms: 1, publishersPerRoom: 1, subscribersPerRoom: 50)
        case .rooms10: s = LoadScenario(name: "rooms10", rooms: 10, publishersPerRoom: 3, subscribersPerRoom: 0, publishersSubscribe: true)
        }
        if let rooms { s.rooms = rooms }
        if let publishers { s.publishersPerRoom = publishers }
        if let subscribers { s.subscribersPerRoom = subscribers }
        if let publishersSubscribe { s.publishersSubscribe = publishersSubscribe }
        s.duration = .seconds(duration)
        s.warmup = .seconds(warmup)
        s.decodeShare = decode
        s.bindHost = bind
        s.serverPID = serverPID
        s.connectTimeout = .seconds(connectTimeout)
        s.progress = !quiet
        return s
    }

    func adapter() throws -> any SFUAdapter {
        switch sfu {
        case .starling:
            if let secret = jwtSecret ?? ProcessInfo.processInfo.environment["STARLING_LOAD_JWT_SECRET"] {
                return try StarlingAdapter(server: server, tokens: .secret(secret))
            }
            guard let apiKey else { throw LoadFailure("Starling needs --jwt-secret (or STARLING_LOAD_JWT_SECRET) or --api-key") }
            return try StarlingAdapter(server: server, tokens: .controlAPI(apiKey: apiKey))
        case .janus:
            return try JanusAdapter(server: server)
        }
    }

    func run() async throws {
        let report: LoadReport
        do {
            let run = try LoadRun(scenario: scenarioValue(), adapter: try adapter())
            report = try await run.run()
        } catch {
            FileHandle.standardError.write(Data("starling-load: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let jsonFile { try report.json.write(toFile: jsonFile, atomically: true, encoding: .utf8) }
        print(json ? report.json : report.table)
        if expectClean {
            let problems = report.cleanRunProblems
            if !problems.isEmpty {
                FileHandle.standardError.write(Data("starling-load: the run was not clean: \(problems.joined(separator: "; "))\n".utf8))
                throw ExitCode(3)
            }
        }
    }
}
