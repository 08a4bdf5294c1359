import StarlingTransport
import StarlingWire

/// Receive side of transport-wide congestion control: records when each packet of a publisher's
/// transport arrived and reports it back in transport-wide feedback
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1), so the publisher's send-side estimator
/// (draft-ietf-rmcat-gcc-02 §5) can see queuing delay and loss on its uplink.
///
/// State: a power-of-two ring of arrival times indexed by the extended transport-wide sequence number
/// (each slot tagged with its number so stale laps are recognised), the first number not yet reported
/// (`start`), the highest number received, and the feedback packet count. A feedback covers every
/// number from `start` to the highest received: gaps are reported as not received (§3.1.1), a packet
/// arriving after its number was reported is dropped (counted as `late`), duplicates keep their first
/// arrival. Until the first feedback, a reordered packet below `start` moves `start` back. When more
/// than `capacity` numbers are pending the oldest are dropped (`overrun`). A feedback ends early when a
/// receive delta does not fit 16 bits (±8.19 s, §3.1.5); the rest goes out at once in another one.
///
/// `record` allocates nothing. `poll(now:senderSSRC:mediaSSRC:)` returns a `TransportFeedback` value
/// (one allocation per feedback); `poll(now:senderSSRC:mediaSSRC:into:)` writes the packet into a
/// caller's buffer and allocates nothing in steady state.
public struct TransportFeedbackGenerator: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// Time between feedbacks while packets arrive (the draft's examples and libwebrtc use 50-100 ms).
        public var interval: Duration
        /// Numbers that can be pending between feedbacks; rounded up to a power of two, at most 32768.
        public var capacity: Int

        /// The default capacity, 1024 numbers (16 KiB), is 1 s of packets at 1000 packets/s between feedbacks.
        public init(interval: Duration = .milliseconds(50), capacity: Int = 1024) {
            self.interval = interval
            self.capacity = capacity
        }
    }

    public struct Counters: Hashable, Sendable {
        /// Packets recorded (including duplicates and late ones).
        public var received = 0
        /// Packets whose number was already recorded.
        public var duplicates = 0
        /// Packets arriving after their number was reported (as not received).
        public var late = 0
        /// Pending numbers dropped because the ring was full.
        public var overrun = 0
        /// Feedback packets produced.
        public var feedbacks = 0

        public init() {}
    }

    private struct Slot: Sendable {
        var sequenceNumber: Int64
        var arrivalMicroseconds: Int64
    }

    public let configuration: Configuration
    public private(set) var counters = Counters()
    /// When `poll` should next be called; nil while nothing is pending. Never late, may be early.
    public private(set) var nextDeadline: Instant?
    /// The feedback packet count the next feedback carries (wraps at 255).
    public private(set) var feedbackPacketCount: UInt8 = 0

    private var ring: [Slot]
    private let mask: Int64
    private var unwrapper = SequenceNumberUnwrapper()
    private var start: Int64?
    private var highest: Int64?
    private var hasReported = false
    private var lastFeedback: Instant?
    private var builder: TransportFeedback.Builder?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        var capacity = 1
        while capacity < min(max(configuration.capacity, 16), 32768) { capacity <<= 1 }
        ring = Array(repeating: Slot(sequenceNumber: .min, arrivalMicroseconds: 0), count: capacity)
        mask = Int64(capacity - 1)
    }

    /// The ring's capacity (a power of two).
    public var capacity: Int { ring.count }

    /// Numbers waiting to be reported (received or not), from the first unreported to the highest received.
    public var pendingCount: Int {
        guard let start, let highest, highest >= start else { return 0 }
        return Int(highest - start + 1)
    }

    /// Records a packet's transport-wide sequence number (from its header extension) and arrival time.
    public mutating func record(transportSequenceNumber: UInt16, arrival: Instant) {
        counters.received += 1
        let value = unwrapper.unwrap(transportSequenceNumber)
        let size = Int64(ring.count)
        guard let top = highest, let first = start else {
            highest = value
            start = value
            store(value, arrival)
            return
        }
        if value > top {
            highest = value
            if value - first >= size {
                counters.overrun += Int(value - size + 1 - first)
                start = value - size + 1
            }
        } else {
            if value < first {
                guard !hasReported, top - value < size else {
                    counters.late += 1
                    return
                }
                start = value
            } else if ring[slot(value)].sequenceNumber == value {
                counters.duplicates += 1
                return
            }
        }
        store(value, arrival)
    }

    /// The next feedback when it is due (`nextDeadline` has passed), else nil. Reports every number from
    /// the last feedback's end to the highest received, unless a receive delta overflows (then the rest
    /// is due at once).
    public mutating func poll(now: Instant, senderSSRC: UInt32, mediaSSRC: UInt32) -> TransportFeedback? {
        guard build(now: now, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC), let builder else { return nil }
        return builder.feedback
    }

    /// Like `poll(now:senderSSRC:mediaSSRC:)`, but appends the serialized RTCP packet to `out` and returns
    /// whether it did; allocates nothing once `out` has room and the builder's storage has grown.
    public mutating func poll(now: Instant, senderSSRC: UInt32, mediaSSRC: UInt32, into out: inout [UInt8]) -> Bool {
        guard build(now: now, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC), let builder else { return false }
        builder.feedback.serialize(into: &out)
        return true
    }

    private mutating func build(now: Instant, senderSSRC: UInt32, mediaSSRC: UInt32) -> Bool {
        guard let deadline = nextDeadline, now >= deadline, let first = start, let top = highest, first <= top else {
            return false
        }
        // The first received number at or after `start` (the highest always is).
        var firstReceived = first
        while ring[slot(firstReceived)].sequenceNumber != firstReceived { firstReceived += 1 }
        let reference = ring[slot(firstReceived)].arrivalMicroseconds
        let base = UInt16(truncatingIfNeeded: first)
        // Take the builder out so its results' storage stays uniquely referenced while it is reused.
        var b = builder.take() ?? TransportFeedback.Builder(
            senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, feedbackPacketCount: 0, baseSequenceNumber: 0,
            referenceArrivalMicroseconds: 0)
        if b.feedback.senderSSRC != senderSSRC || b.feedback.mediaSSRC != mediaSSRC {
            b = TransportFeedback.Builder(
                senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, feedbackPacketCount: 0, baseSequenceNumber: 0,
                referenceArrivalMicroseconds: 0)
        }
        b.reset(feedbackPacketCount: feedbackPacketCount, baseSequenceNumber: base, referenceArrivalMicroseconds: reference)
        var last = first - 1
        var value = firstReceived
        while value <= top {
            let s = ring[slot(value)]
            if s.sequenceNumber == value {
                guard b.addReceived(sequenceNumber: UInt16(truncatingIfNeeded: value), arrivalMicroseconds: s.arrivalMicroseconds)
                else { break }
                last = value
            }
            value += 1
        }
        builder = b
        start = last + 1
        hasReported = true
        feedbackPacketCount &+= 1
        counters.feedbacks += 1
        lastFeedback = now
        nextDeadline = last < top ? now : nil
        return true
    }

    private mutating func store(_ value: Int64, _ arrival: Instant) {
        ring[slot(value)] = Slot(sequenceNumber: value, arrivalMicroseconds: BitrateWindow.microseconds(arrival))
        if nextDeadline == nil {
            nextDeadline = lastFeedback.map { max($0 + configuration.interval, arrival) } ?? arrival + configuration.interval
        }
    }

    private func slot(_ value: Int64) -> Int { Int(value & mask) }
}
