import Foundation
import Logging
import Testing

@testable import StarlingServer

@Suite struct ConfigurationTests {
    func writeTemp(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("starling-config-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func shippedConfigFileIsValidAndMatchesDefaults() async throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/starling.yaml").path
        let (config, issues) = try await ConfigurationLoader.validate(path: path, environment: [:])
        #expect(issues.isEmpty, "\(issues)")
        #expect(config == StarlingConfiguration())
    }

    @Test func defaultsWhenFileAbsentAndNoEnvironment() async throws {
        let (config, issues) = try await ConfigurationLoader.validate(path: nil, environment: [:])
        #expect(issues.isEmpty)
        #expect(config.http.host == "127.0.0.1")
        #expect(config.http.port == 8080)
    }

    @Test func readsFileValues() async throws {
        let path = try writeTemp("http:\n  host: 0.0.0.0\n  port: 9000\nlog:\n  level: debug\nshutdown:\n  gracePeriodSeconds: 2.5\n")
        let config = try await ConfigurationLoader.load(path: path, environment: [:])
        #expect(config.http.host == "0.0.0.0")
        #expect(config.http.port == 9000)
        #expect(config.log.level == .debug)
        #expect(config.shutdown.gracePeriodSeconds == 2.5)
    }

    @Test func environmentOverridesFile() async throws {
        let path = try writeTemp("http:\n  port: 9000\n")
        let config = try await ConfigurationLoader.load(
            path: path, environment: ["STARLING_HTTP_PORT": "9100", "STARLING_SHUTDOWN_GRACE_PERIOD_SECONDS": "1"])
        #expect(config.http.port == 9100)
        #expect(config.shutdown.gracePeriodSeconds == 1)
    }

