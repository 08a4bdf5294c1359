import StarlingTransport

/// Bytes counted over a sliding time window, in fixed buckets: an O(1) bitrate meter that allocates
/// only in `init`.
///
/// State: `bucketCount` byte counters, each `window / bucketCount` wide, indexed by absolute bucket
/// number modulo the count, the number of the newest bucket, and their running sum. Adding bytes at a
/// later time clears the buckets that fell out of the window. Bytes older than the window are ignored.
/// Times are plain microseconds so the meter serves both local clocks (`Instant`) and a remote
/// receiver's clock (transport-wide feedback arrival times).
public struct BitrateWindow: Sendable {
    /// The window length in microseconds.
    public let windowMicroseconds: Int64
    private let bucketMicroseconds: Int64
    private var buckets: [Int]
    private var newestBucket: Int64?
    /// Time of the first bytes added since `init` or `reset`.
    private var firstMicroseconds: Int64 = 0
    private var sum = 0

    /// A meter over `window` (at least 1 ms) split into `buckets` buckets (at least 1).
    public init(window: Duration = .seconds(1), buckets: Int = 20) {
        let count = max(1, buckets)
        let micros = max(1000, window.nanosecondsClamped / 1000)
        bucketMicroseconds = max(1, micros / Int64(count))
        windowMicroseconds = bucketMicroseconds * Int64(count)
        self.buckets = Array(repeating: 0, count: count)
    }

    /// Forgets everything counted.
    public mutating func reset() {
        for i in buckets.indices { buckets[i] = 0 }
        newestBucket = nil
        sum = 0
    }

    /// Bytes currently in the window.
    public var bytesInWindow: Int { sum }

    /// Counts `bytes` at time `microseconds`.
    public mutating func add(bytes: Int, atMicroseconds microseconds: Int64) {
        let b = Self.floorDivide(microseconds, bucketMicroseconds)
        if newestBucket == nil {
            newestBucket = b
            firstMicroseconds = microseconds
        }
        advance(to: b)
        guard let newest = newestBucket, b > newest - Int64(buckets.count) else { return }
        buckets[slot(b)] += bytes
        sum += bytes
    }

    /// Counts `bytes` at `now`.
    public mutating func add(bytes: Int, at now: Instant) {
        add(bytes: bytes, atMicroseconds: Self.microseconds(now))
    }

    /// The bitrate in bits per second over the window ending at `microseconds` (over the time since the
    /// first bytes while that is shorter than the window, but at least one bucket); nil before any bytes.
    /// `microseconds` should not be earlier than the latest bytes added.
    public mutating func bitrate(atMicroseconds microseconds: Int64) -> Int? {
        guard newestBucket != nil else { return nil }
        advance(to: Self.floorDivide(microseconds, bucketMicroseconds))
        guard let newest = newestBucket else { return nil }
        // The buckets span the older full ones plus the elapsed part of the newest.
        let spanned = windowMicroseconds - bucketMicroseconds + max(0, microseconds - newest * bucketMicroseconds)
        let covered = max(bucketMicroseconds, min(spanned, microseconds - firstMicroseconds))
        return Int((Int64(sum) * 8 * 1_000_000) / covered)
    }

    /// The bitrate over the window ending at `now`.
    public mutating func bitrate(at now: Instant) -> Int? {
        bitrate(atMicroseconds: Self.microseconds(now))
    }

    private mutating func advance(to bucket: Int64) {
        guard let newest = newestBucket, bucket > newest else { return }
        let steps = min(bucket - newest, Int64(buckets.count))
        var i: Int64 = 1
        while i <= steps {
            let s = slot(newest + i)
            sum -= buckets[s]
            buckets[s] = 0
            i += 1
        }
        newestBucket = bucket
    }

    private func slot(_ bucket: Int64) -> Int {
        Int(bucket - Self.floorDivide(bucket, Int64(buckets.count)) * Int64(buckets.count))
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func microseconds(_ t: Instant) -> Int64 { floorDivide(t.nanoseconds, 1000) }
}
