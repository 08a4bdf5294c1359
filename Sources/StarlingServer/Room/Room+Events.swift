import StarlingAPI
import Foundation
import StarlingRouting
import StarlingTransport
import StarlingWire

/// The router's events as participants see them: the active speaker to everyone, a layer change
/// to the receiver of the track, and every two seconds each participant's connection quality.
extension Room {
    func forward(_ event: RouterEvent) {
        switch event {
        case .activeSpeaker(let producer):
            let track = producer.flatMap { p in people.tracks.values.first { $0.producer == p } }
            let message = SignalingCodec.event(
                "activeSpeaker", ["participantId": track?.participantID ?? NSNull(), "trackId": track?.id ?? NSNull()])
            for participant in people.participants.values { participant.send(message) }
            notify("activeSpeaker", ["participantId": JSONValue(track?.participantID), "trackId": JSONValue(track?.id)])
        case .layerChanged(let consumer, let spatial):
            for participant in people.participants.values {
                guard let subscriber = participant.subscriber else { continue }
                for (trackID, mid) in participant.subscriptions where self.consumer(on: subscriber, mid: mid) == consumer {
                    participant.send(
                        SignalingCodec.event(
                            "layerChanged", ["trackId": trackID, "spatialLayer": spatial.map { $0 as Any } ?? NSNull()]))
                    return
                }
            }
        case .producerSSRCChanged:
            break
        }
    }

    /// Connection quality per participant from what the router measures: loss on its publishing leg (our
    /// reception statistics, RFC 3550 §6.4.1 fraction lost), loss and round-trip time its subscribing
    /// connection reports (its receiver reports). Sent to everyone when it changes.
    func updateConnectionQuality(now: Instant) {
        for participant in people.participants.values {
            let quality = connectionQuality(of: participant, now: now)
            guard quality != participant.quality else { continue }
            participant.quality = quality
            let message = SignalingCodec.event(
                "connectionQuality", ["participantId": participant.id, "quality": quality.rawValue])
            for other in people.participants.values { other.send(message) }
        }
    }

    private func connectionQuality(of participant: ParticipantState, now: Instant) -> ConnectionQuality {
        var loss = 0.0
        var rtt: Duration = .zero
        var connected = false
        if let publisher = participant.publisher, let peer = transports[publisher] {
            connected = connected || peer.transport.isConnected
            for trackID in participant.tracks {
                guard let track = people.tracks[trackID], let producer = router.producer(track.producer) else { continue }
                for stream in producer.streams where stream.isActive(now: now) {
                    loss = max(loss, Double(stream.statistics?.fractionLost ?? 0) / 256)
                }
            }
        }
        if let subscriber = participant.subscriber, let peer = transports[subscriber] {
            connected = connected || peer.transport.isConnected
            for consumer in router.consumers(on: subscriber) { loss = max(loss, consumer.remote.lossRatio) }
            rtt = router.roundTripTime(of: subscriber) ?? .zero
        }
        // Not connected: poor once a connection had 10 s to come up; until then, no news.
        guard connected else {
            let waiting = [participant.publisher, participant.subscriber].compactMap { $0.flatMap { transports[$0] } }
            return waiting.contains { now - $0.createdAt > .seconds(10) } ? .poor : participant.quality
        }
        if loss < 0.02 && rtt < .milliseconds(300) { return .excellent }
        if loss < 0.1 && rtt < .milliseconds(600) { return .good }
        return .poor
    }
}

/// How well a participant's media gets through.
enum ConnectionQuality: String, Sendable {
    case excellent, good, poor
}

