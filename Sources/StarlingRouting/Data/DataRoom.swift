import StarlingTransport

/// The data side of a room, sans-IO: each participant's `DataChannelEndpoint` (the SCTP
/// association on its subscribing connection), the two channels Starling opens on it, and the room's
/// `DataRelay` between them. The server's `Room` and the deterministic simulation drive the same code; the
/// caller moves the endpoints' SCTP packets (through DTLS, or a simulated network) and turns `Notice`s into
/// events for people.
///
/// - Once a participant's association is up, Starling opens `starling.reliable` (ordered, reliable) and
///   `starling.lossy` (unordered, never retransmitted: `maxRetransmits` 0, RFC 8831 §6.1) over DCEP (RFC 8832);
///   each path of the relay is ready for that receiver when the peer acknowledges its channel.
/// - What a participant sends on them (or on channels it opens itself: reliable ordered ones count as the
///   reliable path, the rest as lossy) goes to the relay, which queues it for the others.
/// - Each receiver's queues are pulled into its channels while its association's send buffer takes them
///   (`pumpAll`, also on the caller's tick), so a slow receiver only ever fills its own queues.
/// - A receiver whose reliable queue overflowed has its reliable channel reset (RFC 8831 §6.7, a stream reset
///   per RFC 6525) and opened again empty; nobody else is touched.
public final class DataRoom {
    public static let reliableLabel = "starling.reliable"
    public static let lossyLabel = "starling.lossy"

    /// What the caller should tell people or log.
    public enum Notice: Hashable, Sendable {
        /// A participant's message was refused (`DataRelay.Refusal`, or too_large from SCTP with its size and
        /// our limit).
        case refused(participant: String, reason: String, size: Int?, limit: Int?)
        /// A participant's message was queued for the others (for the control API's `dataReceived`).
        case relayed(participant: String, bytes: [UInt8], path: DataRelay.Path)
        /// A receiver's reliable queue overflowed: it was emptied, and the channel reset and reopened.
        case reliableOverflow(participant: String)
        /// A participant's association ended.
        case associationClosed(participant: String, reason: String)
        /// Something went wrong that only deserves a log line (a failed reset, a DCEP refusal).
        case problem(participant: String, what: String)
    }

    final class Link {
        let endpoint: DataChannelEndpoint
        var reliable: UInt16?
        var lossy: UInt16?
        /// Channels the participant opened itself, with the path their messages take.
        var own: [UInt16: DataRelay.Path] = [:]
        init(endpoint: DataChannelEndpoint) { self.endpoint = endpoint }
    }

    public let relay: DataRelay
    private var links: [String: Link] = [:]
    private var notices: [Notice] = []
    private var noticeStart = 0
    /// Participants whose endpoints were given something to send since the last `takeSent()`.
    private var sent: Set<String> = []

    public init(relay: DataRelay) { self.relay = relay }

    /// Starts driving a participant's endpoint (its association may still be connecting).
    public func attach(participant: String, endpoint: DataChannelEndpoint) {
        links[participant] = Link(endpoint: endpoint)
        if endpoint.association.state == .connected { openRelayChannels(participant) }
    }

    /// The participant's association is gone (its connection ended): its paths wait again.
    public func detach(participant: String) {
        guard links.removeValue(forKey: participant) != nil else { return }
        relay.setReady(false, participant: participant, path: .reliable)
        relay.setReady(false, participant: participant, path: .lossy)
    }

    /// The channel a participant's path is on, once opened (for tests and stats).
    public func channel(of participant: String, path: DataRelay.Path) -> UInt16? {
        path == .reliable ? links[participant]?.reliable : links[participant]?.lossy
    }

