public import StarlingTransport

/// The data-message relay of one room, sans-IO: what a participant sends on its data channels
/// reaches the other participants (all of them, or the identities it names), tagged with the sender's
/// identity, on a reliable or a lossy path. The IO layer feeds received messages to `receive` and pulls what
/// to send with `peek`/`pop` while the receiver's SCTP send buffer has room, so a slow receiver only ever
/// fills its own queues:
/// - Each receiver has one bounded queue per path. A lossy message that does not fit is dropped and
///   counted. A reliable message that does not fit overflows the receiver's reliable path: its queue is
///   emptied, `Event.reliableOverflow` tells the IO layer to report it and reset that channel, and the other
///   receivers are not touched.
/// - Until a receiver's channel is ready (it is still connecting), its queue holds what it is owed, within
///   the same bound, and delivers it once the channel opens.
/// - Senders are limited per second in messages and bytes (a token bucket each), and per message in
///   size. A participant without the publish-data grant cannot send. Refusals are counted per reason.
public final class DataRelay {
    public enum Path: Int, Hashable, Sendable, CaseIterable { case reliable = 0, lossy = 1 }

    public struct Limits: Hashable, Sendable {
        /// The largest message payload a participant may send.
        public var maxMessageBytes = 65_536
        /// Per receiver, what may wait on the reliable path (it overflows past this).
        public var reliableQueueBytes = 1 << 20
        /// Per receiver, what may wait on the lossy path (newer messages are dropped past this).
        public var lossyQueueBytes = 256 << 10
        /// Per sender.
        public var messagesPerSecond = 200
        public var bytesPerSecond = 2 << 20
        public init() {}
    }

    public enum Refusal: String, Hashable, Sendable {
        case notAllowed = "not_allowed"
        case tooLarge = "too_large"
        case rateLimited = "rate_limited"
        case malformed = "malformed"
        case unknownSender = "unknown_sender"
    }

    public enum Event: Hashable, Sendable {
        /// A receiver's reliable queue overflowed: it was emptied; report it and reset the channel.
        case reliableOverflow(participant: String)
    }

    public struct Counters: Hashable, Sendable {
        public var messagesIn = 0
        public var bytesIn = 0
        public var deliveriesQueued = 0
        public var lossyDropped = 0
        public var reliableOverflows = 0
        /// Queued messages a receiver's channel could not take (over its limit, or closed).
        public var undeliverable = 0
        public var refused: [Refusal: Int] = [:]
        public init() {}
    }

    /// A class, so that queueing and popping change the member in place: copying a struct out of the
    /// dictionary and back would copy its queues (allocations on every message and every receiver).
    final class Member {
        let identity: String
        var canPublish: Bool
        var ready: [Bool] = [false, false]
        var queues: [Queue] = [Queue(), Queue()]
        var messageTokens: Double
        var byteTokens: Double
        var refilledAt: Instant

        init(identity: String, canPublish: Bool, messageTokens: Double, byteTokens: Double, refilledAt: Instant) {
            self.identity = identity
            self.canPublish = canPublish
            self.messageTokens = messageTokens
            self.byteTokens = byteTokens
            self.refilledAt = refilledAt
        }
    }

    struct Queue {
        var items: [[UInt8]] = []
        var head = 0
        var bytes = 0
        var isEmpty: Bool { head >= items.count }
        mutating func push(_ item: [UInt8]) {
            items.append(item)
            bytes += item.count
        }
        func peek() -> [UInt8]? { head < items.count ? items[head] : nil }
        mutating func pop() {
            guard head < items.count else { return }
            bytes -= items[head].count
            head += 1
            if head == items.count || head > 64 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
        }
        mutating func removeAll() {
            items.removeAll()
            head = 0
            bytes = 0
        }
    }

    public var limits: Limits
    public private(set) var counters = Counters()
    private var members: [String: Member] = [:]
    private var order: [String] = []
    private var events: [Event] = []

    public init(limits: Limits = Limits()) { self.limits = limits }

    // MARK: - Membership

