import StarlingAPI
import Foundation
import NIOCore
import StarlingRouting
import StarlingTransport
import StarlingWire

/// What a participant may do (the JWT's grants).
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
    /// Only in the publisher's own view: the m-line of its publishing connection.
    var mid: String? = nil
    var json: [String: Any] {
        var o: [String: Any] = ["id": id, "participantId": participantID, "kind": kind, "source": source, "muted": muted]
        if let name { o["name"] = name }
        if let mid { o["mid"] = mid }
        return o
    }
}

/// A participant's state inside its room (touched only in the room's isolation).
final class ParticipantState {
    let id: String
    /// From the token of the latest join or resume: a resume applies the new token's grants.
    var identity: ParticipantIdentity
    /// What the client presents to resume this participant (`join {reconnect, resumeToken}`): handed out by
    /// each join and resume, 128 random bits, so that only the client that joined can take it over.
    var resumeToken = ParticipantState.newResumeToken()
    /// Where this participant's signaling messages go (its WebSocket writer reads the other end); replaced when
    /// the participant resumes on a new WebSocket.
    var events: AsyncStream<String>.Continuation
    /// Which signaling connection is current: a resume makes a new one, so the old one's end is ignored.
    var generation = 1
    /// False while its WebSocket is gone and the reconnect window runs.
    var connected = true
    let joinedAt = Date()
    /// Tracks this participant paused for itself (`setSubscription`).
    var paused: Set<String> = []
    var publisher: TransportID?
    var subscriber: TransportID?
    /// Published track ids, and the subscribed ones with the mid each arrives on.
    var tracks: [String] = []
    var subscriptions: [String: String] = [:]
    /// Last connection quality announced (Room+Events.swift).
    var quality = ConnectionQuality.excellent

    init(id: String, identity: ParticipantIdentity, events: AsyncStream<String>.Continuation) {
        self.id = id
        self.identity = identity
        self.events = events
    }

    var summary: ParticipantSummary { ParticipantSummary(id: id, identity: identity.identity, name: identity.name) }

    static func newResumeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined(separator: "-")
    }

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
    /// Muted by the control API: not forwarded until unmuted there.
    var mutedByServer = false

    var summary: TrackSummary { summary(withMid: false) }

    /// With the publishing connection's mid: for the publisher itself.
    func summary(withMid: Bool) -> TrackSummary {
        TrackSummary(
            id: id, participantID: participantID, kind: kind == .audio ? "audio" : "video", source: source.rawValue, name: name,
            muted: muted, mid: withMid ? mid : nil)
    }
}

/// The participants, their tracks and who receives what (the room model on top of the router).
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
/// A room's limits and timeouts (createRoom).
struct RoomOptions: Sendable, Equatable {
    /// 0: no limit.
    var maxParticipants = 0
    /// A room with nobody in it closes after this long.
    var emptyTimeout: Duration = .seconds(300)

    init(maxParticipants: Int = 0, emptyTimeout: Duration = .seconds(300)) {
        self.maxParticipants = maxParticipants
        self.emptyTimeout = emptyTimeout
    }

    /// Data channel limits (from `data.*`; not changed by `createRoom`).
    var data = StarlingConfiguration.DataChannels()

    init(_ defaults: StarlingConfiguration.Rooms, data: StarlingConfiguration.DataChannels = .init()) {
        maxParticipants = defaults.maxParticipants
        emptyTimeout = .seconds(defaults.emptyTimeoutSeconds)
        self.data = data
    }
}

extension TimeAmount {
    init(_ duration: Duration) { self = .nanoseconds(duration.nanosecondsClamped) }
}

extension Room {
    struct JoinResult: Sendable {
        var participant: ParticipantSummary
        var participants: [ParticipantSummary]
        var tracks: [TrackSummary]
        /// The participant was already in the room (reconnect within the window) and goes on as it was.
        var resumed: Bool
        /// Its own published tracks, with their mids (on a resume).
        var ownTracks: [TrackSummary]
        /// Identifies this signaling connection of the participant (see `disconnected`).
        var generation: Int
        /// What the client presents to resume the participant after its WebSocket dropped.
        var resumeToken: String
    }

