public import StarlingWire

/// WebRTC data channels (RFC 8831) on one `SCTPAssociation`, sans-IO: DCEP (RFC 8832) in both roles,
/// pre-negotiated channels, string/binary/empty messages, the peer's maximum message size (RFC 8841 §6), and
/// closing by stream reset. Feed it the association's events through `handle(_:)`; what happened to the
/// channels comes out of `pollEvent()`.
///
/// - Stream ids (RFC 8832 §6): the DTLS client opens channels on even streams, the DTLS server on odd ones;
///   an OPEN on a stream of our own parity is refused (the stream is reset).
/// - Opening (§6): DATA_CHANNEL_OPEN goes out reliable and ordered with PPID 50, and the channel may carry
///   data at once; DATA_CHANNEL_ACK marks it acknowledged. An OPEN from the peer is answered with an ACK and
///   reported as `.opened`.
/// - Messages (RFC 8831 §6.6): PPID 51 string (UTF-8), 53 binary; empty messages travel as one byte with PPID
///   56 (string) or 57 (binary). Each is sent with its channel's ordering and partial reliability (§6.1).
/// - Closing (§6.7): our side resets the outgoing stream; when the peer resets its side, we reset ours too,
///   and the channel is `.closed` once both directions are.
public final class DataChannelEndpoint {
    public struct Channel: Hashable, Sendable {
        public enum State: Hashable, Sendable { case open, closing, closed }
        public var id: UInt16
        public var label: String
        public var `protocol`: String
        public var ordered: Bool
        public var reliability: SCTPAssociation.Reliability
        public var priority: UInt16
        public var negotiated: Bool
        /// Whether the peer acknowledged our OPEN (always true for channels the peer opened or pre-negotiated).
        public var acknowledged: Bool
        public var state: State
    }

    public enum Message: Hashable, Sendable {
        case string(String)
        case binary([UInt8])

        public var count: Int {
            switch self {
            case .string(let s): s.utf8.count
            case .binary(let b): b.count
            }
        }
    }

    public enum Event: Hashable, Sendable {
        /// The association is up: channels can be opened.
        case ready
        /// The peer opened a channel (DCEP), or our OPEN was acknowledged.
        case opened(Channel)
        case message(channel: UInt16, Message)
        /// Both directions of the channel's stream are reset.
        case closed(channel: UInt16)
        /// Something the peer sent that we refused (a bad DCEP message, an OPEN on our parity, data on an
        /// unknown stream, a message over our limit); counted, never fatal.
        case refused(stream: UInt16, reason: String)
        /// The peer sent a message over our `a=max-message-size` (RFC 8841 §6); it was dropped (and counted as
        /// refused).
        case tooLarge(stream: UInt16, size: Int, limit: Int)
        /// The association ended.
        case associationClosed(reason: String)
    }

    public let association: SCTPAssociation
    /// Whether we are the DTLS client (even stream ids).
    public let isDTLSClient: Bool
    /// The peer's `a=max-message-size` (65536 when absent, RFC 8841 §6.1; 0 means no limit).
    public var remoteMaxMessageSize: Int
    public private(set) var channels: [UInt16: Channel] = [:]
    private var events = Queue<Event>()
    private var nextID: UInt16
    private var incomingReset: Set<UInt16> = []
    private var outgoingReset: Set<UInt16> = []
    /// Messages and DCEP problems refused from the peer.
    public private(set) var refusedCount = 0

    public init(association: SCTPAssociation, isDTLSClient: Bool, remoteMaxMessageSize: Int = 65_536) {
        self.association = association
        self.isDTLSClient = isDTLSClient
        self.remoteMaxMessageSize = remoteMaxMessageSize
        nextID = isDTLSClient ? 0 : 1
    }

    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        case noSuchChannel(UInt16)
        case channelClosed(UInt16)
        case streamInUse(UInt16)
        case noStreamLeft
        /// Larger than the peer's maximum message size (RFC 8841 §6).
        case messageTooLarge(size: Int, limit: Int)
        case sctp(SCTPError)

