import Foundation
import Logging
import NIOPosix
import Testing

@testable import StarlingServer

/// Only the client that joined can resume its participant, and a resume takes the new token's grants.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ResumeTests {
    static func events() -> (AsyncStream<String>, AsyncStream<String>.Continuation) {
        AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1024))
    }

    @Test func resumeNeedsTheResumeTokenAndTakesTheNewGrants() async throws {
        let (media, addresses) = try await RoomOverUDPTests.startMedia()
        let room = await media.room("resume")
        let all = ParticipantGrants(publish: true, subscribe: true, publishData: true)
        let (firstEvents, first) = Self.events()
        let joined = try await room.join(
            ParticipantIdentity(identity: "ada", name: "Ada", grants: all), events: first, certificate: media.certificate,
            candidateAddresses: addresses)
        #expect(!joined.resumed && !joined.resumeToken.isEmpty)

        // `reconnect` with a wrong resume token is a new join: the participant that was there is replaced.
        let (_, second) = Self.events()
        let intruder = try await room.join(
            ParticipantIdentity(identity: "ada", name: "Ada", grants: all), resume: "not-the-token", events: second,
            certificate: media.certificate, candidateAddresses: addresses)
        #expect(!intruder.resumed && intruder.participant.id != joined.participant.id)
        var removed = false
        for await text in firstEvents where text.contains("\"removed\"") {
            removed = text.contains("duplicate_identity")
            break
        }
        #expect(removed, "the replaced participant is told why")

        // With the right token it resumes, under the grants of the token it presents now.
        let (_, third) = Self.events()
        let readOnly = ParticipantGrants(publish: false, subscribe: true, publishData: false)
        let resumed = try await room.join(
            ParticipantIdentity(identity: "ada", name: "Ada", grants: readOnly), resume: intruder.resumeToken, events: third,
            certificate: media.certificate, candidateAddresses: addresses)
        #expect(resumed.resumed && resumed.participant.id == intruder.participant.id)
        #expect(resumed.resumeToken != intruder.resumeToken, "each resume hands out a new token")
        await #expect(throws: Room.RoomError.self) {
            _ = try await room.publish(
                resumed.participant.id, offer: OfferChecksTests.head, tracks: [], certificate: media.certificate,
                candidateAddresses: addresses)
        }
        await media.closeRoom("resume")
        for loop in media.loops { await loop.stop() }
    }

    /// Rooms are bounded too (`limits.rooms`): one more is refused, an existing one still opens, and a closed
    /// one frees its place.
    @Test func roomsAreBounded() async throws {
        var configuration = StarlingConfiguration()
        configuration.media.udpPort = 0
        configuration.media.tcpPort = 0
        configuration.media.eventLoops = 1
        configuration.limits.rooms = 2
        let media = try await MediaService.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        _ = try await media.openRoom("one")
        _ = try await media.openRoom("two")
        await #expect(throws: MediaService.RoomLimitReached.self) { _ = try await media.openRoom("three") }
        #expect(try await !media.openRoom("two").created)
        await media.closeRoom("one")
        #expect(try await media.openRoom("three").created)
        for id in ["two", "three"] { await media.closeRoom(id) }
        for loop in media.loops { await loop.stop() }
    }
}