    /// Adds a participant: the others hear of it; with the subscribe grant it gets a subscribing connection
    /// carrying every track already published (its first `subscriberOffer` event follows).
    ///
    /// The same identity joining again either resumes (with `reconnect`: same participant, tracks and
    /// connections; an ICE restart offer for its subscribing connection follows, and the client restarts ICE on
    /// its publishing one) or replaces the one in the room, which is removed (`duplicate_identity`).
    /// A participant joins: `resume`, the resume token of the participant of the same identity still in the
    /// room, takes that one over with the new token's grants; without it (or with a wrong one) the join is
    /// new and the participant of that identity is removed (`duplicate_identity`).
    func join(
        _ identity: ParticipantIdentity, resume: String? = nil, dataChannels: Bool = false,
        events: AsyncStream<String>.Continuation,
        certificate: DTLSCertificate, candidateAddresses: [String]
    ) async throws -> JoinResult {
        guard !isClosed else { throw RoomError.closed }
        if let existing = people.participants.values.first(where: { $0.identity.identity == identity.identity }) {
            if let resume, ControlAPI.constantTimeEqual(resume, existing.resumeToken) {
                return self.resume(existing, as: identity, events: events)
            }
            remove(existing.id, reason: "duplicate_identity")
        }
        try checkCapacity()
        var subscriber: TransportID?
        // The subscribing connection carries the data channels too: a participant that may only send data has
        // one as well.
        let data = dataChannels && options.data.enabled && (identity.grants.subscribe || identity.grants.publishData)
        if identity.grants.subscribe || data {
            subscriber = try await openSubscriber(
                certificate: certificate, candidateAddresses: candidateAddresses, dataChannels: data)
        }
        // The room may have closed or filled up while the socket was reserved.
        do {
            guard !isClosed else { throw RoomError.closed }
            try checkCapacity()
        } catch {
            if let subscriber { dropSubscriber(subscriber) }
            throw error
        }
        let participant = ParticipantState(id: people.newID("PA"), identity: identity, events: events)
        participant.subscriber = subscriber
        if data {
            dataRoom.relay.add(
                participant: participant.id, identity: identity.identity, canPublish: identity.grants.publishData,
                now: MediaLoop.now())
        }
        let others = Array(people.participants.values)
        people.participants[participant.id] = participant
        emptyTimer?.cancel()
        let joined = SignalingCodec.event("participantJoined", ["participant": participant.summary.json])
        for other in others { other.send(joined) }
        notify("participantJoined", ["participant": JSONValue(participant: participant.summary)])
        for track in people.tracks.values { subscribe(participant, to: track) }
        pushSubscriberOffer(participant)
        return JoinResult(
            participant: participant.summary, participants: others.map(\.summary),
            tracks: people.tracks.values.map(\.summary).sorted { $0.id < $1.id }, resumed: false, ownTracks: [],
            generation: participant.generation, resumeToken: participant.resumeToken)
    }

    private func checkCapacity() throws {
        if options.maxParticipants > 0, people.participants.count >= options.maxParticipants {
            throw RoomError.full("the room has its maximum of \(options.maxParticipants) participants")
        }
    }