        public var description: String {
            switch self {
            case .noSuchChannel(let id): "no data channel on stream \(id)"
            case .channelClosed(let id): "the data channel on stream \(id) is closed"
            case .streamInUse(let id): "stream \(id) already carries a data channel"
            case .noStreamLeft: "no stream id left for a new data channel"
            case .messageTooLarge(let size, let limit): "a \(size)-byte message is over the peer's limit of \(limit) bytes"
            case .sctp(let error): "\(error)"
            }
        }
    }

    // MARK: - Opening and closing

    /// Opens a channel with DCEP on the next stream id of our parity; returns it. Data may be sent at once.
    @discardableResult
    public func open(
        label: String, protocol: String = "", ordered: Bool = true, reliability: SCTPAssociation.Reliability = .reliable,
        priority: UInt16 = 256
    ) throws(Failure) -> Channel {
        var id = nextID
        while channels[id] != nil {
            guard id <= association.configuration.streams &- 3 else { throw .noStreamLeft }
            id += 2
        }
        guard id < association.configuration.streams else { throw .noStreamLeft }
        nextID = id + 2
        let type: DataChannelOpen.ChannelType =
            switch (reliability, ordered) {
            case (.reliable, true): .reliable
            case (.reliable, false): .reliableUnordered
            case (.maxRetransmits, true): .partialReliableRexmit
            case (.maxRetransmits, false): .partialReliableRexmitUnordered
            case (.lifetime, true): .partialReliableTimed
            case (.lifetime, false): .partialReliableTimedUnordered
            }
        let parameter: UInt32 =
            switch reliability {
            case .reliable: 0
            case .maxRetransmits(let n): n
            case .lifetime(let ms): ms
            }
        let open = DCEPMessage.open(
            DataChannelOpen(channelType: type, priority: priority, reliabilityParameter: parameter, label: label, protocol: `protocol`))
        do {
            try association.send(open.serialized(), stream: id, ppid: DataChannelPPID.dcep)
        } catch {
            throw .sctp(error)
        }
        let channel = Channel(
            id: id, label: label, protocol: `protocol`, ordered: ordered, reliability: reliability, priority: priority,
            negotiated: false, acknowledged: false, state: .open)
        channels[id] = channel
        return channel
    }

    /// A channel both sides agreed on out of band (`negotiated: true, id: N`): no DCEP, open at once.
    @discardableResult
    public func openNegotiated(
        id: UInt16, label: String, protocol: String = "", ordered: Bool = true, reliability: SCTPAssociation.Reliability = .reliable
    ) throws(Failure) -> Channel {
        guard channels[id] == nil else { throw .streamInUse(id) }
        let channel = Channel(
            id: id, label: label, protocol: `protocol`, ordered: ordered, reliability: reliability, priority: 256,
            negotiated: true, acknowledged: true, state: .open)
        channels[id] = channel
        return channel
    }

    /// Closes a channel: resets our outgoing stream (RFC 8831 §6.7).
    public func close(_ id: UInt16) throws(Failure) {
        guard var channel = channels[id] else { throw .noSuchChannel(id) }
        guard channel.state == .open else { return }
        channel.state = .closing
        channels[id] = channel
        do {
            try association.resetStreams([id])
        } catch {
            throw .sctp(error)
        }
    }

    // MARK: - Sending

    /// Sends a message on an open channel, with the channel's ordering and reliability.
    public func send(_ message: Message, on id: UInt16) throws(Failure) {
        guard let channel = channels[id] else { throw .noSuchChannel(id) }
        guard channel.state == .open else { throw .channelClosed(id) }
        if remoteMaxMessageSize > 0, message.count > remoteMaxMessageSize {
            throw .messageTooLarge(size: message.count, limit: remoteMaxMessageSize)
        }
        let (bytes, ppid): ([UInt8], UInt32) =
            switch message {
            case .string(let s) where s.isEmpty: ([0], DataChannelPPID.stringEmpty)
            case .string(let s): (Array(s.utf8), DataChannelPPID.string)
            case .binary(let b) where b.isEmpty: ([0], DataChannelPPID.binaryEmpty)
            case .binary(let b): (b, DataChannelPPID.binary)
            }
        do {
            try association.send(bytes, stream: id, ppid: ppid, unordered: !channel.ordered, reliability: channel.reliability)
        } catch {
            throw .sctp(error)
        }
    }

    // MARK: - Receiving

    /// Drains the association's events into channel events.
    public func pumpAssociation() {
        while let event = association.pollEvent() { handle(event) }
    }

    public func handle(_ event: SCTPAssociation.Event) {
        switch event {
        case .connected:
            events.push(.ready)
        case .message(let stream, let ppid, let data, _):
            receive(stream: stream, ppid: ppid, data: data)
        case .messageTooLarge(let stream, let size):
            refusedCount += 1
            events.push(.tooLarge(stream: stream, size: size, limit: association.configuration.maxMessageSize))
        case .incomingStreamsReset(let ids):
            for id in ids {
                incomingReset.insert(id)
                guard var channel = channels[id] else { continue }
                if channel.state == .open {
                    // The peer closed the channel: close our direction too (RFC 8831 §6.7).
                    channel.state = .closing
                    channels[id] = channel
                    try? association.resetStreams([id])
                }
                finishClose(id)
            }
        case .outgoingStreamsReset(let ids):
            for id in ids {
                outgoingReset.insert(id)
                finishClose(id)
            }
        case .closed(let reason):
            for id in channels.keys where channels[id]?.state != .closed {
                channels[id]?.state = .closed
                events.push(.closed(channel: id))
            }
            events.push(.associationClosed(reason: reason))
        }
    }

    private func finishClose(_ id: UInt16) {
        guard incomingReset.contains(id), outgoingReset.contains(id) else { return }
        incomingReset.remove(id)
        outgoingReset.remove(id)
        // The stream id is free again once both directions are reset.
        if channels.removeValue(forKey: id) != nil { events.push(.closed(channel: id)) }
    }

    private func refuse(_ stream: UInt16, _ reason: String) {
        refusedCount += 1
        events.push(.refused(stream: stream, reason: reason))
    }

    private func receive(stream: UInt16, ppid: UInt32, data: [UInt8]) {
        if ppid == DataChannelPPID.dcep {
            receiveDCEP(stream: stream, data: data)
            return
        }
        guard let channel = channels[stream], channel.state == .open else {
            refuse(stream, "data on a stream with no open channel")
            return
        }
        switch ppid {
        case DataChannelPPID.string:
            guard let text = String(validating: data, as: UTF8.self) else {
                refuse(stream, "a string message that is not UTF-8")
                return
            }
            events.push(.message(channel: stream, .string(text)))
        case DataChannelPPID.binary:
            events.push(.message(channel: stream, .binary(data)))
        case DataChannelPPID.stringEmpty:
            events.push(.message(channel: stream, .string("")))
        case DataChannelPPID.binaryEmpty:
            events.push(.message(channel: stream, .binary([])))
        default:
            refuse(stream, "unsupported payload protocol identifier \(ppid)")
        }
    }

    /// The longest label and protocol of a channel the peer opens.
    static let maxLabelBytes = 1024

    private func receiveDCEP(stream: UInt16, data: [UInt8]) {
        let message: DCEPMessage
        do {
            message = try DCEPMessage(parsing: data)
        } catch {
            refuse(stream, "\(error)")
            return
        }
        switch message {
        case .ack:
            guard var channel = channels[stream], !channel.acknowledged else {
                refuse(stream, "an ACK for no OPEN of ours")
                return
            }
            channel.acknowledged = true
            channels[stream] = channel
            events.push(.opened(channel))
        case .open(let open):
            // RFC 8832 §6: the peer uses the other parity; a stream in use cannot be opened again.
            let peerParity: UInt16 = isDTLSClient ? 1 : 0
            guard stream % 2 == peerParity, channels[stream] == nil else {
                refuse(stream, "an OPEN on stream \(stream), which the peer may not open")
                try? association.resetStreams([stream])
                return
            }
            // RFC 8832 §5.1 lets a label and protocol be 64 KiB each; we keep at most `maxLabelBytes` of
            // each per channel, so a peer opening every stream cannot make us hold 128 MiB of names.
            guard open.label.utf8.count <= Self.maxLabelBytes, open.protocol.utf8.count <= Self.maxLabelBytes else {
                refuse(stream, "an OPEN whose label or protocol is over \(Self.maxLabelBytes) bytes")
                try? association.resetStreams([stream])
                return
            }
            let reliability: SCTPAssociation.Reliability =
                switch open.channelType {
                case .reliable, .reliableUnordered: .reliable
                case .partialReliableRexmit, .partialReliableRexmitUnordered: .maxRetransmits(open.reliabilityParameter)
                case .partialReliableTimed, .partialReliableTimedUnordered: .lifetime(milliseconds: open.reliabilityParameter)
                }
            let channel = Channel(
                id: stream, label: open.label, protocol: open.protocol, ordered: open.channelType.isOrdered,
                reliability: reliability, priority: open.priority, negotiated: false, acknowledged: true, state: .open)
            channels[stream] = channel
            try? association.send(DCEPMessage.ack.serialized(), stream: stream, ppid: DataChannelPPID.dcep)
            events.push(.opened(channel))
        }
    }

    public func pollEvent() -> Event? { events.pop() }
    /// Whether `pollEvent` has something.
    public var hasEvents: Bool { !events.isEmpty }
}
