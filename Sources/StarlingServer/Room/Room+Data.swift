import Foundation
import NIOCore
import StarlingAPI
import StarlingNIO
import StarlingRouting
import StarlingTransport
import StarlingWire

/// Data channels in a room (issue 9): each participant's subscribing connection carries one SCTP association
/// (RFC 8261) on which Starling opens two channels once it is up:
/// - `starling.reliable`: ordered and reliable;
/// - `starling.lossy`: unordered, never retransmitted (`maxRetransmits: 0`, RFC 8831 §6.1).
/// What a participant sends on them (or on channels it opens itself: reliable ordered ones count as the
/// reliable path, the rest as lossy) is a `DataEnvelope.Outgoing`; the room's `DataRelay` queues it, tagged
/// with the sender's identity, for every other participant or the identities it names, and each receiver's
/// queue is pulled into its channel while the association's send buffer takes it. A slow receiver only
/// ever fills its own queues (docs/PROTOCOL.md, "Data channels").
final class DataLink {
    let participantID: String
    /// Our two channels (stream ids), once opened.
    var reliable: UInt16?
    var lossy: UInt16?
    /// Channels the participant opened itself, with the path their messages take.
    var ownChannels: [UInt16: DataRelay.Path] = [:]
    /// `dataError` events sent in the current second (at most `errorBudget`; the rest are only counted).
    var errorsThisSecond = 0
    var errorSecond = Instant.zero

    init(participantID: String) { self.participantID = participantID }

    static let reliableLabel = "starling.reliable"
    static let lossyLabel = "starling.lossy"
    static let errorBudget = 10
}

extension Room {
    /// The subscribing connection's answer accepted the data line: SCTP starts on its transport (RFC 8841:
    /// the client's port and limit, ours from `data.maxMessageBytes`). Does nothing once it has started.
    func enableDataChannels(on tid: TransportID, line: SubscriberNegotiation.DataLine) {
        guard let peer = transports[tid], dataLinks[tid] == nil,
            let participant = people.participants.values.first(where: { $0.subscriber == tid })
        else { return }
        var sctp = SCTPAssociation.Configuration()
        sctp.remotePort = line.remotePort
        sctp.maxMessageSize = options.data.maxMessageBytes
        let now = MediaLoop.now()
        do {
            try peer.transport.enableDataChannels(sctp, remoteMaxMessageSize: line.remoteMaxMessageSize, now: now)
        } catch {
            logger.warning(
                "data channels not started", metadata: ["room": "\(id)", "participant": "\(participant.id)", "error": "\(error)"])
            return
        }
        dataLinks[tid] = DataLink(participantID: participant.id)
        sendTransmits(of: peer)
    }

    /// Called on the datagram path and by the loop's tick when a transport's data channels have events.
    func handleDataEvents(on tid: TransportID, now: Instant) {
        guard let link = dataLinks[tid], let peer = transports[tid], let channels = peer.transport.dataChannels else { return }
        var relayed = false
        while let event = channels.pollEvent() {
            switch event {
            case .ready:
                openRelayChannels(link, channels: channels)
            case .opened(let channel):
                if channel.id == link.reliable {
                    dataRelay.setReady(true, participant: link.participantID, path: .reliable)
                } else if channel.id == link.lossy {
                    dataRelay.setReady(true, participant: link.participantID, path: .lossy)
                } else {
                    link.ownChannels[channel.id] = channel.ordered && channel.reliability == .reliable ? .reliable : .lossy
                }
            case .message(let stream, let message):
                guard let path = stream == link.reliable ? .reliable : stream == link.lossy ? .lossy : link.ownChannels[stream]
                else { continue }
                let bytes: [UInt8] =
                    switch message {
                    case .binary(let b): b
                    case .string(let s): Array(s.utf8)
                    }
                if let refusal = dataRelay.receive(bytes, from: link.participantID, path: path, now: now) {
                    dataError(link, reason: refusal.rawValue, fields: [:], now: now)
                } else {
                    relayed = true
                    publishDataEvent(bytes, from: link.participantID, path: path)
                }
            case .closed(let stream):
                if stream == link.reliable {
                    link.reliable = nil
                    dataRelay.setReady(false, participant: link.participantID, path: .reliable)
                } else if stream == link.lossy {
                    link.lossy = nil
                    dataRelay.setReady(false, participant: link.participantID, path: .lossy)
                }
                link.ownChannels[stream] = nil
            case .tooLarge(_, let size, let limit):
                dataError(link, reason: DataRelay.Refusal.tooLarge.rawValue, fields: ["size": size, "limit": limit], now: now)
            case .refused(let stream, let reason):
                logger.debug(
                    "data channel refusal", metadata: ["room": "\(id)", "participant": "\(link.participantID)", "stream": "\(stream)", "reason": "\(reason)"])
            case .associationClosed(let reason):
                dataRelay.setReady(false, participant: link.participantID, path: .reliable)
                dataRelay.setReady(false, participant: link.participantID, path: .lossy)
                link.reliable = nil
                link.lossy = nil
                logger.info("data association closed", metadata: ["room": "\(id)", "participant": "\(link.participantID)", "reason": "\(reason)"])
            }
        }
        if relayed { handleRelayEvents(now: now) }
        pumpAllData()
        sendTransmits(of: peer)
    }

