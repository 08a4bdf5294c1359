import Foundation
import Hummingbird
import HummingbirdTesting
import StarlingAPI
import StarlingClient
import StarlingTransport
import Testing

@testable import StarlingServer

/// StarlingClient's Swift clients of `/rtc` (RTCClient) and `/control` (ControlClient) against a live server:
/// an application creates a room and tokens, two participants join and one publishes, the other answers the
/// server's offer; the application mutes the track, removes a participant and closes the room, and each side
/// sees what it should.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SwiftClientsTests {
    static func collect(_ events: AsyncStream<JSONValue>, until type: String) async -> [String] {
        var types: [String] = []
        for await event in events {
            types.append(event["type"]?.string ?? "?")
            if types.last == type { break }
        }
        return types
    }

    @Test func rtcAndControlClients() async throws {
        let (media, app) = try await ControlAPITests.start()
        try await app.test(.live) { client in
            let base = "ws://127.0.0.1:\(client.port!)"
            let control = try await ControlClient.connect(url: "\(base)/control", apiKey: ControlAPITests.apiKey)
            let created = try await control.createRoom("swift", maxParticipants: 4)
            #expect(created["created"]?.bool == true)
            try await control.subscribe(room: "swift")

            let ada = try await RTCClient.connect(url: "\(base)/rtc")
            let bob = try await RTCClient.connect(url: "\(base)/rtc")
            let adaJoin = try await ada.join(token: try await control.createToken(room: "swift", identity: "ada", name: "Ada"))
            #expect(adaJoin["participant"]?["name"]?.string == "Ada")
            let bobJoin = try await bob.join(token: try await control.createToken(room: "swift", identity: "bob"))
            #expect(bobJoin["participants"]?.array?.count == 1)

            // ada publishes a camera; bob is offered it and answers.
            let certificate = try DTLSCertificate(generatingWithCommonName: "swift-client")
            let publishing = ClientPeer(
                tracks: [ClientPeer.Track(kind: .video, mid: "0", ssrcs: [0x5157], payloadType: 96, direction: .send)],
                certificate: certificate)
            let (answer, tracks) = try await ada.publish(offer: publishing.makeOffer(), tracks: [("0", "camera")])
            try publishing.applyAnswer(answer, now: Instant(nanoseconds: 0))
            let trackID = try #require(tracks.first?["id"]?.string)
            let receiving = ClientPeer(tracks: [], certificate: certificate)
            // Offers are answered in turn (the first may carry only the data channel line, which this client
            // rejects) until one carries the camera.
            var offered: JSONValue?
            for await event in bob.events where event["type"]?.string == "subscriberOffer" {
                try await bob.subscriberAnswer(
                    sdp: try receiving.answer(offer: event["sdp"]?.string ?? "", now: Instant(nanoseconds: 0)),
                    revision: event["revision"]?.int ?? 0)
                if event["mids"]?.object?.values.contains(.string(trackID)) == true {
                    offered = event
                    break
                }
            }
            _ = try #require(offered)
            #expect(receiving.receivedStreams.count == 1)

            // Errors come back typed.
            await #expect(throws: RTCClient.Failure(code: "not_found", message: "no track TR_99 of yours")) {
                try await ada.mute(trackID: "TR_99", muted: true)
            }
            await #expect(throws: ControlClient.Failure.self) { try await control.getRoom("nope") }

            // The application's view, then a server mute, a removal and the room's end.
            #expect(try await control.listParticipants("swift").count == 2)
            let stats = try await control.getStats("swift", participantID: adaJoin["participant"]?["id"]?.string)
            #expect(stats["participants"]?.array?.first?["published"]?.array?.first?["trackId"]?.string == trackID)
            try await control.muteTrack("swift", trackID: trackID, muted: true)
            let adaSaw = await Self.collect(ada.events, until: "trackMuted")
            #expect(adaSaw.last == "trackMuted")
            try await control.removeParticipant("swift", identity: "bob")
            let bobSaw = await Self.collect(bob.events, until: "never")
            #expect(bobSaw.contains("trackMuted") && bobSaw.last == "removed", "bob: \(bobSaw)")
            try await control.closeRoom("swift")
            let adaRest = await Self.collect(ada.events, until: "never")
            #expect(adaRest.last == "roomClosed", "ada: \(adaRest)")
            var roomEvents: [String] = []
            for await event in control.events {
                roomEvents.append(event["type"]?.string ?? "?")
                if roomEvents.last == "roomClosed" { break }
            }
            #expect(
                roomEvents == [
                    "participantJoined", "participantJoined", "trackPublished", "trackMuted", "participantLeft", "trackUnpublished",
                    "roomClosed",
                ], "\(roomEvents)")
            control.close()
        }
        for loop in media.loops { await loop.stop() }
    }
}