    /// The participant goes on over a new signaling connection: the old one's events end (its WebSocket
    /// closes), its subscribing connection gets an ICE-restart offer, and the new token's grants apply from
    /// now on (tracks it may no longer publish are unpublished). A new resume token replaces the old one.
    private func resume(
        _ participant: ParticipantState, as identity: ParticipantIdentity, events: AsyncStream<String>.Continuation
    ) -> JoinResult {
        participant.events.finish()
        participant.events = events
        participant.generation += 1
        participant.connected = true
        participant.resumeToken = ParticipantState.newResumeToken()
        participant.identity.name = identity.name
        participant.identity.grants = identity.grants
        if !identity.grants.publish {
            for trackID in participant.tracks { unpublishTrack(trackID) }
            if let publisher = participant.publisher { closeTransport(publisher) }
            participant.publisher = nil
        }
        dataRoom.relay.setCanPublish(participant: participant.id, identity.grants.publishData)
        if let subscriber = participant.subscriber {
            restartSubscriberICE(subscriber)
            pushSubscriberOffer(participant)
        }
        let others = people.participants.values.filter { $0.id != participant.id }
        logger.info("participant resumed", metadata: ["room": "\(id)", "participant": "\(participant.id)"])
        return JoinResult(
            participant: participant.summary, participants: others.map(\.summary),
            tracks: people.tracks.values.filter { $0.participantID != participant.id }.map(\.summary).sorted { $0.id < $1.id },
            resumed: true,
            ownTracks: participant.tracks.compactMap { people.tracks[$0] }.map { $0.summary(withMid: true) },
            generation: participant.generation, resumeToken: participant.resumeToken)
    }

    /// The participant's signaling connection `generation` dropped: it stays for `window` to resume, then
    /// leaves. A connection that a resume already replaced changes nothing.
    func disconnected(_ participantID: String, generation: Int, window: Duration) {
        guard let participant = people.participants[participantID], participant.generation == generation else { return }
        guard window > .zero else {
            leave(participantID, reason: "disconnected")
            return
        }
        participant.connected = false
        let room = self
        loop.eventLoop.scheduleTask(in: TimeAmount(window)) {
            room.withAssumedIsolation((participantID, generation)) { room, p in room.reconnectWindowEnded(p.0, generation: p.1) }
        }
    }

    private func reconnectWindowEnded(_ participantID: String, generation: Int) {
        guard let participant = people.participants[participantID], participant.generation == generation,
            !participant.connected
        else { return }
        leave(participantID, reason: "disconnected")
    }

    /// A transport of a participant still in the room ended (failed, timed out, or closed by the peer): a
    /// publishing connection is forgotten (its tracks are gone; the next `publish` opens a new one); without
    /// its subscribing connection the participant cannot receive, so it is removed (`media_timeout`) and its
    /// client joins again.
    func participantTransportEnded(_ transport: TransportID) {
        for participant in people.participants.values {
            if participant.publisher == transport { participant.publisher = nil }
            if participant.subscriber == transport {
                participant.subscriber = nil
                remove(participant.id, reason: "media_timeout")
            }
        }
    }

    /// Removes a participant (control API, or a newer join of its identity): it is told why, its WebSocket
    /// closes, the others see it leave.
    func remove(_ participantID: String, reason: String) {
        guard let participant = people.participants[participantID] else { return }
        participant.send(SignalingCodec.event("removed", ["reason": reason]))
        leave(participantID, reason: reason)
    }

    /// Changes the room's options; a room that is empty starts its empty timeout again.
    func setOptions(_ options: RoomOptions) {
        self.options = options
        scheduleEmptyCheck()
    }

    /// Closes the room after its empty timeout if nobody is in it by then.
    func scheduleEmptyCheck() {
        emptyTimer?.cancel()
        emptyTimer = nil
        guard people.participants.isEmpty, !isClosed else { return }
        let room = self
        emptyTimer = loop.eventLoop.scheduleTask(in: TimeAmount(options.emptyTimeout)) {
            room.withAssumedIsolation(()) { room, _ in
                if room.people.participants.isEmpty { room.close(reason: "empty_timeout") }
            }
        }
    }

