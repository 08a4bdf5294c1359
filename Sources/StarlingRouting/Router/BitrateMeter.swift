import StarlingTransport

/// The bitrate of a stream over the last second, in ten 100 ms buckets. Only scalars: counting a
/// packet allocates nothing.
public struct BitrateMeter: Sendable {
    private static let bucketNanoseconds: Int64 = 100_000_000
    private var buckets = InlineArray<10, Int>(repeating: 0)
    private var currentBucket: Int64 = 0

    public init() {}

    /// Counts `bytes` arriving at `now`.
    public mutating func add(bytes: Int, now: Instant) {
        advance(to: now)
        buckets[Int(currentBucket % 10)] += bytes
    }

    /// Bits per second over the last second ending at `now`.
    public mutating func bitrate(now: Instant) -> Int {
        advance(to: now)
        var total = 0
        for i in 0..<10 { total += buckets[i] }
        return total * 8
    }

    private mutating func advance(to now: Instant) {
        let bucket = now.nanoseconds / Self.bucketNanoseconds
        guard bucket > currentBucket else { return }
        if bucket - currentBucket >= 10 {
            for i in 0..<10 { buckets[i] = 0 }
        } else {
            var b = currentBucket + 1
            while b <= bucket {
                buckets[Int(b % 10)] = 0
                b += 1
            }
        }
        currentBucket = bucket
    }
}