    /// Reads a participant's endpoint events: opens the relay channels when the association is up, marks the
    /// paths ready when acknowledged, relays its messages, and then pulls every receiver's queues.
    public func handleEvents(of participant: String, now: Instant) {
        guard let link = links[participant] else { return }
        link.endpoint.pumpAssociation()
        var relayed = false
        while let event = link.endpoint.pollEvent() {
            switch event {
            case .ready:
                openRelayChannels(participant)
            case .opened(let channel):
                if channel.id == link.reliable {
                    relay.setReady(true, participant: participant, path: .reliable)
                } else if channel.id == link.lossy {
                    relay.setReady(true, participant: participant, path: .lossy)
                } else {
                    link.own[channel.id] = channel.ordered && channel.reliability == .reliable ? .reliable : .lossy
                }
            case .message(let stream, let message):
                guard let path = stream == link.reliable ? .reliable : stream == link.lossy ? .lossy : link.own[stream]
                else { continue }
                let bytes: [UInt8] =
                    switch message {
                    case .binary(let b): b
                    case .string(let s): Array(s.utf8)
                    }
                if let refusal = relay.receive(bytes, from: participant, path: path, now: now) {
                    notices.append(.refused(participant: participant, reason: refusal.rawValue, size: nil, limit: nil))
                } else {
                    relayed = true
                    notices.append(.relayed(participant: participant, bytes: bytes, path: path))
                }
            case .closed(let stream):
                if stream == link.reliable {
                    link.reliable = nil
                    relay.setReady(false, participant: participant, path: .reliable)
                } else if stream == link.lossy {
                    link.lossy = nil
                    relay.setReady(false, participant: participant, path: .lossy)
                }
                link.own[stream] = nil
            case .tooLarge(_, let size, let limit):
                notices.append(.refused(participant: participant, reason: DataRelay.Refusal.tooLarge.rawValue, size: size, limit: limit))
            case .refused(let stream, let reason):
                notices.append(.problem(participant: participant, what: "stream \(stream): \(reason)"))
            case .associationClosed(let reason):
                relay.setReady(false, participant: participant, path: .reliable)
                relay.setReady(false, participant: participant, path: .lossy)
                link.reliable = nil
                link.lossy = nil
                notices.append(.associationClosed(participant: participant, reason: reason))
            }
        }
        if relayed { handleRelayEvents() }
        pumpAll()
    }

    /// A message from the application (the control API's `sendData`): sender identity inside `tagged`.
    /// Returns how many participants it was queued for.
    public func inject(_ tagged: [UInt8], to identities: Set<String>, path: DataRelay.Path) -> Int {
        let queued = relay.inject(tagged, to: identities, path: path)
        handleRelayEvents()
        pumpAll()
        return queued
    }

    /// Moves what every receiver is owed into its channels, as far as their send buffers take it.
    public func pumpAll() {
        for (participant, link) in links { pump(participant, link) }
    }

    private func pump(_ participant: String, _ link: Link) {
        var any = false
        for path in DataRelay.Path.allCases {
            guard let stream = path == .reliable ? link.reliable : link.lossy else { continue }
            while let message = relay.peek(for: participant, path: path) {
                do {
                    try link.endpoint.send(.binary(message), on: stream)
                } catch {
                    if error == .sctp(.bufferFull) { break }
                    // Over this receiver's max-message-size, or the channel is gone: dropped for it alone.
                    relay.countUndeliverable()
                }
                relay.pop(for: participant, path: path)
                any = true
            }
        }
        if any { sent.insert(participant) }
    }

    /// Opens the two relay channels (DCEP: we open them, the participant's `ondatachannel` sees them).
    private func openRelayChannels(_ participant: String) {
        guard let link = links[participant] else { return }
        if link.reliable == nil {
            link.reliable = try? link.endpoint.open(label: Self.reliableLabel, ordered: true, reliability: .reliable).id
        }
        if link.lossy == nil {
            link.lossy = try? link.endpoint.open(label: Self.lossyLabel, ordered: false, reliability: .maxRetransmits(0)).id
        }
        sent.insert(participant)
    }

    /// A receiver whose reliable queue overflowed gets its reliable channel reset and opened again empty.
    private func handleRelayEvents() {
        while let event = relay.pollEvent() {
            switch event {
            case .reliableOverflow(let participant):
                notices.append(.reliableOverflow(participant: participant))
                guard let link = links[participant], let old = link.reliable else { continue }
                do {
                    try link.endpoint.close(old)
                } catch {
                    notices.append(.problem(participant: participant, what: "reset of the reliable channel failed: \(error)"))
                }
                link.reliable = nil
                relay.setReady(false, participant: participant, path: .reliable)
                do {
                    link.reliable = try link.endpoint.open(label: Self.reliableLabel, ordered: true, reliability: .reliable).id
                } catch {
                    notices.append(.problem(participant: participant, what: "reopening the reliable channel failed: \(error)"))
                }
                sent.insert(participant)
            }
        }
    }

    public func pollNotice() -> Notice? {
        guard noticeStart < notices.count else {
            notices.removeAll(keepingCapacity: true)
            noticeStart = 0
            return nil
        }
        defer { noticeStart += 1 }
        return notices[noticeStart]
    }

    /// The participants whose endpoints have packets to send (the caller flushes their transports).
    public func takeSent() -> Set<String> {
        defer { sent.removeAll(keepingCapacity: true) }
        return sent
    }
}
