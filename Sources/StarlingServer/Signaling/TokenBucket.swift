import StarlingTransport

/// A per-connection rate limit: `rate` requests per second, bursts of twice that.
struct TokenBucket: Sendable {
    let rate: Int
    private var tokens: Double
    private var at: ContinuousClock.Instant

    init(rate: Int) {
        self.rate = rate
        tokens = Double(rate * 2)
        at = .now
    }

    /// Whether one more request may pass now.
    mutating func take() -> Bool {
        let now = ContinuousClock.now
        let elapsed = (now - at).inSeconds
        tokens = min(Double(rate * 2), tokens + elapsed * Double(rate))
        at = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
