import StarlingTransport
import StarlingWire

/// How much we may send to one subscriber, in the manner of Google Congestion Control
/// (draft-ietf-rmcat-gcc-02), from its transport-wide feedback
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01) or, for subscribers that send only REMB, from
/// their REMB (draft-alvestrand-rmcat-remb-03).
///
/// Each feedback is matched against the `TransportSequencer`'s send history. Received packets feed:
/// - the acknowledged bitrate: bytes received over `ackedBitrateWindow` of receiver time;
/// - the delay-based controller (§5): inter-group delay variation (`InterGroupDelay`), a trendline
///   filter with an adaptive threshold (`TrendlineDetector`) saying over-use, normal or under-use, and
///   AIMD rate control (`AIMDRateControl`) that decreases to 0.85 × the acknowledged bitrate on over-use;
/// - the loss-based controller (§6): over each period of at least `lossEvaluationInterval` and
///   `lossMinimumPackets` reported packets, loss above 10 % sets A = min(A, estimate) × (1 - 0.5 × loss),
///   loss below 2 % sets A = 1.05 × A per `lossEvaluationInterval` the period lasted (A at most 1.5 × the
///   delay-based part), in between A holds.
/// The estimate is the smaller of the two (§4), capped by the last REMB if any, within
/// [`minBitrate`, `maxBitrate`]. Until a transport-wide feedback has been seen, the estimate follows
/// the REMB alone.
///
/// Feedback for a number already processed (duplicated or reordered feedback) is skipped; numbers no
/// longer in the send history are ignored. Processing a feedback allocates nothing: the filters' state
/// lives in arrays allocated in `init`. Time comes in as `now`; arrival times are on the receiver's
/// clock and only their differences are used.
public struct SendSideBandwidthEstimator: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// Estimate before any feedback (bits/s).
        public var startBitrate: Int
        public var minBitrate: Int
        public var maxBitrate: Int
        /// Packets sent within this of a group's first belong to the group (gcc-02 §5.2).
        public var burstInterval: Duration
        /// Multiplicative decrease factor applied to the acknowledged bitrate (gcc-02 §5.5).
        public var beta: Double
        /// Multiplicative increase per second far from convergence (gcc-02 §5.5: 1.08).
        public var increaseFactorPerSecond: Double
        /// Window of the acknowledged-bitrate meter (receiver time).
        public var ackedBitrateWindow: Duration
        /// Loss-based updates happen at most this often, and the 5 % increase is per this much time
        /// (gcc-02 §6 updates on every feedback; a fixed pace keeps the increase from depending on how
        /// often feedback comes)...
        public var lossEvaluationInterval: Duration
        /// ...and only over at least this many reported packets.
        public var lossMinimumPackets: Int

        public init(
            startBitrate: Int = 1_000_000, minBitrate: Int = 30_000, maxBitrate: Int = 20_000_000,
            burstInterval: Duration = .milliseconds(5), beta: Double = 0.85, increaseFactorPerSecond: Double = 1.08,
            ackedBitrateWindow: Duration = .milliseconds(500), lossEvaluationInterval: Duration = .milliseconds(200),
            lossMinimumPackets: Int = 20
        ) {
            self.startBitrate = startBitrate
            self.minBitrate = minBitrate
            self.maxBitrate = maxBitrate
            self.burstInterval = burstInterval
            self.beta = beta
            self.increaseFactorPerSecond = increaseFactorPerSecond
            self.ackedBitrateWindow = ackedBitrateWindow
            self.lossEvaluationInterval = lossEvaluationInterval
            self.lossMinimumPackets = lossMinimumPackets
        }
    }

    public struct Counters: Hashable, Sendable {
        public var feedbacks = 0
        /// Reported packets matched to the send history, received and lost.
        public var packetsReceived = 0
        public var packetsLost = 0
        /// Reported numbers not in the send history or already processed.
        public var packetsIgnored = 0
        public var rembs = 0
        /// Feedback whose reference time jumped further than any receiver's clock moves between two
        /// feedbacks (a restarted receiver, or forged feedback): arrival times started over from it.
        public var referenceTimeResets = 0

        public init() {}
    }

    public let configuration: Configuration
    /// The current estimate in bits/s: what the subscriber's transport may send.
    public private(set) var estimate: Int
    /// Bits/s the subscriber reported receiving over the last `ackedBitrateWindow`; nil until measured.
    public private(set) var ackedBitrate: Int?
    /// The loss-based part of the estimate (bits/s).
    public private(set) var lossBasedEstimate: Int
    /// The last REMB value (bits/s), if any.
    public private(set) var rembBitrate: Int?
    /// Fraction of packets lost in the last loss evaluation.
    public private(set) var lossFraction: Double = 0
    public private(set) var counters = Counters()
    /// Round-trip time, used to space decreases and size additive increases; set it from RTCP (e.g.
    /// `RoundTripTime`), 100 ms until then.
    public var roundTripTime: Duration = .milliseconds(100)

    private var interGroup: InterGroupDelay
    private var trendline = TrendlineDetector()
    private var rateControl: AIMDRateControl
    private var acked: BitrateWindow
    private var highestProcessed: Int64?
    private var referenceTime: Int64?
    private var lossBased: Double
    private var lostSinceEvaluation = 0
    private var reportedSinceEvaluation = 0
    private var lastLossEvaluation: Instant?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        let start = min(max(configuration.startBitrate, configuration.minBitrate), configuration.maxBitrate)
        estimate = start
        lossBased = Double(start)
        lossBasedEstimate = start
        interGroup = InterGroupDelay(burst: configuration.burstInterval)
        rateControl = AIMDRateControl(
            bitrate: Double(start), beta: configuration.beta, increaseFactorPerSecond: configuration.increaseFactorPerSecond)
        acked = BitrateWindow(window: configuration.ackedBitrateWindow, buckets: 20)
    }

    /// The delay-based part of the estimate (bits/s).
    public var delayBasedEstimate: Int { Int(rateControl.bitrate) }

    /// The delay-based detector's current verdict.
    public var usage: BandwidthUsage { trendline.usage }

    /// Whether transport-wide feedback has been seen (else the estimate follows REMB, if any).
    public var usesTransportFeedback: Bool { counters.feedbacks > 0 }

    /// A probe showed that `bitrate` gets through (the rate the subscriber acknowledged while we padded):
    /// both parts of the estimate move up to it at once, as libwebrtc does with a probe result, instead of
    /// climbing at 8 %/s.
    public mutating func probeSucceeded(bitrate: Int) {
        guard trendline.usage != .overusing else { return }
        let value = Double(min(max(bitrate, configuration.minBitrate), configuration.maxBitrate))
        rateControl.bitrate = max(rateControl.bitrate, value)
        lossBased = max(lossBased, value)
        lossBasedEstimate = Int(lossBased)
        updateEstimate()
    }

    /// Takes a transport-wide feedback from the subscriber; `sequencer` is its transport's send history.
    public mutating func onTransportFeedback(_ feedback: TransportFeedback, sequencer: TransportSequencer, now: Instant) {
        var arrival = beginFeedback(referenceTime: feedback.referenceTime)
        var sequenceNumber = feedback.baseSequenceNumber
        var state = FeedbackState()
        for result in feedback.packetResults {
            if case .received(let delta) = result {
                arrival += Int64(delta) * TransportFeedback.deltaTickMicroseconds
                process(sequenceNumber, arrival: arrival, sequencer: sequencer, state: &state)
            } else {
                process(sequenceNumber, arrival: nil, sequencer: sequencer, state: &state)
            }
            sequenceNumber &+= 1
        }
        endFeedback(state, now: now)
    }

    /// Takes the FCI of a transport-wide feedback straight from the RTCP packet, without allocating.
    /// Throws (changing nothing) when the FCI is malformed.
    public mutating func onTransportFeedback(
        fci: UnsafeRawBufferPointer, sequencer: TransportSequencer, now: Instant
    ) throws(WireError) {
        // forEachPacketResult checks the whole FCI before its first call, so the reference time read
        // here (bytes 4-6) is only used for a valid FCI.
        let reference = fci.count >= 8 ? Int32(bitPattern: UInt32(fci.loadBE24(at: 4)) << 8) >> 8 : 0
        var arrival: Int64 = 0
        var begun = false
        var state = FeedbackState()
        try TransportFeedback.forEachPacketResult(fci: fci) { sequenceNumber, _, delta in
            if !begun {
                arrival = beginFeedback(referenceTime: reference)
                begun = true
            }
            if let delta {
                arrival += delta
                process(sequenceNumber, arrival: arrival, sequencer: sequencer, state: &state)
            } else {
                process(sequenceNumber, arrival: nil, sequencer: sequencer, state: &state)
            }
        }
        if begun { endFeedback(state, now: now) }
    }

    /// Takes a REMB value from the subscriber (draft-alvestrand-rmcat-remb-03 §2): it caps the estimate,
    /// and is the estimate while no transport-wide feedback has been seen.
    public mutating func onREMB(bitrate: UInt64, now: Instant) {
        rembBitrate = Int(clamping: bitrate)
        counters.rembs += 1
        updateEstimate()
    }

    // MARK: - Feedback processing

    private struct FeedbackState {
        var received = 0
        var lastArrival: Int64 = 0
    }

    /// The largest step of the reference time between two feedbacks that is taken as the same clock:
    /// 4096 ticks of 64 ms, about 4.4 minutes.
    static let maximumReferenceStep: Int64 = 4096

    /// Unwraps the 24-bit reference time against the previous one; returns it in µs. A step larger than
    /// `maximumReferenceStep` either way starts the arrival clock over from the raw value, so unwrapping
    /// cannot be driven towards overflow by feedback that keeps jumping half the 24-bit range.
    private mutating func beginFeedback(referenceTime: Int32) -> Int64 {
        var value = Int64(referenceTime)
        if let last = self.referenceTime {
            let difference = Int64((Int32(truncatingIfNeeded: value &- last) << 8) >> 8)
            if abs(difference) <= Self.maximumReferenceStep {
                value = last + difference
            } else {
                counters.referenceTimeResets += 1
                interGroup = InterGroupDelay(burst: configuration.burstInterval)
                acked = BitrateWindow(window: configuration.ackedBitrateWindow, buckets: 20)
            }
        }
        self.referenceTime = value
        return value * TransportFeedback.referenceTimeTickMicroseconds
    }

    private mutating func process(
        _ sequenceNumber: UInt16, arrival: Int64?, sequencer: TransportSequencer, state: inout FeedbackState
    ) {
        guard let sent = sequencer.sentPacket(sequenceNumber),
            highestProcessed.map({ sent.sequenceNumber > $0 }) ?? true
        else {
            counters.packetsIgnored += 1
            return
        }
        highestProcessed = sent.sequenceNumber
        reportedSinceEvaluation += 1
        guard let arrival else {
            lostSinceEvaluation += 1
            counters.packetsLost += 1
            return
        }
        counters.packetsReceived += 1
        state.received += 1
        state.lastArrival = state.received == 1 ? arrival : max(state.lastArrival, arrival)
        acked.add(bytes: sent.size, atMicroseconds: arrival)
        if let sample = interGroup.add(
            sendMicroseconds: BitrateWindow.microseconds(sent.sendTime), arrivalMicroseconds: arrival)
        {
            trendline.update(sample)
        }
    }

    private mutating func endFeedback(_ state: FeedbackState, now: Instant) {
        counters.feedbacks += 1
        if state.received > 0 {
            ackedBitrate = acked.bitrate(atMicroseconds: state.lastArrival)
            rateControl.update(
                usage: trendline.usage, acked: ackedBitrate.map(Double.init), rtt: roundTripTime, now: now)
            rateControl.bitrate = min(max(rateControl.bitrate, Double(configuration.minBitrate)), Double(configuration.maxBitrate))
        }
        evaluateLoss(now: now)
        updateEstimate()
    }

    /// gcc-02 §6.
    private mutating func evaluateLoss(now: Instant) {
        let last = lastLossEvaluation ?? now
        if lastLossEvaluation == nil { lastLossEvaluation = now }
        let interval = max(configuration.lossEvaluationInterval.nanosecondsClamped, 1)
        guard (now - last).nanosecondsClamped >= interval,
            reportedSinceEvaluation >= max(1, configuration.lossMinimumPackets)
        else { return }
        let loss = Double(lostSinceEvaluation) / Double(reportedSinceEvaluation)
        lossFraction = loss
        if loss > 0.10 {
            lossBased = min(lossBased, Double(estimate)) * (1 - 0.5 * loss)
        } else if loss < 0.02 {
            // 5 % per interval elapsed (at most 10), so the pace does not depend on the packet rate.
            var periods = min(Double((now - last).nanosecondsClamped) / Double(interval), 10)
            var factor = 1.0
            while periods >= 1 {
                factor *= 1.05
                periods -= 1
            }
            lossBased *= factor * (1 + 0.05 * periods)
        }
        // Unused while loss is low: keep it from running away above the delay-based part.
        lossBased = min(lossBased, max(1.5 * rateControl.bitrate, Double(estimate)))
        lossBased = min(max(lossBased, Double(configuration.minBitrate)), Double(configuration.maxBitrate))
        lossBasedEstimate = Int(lossBased)
        lostSinceEvaluation = 0
        reportedSinceEvaluation = 0
        lastLossEvaluation = now
    }

    private mutating func updateEstimate() {
        var value: Int
        if usesTransportFeedback {
            value = min(delayBasedEstimate, lossBasedEstimate)
            if let rembBitrate { value = min(value, rembBitrate) }
        } else {
            value = rembBitrate ?? estimate
        }
        estimate = min(max(value, configuration.minBitrate), configuration.maxBitrate)
    }
}
