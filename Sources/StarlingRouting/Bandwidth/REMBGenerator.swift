import StarlingTransport
import StarlingWire

/// What to tell one publisher it may send, in REMB (draft-alvestrand-rmcat-remb-03 §2.2): one per
/// publisher transport, fed every packet received from it.
///
/// The SFU does not estimate the publisher's uplink itself (the publisher does, from our transport-wide
/// feedback: `TransportFeedbackGenerator`); the REMB only bounds it. It measures the incoming bitrate
/// over a sliding window (`BitrateWindow`) and offers `headroom` × that (default 1.5, so a publisher can
/// keep ramping up), within [`minBitrate`, `maxBitrate`]; with `headroom` nil it always offers
/// `maxBitrate` (for publishers trusted to have headroom). A REMB is due every `interval` (1 s, as
/// libwebrtc) while packets arrive, and at once (but no sooner than `minimumInterval` after the
/// previous one) when the value falls more than `dropThreshold` (3 %) below the last one sent. The
/// SSRCs the REMB applies to are the caller's. `record` allocates nothing.
public struct REMBGenerator: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// Incoming bitrate measurement window.
        public var window: Duration
        public var interval: Duration
        /// Least time between two REMBs when a drop makes one due early.
        public var minimumInterval: Duration
        /// Offered bitrate = measured × headroom; nil: always `maxBitrate`.
        public var headroom: Double?
        public var minBitrate: Int
        public var maxBitrate: Int
        /// A value this fraction below the last one sent is sent at once.
        public var dropThreshold: Double

        public init(
            window: Duration = .seconds(1), interval: Duration = .seconds(1), minimumInterval: Duration = .milliseconds(200),
            headroom: Double? = 1.5, minBitrate: Int = 100_000, maxBitrate: Int = 5_000_000, dropThreshold: Double = 0.03
        ) {
            self.window = window
            self.interval = interval
            self.minimumInterval = minimumInterval
            self.headroom = headroom
            self.minBitrate = minBitrate
            self.maxBitrate = maxBitrate
            self.dropThreshold = dropThreshold
        }
    }

    public let configuration: Configuration
    /// When `poll` should next be called; nil while nothing arrives.
    public private(set) var nextDeadline: Instant?
    /// The last value `poll` returned.
    public private(set) var lastBitrate: UInt64?
    private var lastSent: Instant?
    private var meter: BitrateWindow

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        meter = BitrateWindow(window: configuration.window, buckets: 20)
    }

    /// Records a packet of `size` bytes received from the publisher at `now`.
    public mutating func record(size: Int, now: Instant) {
        meter.add(bytes: size, at: now)
        guard let deadline = nextDeadline else {
            nextDeadline = lastSent.map { max($0 + configuration.interval, now) } ?? now + configuration.interval
            return
        }
        if let last = lastBitrate, let sent = lastSent,
            Double(value(now: now)) < Double(last) * (1 - configuration.dropThreshold)
        {
            nextDeadline = min(deadline, max(now, sent + configuration.minimumInterval))
        }
    }

    /// The incoming bitrate over the window ending at `now` (bits/s); nil before any packet.
    public mutating func incomingBitrate(now: Instant) -> Int? { meter.bitrate(at: now) }

    /// The value a REMB would carry now.
    public mutating func value(now: Instant) -> UInt64 {
        guard let headroom = configuration.headroom else { return UInt64(max(0, configuration.maxBitrate)) }
        let measured = Double(meter.bitrate(at: now) ?? 0) * headroom
        let bounded = min(max(measured, Double(configuration.minBitrate)), Double(configuration.maxBitrate))
        return UInt64(max(0, bounded))
    }

    /// The REMB value to send when one is due, else nil. Stops (no deadline) once nothing arrived for a
    /// whole window.
    public mutating func poll(now: Instant) -> UInt64? {
        guard let deadline = nextDeadline, now >= deadline else { return nil }
        let bitrate = value(now: now)
        lastBitrate = bitrate
        lastSent = now
        nextDeadline = meter.bytesInWindow > 0 ? now + configuration.interval : nil
        return bitrate
    }

    /// `poll(now:)` as a REMB packet for `ssrcs` (the publisher's media SSRCs, at most 255 written).
    public mutating func pollREMB(now: Instant, senderSSRC: UInt32, ssrcs: [UInt32]) -> ReceiverEstimatedMaxBitrate? {
        poll(now: now).map { ReceiverEstimatedMaxBitrate(senderSSRC: senderSSRC, bitrate: $0, ssrcs: ssrcs) }
    }
}
