import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import StarlingServer

@Suite struct HealthTests {
    @Test func healthzAnswersOK() async throws {
        let app = buildApplication(configuration: StarlingConfiguration(), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains("\"status\":\"ok\""), "\(body)")
            }
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    /// The same application over a real socket on 127.0.0.1.
    @Test func healthzOverLoopback() async throws {
        var configuration = StarlingConfiguration()
        configuration.http.port = 0
        let app = buildApplication(configuration: configuration, logger: Logger(label: "test"))
        try await app.test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }
}
