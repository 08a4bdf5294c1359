import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import StarlingClient
@testable import StarlingMediaTestSupport
import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// Issue 6's room model over real sockets, below the WebSocket layer: three participants join, each
/// publishes a camera on a connection it offers and receives the other two on the connection Starling
/// offers (renegotiated as tracks arrive); then one leaves and the others are told and stop receiving it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RoomParticipantsTests {
    typealias Peer = RoomOverUDPTests.UDPPeer

    final class Person: @unchecked Sendable {
        let name: String
        let inbox = NIOLockedValueBox<[[String: Any]]>([])
        var participantID = ""
        var publisher: SimPublisher
        var publishing: Peer
        var receiving: Peer
        var sims: [String: SimSubscriber] = [:]
        var packetsBySSRC: [UInt32: Int] = [:]
        var events: [[String: Any]] = []
        var task: Task<Void, Never>?

        init(name: String, ssrcBase: UInt32) async throws {
            self.name = name
            publisher = SimPublisher(node: 0, transport: TransportID(0), ssrcBase: ssrcBase, bitrates: [300_000])
            publisher.keyframeInterval = .seconds(1)
            publishing = try await RoomOverUDPTests.makePeer(tracks: [
                ClientPeer.Track(
                    kind: .video, mid: "0", ssrcs: publisher.layers.map(\.ssrc), rtxSSRCs: publisher.layers.map(\.rtxSSRC),
                    payloadType: SimPublisher.payloadType, rtxPayloadType: SimPublisher.rtxPayloadType, direction: .send)
            ])
            receiving = try await RoomOverUDPTests.makePeer(tracks: [])
        }

        func listen(_ stream: AsyncStream<String>) {
            let inbox = self.inbox
            task = Task {
                for await text in stream {
                    if let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
                        inbox.withLockedValue { $0.append(o) }
                    }
                }
            }
        }

        func received(_ type: String) -> [[String: Any]] { events.filter { $0["type"] as? String == type } }

        /// Takes its new events: answers each subscriber offer (and follows the streams it announces).
        func handleEvents(room: Room, certificate: DTLSCertificate, now: Instant) async throws {
            for event in inbox.withLockedValue({ v in defer { v.removeAll() }; return v }) {
                events.append(event)
                guard event["type"] as? String == "subscriberOffer", let sdp = event["sdp"] as? String else { continue }
                let answer = try receiving.client.answer(offer: sdp, now: now)
                try await room.answerSubscriber(participantID, sdp: answer, certificate: certificate)
                for (mid, stream) in receiving.client.receivedStreams where sims[mid]?.ssrc != stream.ssrc {
                    sims[mid] = SimSubscriber(node: 1, transport: TransportID(0), ssrc: stream.ssrc, rtxSSRC: stream.rtxSSRC ?? 0)
                }
            }
        }

        /// Reads what its subscribing connection receives, once that exists.
        func receiveMedia(now: Instant) {
            if receiving.client.transport != nil { receiving.receive(into: sims, now: now, counting: &packetsBySSRC) }
        }
    }

    @Test func threeParticipantsSeeEachOtherAndOneLeaves() async throws {
        let (media, addresses) = try await RoomOverUDPTests.startMedia()
        let room = await media.room("conference")
        let grants = ParticipantGrants(publish: true, subscribe: true, publishData: true)

        var people: [Person] = []
        for (i, name) in ["ada", "bob", "cy"].enumerated() {
            let person = try await Person(name: name, ssrcBase: 0x9000 + UInt32(i) * 0x100)
            let (stream, continuation) = AsyncStream<String>.makeStream()
            person.listen(stream)
            let joined = try await room.join(
                ParticipantIdentity(identity: name, name: name.capitalized, grants: grants), events: continuation,
                certificate: media.certificate, candidateAddresses: addresses)
            person.participantID = joined.participant.id
            #expect(joined.participants.count == i, "\(name) sees those who joined before")
            let (answer, tracks) = try await room.publish(
                person.participantID, offer: person.publishing.client.makeOffer(),
                tracks: [.init(mid: "0", source: .camera, name: "\(name)'s camera")],
                certificate: media.certificate, candidateAddresses: addresses)
            try person.publishing.client.applyAnswer(answer, now: RoomOverUDPTests.now())
            #expect(tracks.count == 1 && tracks.first?.source == "camera")
            people.append(person)
        }

        /// Moves media and events for `duration`: answers subscriber offers, feeds received streams to sims.
        func run(for duration: Duration) async throws {
            let start = RoomOverUDPTests.now()
            while RoomOverUDPTests.now() - start < duration {
                let now = RoomOverUDPTests.now()
                for p in people {
                    try await p.handleEvents(room: room, certificate: media.certificate, now: now)
                    p.publishing.drive(p.publisher, now: now)
                    p.receiveMedia(now: now)
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        try await run(for: .seconds(5))
        for p in people {
            // Each receives the two others, from their first frames on, complete and continuous.
            let streams = p.sims.values.filter { $0.packets > 0 }
            #expect(streams.count == 2, "\(p.name) receives \(streams.count) streams")
            for s in streams {
                let c = s.completeness(after: Instant(nanoseconds: 0))
                #expect(c.complete >= 60 && c.complete * 100 >= c.frames * 95, "\(p.name): \(c)")
                #expect(s.discontinuities == 0 && s.switchesNotOnKeyframe == 0 && s.foreignPackets == 0)
            }
        }
        #expect(people[0].received("participantJoined").count == 2)
        #expect(people[0].received("trackPublished").count == 2)
        #expect(people[2].received("participantJoined").isEmpty)

        // cy leaves: ada and bob are told, the track goes away and its m-line goes inactive.
        let cy = people[2]
        await room.leave(cy.participantID, reason: "left")
        try await run(for: .seconds(1))
        for p in people[0..<2] {
            #expect(p.received("participantLeft").contains { $0["participantId"] as? String == cy.participantID })
            #expect(p.received("trackUnpublished").count == 1)
            #expect(p.receiving.client.receivedStreams.count == 1, "\(p.name) now receives one stream")
        }
        #expect(await room.participantSummaries.count == 2)

        await media.closeRoom("conference")
        for p in people[0..<2] {
            try await run(for: .milliseconds(100))
            #expect(p.received("roomClosed").count == 1)
        }
        #expect(await room.routerCounts == [0, 0, 0])
        for p in people {
            p.task?.cancel()
            try await p.publishing.channel.close()
            try await p.receiving.channel.close()
        }
        for loop in media.loops { await loop.stop() }
    }
}
