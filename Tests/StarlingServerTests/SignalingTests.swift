import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import NIOPosix
import StarlingClient
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// `/rtc` over a real WebSocket on 127.0.0.1 (Hummingbird's live test client): joining with a token,
/// publishing, the events others get, and every kind of bad input answered with an error while the
/// connection stays up.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SignalingTests {
    static let secret = "a-test-secret-of-at-least-32-bytes!!"

    static func token(room: String = "r1", identity: String, expiresIn: Int64 = 3600, secret: String = secret) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        return try JSONWebToken.sign(
            claims: .init(room: room, identity: identity, name: identity.capitalized, grants: .all, expiresAt: now + expiresIn),
            secret: Array(secret.utf8))
    }

    /// A server for these tests: free ports on 127.0.0.1, one media loop, the test secret; `adjust` sets the rest.
    static func start(_ adjust: (inout StarlingConfiguration) -> Void = { _ in }) async throws
        -> (MediaService, some ApplicationProtocol)
    {
        var configuration = StarlingConfiguration()
        configuration.http.port = 0
        configuration.media.udpPort = 0
        configuration.media.tcpPort = 0
        configuration.media.eventLoops = 1
        configuration.auth.jwtSecret = secret
        adjust(&configuration)
        let media = try await MediaService.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        return (media, buildApplication(configuration: configuration, logger: Logger(label: "test"), media: media))
    }

    static func object(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    /// Sends `text` and returns the reply (a `response` or `error`), skipping events (collected in `events`).
    static func request(
        _ text: String, _ outbound: WebSocketOutboundWriter, _ inbound: inout WebSocketInboundMessageStream.AsyncIterator,
        events: inout [[String: Any]]
    ) async throws -> [String: Any] {
        try await outbound.write(.text(text))
        while let message = try await inbound.next() {
            guard case .text(let t) = message else { continue }
            let o = object(t)
            if o["type"] as? String == "response" || o["type"] as? String == "error" { return o }
            events.append(o)
        }
        return [:]
    }

    static func code(_ reply: [String: Any]) -> String? { (reply["error"] as? [String: Any])?["code"] as? String }

    /// The join response carries the configured TURN servers with REST credentials for the identity; none
    /// when TURN is not configured.
    @Test func joinResponseCarriesTURNServers() async throws {
        for configured in [true, false] {
            let (_, app) = try await Self.start {
                if configured {
                    $0.turn.urls = ["turn:10.0.0.1:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"]
                    $0.turn.secret = "coturn-shared-secret"
                    $0.turn.credentialSeconds = 600
                }
            }
            _ = try await app.test(.live) { client in
                try await client.ws("/rtc") { inbound, outbound, _ in
                    var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    var events: [[String: Any]] = []
                    let before = Int64(Date().timeIntervalSince1970)
                    let joined = try await Self.request(
                        #"{"type":"join","id":1,"token":"\#(try Self.token(identity: "ada"))"}"#, outbound, &iterator, events: &events)
                    let servers = try #require((joined["result"] as? [String: Any])?["iceServers"] as? [[String: Any]])
                    guard configured else {
                        #expect(servers.isEmpty)
                        return
                    }
                    let server = try #require(servers.first)
                    #expect(server["urls"] as? [String] == ["turn:10.0.0.1:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"])
                    let username = try #require(server["username"] as? String)
                    let expiry = try #require(Int64(username.split(separator: ":").first ?? ""))
                    #expect(username.hasSuffix(":ada") && (before + 600...before + 602).contains(expiry))
                    #expect(
                        server["credential"] as? String
                            == TURNCredentials(secret: Array("coturn-shared-secret".utf8), user: "ada", expiresAt: expiry).password)
                }
            }
        }
    }

    @Test func joinPublishAndBadInput() async throws {
        let (media, app) = try await Self.start { $0.signaling.maxMessageBytes = 16 * 1024 }
        let publisherOffer = ClientPeer(
            tracks: [ClientPeer.Track(kind: .video, mid: "0", ssrcs: [1234], payloadType: 96, direction: .send)],
            certificate: try DTLSCertificate(generatingWithCommonName: "c")
        ).makeOffer()

        _ = try await app.test(.live) { client in
            try await client.ws("/rtc") { inbound, outbound, _ in
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                var events: [[String: Any]] = []
                // Before joining: ping works, anything else is refused.
                let pong = try await Self.request(#"{"type":"ping","id":1}"#, outbound, &iterator, events: &events)
                #expect(pong["type"] as? String == "response" && pong["id"] as? Int == 1)
                let early = try await Self.request(#"{"type":"leave","id":2}"#, outbound, &iterator, events: &events)
                #expect(Self.code(early) == "unauthenticated" && early["id"] as? Int == 2)
                // Bad input, one of each; the connection stays up.
                #expect(Self.code(try await Self.request("{nope", outbound, &iterator, events: &events)) == "bad_json")
                #expect(Self.code(try await Self.request(#"{"type":"fly","id":3}"#, outbound, &iterator, events: &events)) == "unknown_type")
                #expect(Self.code(try await Self.request(#"{"type":"mute","id":4,"trackId":"x"}"#, outbound, &iterator, events: &events)) == "invalid_field")
                let big = #"{"type":"ping","id":5,"pad":"\#(String(repeating: "x", count: 20_000))"}"#
                #expect(Self.code(try await Self.request(big, outbound, &iterator, events: &events)) == "too_large")
                // Tokens: forged, expired.
                let forged = try Self.token(identity: "eve", secret: "another-secret-that-is-32-bytes-long!")
                let forgedReply = try await Self.request(#"{"type":"join","id":6,"token":"\#(forged)"}"#, outbound, &iterator, events: &events)
                #expect(Self.code(forgedReply) == "unauthenticated")
                let expired = try Self.token(identity: "old", expiresIn: -3600)
                #expect(Self.code(try await Self.request(#"{"type":"join","id":7,"token":"\#(expired)"}"#, outbound, &iterator, events: &events)) == "token_expired")
                // A token for another room than the one asked for.
                let elsewhere = try Self.token(room: "r2", identity: "ada")
                let wrongRoom = try await Self.request(
                    #"{"type":"join","id":71,"room":"r1","token":"\#(elsewhere)"}"#, outbound, &iterator, events: &events)
                #expect(Self.code(wrongRoom) == "wrong_room" && wrongRoom["id"] as? Int == 71)
                // A good join, then publishing: a bad SDP, one without a codec we forward, then a real offer.
                let joined = try await Self.request(#"{"type":"join","id":8,"token":"\#(try Self.token(identity: "ada"))"}"#, outbound, &iterator, events: &events)
                let participant = (joined["result"] as? [String: Any])?["participant"] as? [String: Any]
                #expect(participant?["identity"] as? String == "ada", "\(joined)")
                #expect(Self.code(try await Self.request(#"{"type":"publish","id":9,"sdp":"garbage","tracks":[]}"#, outbound, &iterator, events: &events)) == "bad_sdp")
                let pcmu = publisherOffer.replacingOccurrences(of: "VP8/90000", with: "PCMU/8000").replacingOccurrences(of: "m=video", with: "m=audio")
                let noCodec = try await Self.request(
                    String(data: try JSONSerialization.data(withJSONObject: ["type": "publish", "id": 10, "sdp": pcmu, "tracks": []]), encoding: .utf8)!,
                    outbound, &iterator, events: &events)
                #expect(Self.code(noCodec) == "no_codec", "\(noCodec)")
                let publish = try await Self.request(
                    String(data: try JSONSerialization.data(withJSONObject: [
                        "type": "publish", "id": 11, "sdp": publisherOffer, "tracks": [["mid": "0", "source": "camera"]],
                    ]), encoding: .utf8)!,
                    outbound, &iterator, events: &events)
                let result = publish["result"] as? [String: Any]
                #expect((result?["sdp"] as? String)?.contains("a=ice-lite") == true, "\(publish)")
                #expect((result?["tracks"] as? [[String: Any]])?.first?["source"] as? String == "camera")
                // A second participant joins on its own connection: it is offered ada's camera, ada hears of it.
                try await client.ws("/rtc") { inbound2, outbound2, _ in
                    var iterator2 = inbound2.messages(maxSize: 1 << 20).makeAsyncIterator()
                    var events2: [[String: Any]] = []
                    let joined2 = try await Self.request(#"{"type":"join","id":"b1","token":"\#(try Self.token(identity: "bob"))"}"#, outbound2, &iterator2, events: &events2)
                    let tracks = (joined2["result"] as? [String: Any])?["tracks"] as? [[String: Any]]
                    #expect(tracks?.count == 1 && joined2["id"] as? String == "b1")
                    // The subscriber offer follows the join response (never before it).
                    #expect(events2.isEmpty, "no event before the join response")
                    var offer: [String: Any]? = events2.first { $0["type"] as? String == "subscriberOffer" }
                    while offer == nil, let message = try await iterator2.next() {
                        if case .text(let t) = message, Self.object(t)["type"] as? String == "subscriberOffer" { offer = Self.object(t) }
                    }
                    #expect((offer?["sdp"] as? String)?.contains("a=sendonly") == true)
                    // leave is answered, then the server closes the connection.
                    let left = try await Self.request(#"{"type":"leave","id":"b2"}"#, outbound2, &iterator2, events: &events2)
                    #expect(left["type"] as? String == "response" && left["id"] as? String == "b2", "\(left)")
                    let t0 = ContinuousClock.now
                    while let message = try await iterator2.next() { Issue.record("after leave: \(message)") }
                    #expect(ContinuousClock.now - t0 < .seconds(2), "the server closes at once after answering leave")
                }
                let ping = try await Self.request(#"{"type":"ping","id":12}"#, outbound, &iterator, events: &events)
                #expect(ping["type"] as? String == "response")
                #expect(events.contains { $0["type"] as? String == "participantJoined" })
                #expect(events.contains { $0["type"] as? String == "participantLeft" })
            }
        }
        for loop in media.loops { await loop.stop() }
    }

    /// The grants and the room limit over the socket: publishing without the publish grant is `forbidden`; a
    /// join past `rooms.maxParticipants` is `room_full`; both connections stay up.
    @Test func grantsAndRoomLimit() async throws {
        let (media, app) = try await Self.start { $0.rooms.maxParticipants = 1 }
        let now = Int64(Date().timeIntervalSince1970)
        let viewer = try JSONWebToken.sign(
            claims: .init(
                room: "limits", identity: "viewer", name: nil, grants: .init(publish: false, subscribe: true), expiresAt: now + 60),
            secret: Array(Self.secret.utf8))
        let offer = ClientPeer(
            tracks: [ClientPeer.Track(kind: .video, mid: "0", ssrcs: [99], payloadType: 96, direction: .send)],
            certificate: try DTLSCertificate(generatingWithCommonName: "c")
        ).makeOffer()
        _ = try await app.test(.live) { client in
            try await client.ws("/rtc") { inbound, outbound, _ in
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                var events: [[String: Any]] = []
                let joined = try await Self.request(#"{"type":"join","id":1,"token":"\#(viewer)"}"#, outbound, &iterator, events: &events)
                #expect(joined["type"] as? String == "response")
                let publish = String(
                    data: try JSONSerialization.data(withJSONObject: ["type": "publish", "id": 2, "sdp": offer, "tracks": []]),
                    encoding: .utf8)!
                #expect(Self.code(try await Self.request(publish, outbound, &iterator, events: &events)) == "forbidden")
                try await client.ws("/rtc") { inbound2, outbound2, _ in
                    var iterator2 = inbound2.messages(maxSize: 1 << 20).makeAsyncIterator()
                    var events2: [[String: Any]] = []
                    let full = try await Self.request(
                        #"{"type":"join","id":1,"token":"\#(try Self.token(room: "limits", identity: "late"))"}"#, outbound2, &iterator2,
                        events: &events2)
                    #expect(Self.code(full) == "room_full", "\(full)")
                    let pong = try await Self.request(#"{"type":"ping","id":2}"#, outbound2, &iterator2, events: &events2)
                    #expect(pong["type"] as? String == "response")
                }
                let pong = try await Self.request(#"{"type":"ping","id":3}"#, outbound, &iterator, events: &events)
                #expect(pong["type"] as? String == "response")
            }
        }
        for loop in media.loops { await loop.stop() }
    }
}
