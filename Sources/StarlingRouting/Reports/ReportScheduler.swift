import StarlingTransport

/// When to send the next RTCP report for a stream: RFC 3550 §6.2's interval rules reduced as WebRTC
/// does, a nominal interval (about 1 s for video, 5 s for audio) scaled by a random factor in
/// [0.5, 1.5) so reports from many senders do not synchronise (§6.3.1), or a fixed interval. The first
/// report comes after half an interval (§6.2, initial interval halved).
///
/// State: the nominal interval, whether to randomise, a seeded SplitMix64 generator (deterministic;
/// the IO layer seeds it from system randomness), and `nextDeadline`. Only scalars.
public struct ReportScheduler: Sendable {
    /// The nominal interval between reports.
    public let interval: Duration
    /// Whether each interval is scaled by a random factor in [0.5, 1.5).
    public let randomized: Bool
    /// When the next report is due.
    public private(set) var nextDeadline: Instant
    private var randomState: UInt64

    /// Nominal interval for video streams, as WebRTC uses.
    public static let videoInterval = Duration.seconds(1)
    /// Nominal interval for audio streams, as WebRTC uses.
    public static let audioInterval = Duration.seconds(5)

    public init(interval: Duration, randomized: Bool = true, seed: UInt64, start: Instant) {
        self.interval = interval
        self.randomized = randomized
        randomState = seed
        nextDeadline = start
        nextDeadline = start + nextInterval() / 2
    }

    /// A randomised scheduler with WebRTC's video interval.
    public static func video(seed: UInt64, start: Instant) -> ReportScheduler {
        ReportScheduler(interval: videoInterval, seed: seed, start: start)
    }

    /// A randomised scheduler with WebRTC's audio interval.
    public static func audio(seed: UInt64, start: Instant) -> ReportScheduler {
        ReportScheduler(interval: audioInterval, seed: seed, start: start)
    }

    /// Whether a report is due at `now`.
    @inlinable public func due(now: Instant) -> Bool { now >= nextDeadline }

    /// Call after sending a report at `now`: the next is due one (randomised) interval later.
    public mutating func reportSent(now: Instant) {
        nextDeadline = now + nextInterval()
    }

    /// If a report is due at `now`, schedules the next one and returns true.
    public mutating func poll(now: Instant) -> Bool {
        guard due(now: now) else { return false }
        reportSent(now: now)
        return true
    }

    private mutating func nextInterval() -> Duration {
        guard randomized else { return interval }
        // SplitMix64; the top 53 bits give a uniform factor in [0, 1).
        randomState &+= 0x9E37_79B9_7F4A_7C15
        var z = randomState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let unit = Double(z >> 11) / Double(UInt64(1) << 53)
        return .nanoseconds(Int64(Double(interval.nanosecondsClamped) * (0.5 + unit)))
    }
}