    /// The participant's publishing connection: its offer is answered, each m-line it sends on becomes a
    /// published track that every other participant starts receiving. A later `publish` is a renegotiation of
    /// the same connection (RFC 8829 §5.3): m-lines listed in `tracks` that start sending are published, m-lines
    /// that stop sending are unpublished, new ICE credentials restart ICE.
    func publish(
        _ participantID: String, offer: String, tracks described: [SignalingRequest.PublishedTrack],
        certificate: DTLSCertificate, candidateAddresses: [String]
    ) async throws -> (answer: String, tracks: [TrackSummary]) {
        guard let participant = people.participants[participantID] else { throw RoomError.rejected("unknown participant") }
        guard participant.identity.grants.publish else { throw RoomError.forbidden("the token grants no publishing") }
        try checkTrackLimits(participant, offer: offer)
        let answer: String
        let added: [(mid: String, producer: ProducerID)]
        if let existing = participant.publisher {
            let result = try renegotiate(
                existing, offer: offer, newMids: Set(described.map(\.mid)), certificate: certificate,
                candidateAddresses: candidateAddresses)
            (answer, added) = (result.answer, result.added)
        } else {
            let connection = try await connect(
                offer: offer, sources: [:], certificate: certificate, candidateAddresses: candidateAddresses)
            guard people.participants[participantID] != nil, participant.publisher == nil else {
                closeTransport(connection.transport)
                throw RoomError.rejected("the participant left, or published concurrently")
            }
            participant.publisher = connection.transport
            (answer, added) = (connection.answer, connection.producers)
        }
        for (mid, producer) in added {
            guard let source = publishedMedia(producer) else { continue }
            let description = described.first { $0.mid == mid }
            let track = TrackState(
                id: people.newID("TR"), participantID: participantID, producer: producer, kind: source.kind,
                source: description?.source ?? (source.kind == .audio ? .microphone : .camera), name: description?.name,
                mid: mid)
            people.tracks[track.id] = track
            participant.tracks.append(track.id)
            let event = SignalingCodec.event("trackPublished", ["track": track.summary.json])
            notify("trackPublished", ["track": JSONValue(track: track.summary)])
            for other in people.participants.values where other.id != participantID {
                other.send(event)
                subscribe(other, to: track)
                pushSubscriberOffer(other)
            }
        }
        let summaries = participant.tracks.compactMap { people.tracks[$0] }.map { $0.summary(withMid: true) }
        return (answer, summaries)
    }

    /// Refuses an offer that would take the participant past `limits.tracksPerParticipant`, or the room past
    /// `limits.tracksPerRoom`: every sending m-line not published yet counts as a new track. What is already
    /// published goes on.
    private func checkTrackLimits(_ participant: ParticipantState, offer text: String) throws {
        guard let offer = try? SessionDescription(parsing: text) else { return }  // RoomAnswer reports the error
        let published = Set(participant.tracks.compactMap { people.tracks[$0]?.mid })
        let new = offer.media.filter { m in
            !m.isRejected && (m.effectiveDirection == .sendonly || m.effectiveDirection == .sendrecv)
                && !(m.mid.map(published.contains) ?? false)
        }.count
        guard new > 0 else { return }
        if participant.tracks.count + new > limits.tracksPerParticipant {
            throw RoomError.limitExceeded(
                "publishing \(new) more tracks would exceed \(limits.tracksPerParticipant) per participant (limits.tracksPerParticipant)")
        }
        if people.tracks.count + new > limits.tracksPerRoom {
            throw RoomError.limitExceeded(
                "publishing \(new) more tracks would exceed \(limits.tracksPerRoom) in the room (limits.tracksPerRoom)")
        }
    }

    /// The answer to a `subscriberOffer`; a change that waited for it goes out as the next offer.
    func answerSubscriber(_ participantID: String, sdp: String, certificate: DTLSCertificate) throws {
        guard let participant = people.participants[participantID], let subscriber = participant.subscriber else {
            throw RoomError.rejected("no subscribing connection")
        }
        let created = try applySubscriberAnswer(subscriber, sdp: sdp, certificate: certificate)
        // New consumers start paused where the participant paused the track or the server muted it.
        for (mid, _) in created {
            if let trackID = participant.subscriptions.first(where: { $0.value == mid })?.key {
                applyPause(participant, trackID: trackID)
            }
        }
        pushSubscriberOffer(participant)
    }

