import Foundation
import NIOCore
import StarlingClient
@testable import StarlingMediaTestSupport
import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// Issue 6 over real sockets, below the WebSocket layer: a publisher renegotiates its connection (a screen
/// track comes and goes, then an ICE restart), a subscriber resumes with an ICE restart of the connection
/// Starling offers, a second join of an identity replaces the first, the room's participant limit, the
/// reconnect window and the empty timeout.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RoomRenegotiationTests {
    typealias Person = RoomParticipantsTests.Person

    @Test func screenShareICERestartResumeAndLimits() async throws {
        let (media, addresses) = try await RoomOverUDPTests.startMedia()
        let room = await media.room("renegotiation")
        let grants = ParticipantGrants(publish: true, subscribe: true, publishData: true)
        let ada = try await Person(name: "ada", ssrcBase: 0xA000)
        let bob = try await Person(name: "bob", ssrcBase: 0xB000)
        var generations: [String: Int] = [:]
        var resumeTokens: [String: String] = [:]
        for p in [ada, bob] {
            let (stream, continuation) = AsyncStream<String>.makeStream()
            p.listen(stream)
            let joined = try await room.join(
                ParticipantIdentity(identity: p.name, name: p.name, grants: grants), events: continuation,
                certificate: media.certificate, candidateAddresses: addresses)
            p.participantID = joined.participant.id
            generations[p.name] = joined.generation
            resumeTokens[p.name] = joined.resumeToken
        }
        let first = try await room.publish(
            ada.participantID, offer: ada.publishing.client.makeOffer(), tracks: [.init(mid: "0", source: .camera)],
            certificate: media.certificate, candidateAddresses: addresses)
        try ada.publishing.client.applyAnswer(first.answer, now: RoomOverUDPTests.now())

        let screen = SimPublisher(node: 0, transport: TransportID(0), ssrcBase: 0xA800, bitrates: [200_000])
        screen.keyframeInterval = .seconds(1)
        var sharing = false
        let people = [ada, bob]
        func run(for duration: Duration) async throws {
            let start = RoomOverUDPTests.now()
            while RoomOverUDPTests.now() - start < duration {
                let now = RoomOverUDPTests.now()
                for p in people {
                    try await p.handleEvents(room: room, certificate: media.certificate, now: now)
                    if p === ada {
                        ada.publishing.drive(ada.publisher, now: now)
                        if sharing, ada.publishing.transport.isConnected { screen.tick(now: now) { ada.publishing.send($0) } }
                    }
                    p.receiveMedia(now: now)
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        func received(by p: Person) -> Int { p.sims.values.reduce(0) { $0 + $1.packets } }

        try await run(for: .seconds(3))
        #expect(bob.sims.values.filter { $0.packets > 0 }.count == 1, "bob receives ada's camera")

        // Screen share: a second m-line on ada's publishing connection, published by a renegotiation.
        ada.publishing.client.addTrack(
            ClientPeer.Track(
                kind: .video, mid: "1", ssrcs: screen.layers.map(\.ssrc), rtxSSRCs: screen.layers.map(\.rtxSSRC),
                payloadType: SimPublisher.payloadType, rtxPayloadType: SimPublisher.rtxPayloadType, direction: .send))
        let shared = try await room.publish(
            ada.participantID, offer: ada.publishing.client.makeOffer(),
            tracks: [.init(mid: "0", source: .camera), .init(mid: "1", source: .screen, name: "screen")],
            certificate: media.certificate, candidateAddresses: addresses)
        try ada.publishing.client.applyAnswer(shared.answer, now: RoomOverUDPTests.now())
        #expect(shared.tracks.map(\.source) == ["camera", "screen"] && shared.tracks.map(\.mid) == ["0", "1"])
        let answer = try SessionDescription(parsing: shared.answer)
        #expect(answer.origin.sessionVersion == 2, "a subsequent answer raises the version (RFC 3264 §8)")
        sharing = true
        try await run(for: .seconds(3))
        let screenTrack = try #require(bob.received("trackPublished").compactMap { $0["track"] as? [String: Any] }.first {
            $0["source"] as? String == "screen"
        })
        #expect(bob.sims.values.filter { $0.packets > 0 }.count == 2, "bob receives the camera and the screen")
        let screenMid = try #require(
            bob.received("subscriberOffer").last.flatMap { $0["mids"] as? [String: String] }?.first {
                $0.value == screenTrack["id"] as? String
            }?.key)
        let screenStream = try #require(bob.sims[screenMid])
        let c = screenStream.completeness(after: Instant(nanoseconds: 0))
        #expect(c.complete >= 30 && c.complete * 100 >= c.frames * 95, "screen frames at bob: \(c)")

        // Stop sharing: the m-line goes inactive, the track is unpublished, bob's line for it goes inactive.
        sharing = false
        ada.publishing.client.setDirection(.inactive, mid: "1")
        let stopped = try await room.publish(
            ada.participantID, offer: ada.publishing.client.makeOffer(), tracks: [.init(mid: "0", source: .camera)],
            certificate: media.certificate, candidateAddresses: addresses)
        try ada.publishing.client.applyAnswer(stopped.answer, now: RoomOverUDPTests.now())
        #expect(stopped.tracks.map(\.source) == ["camera"])
        try await run(for: .milliseconds(500))
        #expect(bob.received("trackUnpublished").first?["trackId"] as? String == screenTrack["id"] as? String)
        #expect(bob.receiving.client.receivedStreams.count == 1)

        // ICE restart of ada's publishing connection: new credentials both ways, media goes on.
        let ufragBefore = try #require(SessionDescription(parsing: stopped.answer).media.first?.iceUfrag)
        ada.publishing.client.restartICE()
        let restarted = try await room.publish(
            ada.participantID, offer: ada.publishing.client.makeOffer(), tracks: [.init(mid: "0", source: .camera)],
            certificate: media.certificate, candidateAddresses: addresses)
        try ada.publishing.client.applyAnswer(restarted.answer, now: RoomOverUDPTests.now())
        let ufragAfter = try #require(SessionDescription(parsing: restarted.answer).media.first?.iceUfrag)
        #expect(ufragAfter != ufragBefore, "an ICE restart answer has new credentials (RFC 8445 §9)")
        let beforeRestart = received(by: bob)
        try await run(for: .seconds(3))
        #expect(received(by: bob) > beforeRestart + 100, "media flows after ada's ICE restart")
        #expect(ada.publishing.transport.isConnected)

        // bob's signaling drops and it resumes: same participant, an ICE-restart offer for its subscribing
        // connection, media goes on.
        let (stream2, continuation2) = AsyncStream<String>.makeStream()
        bob.listen(stream2)
        let resumed = try await room.join(
            ParticipantIdentity(identity: "bob", name: "bob", grants: grants), resume: resumeTokens["bob"], events: continuation2,
            certificate: media.certificate, candidateAddresses: addresses)
        #expect(resumed.resumed && resumed.participant.id == bob.participantID)
        #expect(resumed.generation == generations["bob"]! + 1)
        let offersBefore = bob.received("subscriberOffer").count
        let beforeResume = received(by: bob)
        try await run(for: .seconds(3))
        let restartOffer = try #require(bob.received("subscriberOffer").dropFirst(offersBefore).first?["sdp"] as? String)
        let previousOffer = try #require(bob.received("subscriberOffer")[offersBefore - 1]["sdp"] as? String)
        #expect(
            try SessionDescription(parsing: restartOffer).media.first { !$0.isRejected }?.iceUfrag
                != SessionDescription(parsing: previousOffer).media.first { !$0.isRejected }?.iceUfrag)
        #expect(received(by: bob) > beforeResume + 100, "media flows after bob's subscriber ICE restart")
        // The old connection's end changes nothing now.
        await room.disconnected(bob.participantID, generation: generations["bob"]!, window: .zero)
        #expect(await room.participantSummaries.count == 2)

        // A new join of identity "bob" without reconnect replaces it.
        let (stream3, continuation3) = AsyncStream<String>.makeStream()
        let replacement = try await room.join(
            ParticipantIdentity(identity: "bob", name: "Bob 2", grants: grants), events: continuation3,
            certificate: media.certificate, candidateAddresses: addresses)
        _ = stream3
        try await run(for: .milliseconds(200))
        #expect(bob.received("removed").first?["reason"] as? String == "duplicate_identity")
        #expect(ada.received("participantLeft").last?["participantId"] as? String == bob.participantID)
        #expect(replacement.participant.id != bob.participantID && !replacement.resumed)

        // The participant limit.
        await room.setOptions(RoomOptions(maxParticipants: 2, emptyTimeout: .milliseconds(300)))
        await #expect(throws: Room.RoomError.self) {
            try await room.join(
                ParticipantIdentity(identity: "cy", name: "cy", grants: grants), events: AsyncStream<String>.makeStream().continuation,
                certificate: media.certificate, candidateAddresses: addresses)
        }

        // The reconnect window: ada's signaling drops and it does not come back; it leaves when the window ends.
        await room.disconnected(ada.participantID, generation: generations["ada"]!, window: .milliseconds(200))
        #expect(await room.participantSummaries.count == 2, "ada waits out the window")
        try await Task.sleep(for: .milliseconds(400))
        #expect(await room.participantSummaries.map(\.id) == [replacement.participant.id])

        // The empty timeout closes the room once nobody is left.
        await room.leave(replacement.participant.id, reason: "left")
        #expect(await !room.isClosed)
        try await Task.sleep(for: .milliseconds(600))
        #expect(await room.isClosed)
        #expect(media.existingRoom("renegotiation") == nil, "the registry forgot the closed room")

        for p in people {
            p.task?.cancel()
            try await p.publishing.channel.close()
            try await p.receiving.channel.close()
        }
        for loop in media.loops { await loop.stop() }
    }
}
