import StarlingTransport
import StarlingWire

/// Reception statistics for one RTP source we receive (a publisher's SSRC), from which we build the
/// report block of our RR to that publisher (RFC 3550 §6.4.1, §A.1, §A.3, §A.8).
///
/// State: the base and highest extended sequence numbers, the packet count (duplicates and late packets
/// included, so cumulative loss may go negative, §6.4.1), the counts at the last report (for the
/// fraction lost of the interval), the interarrival jitter estimate, and the last SR heard from the
/// source (for LSR/DLSR). Only scalars: recording a packet allocates nothing.
///
/// Feed media packets only, not RTX (RFC 4588 §3: those carry their own SSRC and sequence).
public struct ReceiveStatistics: Sendable {
    /// SSRC of the source being reported on.
    public let ssrc: UInt32

    private var unwrapper = SequenceNumberUnwrapper()
    private var baseSequence: Int64 = 0
    private var highestSequence: Int64 = 0
    /// Packets received, duplicates and late packets included (RFC 3550 §A.3).
    public private(set) var packetsReceived: Int64 = 0
    private var expectedPrior: Int64 = 0
    private var receivedPrior: Int64 = 0

    /// Interarrival jitter estimate J in RTP timestamp units, unrounded (RFC 3550 §A.8).
    public private(set) var jitter: Double = 0
    private var lastTimestamp: UInt32 = 0
    private var lastArrival = Instant.zero
    private var lastClockRate: UInt32 = 0

    private var lastSenderReportCompact: UInt32 = 0
    private var lastSenderReportArrival: Instant?

    public init(ssrc: UInt32) { self.ssrc = ssrc }

    /// Records one received media packet; `now` is its arrival time.
    ///
    /// Jitter is updated on packets that advance the highest sequence number (so duplicates and
    /// reordered packets do not count twice), with D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) and
    /// J += (|D| - J) / 16 (RFC 3550 §6.4.1, §A.8). A change of clock rate, or a |D| of 5 s or more (a
    /// timeline jump, not network jitter), restarts the transit baseline without touching J.
    public mutating func record(sequenceNumber: UInt16, rtpTimestamp: UInt32, clockRate: UInt32, now: Instant) {
        let extended = unwrapper.unwrap(sequenceNumber)
        packetsReceived += 1
        if packetsReceived == 1 {
            baseSequence = extended
            highestSequence = extended
            lastTimestamp = rtpTimestamp
            lastArrival = now
            lastClockRate = clockRate
            return
        }
        // A packet from before the first one received extends the range downwards (RFC 3550 §A.1's
        // base_seq assumes in-order start; reordering at the start would otherwise count as duplicates).
        if extended < baseSequence { baseSequence = extended }
        guard extended > highestSequence else { return }
        highestSequence = extended

        if clockRate == lastClockRate, clockRate > 0 {
            let arrivalDelta = Double((now - lastArrival).nanosecondsClamped) * Double(clockRate) / 1e9
            let timestampDelta = Double(Int32(bitPattern: rtpTimestamp &- lastTimestamp))
            let d = abs(arrivalDelta - timestampDelta)
            if d < 5 * Double(clockRate) {
                jitter += (d - jitter) / 16
            }
        }
        lastTimestamp = rtpTimestamp
        lastArrival = now
        lastClockRate = clockRate
    }

    /// Records an SR from this source arriving at `now`, for LSR and DLSR (RFC 3550 §6.4.1).
    public mutating func recordSenderReport(ntpTimestamp: NTPTimestamp, now: Instant) {
        lastSenderReportCompact = ntpTimestamp.compact
        lastSenderReportArrival = now
    }

    /// Records an SR from this source arriving at `now` (its 64-bit NTP timestamp as on the wire).
    public mutating func recordSenderReport(_ report: SenderReport, now: Instant) {
        recordSenderReport(ntpTimestamp: NTPTimestamp(rawValue: report.ntpTimestamp), now: now)
    }

    /// Whether any packet has been received.
    @inlinable public var hasReceived: Bool { packetsReceived > 0 }

    /// Extended highest sequence number received: cycles in the upper 16 bits (RFC 3550 §A.1).
    public var extendedHighestSequenceNumber: UInt32 { UInt32(truncatingIfNeeded: highestSequence) }

    /// Packets expected: extended highest minus base plus one (RFC 3550 §A.3).
    public var packetsExpected: Int64 { packetsReceived == 0 ? 0 : highestSequence - baseSequence + 1 }

    /// Cumulative packets lost, unclamped: expected minus received, negative after duplicates.
    public var packetsLost: Int64 { packetsExpected - packetsReceived }

    /// Cumulative packets lost clamped to the 24-bit signed field (RFC 3550 §6.4.1, §A.3).
    public var cumulativeLost: Int32 {
        let range = ReportBlock.cumulativeLostRange
        return Int32(min(max(packetsLost, Int64(range.lowerBound)), Int64(range.upperBound)))
    }

    /// Fraction lost since the last report, ×256 (RFC 3550 §A.3): lost_interval × 256 / expected_interval,
    /// 0 when nothing was expected or more arrived than expected.
    public var fractionLost: UInt8 {
        let expectedInterval = packetsExpected - expectedPrior
        let lostInterval = expectedInterval - (packetsReceived - receivedPrior)
        guard expectedInterval > 0, lostInterval > 0 else { return 0 }
        return UInt8(min((lostInterval << 8) / expectedInterval, 255))
    }

    /// The report block for `now`; starts a new interval for the fraction lost (RFC 3550 §A.3). Before
    /// any packet it carries zero counts. DLSR is the delay since the last SR, in 1/65536 s; LSR and
    /// DLSR are 0 when no SR has been received.
    public mutating func makeReportBlock(now: Instant) -> ReportBlock {
        var lsr: UInt32 = 0
        var dlsr: UInt32 = 0
        if let arrival = lastSenderReportArrival {
            lsr = lastSenderReportCompact
            dlsr = CompactNTP.units(now - arrival)
        }
        let block = ReportBlock(
            ssrc: ssrc, fractionLost: fractionLost, cumulativeLost: cumulativeLost,
            extendedHighestSequenceNumber: extendedHighestSequenceNumber,
            jitter: UInt32(min(jitter, Double(UInt32.max))),
            lastSenderReport: lsr, delaySinceLastSenderReport: dlsr)
        expectedPrior = packetsExpected
        receivedPrior = packetsReceived
        return block
    }
}
