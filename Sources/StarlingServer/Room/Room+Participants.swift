import StarlingRouting
import StarlingTransport
import StarlingWire

/// What a participant may do (issue 6: the JWT's grants).
struct ParticipantGrants: Equatable, Sendable {
    var publish: Bool
    var subscribe: Bool
    var publishData: Bool
}

/// Who joins: from the verified token.
struct ParticipantIdentity: Equatable, Sendable {
    var identity: String
    var name: String
    var grants: ParticipantGrants
}

/// A participant as the others see it.
struct ParticipantSummary: Equatable, Sendable {
    var id: String
    var identity: String
    var name: String
    var json: [String: String] { ["id": id, "identity": identity, "name": name] }
}

/// A published track as the others see it.
struct TrackSummary: Equatable, Sendable {
    var id: String
    var participantID: String
    var kind: String
    var source: String
    var name: String?
    var muted: Bool
    var json: [String: Any] {
        var o: [String: Any] = ["id": id, "participantId": participantID, "kind": kind, "source": source, "muted": muted]
        if let name { o["name"] = name }
        return o
    }
}

/// A participant's state inside its room (touched only in the room's isolation).
final class ParticipantState {
    let id: String
    let identity: ParticipantIdentity
    /// Where this participant's signaling messages go (its WebSocket writer reads the other end).
    let events: AsyncStream<String>.Continuation
    var publisher: TransportID?
    var subscriber: TransportID?
    /// Published track ids, and the subscribed ones with the mid each arrives on.
    var tracks: [String] = []
    var subscriptions: [String: String] = [:]

    init(id: String, identity: ParticipantIdentity, events: AsyncStream<String>.Continuation) {
        self.id = id
        self.identity = identity
        self.events = events
    }

    var summary: ParticipantSummary { ParticipantSummary(id: id, identity: identity.identity, name: identity.name) }

    func send(_ text: String) { events.yield(text) }
}

/// A published track inside its room.
struct TrackState {
    var id: String
    var participantID: String
    var producer: ProducerID
    var kind: SDP.MediaKind
    var source: SignalingRequest.PublishedTrack.Source
    var name: String?
    var mid: String
    var muted = false

    var summary: TrackSummary {
        TrackSummary(
            id: id, participantID: participantID, kind: kind == .audio ? "audio" : "video", source: source.rawValue, name: name,
            muted: muted)
    }
}

/// The participants, their tracks and who receives what (issue 6's room model on top of the router).
struct ParticipantRegistry {
    var participants: [String: ParticipantState] = [:]
    var tracks: [String: TrackState] = [:]
    var nextID = 1

    mutating func newID(_ prefix: String) -> String {
        defer { nextID += 1 }
        return "\(prefix)_\(nextID)"
    }
}

/// Issue 6: participants join, publish on a connection they offer, and receive every other participant's
/// tracks on a connection Starling offers and renegotiates as tracks come and go.
extension Room {
    struct JoinResult: Sendable {
        var participant: ParticipantSummary
        var participants: [ParticipantSummary]
        var tracks: [TrackSummary]
    }

    /// Adds a participant: the others hear of it; with the subscribe grant it gets a subscribing connection
    /// carrying every track already published (its first `subscriberOffer` event follows).
    func join(
        _ identity: ParticipantIdentity, events: AsyncStream<String>.Continuation, certificate: DTLSCertificate,
        candidateAddresses: [String]
    ) async throws -> JoinResult {
        guard !isClosed else { throw RoomError.closed }
        var subscriber: TransportID?
        if identity.grants.subscribe {
            subscriber = try await openSubscriber(certificate: certificate, candidateAddresses: candidateAddresses)
        }
        let participant = ParticipantState(id: people.newID("PA"), identity: identity, events: events)
        participant.subscriber = subscriber
        let others = Array(people.participants.values)
        people.participants[participant.id] = participant
        let joined = SignalingCodec.event("participantJoined", ["participant": participant.summary.json])
        for other in others { other.send(joined) }
        for track in people.tracks.values { subscribe(participant, to: track) }
        pushSubscriberOffer(participant)
        return JoinResult(
            participant: participant.summary, participants: others.map(\.summary),
            tracks: people.tracks.values.map(\.summary).sorted { $0.id < $1.id })
    }

    /// The participant's publishing connection: its offer is answered, each m-line listed in `tracks`
    /// becomes a published track that every other participant starts receiving.
    func publish(
        _ participantID: String, offer: String, tracks described: [SignalingRequest.PublishedTrack],
        certificate: DTLSCertificate, candidateAddresses: [String]
    ) async throws -> (answer: String, tracks: [TrackSummary]) {
        guard let participant = people.participants[participantID] else { throw RoomError.rejected("unknown participant") }
        guard participant.identity.grants.publish else { throw RoomError.forbidden("the token grants no publishing") }
        guard participant.publisher == nil else {
            throw RoomError.rejected("this participant already has a publishing connection")
        }
        let connection = try await connect(
            offer: offer, sources: [:], certificate: certificate, candidateAddresses: candidateAddresses)
        guard people.participants[participantID] != nil else {
            closeTransport(connection.transport)
            throw RoomError.rejected("the participant left")
        }
        participant.publisher = connection.transport
        var summaries: [TrackSummary] = []
        for (mid, producer) in connection.producers {
            guard let source = publishedMedia(producer) else { continue }
            let description = described.first { $0.mid == mid }
            let track = TrackState(
                id: people.newID("TR"), participantID: participantID, producer: producer, kind: source.kind,
                source: description?.source ?? (source.kind == .audio ? .microphone : .camera), name: description?.name,
                mid: mid)
            people.tracks[track.id] = track
            participant.tracks.append(track.id)
            summaries.append(track.summary)
            let event = SignalingCodec.event("trackPublished", ["track": track.summary.json])
            for other in people.participants.values where other.id != participantID {
                other.send(event)
                subscribe(other, to: track)
                pushSubscriberOffer(other)
            }
        }
        return (connection.answer, summaries)
    }

