import StarlingAPI
import Foundation
import StarlingRouting
import StarlingTransport

/// What the control API reads and changes in a room (getRoom, listParticipants, muteTrack,
/// getStats). Results are `JSONValue`s, built inside the room's isolation.
extension Room {
    /// The room's summary; `detailed` adds its participants and tracks.
    func info(detailed: Bool) -> JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(id), "createdAt": .int(Int(createdAt.timeIntervalSince1970)),
            "maxParticipants": .int(options.maxParticipants), "emptyTimeoutSeconds": JSONValue(options.emptyTimeout.inSeconds),
            "participantCount": .int(people.participants.count), "trackCount": .int(people.tracks.count),
        ]
        if detailed {
            o["participants"] = participantsInfo()
            o["tracks"] = .array(people.tracks.values.sorted { $0.id < $1.id }.map { JSONValue(track: $0.summary) })
        }
        return .object(o)
    }

    func participantsInfo() -> JSONValue {
        .array(
            people.participants.values.sorted { $0.id < $1.id }.map { p in
                [
                    "id": .string(p.id), "identity": .string(p.identity.identity), "name": .string(p.identity.name),
                    "connected": .bool(p.connected), "joinedAt": .int(Int(p.joinedAt.timeIntervalSince1970)),
                    "quality": .string(p.quality.rawValue),
                    "grants": [
                        "publish": .bool(p.identity.grants.publish), "subscribe": .bool(p.identity.grants.subscribe),
                        "publishData": .bool(p.identity.grants.publishData),
                    ],
                    "tracks": .array(p.tracks.compactMap { people.tracks[$0] }.map { JSONValue(track: $0.summary) }),
                ]
            })
    }

    /// Removes a participant named by id or identity (control API); returns its id.
    func removeParticipant(id: String?, identity: String?, reason: String) throws -> String {
        guard
            let participant = id.flatMap({ people.participants[$0] })
                ?? identity.flatMap({ i in people.participants.values.first { $0.identity.identity == i } })
        else { throw RoomError.notFound("no participant \(id ?? identity ?? "")") }
        remove(participant.id, reason: reason)
        return participant.id
    }

    /// Mutes or unmutes a track for everyone (control API): Starling stops forwarding it (its consumers pause,
    /// so receivers see no gap to NACK), the publisher and the others get `trackMuted` with `by: "server"`.
    func muteTrack(_ trackID: String, muted: Bool) throws {
        guard var track = people.tracks[trackID] else { throw RoomError.notFound("no track \(trackID)") }
        track.mutedByServer = muted
        track.muted = muted
        people.tracks[trackID] = track
        for participant in people.participants.values { applyPause(participant, trackID: trackID) }
        let event = SignalingCodec.event("trackMuted", ["trackId": trackID, "muted": muted, "by": "server"])
        for participant in people.participants.values { participant.send(event) }
        notify("trackMuted", ["trackId": .string(trackID), "muted": .bool(muted), "by": "server"])
    }

    /// Pauses or resumes a participant's consumer of a track: paused when it asked (`setSubscription`) or the
    /// track is muted by the server.
    func applyPause(_ participant: ParticipantState, trackID: String) {
        guard let mid = participant.subscriptions[trackID], let subscriber = participant.subscriber,
            let consumer = consumer(on: subscriber, mid: mid), let layers = router.consumer(consumer)?.layers
        else { return }
        let paused = participant.paused.contains(trackID) || (people.tracks[trackID]?.mutedByServer ?? false)
        guard paused != layers.paused else { return }
        try? router.setPreferences(
            consumer, spatialLayer: layers.preferredSpatial, temporalLayer: layers.preferredTemporal, paused: paused,
            now: MediaLoop.now())
    }

    /// Statistics of the room, or of one participant: per published track and layer what arrives (bitrate,
    /// packets, loss, jitter, keyframes), per received track what is sent (layer, bitrate, loss and jitter the
    /// receiver reports, RTT, NACKs and keyframe requests), per connection the RTT and the send-side estimate.
    /// What the room holds, for `getServerStats`: participants, transports, producers, consumers.
    var holdings: (participants: Int, transports: Int, producers: Int, consumers: Int) {
        (people.participants.count, transports.count, router.producerCount, router.consumerCount)
    }

    func stats(participant only: String?) throws -> JSONValue {
        if let only, people.participants[only] == nil { throw RoomError.notFound("no participant \(only)") }
        let now = MediaLoop.now()
        var participants: [JSONValue] = []
        for p in people.participants.values.sorted(by: { $0.id < $1.id }) where only == nil || p.id == only {
            var published: [JSONValue] = []
            for trackID in p.tracks {
                guard let track = people.tracks[trackID], let producer = router.producer(track.producer) else { continue }
                let clockRate = Double(producer.clockRate)
                let layers: [JSONValue] = producer.streams.map { s in
                    let st = s.statistics
                    return [
                        "layer": .int(s.layer), "rid": JSONValue(s.rid), "ssrc": JSONValue(s.ssrc.map { Int($0) }),
                        "active": .bool(s.isActive(now: now)), "bitrate": .int(s.currentBitrate(now: now)),
                        "packetsReceived": .int(s.packetsReceived), "packetsLost": .int(Int(st?.packetsLost ?? 0)),
                        "fractionLost": JSONValue(Double(st?.fractionLost ?? 0) / 256),
                        "jitterMs": JSONValue((st?.jitter ?? 0) / clockRate * 1000),
                        "keyframesReceived": .int(s.keyframesReceived), "retransmissionsReceived": .int(s.retransmissionsReceived),
                    ]
                }
                published.append([
                    "trackId": .string(trackID), "kind": .string(track.summary.kind), "source": .string(track.source.rawValue),
                    "muted": .bool(track.muted), "mid": .string(track.mid),
                    "bitrate": .int(producer.streams.reduce(0) { $0 + $1.currentBitrate(now: now) }),
                    "receivers": .int(producer.consumerIDs.count), "layers": .array(layers),
                ])
            }
            var received: [JSONValue] = []
            if let subscriber = p.subscriber {
                for (trackID, mid) in p.subscriptions.sorted(by: { $0.key < $1.key }) {
                    guard let id = consumer(on: subscriber, mid: mid), let c = router.consumer(id) else { continue }
                    received.append([
                        "trackId": .string(trackID), "mid": .string(mid), "spatialLayer": JSONValue(c.currentLayer),
                        "targetSpatialLayer": JSONValue(c.targetLayer), "paused": .bool(c.layers.paused),
                        "bitrate": .int(c.currentBitrate(now: now)), "packetsSent": .int(c.counters.packetsSent),
                        "bytesSent": .int(c.counters.bytesSent), "packetsDropped": .int(c.counters.packetsDropped),
                        "retransmitted": .int(c.counters.retransmitted), "nacksReceived": .int(c.counters.nacksReceived),
                        "keyframeRequestsReceived": .int(c.counters.keyframeRequestsReceived),
                        "layerSwitches": .int(c.counters.layerSwitches),
                        "fractionLost": JSONValue(c.remote.lossRatio), "packetsLost": .int(Int(c.remote.cumulativeLost)),
                        "jitterMs": JSONValue(Double(c.remote.jitter) / Double(c.producer.clockRate) * 1000),
                        "rttMs": c.remote.rtt.smoothed.map { JSONValue($0.inSeconds * 1000) } ?? .null,
                    ])
                }
            }
            participants.append([
                "participantId": .string(p.id), "identity": .string(p.identity.identity),
                "quality": .string(p.quality.rawValue),
                "publisher": connectionStats(p.publisher), "subscriber": connectionStats(p.subscriber),
                "published": .array(published), "received": .array(received),
            ])
        }
        let c = router.counters
        return [
            "room": .string(id), "participants": .array(participants),
            "router": [
                "rtpIn": .int(c.rtpIn), "rtpOut": .int(c.rtpOut), "rtcpIn": .int(c.rtcpIn), "rtcpOut": .int(c.rtcpOut),
                "malformedRTP": .int(c.malformedRTP), "malformedRTCP": .int(c.malformedRTCP),
                "unknownSSRC": .int(c.unknownSSRC), "nacksSent": .int(c.nacksSent),
                "keyframeRequestsSent": .int(c.keyframeRequestsSent),
            ],
        ]
    }

    private func connectionStats(_ transport: TransportID?) -> JSONValue {
        guard let transport else { return .null }
        let peer = transports[transport]
        return [
            "connected": .bool(peer?.transport.isConnected ?? false),
            "rttMs": router.roundTripTime(of: transport).map { JSONValue($0.inSeconds * 1000) } ?? .null,
            "estimatedBitrate": JSONValue(router.estimatedBitrate(of: transport)),
        ]
    }

    /// Tells the control API's subscribers (ControlEventHub) about something in this room.
    func notify(_ type: String, _ fields: [String: JSONValue]) {
        hub?.publish(room: id, type: type, fields: fields)
    }
}

extension JSONValue {
    init(track t: TrackSummary) {
        var o: [String: JSONValue] = [
            "id": .string(t.id), "participantId": .string(t.participantID), "kind": .string(t.kind),
            "source": .string(t.source), "muted": .bool(t.muted),
        ]
        if let name = t.name { o["name"] = .string(name) }
        self = .object(o)
    }

    init(participant p: ParticipantSummary) {
        self = ["id": .string(p.id), "identity": .string(p.identity), "name": .string(p.name)]
    }
}
