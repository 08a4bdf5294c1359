/// A point on a monotonic clock, in nanoseconds from an arbitrary origin.
///
/// Sans-IO cores never read a clock: every input carries `now`, and every core reports the next
/// instant it needs to be woken at. The IO layer takes `now` from the system's monotonic clock; tests
/// take it from a virtual clock and so run deterministically, as fast as the CPU allows.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)

    @inlinable public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    @inlinable public static func + (a: Instant, d: Duration) -> Instant {
        Instant(nanoseconds: a.nanoseconds &+ d.nanosecondsClamped)
    }

    @inlinable public static func - (a: Instant, d: Duration) -> Instant {
        Instant(nanoseconds: a.nanoseconds &- d.nanosecondsClamped)
    }

    @inlinable public static func - (a: Instant, b: Instant) -> Duration {
        .nanoseconds(a.nanoseconds &- b.nanoseconds)
    }

    @inlinable public static func += (a: inout Instant, d: Duration) { a = a + d }

    /// Milliseconds since the origin (for logs and RTCP arithmetic).
    @inlinable public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    public var description: String { "t+\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to Int64.
    @inlinable public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (s, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return s.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    /// The duration in seconds, as a Double (rates, timeouts, report figures).
    @inlinable public var inSeconds: Double { Double(nanosecondsClamped) / 1e9 }
}