    /// The answer to a `subscriberOffer`; a change that waited for it goes out as the next offer.
    func answerSubscriber(_ participantID: String, sdp: String, certificate: DTLSCertificate) throws {
        guard let participant = people.participants[participantID], let subscriber = participant.subscriber else {
            throw RoomError.rejected("no subscribing connection")
        }
        _ = try applySubscriberAnswer(subscriber, sdp: sdp, certificate: certificate)
        pushSubscriberOffer(participant)
    }

    /// A participant leaves (or is removed): its transports close, its tracks go away for the others.
    func leave(_ participantID: String, reason: String) {
        guard let participant = people.participants.removeValue(forKey: participantID) else { return }
        for trackID in participant.tracks { unpublishTrack(trackID) }
        if let t = participant.publisher { closeTransport(t) }
        if let t = participant.subscriber { closeTransport(t) }
        let event = SignalingCodec.event("participantLeft", ["participantId": participantID, "reason": reason])
        for other in people.participants.values { other.send(event) }
        participant.events.finish()
    }

    /// Removes a published track: every receiver's m-line for it goes inactive.
    func unpublishTrack(_ trackID: String) {
        guard let track = people.tracks.removeValue(forKey: trackID) else { return }
        people.participants[track.participantID]?.tracks.removeAll { $0 == trackID }
        removeProducer(track.producer)
        let event = SignalingCodec.event("trackUnpublished", ["trackId": trackID])
        for other in people.participants.values where other.id != track.participantID {
            other.subscriptions[trackID] = nil
            other.send(event)
            pushSubscriberOffer(other)
        }
    }

    var participantSummaries: [ParticipantSummary] { people.participants.values.map(\.summary) }

    /// A producer ended under a track (its transport failed or closed): the track is unpublished.
    func producerEnded(_ producer: ProducerID) {
        guard let track = people.tracks.values.first(where: { $0.producer == producer }) else { return }
        unpublishTrack(track.id)
    }

    private func subscribe(_ participant: ParticipantState, to track: TrackState) {
        guard let subscriber = participant.subscriber, track.participantID != participant.id,
            participant.subscriptions[track.id] == nil,
            let mid = try? subscribe(subscriber, to: track.producer, streamID: track.participantID, trackID: track.id)
        else { return }
        participant.subscriptions[track.id] = mid
    }

    /// Sends the participant its next subscriber offer when one is due.
    private func pushSubscriberOffer(_ participant: ParticipantState) {
        guard let subscriber = participant.subscriber, let offer = subscriberOffer(subscriber) else { return }
        participant.send(SignalingCodec.event("subscriberOffer", ["sdp": offer.sdp, "revision": Int(offer.revision)]))
    }
}

extension Room {
    /// A participant takes down one of its own tracks.
    func unpublish(_ participantID: String, trackID: String) throws {
        guard let track = people.tracks[trackID], track.participantID == participantID else {
            throw RoomError.notFound("no track \(trackID) of yours")
        }
        unpublishTrack(trackID)
    }

    /// A participant mutes or unmutes one of its tracks; the others are told (`trackMuted`).
    func setMuted(_ participantID: String, trackID: String, muted: Bool) throws {
        guard var track = people.tracks[trackID], track.participantID == participantID else {
            throw RoomError.notFound("no track \(trackID) of yours")
        }
        track.muted = muted
        people.tracks[trackID] = track
        let event = SignalingCodec.event("trackMuted", ["trackId": trackID, "muted": muted])
        for other in people.participants.values where other.id != participantID { other.send(event) }
    }

    /// A receiver's preferences for one track it receives: highest layers, pause.
    func setSubscription(
        _ participantID: String, trackID: String, maxSpatialLayer: Int?, maxTemporalLayer: Int?, paused: Bool?
    ) throws {
        guard let participant = people.participants[participantID], let mid = participant.subscriptions[trackID],
            let subscriber = participant.subscriber, let consumer = consumer(on: subscriber, mid: mid)
        else { throw RoomError.notFound("you do not receive track \(trackID) (yet)") }
        let current = router.consumer(consumer)?.layers
        try router.setPreferences(
            consumer, spatialLayer: maxSpatialLayer, temporalLayer: maxTemporalLayer,
            paused: paused ?? current?.paused ?? false, now: MediaLoop.now())
    }
}