    @Test func listsEveryInvalidFieldWithItsReason() async throws {
        let path = try writeTemp(
            "http:\n  host: ''\n  port: 70000\n  prot: 1\nlog:\n  level: loud\nshutdown:\n  gracePeriodSeconds: soon\nextra: 1\n")
        let (_, issues) = try await ConfigurationLoader.validate(path: path, environment: ["STARLING_HTTP_PROT": "1"])
        let keys = Set(issues.map(\.key))
        #expect(
            keys == [
                "http.host", "http.port", "http.prot", "log.level", "shutdown.gracePeriodSeconds", "extra",
                "STARLING_HTTP_PROT",
            ], "\(issues)")
        let port = try #require(issues.first { $0.key == "http.port" })
        #expect(port.reason.contains("0...65535"))
        let level = try #require(issues.first { $0.key == "log.level" })
        #expect(level.reason.contains("loud"))
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigurationLoader.load(path: path, environment: [:])
        }
    }

    @Test func turnServersNeedTheirSecretAndTURNURLs() async throws {
        let (config, ok) = try await ConfigurationLoader.validate(
            path: nil,
            environment: [
                "STARLING_TURN_URLS": "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:443?transport=tcp",
                "STARLING_TURN_SECRET": "s3cret", "STARLING_TURN_CREDENTIAL_SECONDS": "3600",
            ])
        #expect(ok.isEmpty)
        #expect(config.turn.urls == ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"])
        #expect(config.turn.secret == "s3cret" && config.turn.credentialSeconds == 3600)
        let (_, issues) = try await ConfigurationLoader.validate(
            path: nil, environment: ["STARLING_TURN_URLS": "stun:stun.example.com, turn:t.example.com", "STARLING_TURN_CREDENTIAL_SECONDS": "5"])
        #expect(Set(issues.map(\.key)) == ["turn.urls", "turn.credentialSeconds"], "\(issues)")
        let (_, noSecret) = try await ConfigurationLoader.validate(path: nil, environment: ["STARLING_TURN_URLS": "turn:t.example.com"])
        #expect(noSecret.map(\.key) == ["turn.secret"], "\(noSecret)")
    }

    /// A server others can reach refuses development tokens, a short or example TURN secret and example
    /// keys; on loopback (make run) they are fine.
    @Test func exposedServersRefuseDevelopmentTokensAndWeakSecrets() async throws {
        let weak = ["STARLING_AUTH_DEV_TOKENS": "true", "STARLING_TURN_URLS": "turn:t.example.com", "STARLING_TURN_SECRET": "short"]
        let (_, local) = try await ConfigurationLoader.validate(path: nil, environment: weak)
        #expect(local.isEmpty, "\(local)")
        let (_, exposed) = try await ConfigurationLoader.validate(
            path: nil, environment: weak.merging(["STARLING_HTTP_HOST": "0.0.0.0"]) { a, _ in a })
        #expect(Set(exposed.map(\.key)) == ["auth.devTokens", "turn.secret"], "\(exposed)")
        let (_, example) = try await ConfigurationLoader.validate(
            path: nil,
            environment: [
                "STARLING_HTTP_HOST": "192.0.2.10", "STARLING_TURN_URLS": "turn:t.example.com",
                "STARLING_TURN_SECRET": "change-this-shared-secret",
            ])
        #expect(example.map(\.key) == ["turn.secret"], "\(example)")
        let (_, good) = try await ConfigurationLoader.validate(
            path: nil,
            environment: [
                "STARLING_HTTP_HOST": "0.0.0.0", "STARLING_TURN_URLS": "turn:t.example.com",
                "STARLING_TURN_SECRET": "9c1d0e7f3a5b42c8a6e1d4f70b3c9e25",
            ])
        #expect(good.isEmpty, "\(good)")
        // And the limits' consistency: a message limit too small for the SDP limit.
        let (_, tight) = try await ConfigurationLoader.validate(
            path: nil, environment: ["STARLING_SIGNALING_MAX_MESSAGE_BYTES": "65536"])
        #expect(tight.map(\.key) == ["signaling.maxMessageBytes"], "\(tight)")
    }

    @Test func invalidEnvironmentValueIsReported() async throws {
        let (_, issues) = try await ConfigurationLoader.validate(path: nil, environment: ["STARLING_HTTP_PORT": "eighty"])
        #expect(issues == [ConfigIssue(key: "http.port", reason: "expected an integer, got 'eighty'")])
    }

    @Test func missingNamedFileAndBrokenYAMLAreReported() async throws {
        let (_, missing) = try await ConfigurationLoader.validate(path: "/nonexistent/starling.yaml", environment: [:])
        #expect(missing.first?.reason == "file not found")
        let path = try writeTemp("http: [unclosed\n")
        let (_, broken) = try await ConfigurationLoader.validate(path: path, environment: [:])
        #expect(broken.count == 1)
        #expect(broken.first?.reason.hasPrefix("not valid YAML") == true)
    }

    @Test func mediaAddressesAndPortModes() async throws {
        let path = try writeTemp(
            "media:\n  listenAddress: 0.0.0.0\n  announcedAddresses: [203.0.113.7, '2001:db8::1']\n  portMode: port-range\n")
        let config = try await ConfigurationLoader.load(path: path, environment: [:])
        #expect(config.media.candidateAddresses == ["203.0.113.7", "2001:db8::1"])
        #expect(config.media.portMode == .portRange)
        let fromEnvironment = try await ConfigurationLoader.load(
            path: nil, environment: ["STARLING_MEDIA_ANNOUNCED_ADDRESSES": "198.51.100.1, 198.51.100.2"])
        #expect(fromEnvironment.media.announcedAddresses == ["198.51.100.1", "198.51.100.2"])
        #expect(StarlingConfiguration().media.candidateAddresses == ["127.0.0.1"])
    }

    @Test func mediaMistakesAreReported() async throws {
        let path = try writeTemp(
            "media:\n  listenAddress: 0.0.0.0\n  portMode: ranges\n  portRangeStart: 6000\n  portRangeEnd: 5000\n"
                + "dtls:\n  certificateFile: /etc/cert.pem\n")
        let (_, issues) = try await ConfigurationLoader.validate(path: path, environment: [:])
        #expect(
            Set(issues.map(\.key)) == [
                "media.portMode", "media.portRangeEnd", "media.announcedAddresses", "dtls.privateKeyFile",
            ], "\(issues)")
        let (_, bad) = try await ConfigurationLoader.validate(
            path: nil, environment: ["STARLING_MEDIA_ANNOUNCED_ADDRESSES": "example.com", "STARLING_MEDIA_LISTEN_ADDRESS": "x"])
        #expect(Set(bad.map(\.key)) == ["media.announcedAddresses", "media.listenAddress"], "\(bad)")
    }

    @Test func environmentNamesFollowTheKeys() {
        #expect(ConfigurationLoader.environmentName(for: "http.port") == "STARLING_HTTP_PORT")
        #expect(
            ConfigurationLoader.environmentName(for: "shutdown.gracePeriodSeconds")
                == "STARLING_SHUTDOWN_GRACE_PERIOD_SECONDS")
    }
}
