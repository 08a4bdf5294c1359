import Foundation
import NIOCore
import StarlingAPI
import StarlingNIO
import StarlingRouting
import StarlingTransport
import StarlingWire

/// Data channels in a room: each participant's subscribing connection carries one SCTP association
/// (RFC 8261), driven by the room's `DataRoom` (StarlingRouting: the channels Starling opens, the relay, the
/// pumping of each receiver's queues; docs/PROTOCOL.md, "Data channels"). Here: starting SCTP on a
/// transport, moving SCTP packets through DTLS to the loop, and turning the data room's notices into
/// `dataError` events for participants and `dataReceived` events for control API subscribers.
final class DataLink {
    let participantID: String
    /// `dataError` events sent in the current second (at most `errorBudget`; the rest are only counted).
    var errorsThisSecond = 0
    var errorSecond = Instant.zero

    init(participantID: String) { self.participantID = participantID }

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
        guard let endpoint = peer.transport.dataChannels else { return }
        dataLinks[tid] = DataLink(participantID: participant.id)
        dataRoom.attach(participant: participant.id, endpoint: endpoint)
        sendTransmits(of: peer)
    }

    /// Called on the datagram path and by the loop's tick when a transport's data channels have events.
    func handleDataEvents(on tid: TransportID, now: Instant) {
        guard let link = dataLinks[tid], let peer = transports[tid] else { return }
        dataRoom.handleEvents(of: link.participantID, now: now)
        handleDataNotices(now: now)
        flushData()
        sendTransmits(of: peer)
    }

    /// Turns the data room's notices into events and log lines.
    private func handleDataNotices(now: Instant) {
        while let notice = dataRoom.pollNotice() {
            switch notice {
            case .refused(let participant, let reason, let size, let limit):
                guard let link = dataLink(of: participant) else { continue }
                var fields: [String: Any] = [:]
                if let size, let limit {
                    fields["size"] = size
                    fields["limit"] = limit
                }
                dataError(link, reason: reason, fields: fields, now: now)
            case .relayed(let participant, let bytes, let path):
                publishDataEvent(bytes, from: participant, path: path)
            case .reliableOverflow(let participant):
                logger.info("data reliable queue overflow", metadata: ["room": "\(id)", "participant": "\(participant)"])
                guard let link = dataLink(of: participant) else { continue }
                dataError(link, reason: "reliable_overflow", fields: ["limit": options.data.reliableQueueBytes], now: now, force: true)
            case .associationClosed(let participant, let reason):
                logger.info("data association closed", metadata: ["room": "\(id)", "participant": "\(participant)", "reason": "\(reason)"])
            case .problem(let participant, let what):
                logger.debug("data channel problem", metadata: ["room": "\(id)", "participant": "\(participant)", "what": "\(what)"])
            }
        }
    }

    private func dataLink(of participant: String) -> DataLink? {
        dataLinks.values.first { $0.participantID == participant }
    }

    /// Sends what the data room gave the receivers' associations.
    private func flushData() {
        let touched = dataRoom.takeSent()
        guard !touched.isEmpty else { return }
        for (tid, link) in dataLinks where touched.contains(link.participantID) {
            if let peer = transports[tid] { sendTransmits(of: peer) }
        }
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
        let count = dataRoom.inject(tagged, to: Set(identities), path: reliable ? .reliable : .lossy)
        handleDataNotices(now: MediaLoop.now())
        flushData()
        loop.writer.flush()
        return count
    }

    /// The room's tick: receivers whose send buffers were full get what waits for them.
    func dataTick() {
        guard !dataLinks.isEmpty else { return }
        dataRoom.pumpAll()
        flushData()
    }

    /// A participant's data state goes with it.
    func dataParticipantLeft(_ participantID: String) {
        dataRoom.detach(participant: participantID)
        dataRoom.relay.remove(participant: participantID)
    }

    func dataTransportEnded(_ tid: TransportID) {
        guard let link = dataLinks.removeValue(forKey: tid) else { return }
        dataRoom.detach(participant: link.participantID)
    }
}
