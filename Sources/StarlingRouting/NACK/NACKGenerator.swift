import StarlingTransport
import StarlingWire

/// Detects losses on a received RTP stream and says which sequence numbers to NACK (RFC 4585
/// §6.2.1), for the publisher's leg.
///
/// State: the highest extended sequence number seen, and a ring of the missing numbers behind it in
/// ascending order, each with when it was found missing, how many times it was NACKed and when it is
/// next due (allocated at the first gap, `maxDistance` entries). A gap is NACKed once it is `reorderingPackets` behind the highest number or has waited
/// `reorderingDelay` (whichever comes first), so packets merely reordered are not NACKed; then again
/// every RTT (at least `minRetryInterval`) up to `maxRetries` times. A number is forgotten when it
/// arrives (late or via RTX), when `clearBefore` drops it (a keyframe made it useless), or it is given
/// up: NACKed `maxRetries` times with no answer one interval later, older than `maxAge`, or more than
/// `maxDistance` behind the highest number. Given-up numbers are counted so the caller can ask for a
/// keyframe. The ring is allocated once in `init`; nothing else allocates.
public struct NACKGenerator: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// A missing number is NACKed once this many higher numbers have arrived...
        public var reorderingPackets: Int
        /// ...or once it has been missing this long.
        public var reorderingDelay: Duration
        /// How many NACKs one number gets before it is given up.
        public var maxRetries: Int
        /// Floor of the interval between two NACKs for one number (the interval is the RTT).
        public var minRetryInterval: Duration
        /// A number missing longer than this is given up (packets that old are out of the sender's cache).
        public var maxAge: Duration
        /// A number this far behind the highest is given up; also the ring's capacity.
        public var maxDistance: Int

        public init(
            reorderingPackets: Int = 5, reorderingDelay: Duration = .milliseconds(10), maxRetries: Int = 10,
            minRetryInterval: Duration = .milliseconds(20), maxAge: Duration = .seconds(1), maxDistance: Int = 1000
        ) {
            self.reorderingPackets = reorderingPackets
            self.reorderingDelay = reorderingDelay
            self.maxRetries = maxRetries
            self.minRetryInterval = minRetryInterval
            self.maxAge = maxAge
            self.maxDistance = maxDistance
        }
    }

    public struct Counters: Hashable, Sendable {
        /// Numbers found missing.
        public var missing = 0
        /// NACK requests made (a number NACKed three times counts three).
        public var nacked = 0
        /// Missing numbers that arrived later (reordered, retransmitted).
        public var recovered = 0
        /// Missing numbers given up on.
        public var gaveUp = 0
        /// Missing numbers dropped by `clearBefore`.
        public var cleared = 0

        public init() {}
    }

    /// What one received sequence number was.
    public enum Arrival: Hashable, Sendable {
        /// The next number, or the first.
        case inOrder
        /// A higher number after `missing` lost ones.
        case afterGap(missing: Int)
        /// A number that was missing.
        case recovered
        /// A duplicate, or a number too old to be tracked.
        case late
    }

    /// The sequence numbers of one poll, without allocating.
    public typealias NACKList = InlineList<64, UInt16>

    public var configuration: Configuration
    /// The current round-trip time: NACKs for one number are spaced by it (at least `minRetryInterval`).
    public var rtt: Duration
    public private(set) var counters = Counters()
    /// When `pollNACK` should next be called; nil when nothing is missing. May be early, never late.
    public private(set) var nextDeadline: Instant?

    private struct Entry: Sendable {
        var sequenceNumber: Int64
        var detectedAt: Instant
        /// When next NACKed, or, after the last retry, when given up.
        var dueAt: Instant
        var sends: Int
        var live: Bool
    }

    private var unwrapper = SequenceNumberUnwrapper()
    private var highest: Int64?
    private var ring: [Entry]
    private var head = 0
    /// Entries in the ring, including ones no longer live (removed lazily from the front).
    private var count = 0
    private var liveCount = 0
    private var unreportedGaveUp = 0

    public init(configuration: Configuration = Configuration(), rtt: Duration = .milliseconds(100)) {
        precondition(configuration.maxDistance > 0, "NACKGenerator: maxDistance must be positive")
        self.configuration = configuration
        self.rtt = rtt
        // The ring is allocated by the first gap: a stream that never loses a packet holds none.
        ring = []
    }

    /// Numbers currently missing and still being NACKed.
    public var missingCount: Int { liveCount }

    /// The highest extended sequence number received.
    public var highestSequenceNumber: Int64? { highest }

    /// Whether `sequenceNumber` is currently missing.
    public func isMissing(_ sequenceNumber: UInt16) -> Bool {
        var probe = unwrapper
        guard let i = find(probe.unwrap(sequenceNumber)) else { return false }
        return ring[slot(i)].live
    }

    /// Numbers given up on since the last call (0 when none): ask the publisher for a keyframe if nonzero.
    public mutating func takeGaveUp() -> Int {
        defer { unreportedGaveUp = 0 }
        return unreportedGaveUp
    }

    /// Records a received packet's sequence number (original or recovered from RTX).
    @discardableResult
    public mutating func received(sequenceNumber: UInt16, now: Instant) -> Arrival {
        let value = unwrapper.unwrap(sequenceNumber)
        guard let previous = highest else {
            highest = value
            return .inOrder
        }
        if value <= previous {
            guard let i = find(value) else { return .late }
            let s = slot(i)
            guard ring[s].live else { return .late }
            ring[s].live = false
            liveCount -= 1
            counters.recovered += 1
            dropDeadFront()
            return .recovered
        }
        highest = value
        let window = Int64(configuration.maxDistance)
        // Forget what fell out of the window, then record the new gap (its part inside the window).
        while count > 0, ring[head].sequenceNumber < value - window { popFront(givenUp: true) }
        let firstMissing = previous + 1
        let firstTracked = max(firstMissing, value - window)
        if firstTracked > firstMissing { giveUp(Int(firstTracked - firstMissing)) }
        let gap = Int(value - firstMissing)
        counters.missing += gap
        if firstTracked < value {
            if ring.isEmpty {
                ring = Array(
                    repeating: Entry(sequenceNumber: 0, detectedAt: .zero, dueAt: .zero, sends: 0, live: false),
                    count: configuration.maxDistance)
            }
            let due = now + configuration.reorderingDelay
            var seq = firstTracked
            while seq < value {
                ring[slot(count)] = Entry(sequenceNumber: seq, detectedAt: now, dueAt: due, sends: 0, live: true)
                count += 1
                liveCount += 1
                seq += 1
            }
            lowerDeadline(to: due)
        }
        // Missing numbers now `reorderingPackets` behind the highest are due at once. Those at or below
        // `previous - reorderingPackets` were made due by an earlier arrival.
        let reordering = Int64(min(max(configuration.reorderingPackets, 1), 1 << 20))
        let threshold = value - reordering
        let alreadyDue = previous - reordering
        var i = count - 1
        while i >= 0 {
            let s = slot(i)
            let seq = ring[s].sequenceNumber
            if seq <= alreadyDue { break }
            if seq <= threshold, ring[s].live, ring[s].sends == 0, ring[s].dueAt > now {
                ring[s].dueAt = now
                lowerDeadline(to: now)
            }
            i -= 1
        }
        return gap == 0 ? .inOrder : .afterGap(missing: gap)
    }

    /// Writes the sequence numbers to NACK now into `out` (ascending, at most `out.count`) and returns
    /// how many; numbers that did not fit stay due. Gives up numbers past their retries or age.
    public mutating func pollNACK(now: Instant, into out: UnsafeMutableBufferPointer<UInt16>) -> Int {
        var written = 0
        poll(now: now, capacity: out.count) { sequenceNumber in
            out[written] = sequenceNumber
            written += 1
        }
        return written
    }

    /// `pollNACK(now:into:)` into an inline list (up to 64 numbers; the rest stay due).
    public mutating func pollNACK(now: Instant) -> NACKList {
        var list = NACKList()
        poll(now: now, capacity: 64) { list.append($0) }
        return list
    }

    private mutating func poll(now: Instant, capacity: Int, _ emit: (UInt16) -> Void) {
        var written = 0
        var next: Instant?
        let interval = max(rtt, configuration.minRetryInterval)
        for i in 0..<count {
            let s = slot(i)
            guard ring[s].live else { continue }
            if now - ring[s].detectedAt >= configuration.maxAge {
                kill(s)
                continue
            }
            if ring[s].dueAt <= now {
                if ring[s].sends >= configuration.maxRetries {
                    kill(s)
                    continue
                }
                guard written < capacity else {
                    next = now
                    continue
                }
                emit(UInt16(truncatingIfNeeded: ring[s].sequenceNumber))
                written += 1
                ring[s].sends += 1
                ring[s].dueAt = now + interval
                counters.nacked += 1
            }
            let expiry = ring[s].detectedAt + configuration.maxAge
            let due = min(ring[s].dueAt, expiry)
            if next.map({ due < $0 }) ?? true { next = due }
        }
        dropDeadFront()
        nextDeadline = next
    }

    /// Stops NACKing every number before `sequenceNumber` (e.g. the first packet of a keyframe, after
    /// which older packets are no longer needed).
    public mutating func clearBefore(sequenceNumber: UInt16) {
        var probe = unwrapper
        let value = probe.unwrap(sequenceNumber)
        while count > 0, ring[head].sequenceNumber < value {
            if ring[head].live { counters.cleared += 1 }
            popFront(givenUp: false)
        }
        if liveCount == 0 { nextDeadline = nil }
    }

    /// Forgets everything (e.g. the stream's SSRC changed).
    public mutating func reset() {
        unwrapper = SequenceNumberUnwrapper()
        highest = nil
        head = 0
        count = 0
        liveCount = 0
        nextDeadline = nil
    }

    // MARK: ring

    private func slot(_ i: Int) -> Int {
        let s = head + i
        return s >= ring.count ? s - ring.count : s
    }

    /// The ring position of `value`, by binary search (entries are in ascending order).
    private func find(_ value: Int64) -> Int? {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            let seq = ring[slot(mid)].sequenceNumber
            if seq == value { return mid }
            if seq < value { low = mid + 1 } else { high = mid }
        }
        return nil
    }

    private mutating func popFront(givenUp: Bool) {
        if ring[head].live {
            ring[head].live = false
            liveCount -= 1
            if givenUp { giveUp(1) }
        }
        head = head + 1 == ring.count ? 0 : head + 1
        count -= 1
    }

    private mutating func dropDeadFront() {
        while count > 0, !ring[head].live { popFront(givenUp: false) }
    }

    private mutating func kill(_ s: Int) {
        ring[s].live = false
        liveCount -= 1
        giveUp(1)
    }

    private mutating func giveUp(_ n: Int) {
        counters.gaveUp += n
        unreportedGaveUp += n
    }

    private mutating func lowerDeadline(to instant: Instant) {
        if nextDeadline.map({ instant < $0 }) ?? true { nextDeadline = instant }
    }
}
