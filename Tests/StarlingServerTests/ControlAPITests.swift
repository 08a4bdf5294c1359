import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import StarlingWire
import Testing

@testable import StarlingServer

/// The control API (docs/API.md): every method and every error case over `POST /api/<method>`, then
/// JSON-RPC on `/control` with an event subscription while participants on `/rtc` are removed and their room
/// closed, and the participants notice.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ControlAPITests {
    static let apiKey = "test-api-key-0123456789"

    static func start(apiKey: String = apiKey) async throws -> (MediaService, some ApplicationProtocol) {
        try await SignalingTests.start {
            $0.control.apiKey = apiKey
            $0.signaling.maxMessageBytes = 4096
        }
    }

    /// Calls `POST /api/<method>`; returns the status and the JSON body.
    static func call(
        _ client: some TestClientProtocol, _ method: String, _ body: String? = nil, key: String? = apiKey
    ) async throws -> (Int, [String: Any]) {
        var headers = HTTPFields()
        if let key { headers[.authorization] = "Bearer \(key)" }
        return try await client.execute(
            uri: "/api/\(method)", method: .post, headers: headers, body: body.map { ByteBuffer(string: $0) }
        ) { response in
            (response.status.code, SignalingTests.object(String(buffer: response.body)))
        }
    }

    static func code(_ body: [String: Any]) -> String? { (body["error"] as? [String: Any])?["code"] as? String }
    static func result(_ body: [String: Any]) -> [String: Any] { body["result"] as? [String: Any] ?? [:] }

    @Test func everyMethodAndEveryErrorOverHTTP() async throws {
        let (media, app) = try await Self.start()
        try await app.test(.router) { client in
            // Keys.
            #expect(try await Self.call(client, "listRooms", key: nil).0 == 401)
            let (status, wrong) = try await Self.call(client, "listRooms", key: "not-the-key-0123456789")
            #expect(status == 401 && Self.code(wrong) == "unauthorized")

            // createRoom, listRooms, getRoom.
            let (s1, created) = try await Self.call(client, "createRoom", #"{"room":"alpha","maxParticipants":2,"emptyTimeoutSeconds":60}"#)
            #expect(s1 == 200 && Self.result(created)["created"] as? Bool == true)
            let room = Self.result(created)["room"] as? [String: Any]
            #expect(room?["maxParticipants"] as? Int == 2 && room?["emptyTimeoutSeconds"] as? Double == 60)
            let again = try await Self.call(client, "createRoom", #"{"room":"alpha","maxParticipants":3}"#).1
            #expect(Self.result(again)["created"] as? Bool == false)
            let rooms = Self.result(try await Self.call(client, "listRooms").1)["rooms"] as? [[String: Any]]
            #expect(rooms?.map { $0["name"] as? String } == ["alpha"])
            #expect(rooms?.first?["maxParticipants"] as? Int == 3, "createRoom on an existing room changes its options")
            #expect(rooms?.first?["emptyTimeoutSeconds"] as? Double == 60, "and keeps those not given")
            let got = Self.result(try await Self.call(client, "getRoom", #"{"room":"alpha"}"#).1)["room"] as? [String: Any]
            #expect((got?["participants"] as? [Any])?.isEmpty == true && (got?["tracks"] as? [Any])?.isEmpty == true)

            // Participants: two join (in-process), one is muted by the server, one is removed.
            let alpha = try #require(media.existingRoom("alpha"))
            let grants = ParticipantGrants(publish: true, subscribe: true, publishData: true)
            var streams: [AsyncStream<String>] = []
            var ids: [String] = []
            for name in ["ada", "bob"] {
                let (stream, continuation) = AsyncStream<String>.makeStream()
                streams.append(stream)
                ids.append(
                    try await alpha.join(
                        ParticipantIdentity(identity: name, name: name, grants: grants), events: continuation,
                        certificate: media.certificate, candidateAddresses: ["127.0.0.1"]
                    ).participant.id)
            }
            let listed = Self.result(try await Self.call(client, "listParticipants", #"{"room":"alpha"}"#).1)
            #expect((listed["participants"] as? [[String: Any]])?.compactMap { $0["identity"] as? String } == ["ada", "bob"])
            let stats = Self.result(try await Self.call(client, "getStats", #"{"room":"alpha"}"#).1)
            #expect((stats["participants"] as? [Any])?.count == 2 && stats["router"] is [String: Any])
            let one = Self.result(try await Self.call(client, "getStats", #"{"room":"alpha","participantId":"\#(ids[0])"}"#).1)
            #expect((one["participants"] as? [[String: Any]])?.first?["identity"] as? String == "ada")
            #expect(Self.code(try await Self.call(client, "getStats", #"{"room":"alpha","participantId":"PA_99"}"#).1) == "not_found")
            let removed = try await Self.call(client, "removeParticipant", #"{"room":"alpha","identity":"bob"}"#)
            #expect(removed.0 == 200 && Self.result(removed.1)["participantId"] as? String == ids[1])
            var bobSaw: [String] = []
            for await text in streams[1] { bobSaw.append(SignalingTests.object(text)["type"] as? String ?? "") }
            #expect(bobSaw.last == "removed", "bob is told, then its events end (its WebSocket would close): \(bobSaw)")
            #expect(await alpha.participantSummaries.map(\.id) == [ids[0]])

            // Errors of each method.
            let errors: [(String, String, Int, String)] = [
                ("createRoom", "{}", 400, "invalid_params"),
                ("createRoom", #"{"room":""}"#, 400, "invalid_params"),
                ("createRoom", #"{"room":"b","maxParticipants":"two"}"#, 400, "invalid_params"),
                ("createRoom", #"{"room":"b","emptyTimeoutSeconds":0}"#, 400, "invalid_params"),
                ("getRoom", #"{"room":"nope"}"#, 404, "not_found"),
                ("createRoom", #"{"room":"echo-1"}"#, 400, "invalid_params"),
                ("closeRoom", #"{"room":"echo-1"}"#, 400, "invalid_params"),
                ("getRoom", #"{"room":7}"#, 400, "invalid_params"),
                ("listParticipants", "{}", 400, "invalid_params"),
                ("removeParticipant", #"{"room":"alpha"}"#, 400, "invalid_params"),
                ("removeParticipant", #"{"room":"alpha","participantId":"x","identity":"y"}"#, 400, "invalid_params"),
                ("removeParticipant", #"{"room":"alpha","participantId":"PA_99"}"#, 404, "not_found"),
                ("muteTrack", #"{"room":"alpha","trackId":"TR_1"}"#, 400, "invalid_params"),
                ("muteTrack", #"{"room":"alpha","trackId":"TR_1","muted":true}"#, 404, "not_found"),
                ("createToken", #"{"room":"alpha"}"#, 400, "invalid_params"),
                ("createToken", #"{"room":"alpha","identity":"x","ttlSeconds":1}"#, 400, "invalid_params"),
                ("createToken", #"{"room":"alpha","identity":"x","grants":true}"#, 400, "invalid_params"),
                ("getStats", #"{"room":"nope"}"#, 404, "not_found"),
                ("closeRoom", #"{"room":"nope"}"#, 404, "not_found"),
                ("fly", "{}", 404, "method_not_found"),
                ("listRooms", "{nope", 400, "parse_error"),
                ("listRooms", "[1]", 400, "invalid_params"),
                ("listRooms", #"{"pad":"\#(String(repeating: "x", count: 5000))"}"#, 413, "too_large"),
            ]
            for (method, body, status, code) in errors {
                let (s, reply) = try await Self.call(client, method, body)
                #expect(s == status && Self.code(reply) == code, "\(method) \(body.prefix(60)): \(s) \(reply)")
                let message = ((reply["error"] as? [String: Any])?["message"] as? String) ?? ""
                #expect(!message.isEmpty)
            }

            // createToken makes a token /rtc accepts.
            let token = Self.result(
                try await Self.call(
                    client, "createToken", #"{"room":"alpha","identity":"cy","name":"Cy","grants":{"publish":false},"ttlSeconds":60}"#
                ).1)
            let claims = try JSONWebToken.Verifier(secret: Array(SignalingTests.secret.utf8))
                .verify(try #require(token["token"] as? String), now: Int64(Date().timeIntervalSince1970))
            #expect(claims.room == "alpha" && claims.identity == "cy" && !claims.grants.publish && claims.grants.subscribe)

            // closeRoom: the participant left is told.
            #expect(try await Self.call(client, "closeRoom", #"{"room":"alpha"}"#).0 == 200)
            var adaSaw: [String] = []
            for await text in streams[0] { adaSaw.append(SignalingTests.object(text)["type"] as? String ?? "") }
            #expect(adaSaw.contains("participantLeft") && adaSaw.last == "roomClosed", "\(adaSaw)")
            #expect(media.existingRoom("alpha") == nil)
            #expect(Self.result(try await Self.call(client, "listRooms").1)["rooms"] as? [Any] != nil)
        }
        for loop in media.loops { await loop.stop() }

        // With no key configured the API is off.
        let (media2, app2) = try await Self.start(apiKey: "")
        try await app2.test(.router) { client in
            let (s, reply) = try await Self.call(client, "listRooms", key: "")
            #expect(s == 401 && ((reply["error"] as? [String: Any])?["message"] as? String)?.contains("off") == true)
        }
        for loop in media2.loops { await loop.stop() }
    }

    /// JSON-RPC on `/control`: authentication, errors, batches, notifications, and room events while a
    /// participant on `/rtc` is removed and the room is closed; the participants' WebSockets are closed.
    @Test func jsonRPCEventsAndParticipantsNotice() async throws {
        let (media, app) = try await Self.start()
        try await app.test(.live) { client in
            try await client.ws("/control") { inbound, outbound, _ in
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                var notifications: [[String: Any]] = []
                func rpc(_ text: String) async throws -> Any? {
                    try await outbound.write(.text(text))
                    while let message = try await iterator.next() {
                        guard case .text(let t) = message else { continue }
                        let parsed = try JSONSerialization.jsonObject(with: Data(t.utf8))
                        if let o = parsed as? [String: Any], o["method"] as? String == "event" {
                            notifications.append(o["params"] as? [String: Any] ?? [:])
                            continue
                        }
                        return parsed
                    }
                    return nil
                }
                func error(_ reply: Any?) -> (Int?, String?) {
                    let e = (reply as? [String: Any])?["error"] as? [String: Any]
                    return (e?["code"] as? Int, (e?["data"] as? [String: Any])?["code"] as? String)
                }
                // Not authenticated yet (no header): refused; then `authenticate`.
                #expect(error(try await rpc(#"{"jsonrpc":"2.0","id":1,"method":"listRooms"}"#)) == (-32001, "unauthorized"))
                #expect(error(try await rpc(#"{"jsonrpc":"2.0","id":2,"method":"authenticate","params":{"apiKey":"nope"}}"#)).1 == "unauthorized")
                let auth = try await rpc(#"{"jsonrpc":"2.0","id":3,"method":"authenticate","params":{"apiKey":"\#(Self.apiKey)"}}"#)
                #expect(((auth as? [String: Any])?["result"] as? [String: Any])?["authenticated"] as? Bool == true)
                // Protocol errors (JSON-RPC 2.0 §5.1).
                #expect(error(try await rpc("{nope")) == (-32700, "parse_error"))
                #expect(error(try await rpc(#"{"id":4,"method":"listRooms"}"#)) == (-32600, "invalid_request"))
                #expect(error(try await rpc(#"{"jsonrpc":"2.0","id":5,"method":"fly"}"#)) == (-32601, "method_not_found"))
                #expect(error(try await rpc(#"{"jsonrpc":"2.0","id":6,"method":"getRoom","params":{"room":1}}"#)) == (-32602, "invalid_params"))
                #expect(error(try await rpc(#"{"jsonrpc":"2.0","id":7,"method":"getRoom","params":{"room":"x"}}"#)) == (-32004, "not_found"))
                #expect(error(try await rpc(#"{"jsonrpc":"2.0","id":8,"method":"listRooms","params":{"p":"\#(String(repeating: "x", count: 5000))"}}"#)).1 == "too_large")
                // A notification (no id) is not answered; a batch is answered in order.
                let batch = try await rpc(
                    #"[{"jsonrpc":"2.0","method":"listRooms"},{"jsonrpc":"2.0","id":9,"method":"createRoom","params":{"room":"beta"}},{"jsonrpc":"2.0","id":10,"method":"subscribe","params":{"room":"beta"}}]"#)
                let replies = try #require(batch as? [[String: Any]])
                #expect(replies.map { $0["id"] as? Int } == [9, 10])

                // A participant joins over /rtc with a token from createToken; the control API removes it.
                let token = (((try await rpc(#"{"jsonrpc":"2.0","id":11,"method":"createToken","params":{"room":"beta","identity":"ada"}}"#))
                    as? [String: Any])?["result"] as? [String: Any])?["token"] as? String
                let rtcEvents = NIOLockedValueBox<[String]>([])
                let close = try await client.ws("/rtc") { rtcIn, rtcOut, _ in
                    var rtc = rtcIn.messages(maxSize: 1 << 20).makeAsyncIterator()
                    var ignored: [[String: Any]] = []
                    let joined = try await SignalingTests.request(
                        #"{"type":"join","id":1,"token":"\#(token ?? "")"}"#, rtcOut, &rtc, events: &ignored)
                    #expect(joined["type"] as? String == "response")
                    // (Over HTTP: the control socket's reader is busy outside this closure.)
                    let removed = try await Self.call(client, "removeParticipant", #"{"room":"beta","identity":"ada"}"#)
                    #expect(removed.0 == 200)
                    // ada reads `removed`, then the server closes its WebSocket.
                    while let message = try await rtc.next() {
                        if case .text(let t) = message {
                            rtcEvents.withLockedValue { $0.append(SignalingTests.object(t)["type"] as? String ?? "") }
                        }
                    }
                }
                #expect(rtcEvents.withLockedValue { $0 }.last == "removed", "\(rtcEvents.withLockedValue { $0 })")
                #expect(close?.closeCode == .normalClosure)

                // closeRoom while a participant is in: it gets roomClosed and its WebSocket closes.
                let token2 = (((try await rpc(#"{"jsonrpc":"2.0","id":13,"method":"createToken","params":{"room":"beta","identity":"bob"}}"#))
                    as? [String: Any])?["result"] as? [String: Any])?["token"] as? String
                let bobEvents = NIOLockedValueBox<[String]>([])
                try await client.ws("/rtc") { rtcIn, rtcOut, _ in
                    var rtc = rtcIn.messages(maxSize: 1 << 20).makeAsyncIterator()
                    var ignored: [[String: Any]] = []
                    _ = try await SignalingTests.request(#"{"type":"join","id":1,"token":"\#(token2 ?? "")"}"#, rtcOut, &rtc, events: &ignored)
                    #expect(try await Self.call(client, "closeRoom", #"{"room":"beta"}"#).0 == 200)
                    while let message = try await rtc.next() {
                        if case .text(let t) = message {
                            bobEvents.withLockedValue { $0.append(SignalingTests.object(t)["type"] as? String ?? "") }
                        }
                    }
                }
                #expect(bobEvents.withLockedValue { $0 }.last == "roomClosed", "\(bobEvents.withLockedValue { $0 })")
                // The subscription saw it all, in order.
                _ = try await rpc(#"{"jsonrpc":"2.0","id":15,"method":"listRooms"}"#)
                let types = notifications.compactMap { $0["type"] as? String }
                #expect(
                    types == ["participantJoined", "participantLeft", "participantJoined", "roomClosed"],
                    "control events: \(types)")
                #expect(notifications.allSatisfy { $0["room"] as? String == "beta" })
            }
            // The header authenticates at the upgrade.
            var configuration = WebSocketClientConfiguration()
            configuration.additionalHeaders[.authorization] = "Bearer \(Self.apiKey)"
            try await client.ws("/control", configuration: configuration) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"jsonrpc":"2.0","id":1,"method":"listRooms"}"#))
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard case .text(let t)? = try await iterator.next() else { Issue.record("no reply"); return }
                #expect(SignalingTests.object(t)["result"] != nil, "\(t)")
            }
        }
        for loop in media.loops { await loop.stop() }
    }

    /// `GET /dev/token`: only with `auth.devTokens`; form-encoded names (`+` is a space) as the web app sends them.
    @Test func developmentTokens() async throws {
        for devTokens in [true, false] {
            let (media, app) = try await SignalingTests.start { $0.auth.devTokens = devTokens }
            try await app.test(.router) { client in
                let ok = try await client.execute(uri: "/dev/token?room=r1&identity=jd&name=Jane+Doe%2B1", method: .get) {
                    ($0.status.code, SignalingTests.object(String(buffer: $0.body))["token"] as? String)
                }
                guard devTokens else {
                    #expect(ok.0 == 404, "no development tokens unless configured")
                    return
                }
                let claims = try JSONWebToken.Verifier(secret: Array(SignalingTests.secret.utf8))
                    .verify(try #require(ok.1), now: Int64(Date().timeIntervalSince1970))
                #expect(claims.room == "r1" && claims.identity == "jd" && claims.name == "Jane Doe+1")
                for bad in ["/dev/token?room=r1", "/dev/token?identity=x", "/dev/token?room=echo-1&identity=x"] {
                    #expect(try await client.execute(uri: bad, method: .get) { $0.status.code } == 400, "\(bad)")
                }
            }
            for loop in media.loops { await loop.stop() }
        }
    }
}
