import StarlingTestSupport
import StarlingTransport

/// An in-memory network on a virtual clock: every directed link between two nodes has a one-way delay,
/// jitter (which reorders), random loss and optionally a bandwidth cap with a bounded queue (a packet
/// that would wait longer than `maxQueueDelay` is dropped, as at a congested router). Deterministic for
/// a seed.
public struct SimNetwork {
    public struct Link {
        public var delay: Duration = .milliseconds(10)
        public var jitter: Duration = .zero
        public var loss: Double = 0
        /// Bits per second; nil: unlimited.
        public var capacity: Int?
        public var maxQueueDelay: Duration = .milliseconds(300)
        public var busyUntil = Instant.zero
        public var sent = 0
        public var dropped = 0

        public init(
            delay: Duration = .milliseconds(10), jitter: Duration = .zero, loss: Double = 0, capacity: Int? = nil,
            maxQueueDelay: Duration = .milliseconds(300)
        ) {
            self.delay = delay
            self.jitter = jitter
            self.loss = loss
            self.capacity = capacity
            self.maxQueueDelay = maxQueueDelay
        }
    }

    public struct Datagram {
        public var from: Int
        public var to: Int
        public var bytes: [UInt8]
        public var arrival: Instant
        public var order: Int
    }

    public var random: SeededRandom
    public var links: [Int: [Int: Link]] = [:]
    public var defaultLink = Link()
    private var heap: [Datagram] = []
    private var order = 0

    public init(seed: UInt64) { random = SeededRandom(seed: seed) }

    public mutating func setLink(from: Int, to: Int, _ link: Link) { links[from, default: [:]][to] = link }

    public func link(from: Int, to: Int) -> Link { links[from]?[to] ?? defaultLink }

    public mutating func send(_ bytes: [UInt8], from: Int, to: Int, now: Instant) {
        var link = links[from]?[to] ?? defaultLink
        defer { links[from, default: [:]][to] = link }
        link.sent += 1
        if link.loss > 0, Double(random.next() % 1_000_000) / 1_000_000 < link.loss {
            link.dropped += 1
            return
        }
        var departure = now
        if let capacity = link.capacity {
            let start = max(now, link.busyUntil)
            if start - now > link.maxQueueDelay {
                link.dropped += 1
                return
            }
            departure = start + .nanoseconds(Int64(bytes.count + 28) * 8 * 1_000_000_000 / Int64(capacity))
            link.busyUntil = departure
        }
        var arrival = departure + link.delay
        let jitterNs = link.jitter.nanosecondsClamped
        if jitterNs > 0 { arrival = arrival + .nanoseconds(Int64(random.next() % UInt64(jitterNs))) }
        push(Datagram(from: from, to: to, bytes: bytes, arrival: arrival, order: order))
        order += 1
    }

    /// Removes and returns the next datagram due at or before `now`.
    public mutating func pollDelivery(now: Instant) -> Datagram? {
        guard let first = heap.first, first.arrival <= now else { return nil }
        return pop()
    }

    public var inFlight: Int { heap.count }

    // MARK: - Binary heap ordered by (arrival, order)

    private static func less(_ a: Datagram, _ b: Datagram) -> Bool { (a.arrival, a.order) < (b.arrival, b.order) }

    private mutating func push(_ d: Datagram) {
        heap.append(d)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func pop() -> Datagram {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < heap.count, Self.less(heap[l], heap[m]) { m = l }
                if r < heap.count, Self.less(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
