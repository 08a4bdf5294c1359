import StarlingTransport
import StarlingWire

/// Send-side state of one outgoing RTP stream (a consumer's SSRC towards a subscriber), from which we
/// build SRs (RFC 3550 §6.4.1).
///
/// State: packet and payload octet counts (wrapping at 2^32, as on the wire), and the NTP/RTP mapping
/// anchor: the newest RTP timestamp sent, as rewritten for this stream, and the instant on our monotonic
/// clock it corresponds to. An SR's RTP timestamp is that anchor extrapolated to the report's `now` with
/// the clock rate, so it lines up with the timestamps the subscriber actually receives. Only scalars.
public struct SenderStatistics: Sendable {
    /// SSRC of the outgoing stream.
    public let ssrc: UInt32
    /// RTP clock rate of the stream, in Hz.
    public var clockRate: UInt32

    /// Packets sent (RFC 3550 §6.4.1: sender's packet count), wrapping.
    public private(set) var packetCount: UInt32 = 0
    /// Payload octets sent, headers and padding excluded (RFC 3550 §6.4.1), wrapping.
    public private(set) var octetCount: UInt32 = 0

    private var anchorTimestamp: UInt32 = 0
    private var anchorInstant = Instant.zero
    /// Whether a packet has been sent, so an SR can be made.
    public private(set) var hasSent = false

    public init(ssrc: UInt32, clockRate: UInt32) {
        self.ssrc = ssrc
        self.clockRate = clockRate
    }

    /// Records one packet sent with RTP timestamp `rtpTimestamp` (as rewritten on this stream) and
    /// `payloadBytes` of payload. `capturedAt` is the instant, on the same monotonic clock as `now`,
    /// that the timestamp stands for (usually the arrival of the frame's first packet from the
    /// publisher). The mapping moves only when the timestamp advances (wrap-aware), so later packets
    /// of a frame and retransmissions do not shift it.
    public mutating func recordSent(rtpTimestamp: UInt32, payloadBytes: Int, capturedAt: Instant) {
        packetCount &+= 1
        octetCount &+= UInt32(truncatingIfNeeded: max(payloadBytes, 0))
        if !hasSent || Int32(bitPattern: rtpTimestamp &- anchorTimestamp) > 0 {
            anchorTimestamp = rtpTimestamp
            anchorInstant = capturedAt
            hasSent = true
        }
    }

    /// The RTP timestamp that corresponds to `now`: the anchor plus the elapsed time in clock ticks,
    /// rounded to the nearest tick, modulo 2^32 (RFC 3550 §6.4.1). Nil before any packet was sent.
    public func rtpTimestamp(at now: Instant) -> UInt32? {
        guard hasSent else { return nil }
        let ns = (now - anchorInstant).nanosecondsClamped
        let magnitude = ns.magnitude  // UInt64, no overflow at Int64.min
        let rate = UInt64(clockRate)
        // seconds * rate may exceed 64 bits only for absurd spans; wrapping keeps the result mod 2^64,
        // and we keep it mod 2^32 anyway. (ns % 10^9) * rate < 10^9 * 2^32 < 2^62.
        let ticks = (magnitude / 1_000_000_000) &* rate
            &+ ((magnitude % 1_000_000_000) * rate + 500_000_000) / 1_000_000_000
        let delta = UInt32(truncatingIfNeeded: ticks)
        return ns >= 0 ? anchorTimestamp &+ delta : anchorTimestamp &- delta
    }

    /// An SR for `now`, stamped with the wall-clock time `wallClock` the caller read for the same
    /// instant, carrying `reportBlocks` (at most 31 are written). Nil before any packet was sent:
    /// a source that has not sent sends RR instead (RFC 3550 §6.4).
    public func makeSenderReport(
        now: Instant, wallClock: NTPTimestamp, reportBlocks: [ReportBlock] = []
    ) -> SenderReport? {
        guard let rtp = rtpTimestamp(at: now) else { return nil }
        return SenderReport(
            ssrc: ssrc, ntpTimestamp: wallClock.rawValue, rtpTimestamp: rtp,
            packetCount: packetCount, octetCount: octetCount, reportBlocks: reportBlocks)
    }
}