    /// A participant leaves (or is removed): its transports close, its tracks go away for the others.
    func leave(_ participantID: String, reason: String) {
        guard let participant = people.participants.removeValue(forKey: participantID) else { return }
        dataParticipantLeft(participantID)
        for trackID in participant.tracks { unpublishTrack(trackID) }
        if let t = participant.publisher { closeTransport(t) }
        if let t = participant.subscriber { dropSubscriber(t) }
        let event = SignalingCodec.event("participantLeft", ["participantId": participantID, "reason": reason])
        for other in people.participants.values { other.send(event) }
        notify("participantLeft", ["participantId": .string(participantID), "reason": .string(reason)])
        participant.events.finish()
        if people.participants.isEmpty { scheduleEmptyCheck() }
    }

    /// Removes a published track: every receiver's m-line for it goes inactive.
    func unpublishTrack(_ trackID: String) {
        guard let track = people.tracks.removeValue(forKey: trackID) else { return }
        people.participants[track.participantID]?.tracks.removeAll { $0 == trackID }
        removeProducer(track.producer)
        let event = SignalingCodec.event("trackUnpublished", ["trackId": trackID])
        notify("trackUnpublished", ["trackId": .string(trackID), "participantId": .string(track.participantID)])
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

    /// Adds a track to a participant's subscribing connection. When it cannot be added (the connection holds
    /// its maximum of m-lines, or no payload type is left), the participant is told with `subscriptionFailed`.
    private func subscribe(_ participant: ParticipantState, to track: TrackState) {
        guard participant.identity.grants.subscribe, let subscriber = participant.subscriber, track.participantID != participant.id,
            participant.subscriptions[track.id] == nil
        else { return }
        do {
            participant.subscriptions[track.id] = try subscribe(
                subscriber, to: track.producer, streamID: track.participantID, trackID: track.id)
        } catch {
            logger.warning(
                "subscription failed", metadata: ["room": "\(id)", "participant": "\(participant.id)", "error": "\(error)"])
            participant.send(SignalingCodec.event("subscriptionFailed", ["trackId": track.id, "message": "\(error)"]))
        }
    }

    /// Sends the participant its next subscriber offer when one is due.
    private func pushSubscriberOffer(_ participant: ParticipantState) {
        guard let subscriber = participant.subscriber, let offer = subscriberOffer(subscriber) else { return }
        // Which track each m-line carries (msid's track id is not reliably the receiving track's id).
        var mids: [String: String] = [:]
        for (track, mid) in participant.subscriptions { mids[mid] = track }
        participant.send(
            SignalingCodec.event("subscriberOffer", ["sdp": offer.sdp, "revision": Int(offer.revision), "mids": mids]))
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
        notify("trackMuted", ["trackId": .string(trackID), "muted": .bool(muted), "by": "participant"])
    }

    /// A receiver's preferences for one track it receives: highest layers, pause.
    func setSubscription(
        _ participantID: String, trackID: String, maxSpatialLayer: Int?, maxTemporalLayer: Int?, paused: Bool?
    ) throws {
        guard let participant = people.participants[participantID], let mid = participant.subscriptions[trackID],
            let subscriber = participant.subscriber, let consumer = consumer(on: subscriber, mid: mid)
        else { throw RoomError.notFound("you do not receive track \(trackID) (yet)") }
        if let paused {
            if paused { participant.paused.insert(trackID) } else { participant.paused.remove(trackID) }
        }
        let muted = people.tracks[trackID]?.mutedByServer ?? false
        try router.setPreferences(
            consumer, spatialLayer: maxSpatialLayer, temporalLayer: maxTemporalLayer,
            paused: participant.paused.contains(trackID) || muted, now: MediaLoop.now())
    }
}