    /// Adds a participant (by its participant id) with its identity and whether it may publish data.
    public func add(participant: String, identity: String, canPublish: Bool, now: Instant) {
        guard members[participant] == nil else { return }
        members[participant] = Member(
            identity: identity, canPublish: canPublish, messageTokens: Double(limits.messagesPerSecond),
            byteTokens: Double(limits.bytesPerSecond), refilledAt: now)
        order.append(participant)
    }

    /// Changes whether a participant may publish data (its grants changed).
    public func setCanPublish(participant: String, _ canPublish: Bool) {
        members[participant]?.canPublish = canPublish
    }

    public func remove(participant: String) {
        members[participant] = nil
        order.removeAll { $0 == participant }
    }

    /// Whether the receiver's channel of `path` is open (messages wait, bounded, until it is).
    public func setReady(_ ready: Bool, participant: String, path: Path) {
        members[participant]?.ready[path.rawValue] = ready
    }

    // MARK: - Receiving

    /// A message from `participant` on `path`: `DataEnvelope.Outgoing` bytes from its data channel. Queues
    /// the tagged message for every target that is in the room (all others when it names none).
    @discardableResult
    public func receive(_ bytes: [UInt8], from participant: String, path: Path, now: Instant) -> Refusal? {
        guard let sender = members[participant] else { return refuse(.unknownSender) }
        guard sender.canPublish else { return refuse(.notAllowed) }
        let message: DataEnvelope.Outgoing
        do {
            message = try DataEnvelope.Outgoing(parsing: bytes)
        } catch {
            return refuse(.malformed)
        }
        guard message.payload.count <= limits.maxMessageBytes else { return refuse(.tooLarge) }
        // Token buckets, refilled by elapsed time (at most one second's worth banked).
        let elapsed = max(0, (now - sender.refilledAt).inSeconds)
        sender.refilledAt = now
        sender.messageTokens = min(Double(limits.messagesPerSecond), sender.messageTokens + elapsed * Double(limits.messagesPerSecond))
        sender.byteTokens = min(Double(limits.bytesPerSecond), sender.byteTokens + elapsed * Double(limits.bytesPerSecond))
        guard sender.messageTokens >= 1, sender.byteTokens >= Double(message.payload.count) else {
            return refuse(.rateLimited)
        }
        sender.messageTokens -= 1
        sender.byteTokens -= Double(message.payload.count)
        counters.messagesIn += 1
        counters.bytesIn += message.payload.count

        let tagged = DataEnvelope.Incoming(sender: sender.identity, isText: message.isText, payload: message.payload).serialized()
        enqueue(tagged, to: Set(message.targets), excluding: participant, path: path)
        return nil
    }

    /// A message from outside the room (the control API's `sendData`): `tagged` is a whole
    /// `DataEnvelope.Incoming`, queued for every participant, or those whose identity is in `identities`.
    /// Returns how many it was queued for.
    @discardableResult
    public func inject(_ tagged: [UInt8], to identities: Set<String>, path: Path) -> Int {
        counters.messagesIn += 1
        return enqueue(tagged, to: identities, excluding: nil, path: path)
    }

    /// A queued message a receiver's channel could not take (over its max-message-size, or the channel
    /// went away): dropped for that receiver alone.
    public func countUndeliverable() { counters.undeliverable += 1 }

    @discardableResult
    private func enqueue(_ tagged: [UInt8], to targets: Set<String>, excluding sender: String?, path: Path) -> Int {
        var queued = 0
        let bound = path == .reliable ? limits.reliableQueueBytes : limits.lossyQueueBytes
        for id in order where id != sender {
            guard let receiver = members[id] else { continue }
            if !targets.isEmpty && !targets.contains(receiver.identity) { continue }
            if receiver.queues[path.rawValue].bytes + tagged.count > bound {
                if path == .lossy {
                    counters.lossyDropped += 1
                    continue
                }
                receiver.queues[path.rawValue].removeAll()
                counters.reliableOverflows += 1
                events.append(.reliableOverflow(participant: id))
                continue
            }
            receiver.queues[path.rawValue].push(tagged)
            counters.deliveriesQueued += 1
            queued += 1
        }
        return queued
    }

    private func refuse(_ why: Refusal) -> Refusal {
        counters.refused[why, default: 0] += 1
        return why
    }

