import StarlingTransport

/// How many packets one consumer may resend to answer NACKs (RFC 4585 §6.2.1): a token bucket of `rate`
/// packets per second holding at most a second's worth. A NACK naming thousands of sequence numbers (a
/// receiver's bug, or an attack) then costs at most a second of resends, not every cached packet.
/// Sans-IO: time comes in.
struct RetransmissionBudget {
    let rate: Int
    private var tokens: Double
    private var last: Instant?

    init(rate: Int) {
        self.rate = max(rate, 1)
        tokens = Double(self.rate)
    }

    /// Takes one packet's worth; false when the budget is spent.
    mutating func take(now: Instant) -> Bool {
        if let last {
            let elapsed = Double((now - last).nanosecondsClamped) / 1e9
            if elapsed > 0 { tokens = min(Double(rate), tokens + elapsed * Double(rate)) }
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
