import Foundation
import StarlingAPI
import StarlingClient
import StarlingWire

/// How the load tool talks to an SFU: the same publishers and subscribers run against Starling (/rtc) and
/// Janus (VideoRoom), so both carry the same workload.
public protocol SFUAdapter: Sendable {
    /// "starling" or "janus".
    var kind: String { get }
    /// Creates what the rooms need before anyone joins.
    func prepare(rooms: [String]) async throws
    /// Joins `identity` to `room` (signaling only; media goes through the session's offers and answers).
    func join(room: String, identity: String) async throws -> any SFUSession
    /// Removes what `prepare` created.
    func finish(rooms: [String]) async
}

public protocol SFUSession: Sendable {
    /// Sends our publishing offer (video in simulcast, audio); returns the SFU's answer.
    func publish(offer: String) async throws -> String
    /// Starts receiving `publishers`' media: each offer the SFU makes is turned into an answer by `answer`.
    func subscribe(to publishers: [String], answer: @escaping @Sendable (String) async throws -> String) async throws
    func leave() async
}

/// A failure that ends the run with a clear message and a non-zero exit.
public struct LoadFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Starling's participant protocol on /rtc (docs/PROTOCOL.md), with tokens signed by the load tool from
/// the server's JWT secret or asked of the control API.
public struct StarlingAdapter: SFUAdapter {
    public enum Tokens: Sendable {
        case secret(String)
        case controlAPI(apiKey: String)
    }

    public let kind = "starling"
    /// http://host:port of the server.
    let base: URL
    let tokens: Tokens
    /// With `.controlAPI`: one control connection asks for every participant's token.
    private let control: ControlTokens?

    public init(server: String, tokens: Tokens) throws {
        guard let url = URL(string: server), let scheme = url.scheme, scheme == "http" || scheme == "ws", url.host != nil else {
            throw LoadFailure("the Starling server must be given as http://host:port (got \(server))")
        }
        base = url
        self.tokens = tokens
        if case .controlAPI(let apiKey) = tokens {
            control = ControlTokens(url: "ws://\(url.host ?? "127.0.0.1"):\(url.port ?? 8080)/control", apiKey: apiKey)
        } else {
            control = nil
        }
    }

    private func websocketURL(_ path: String) -> String {
        "ws://\(base.host ?? "127.0.0.1"):\(base.port ?? 8080)\(path)"
    }

    public func prepare(rooms: [String]) async throws {}
    public func finish(rooms: [String]) async { await control?.close() }

    func token(room: String, identity: String) async throws -> String {
        switch tokens {
        case .secret(let secret):
            let now = Int64(Date().timeIntervalSince1970)
            let claims = JSONWebToken.Claims(
                room: room, identity: identity, grants: .all, expiresAt: now + 3600, issuedAt: now)
            return try JSONWebToken.sign(claims: claims, secret: Array(secret.utf8))
        case .controlAPI:
            guard let control else { throw LoadFailure("no control API connection") }
            return try await control.token(room: room, identity: identity)
        }
    }

    public func join(room: String, identity: String) async throws -> any SFUSession {
        let token = try await token(room: room, identity: identity)
        let client: RTCClient
        do {
            client = try await RTCClient.connect(url: websocketURL("/rtc"))
        } catch {
            throw LoadFailure("cannot connect to Starling at \(websocketURL("/rtc")): \(error)")
        }
        do {
            _ = try await client.join(token: token)
        } catch let failure as RTCClient.Failure {
            client.close()
            throw LoadFailure("Starling refused \(identity)'s join: \(failure)")
        }
        return StarlingSession(client: client)
    }
}

/// The control API connection that asks Starling for join tokens, opened on first use and kept for the run.
actor ControlTokens {
    let url: String
    let apiKey: String
    private var client: ControlClient?

    init(url: String, apiKey: String) {
        self.url = url
        self.apiKey = apiKey
    }

    func token(room: String, identity: String) async throws -> String {
        if client == nil {
            do {
                client = try await ControlClient.connect(url: url, apiKey: apiKey)
            } catch {
                throw LoadFailure("cannot reach Starling's control API at \(url): \(error)")
            }
        }
        guard let client else { throw LoadFailure("no control API connection") }
        return try await client.createToken(room: room, identity: identity)
    }

    func close() {
        client?.close()
        client = nil
    }
}

final class StarlingSession: SFUSession, @unchecked Sendable {
    let client: RTCClient
    private var offers: Task<Void, Never>?

    init(client: RTCClient) { self.client = client }

    func publish(offer: String) async throws -> String {
        try await client.publish(offer: offer, tracks: [(PublisherMedia.videoMid, "camera"), (PublisherMedia.audioMid, "microphone")])
            .answer
    }

    /// Starling offers every track in the room to every participant: answer each `subscriberOffer`.
    func subscribe(to publishers: [String], answer: @escaping @Sendable (String) async throws -> String) async throws {
        let client = self.client
        offers = Task {
            for await event in client.events where event["type"]?.string == "subscriberOffer" {
                guard let sdp = event["sdp"]?.string else { continue }
                do {
                    try await client.subscriberAnswer(sdp: try await answer(sdp), revision: event["revision"]?.int ?? 0)
                } catch {
                    if Task.isCancelled { return }
                    FileHandle.standardError.write(Data("starling-load: a subscriber offer failed: \(error)\n".utf8))
                }
            }
        }
    }

    func leave() async {
        offers?.cancel()
        try? await client.leave()
        client.close()
    }
}