    /// Opens the two relay channels (DCEP, RFC 8832: we open them, the participant's `ondatachannel` sees them).
    private func openRelayChannels(_ link: DataLink, channels: DataChannelEndpoint) {
        if link.reliable == nil {
            link.reliable = try? channels.open(label: DataLink.reliableLabel, ordered: true, reliability: .reliable).id
        }
        if link.lossy == nil {
            link.lossy = try? channels.open(label: DataLink.lossyLabel, ordered: false, reliability: .maxRetransmits(0)).id
        }
    }

    /// A receiver whose reliable queue overflowed: it is told (`dataError`, `reliable_overflow`) and its
    /// reliable channel is reset (closed, RFC 8831 §6.7) and opened again empty; nobody else is touched.
    func handleRelayEvents(now: Instant) {
        while let event = dataRelay.pollEvent() {
            switch event {
            case .reliableOverflow(let participantID):
                guard let (tid, link) = dataLinks.first(where: { $0.value.participantID == participantID }),
                    let channels = transports[tid]?.transport.dataChannels
                else { continue }
                dataError(link, reason: "reliable_overflow", fields: ["limit": options.data.reliableQueueBytes], now: now, force: true)
                logger.info("data reliable queue overflow", metadata: ["room": "\(id)", "participant": "\(participantID)"])
                if let old = link.reliable {
                    do {
                        try channels.close(old)
                    } catch {
                        logger.info("data channel reset failed", metadata: ["room": "\(id)", "error": "\(error)"])
                    }
                    link.reliable = nil
                    dataRelay.setReady(false, participant: participantID, path: .reliable)
                    do {
                        link.reliable = try channels.open(label: DataLink.reliableLabel, ordered: true, reliability: .reliable).id
                    } catch {
                        logger.info("data channel reopen failed", metadata: ["room": "\(id)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    /// Moves what every receiver is owed into its channels, as far as their send buffers take it.
    func pumpAllData() {
        for (tid, link) in dataLinks { pumpData(tid, link) }
    }

    private func pumpData(_ tid: TransportID, _ link: DataLink) {
        guard let peer = transports[tid], let channels = peer.transport.dataChannels else { return }
        var sent = false
        for path in DataRelay.Path.allCases {
            guard let stream = path == .reliable ? link.reliable : link.lossy else { continue }
            while let message = dataRelay.peek(for: link.participantID, path: path) {
                do {
                    try channels.send(.binary(message), on: stream)
                } catch {
                    if error == .sctp(.bufferFull) { break }
                    // Over this receiver's max-message-size, or the channel is gone: dropped for it alone.
                    dataRelay.countUndeliverable()
                }
                dataRelay.pop(for: link.participantID, path: path)
                sent = true
            }
        }
        if sent { sendTransmits(of: peer) }
    }

    /// Hands the SCTP packets the association produced to DTLS and the transport's datagrams to the loop's
    /// writer (flushed with the read burst or the tick).
    func sendTransmits(of peer: RoomTransport) {
        peer.transport.flushDataChannels(now: MediaLoop.now())
        while let transmit = peer.transport.pollTransmit() {
            if transmit.destination == peer.transport.destination, let route = peer.route {
                transmit.bytes.withUnsafeBytes { loop.writer.send($0, via: route) }
            } else {
                loop.withAssumedIsolation((peer, transmit)) { loop, p in
                    p.1.bytes.withUnsafeBytes { loop.send($0, to: p.1.destination, for: p.0) }
                }
            }
        }
    }

    /// Tells a participant something went wrong with its data (`dataError`): a refusal of what it sent
    /// (`too_large`, `rate_limited`, `not_allowed`, `malformed`) or its reliable queue overflowing. At most
    /// `DataLink.errorBudget` per second; the rest are counted in the relay's counters only.
    private func dataError(_ link: DataLink, reason: String, fields: [String: Any], now: Instant, force: Bool = false) {
        if now - link.errorSecond >= .seconds(1) {
            link.errorSecond = now
            link.errorsThisSecond = 0
        }
        guard force || link.errorsThisSecond < DataLink.errorBudget else { return }
        link.errorsThisSecond += 1
        var event = fields
        event["reason"] = reason
        people.participants[link.participantID]?.send(SignalingCodec.event("dataError", event))
    }

    /// Control API subscribers see every relayed message (`dataReceived`): sender, targets, path, and the
    /// payload as text or base64.
    private func publishDataEvent(_ bytes: [UInt8], from participantID: String, path: DataRelay.Path) {
        guard let hub, hub.hasSubscribers(room: id), let message = try? DataEnvelope.Outgoing(parsing: bytes),
            let sender = people.participants[participantID]
        else { return }
        var fields: [String: JSONValue] = [
            "participantId": .string(participantID), "identity": .string(sender.identity.identity),
            "reliable": .bool(path == .reliable), "targets": .array(message.targets.map { .string($0) }),
        ]
        if message.isText {
            fields["text"] = .string(String(decoding: message.payload, as: UTF8.self))
        } else {
            fields["base64"] = .string(Data(message.payload).base64EncodedString())
        }
        notify("dataReceived", fields)
    }

    /// The control API's `sendData`: a message from the application (sender identity `from`, empty by default)
    /// to every participant or the named identities, on the reliable or the lossy path. Returns how many
    /// participants it was queued for.
    func sendData(
        payload: [UInt8], isText: Bool, to identities: [String], reliable: Bool, from sender: String
    ) throws -> Int {
        guard !isClosed else { throw RoomError.closed }
        let tagged = DataEnvelope.Incoming(sender: sender, isText: isText, payload: payload).serialized()
        guard tagged.count <= options.data.maxMessageBytes else {
            throw RoomError.rejected("the message is over data.maxMessageBytes (\(options.data.maxMessageBytes) bytes with its envelope)")
        }
        let now = MediaLoop.now()
        let count = dataRelay.inject(tagged, to: Set(identities), path: reliable ? .reliable : .lossy)
        handleRelayEvents(now: now)
        pumpAllData()
        loop.writer.flush()
        return count
    }

    /// The room's tick: receivers whose send buffers were full get what waits for them.
    func dataTick() {
        guard !dataLinks.isEmpty else { return }
        pumpAllData()
    }

    /// A participant's data state goes with it.
    func dataParticipantLeft(_ participantID: String) {
        dataRelay.remove(participant: participantID)
    }

    func dataTransportEnded(_ tid: TransportID) {
        guard let link = dataLinks.removeValue(forKey: tid) else { return }
        dataRelay.setReady(false, participant: link.participantID, path: .reliable)
        dataRelay.setReady(false, participant: link.participantID, path: .lossy)
    }
}