    // MARK: - Sending

    /// The next message for `participant` on `path` (the `DataEnvelope.Incoming` bytes), while its channel
    /// is ready. Call `pop` once the channel took it.
    public func peek(for participant: String, path: Path) -> [UInt8]? {
        guard let member = members[participant], member.ready[path.rawValue] else { return nil }
        return member.queues[path.rawValue].peek()
    }

    public func pop(for participant: String, path: Path) {
        members[participant]?.queues[path.rawValue].pop()
    }

    /// Bytes waiting for `participant` on `path`.
    public func queuedBytes(for participant: String, path: Path) -> Int {
        members[participant]?.queues[path.rawValue].bytes ?? 0
    }

    public func pollEvent() -> Event? { events.isEmpty ? nil : events.removeFirst() }
}

/// The envelope of relayed data messages (binary data channel messages).
///
/// From a participant (`Outgoing`): version (1), flags (bit 0: the payload is UTF-8 text), the number of
/// target identities (0: everybody else), each as a length byte and UTF-8, then the payload.
/// To a participant (`Incoming`): version (1), flags, the sender's identity as a length byte and UTF-8, then
/// the payload.
public enum DataEnvelope {
    public static let version: UInt8 = 1

    public enum Failure: Error, Hashable, Sendable {
        case truncated
        case unsupportedVersion(UInt8)
        case badIdentity
        case badText
    }

    /// Checks the three header bytes both directions share (version, flags, count or length) and returns
    /// the text flag.
    static func readHeader(_ bytes: [UInt8]) throws(Failure) -> Bool {
        guard bytes.count >= 3 else { throw .truncated }
        guard bytes[0] == version else { throw .unsupportedVersion(bytes[0]) }
        return bytes[1] & 0x01 != 0
    }

    public struct Outgoing: Hashable, Sendable {
        public var targets: [String]
        public var isText: Bool
        public var payload: [UInt8]

        public init(targets: [String] = [], isText: Bool, payload: [UInt8]) {
            self.targets = targets
            self.isText = isText
            self.payload = payload
        }

        public init(parsing bytes: [UInt8]) throws(Failure) {
            isText = try DataEnvelope.readHeader(bytes)
            var at = 3
            var targets: [String] = []
            for _ in 0..<Int(bytes[2]) {
                guard at < bytes.count else { throw .truncated }
                let length = Int(bytes[at])
                guard length > 0, at + 1 + length <= bytes.count else { throw .badIdentity }
                guard let identity = String(validating: bytes[(at + 1)..<(at + 1 + length)], as: UTF8.self) else {
                    throw .badIdentity
                }
                targets.append(identity)
                at += 1 + length
            }
            self.targets = targets
            payload = Array(bytes[at...])
            if isText, String(validating: payload, as: UTF8.self) == nil { throw .badText }
        }

        public func serialized() -> [UInt8] {
            let names = targets.prefix(255).map { Array($0.utf8.prefix(255)) }.filter { !$0.isEmpty }
            var out: [UInt8] = [DataEnvelope.version, isText ? 1 : 0, UInt8(names.count)]
            for name in names {
                out.append(UInt8(name.count))
                out += name
            }
            return out + payload
        }
    }

    public struct Incoming: Hashable, Sendable {
        public var sender: String
        public var isText: Bool
        public var payload: [UInt8]

        public init(sender: String, isText: Bool, payload: [UInt8]) {
            self.sender = sender
            self.isText = isText
            self.payload = payload
        }

        public init(parsing bytes: [UInt8]) throws(Failure) {
            isText = try DataEnvelope.readHeader(bytes)
            let length = Int(bytes[2])
            guard 3 + length <= bytes.count,
                let sender = String(validating: bytes[3..<(3 + length)], as: UTF8.self)
            else { throw .badIdentity }
            self.sender = sender
            payload = Array(bytes[(3 + length)...])
        }

        public func serialized() -> [UInt8] {
            let name = Array(sender.utf8.prefix(255))
            return [DataEnvelope.version, isText ? 1 : 0, UInt8(name.count)] + name + payload
        }
    }
}
