import StarlingTransport
import StarlingWire

/// Round-trip time from a report block about a stream we send SRs on (RFC 3550 §6.4.1).
public enum RoundTripTime {
    /// RTT = A - LSR - DLSR in 1/65536 s, where A is the middle 32 bits of our NTP time when the block
    /// arrived (RFC 3550 §6.4.1). Nil when LSR is 0 (the receiver has not seen an SR yet); 0 when clock
    /// skew or a bogus block makes the difference negative. `arrival` must come from the same wall
    /// clock that stamped our SRs.
    public static func compute(_ block: ReportBlock, arrival: NTPTimestamp) -> Duration? {
        guard block.lastSenderReport != 0 else { return nil }
        let rtt = arrival.compact &- block.lastSenderReport &- block.delaySinceLastSenderReport
        let signed = Int32(bitPattern: rtt)
        return signed <= 0 ? .zero : CompactNTP.duration(UInt32(signed))
    }
}

/// A smoothed round-trip time: an exponentially weighted moving average with gain 1/8, as TCP's SRTT
/// (RFC 6298 §2), plus the latest and the minimum sample.
public struct RTTEstimator: Sendable {
    /// The smoothed RTT, nil before the first sample.
    public private(set) var smoothed: Duration?
    /// The most recent sample.
    public private(set) var latest: Duration?
    /// The smallest sample seen.
    public private(set) var minimum: Duration?

    public init() {}

    /// Adds one sample: the first is taken as is, later ones move the average by 1/8 of the difference.
    public mutating func add(_ sample: Duration) {
        latest = sample
        minimum = min(minimum ?? sample, sample)
        if let s = smoothed {
            smoothed = .nanoseconds(s.nanosecondsClamped + (sample.nanosecondsClamped - s.nanosecondsClamped) / 8)
        } else {
            smoothed = sample
        }
    }
}

/// What a subscriber reports about one stream we send it (its RR report blocks, RFC 3550 §6.4.1): loss
/// figures and the RTT, per outgoing stream. Only scalars.
public struct RemoteReceptionStatistics: Sendable {
    /// SSRC of the outgoing stream the blocks report on.
    public let ssrc: UInt32
    /// Fraction lost in the receiver's last interval, ×256.
    public private(set) var fractionLost: UInt8 = 0
    /// Cumulative packets lost as reported (24-bit signed; negative after duplicates).
    public private(set) var cumulativeLost: Int32 = 0
    /// Extended highest sequence number the receiver has seen.
    public private(set) var extendedHighestSequenceNumber: UInt32 = 0
    /// Interarrival jitter the receiver measured, in RTP timestamp units.
    public private(set) var jitter: UInt32 = 0
    /// When the last block arrived.
    public private(set) var lastReportAt: Instant?
    /// Round-trip time from LSR/DLSR.
    public private(set) var rtt = RTTEstimator()

    public init(ssrc: UInt32) { self.ssrc = ssrc }

    /// The fraction lost as a ratio in 0...1.
    public var lossRatio: Double { Double(fractionLost) / 256 }

    /// Takes one report block about this stream, arrived at `now`, `arrival` being our wall clock then;
    /// returns the RTT sample it yields, if any. The caller routes blocks by `block.ssrc`.
    @discardableResult
    public mutating func receive(_ block: ReportBlock, now: Instant, arrival: NTPTimestamp) -> Duration? {
        fractionLost = block.fractionLost
        cumulativeLost = block.cumulativeLost
        extendedHighestSequenceNumber = block.extendedHighestSequenceNumber
        jitter = block.jitter
        lastReportAt = now
        guard let sample = RoundTripTime.compute(block, arrival: arrival) else { return nil }
        rtt.add(sample)
        return sample
    }
}
