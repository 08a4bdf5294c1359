import StarlingTransport

/// A 64-bit NTP timestamp (RFC 3550 §4, RFC 5905 §6): seconds since 1 January 1900 in the upper 32 bits,
/// the fraction of a second in the lower 32. Built from a Unix time the caller supplies; never reads a
/// clock. Seconds wrap at 2^32 (NTP era 1 begins in February 2036), as on the wire.
public struct NTPTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
    public static let unixEpochOffset: Int64 = 2_208_988_800

    /// The 64-bit wire value.
    public var rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    @inlinable public init(seconds: UInt32, fraction: UInt32) {
        rawValue = UInt64(seconds) << 32 | UInt64(fraction)
    }

    /// The NTP time of a Unix time given in nanoseconds since 1970 (the fraction is truncated).
    @inlinable public init(unixNanoseconds: Int64) {
        // Floor division, so times before 1970 still map correctly.
        var seconds = unixNanoseconds / 1_000_000_000
        var nanos = unixNanoseconds % 1_000_000_000
        if nanos < 0 { seconds -= 1; nanos += 1_000_000_000 }
        // nanos < 10^9 < 2^30, so nanos << 32 < 2^62: no overflow.
        let fraction = UInt32(truncatingIfNeeded: (nanos << 32) / 1_000_000_000)
        self.init(seconds: UInt32(truncatingIfNeeded: seconds &+ NTPTimestamp.unixEpochOffset), fraction: fraction)
    }

    /// The NTP time of a Unix time given as a duration since 1970.
    @inlinable public init(unixTime: Duration) {
        self.init(unixNanoseconds: unixTime.nanosecondsClamped)
    }

    @inlinable public var seconds: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
    @inlinable public var fraction: UInt32 { UInt32(truncatingIfNeeded: rawValue) }

    /// The middle 32 bits, in units of 1/65536 s: what a receiver echoes as LSR (RFC 3550 §6.4.1).
    @inlinable public var compact: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 16) }

    @inlinable public static func < (a: NTPTimestamp, b: NTPTimestamp) -> Bool { a.rawValue < b.rawValue }

    public var description: String { "ntp(\(seconds).\(fraction))" }
}

/// Conversions for the "compact" NTP format, 16.16 fixed-point seconds, used by LSR, DLSR and RTT
/// (RFC 3550 §6.4.1).
public enum CompactNTP {
    /// A duration as 1/65536 s units, truncated; negative durations give 0, long ones saturate.
    @inlinable public static func units(_ d: Duration) -> UInt32 {
        let ns = d.nanosecondsClamped
        guard ns > 0 else { return 0 }
        let seconds = ns / 1_000_000_000
        guard seconds < 65_536 else { return .max }
        // (ns % 10^9) << 16 < 2^46: no overflow.
        return UInt32((seconds << 16) + ((ns % 1_000_000_000) << 16) / 1_000_000_000)
    }

    /// 1/65536 s units as a duration, truncated to the nanosecond.
    @inlinable public static func duration(_ units: UInt32) -> Duration {
        // units * 10^9 < 2^32 * 2^30 = 2^62: no overflow.
        .nanoseconds((Int64(units) * 1_000_000_000) >> 16)
    }
}
