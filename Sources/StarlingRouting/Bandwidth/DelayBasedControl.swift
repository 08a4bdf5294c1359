import StarlingTransport

/// The delay-based detector's verdict (draft-ietf-rmcat-gcc-02 §5.4).
public enum BandwidthUsage: Hashable, Sendable {
    case normal
    /// Queuing delay is growing: the path is congested.
    case overusing
    /// Queuing delay is shrinking: a queue is draining.
    case underusing
}

/// Groups packets by send time and yields the delay variation between consecutive groups
/// (draft-ietf-rmcat-gcc-02 §5.2): d(i) = t(i) - t(i-1) - (T(i) - T(i-1)), with T the send time and t
/// the arrival time of each group's last packet. A group is the packets sent within `burst` of its
/// first; a packet that arrives within `burst` of the group's end and sooner than its send spacing
/// says (a burst released by a queue) joins the group too (§5.2, as libwebrtc does).
struct InterGroupDelay: Sendable {
    struct Group: Sendable {
        var firstSend: Int64
        var lastSend: Int64
        var firstArrival: Int64
        var lastArrival: Int64
    }

    /// One delay-variation sample, in milliseconds.
    struct Sample: Sendable {
        var sendDelta: Double
        var arrivalDelta: Double
        /// Arrival time of the later group (receiver clock).
        var arrival: Double
    }

    let burstMicroseconds: Int64
    private var current: Group?
    private var previous: Group?

    init(burst: Duration) { burstMicroseconds = burst.nanosecondsClamped / 1000 }

    /// Adds a packet (send time on our clock, arrival on the receiver's, both in µs) in send order.
    mutating func add(sendMicroseconds send: Int64, arrivalMicroseconds arrival: Int64) -> Sample? {
        guard var group = current else {
            current = Group(firstSend: send, lastSend: send, firstArrival: arrival, lastArrival: arrival)
            return nil
        }
        guard send >= group.firstSend else { return nil }
        if belongs(send, arrival, to: group) {
            group.lastSend = max(group.lastSend, send)
            group.lastArrival = max(group.lastArrival, arrival)
            current = group
            return nil
        }
        var sample: Sample?
        if let previous {
            sample = Sample(
                sendDelta: Double(group.lastSend - previous.lastSend) / 1000,
                arrivalDelta: Double(group.lastArrival - previous.lastArrival) / 1000,
                arrival: Double(group.lastArrival) / 1000)
        }
        previous = group
        current = Group(firstSend: send, lastSend: send, firstArrival: arrival, lastArrival: arrival)
        return sample
    }

    private func belongs(_ send: Int64, _ arrival: Int64, to group: Group) -> Bool {
        if send - group.firstSend <= burstMicroseconds { return true }
        let arrivalDelta = arrival - group.lastArrival
        let sendDelta = send - group.lastSend
        return arrivalDelta - sendDelta < 0 && arrivalDelta <= burstMicroseconds
            && arrival - group.firstArrival < 100_000
    }
}

/// The trendline filter and over-use detector (draft-ietf-rmcat-gcc-02 §5.3-5.4 describe a Kalman
/// filter; this is the trendline estimator that replaced it in libwebrtc): the accumulated delay
/// variation is smoothed exponentially, the slope of a least-squares line through the last
/// `windowSize` (arrival time, smoothed delay) points is the delay trend, and the trend scaled by the
/// number of samples (at most 60) and `gain` is compared against an adaptive threshold γ (§5.4):
/// γ += Δt · k · (|m| - γ), with k = kUp when |m| > γ, else kDown, Δt at most 100 ms, γ in [6, 600],
/// not adapted when |m| > γ + 15. Over-use is signalled after it lasted `overuseTime` and two samples,
/// with a trend not falling.
struct TrendlineDetector: Sendable {
    struct Parameters: Sendable {
        var windowSize = 20
        var smoothing = 0.9
        var gain = 4.0
        var initialThreshold = 12.5
        var kUp = 0.0087
        var kDown = 0.039
        var overuseTimeMilliseconds = 10.0
    }

    let parameters: Parameters
    private var xs: [Double]
    private var ys: [Double]
    private var head = 0
    private var count = 0
    private var firstArrival: Double?
    private var accumulatedDelay = 0.0
    private var smoothedDelay = 0.0
    private var deltas = 0
    private var previousTrend = 0.0
    private(set) var threshold: Double
    private var lastThresholdUpdate: Double?
    private var timeOverUsing = -1.0
    private var overuseCounter = 0
    private(set) var usage = BandwidthUsage.normal
    /// The last modified trend (the value compared against the threshold), for diagnostics.
    private(set) var modifiedTrend = 0.0

    init(parameters: Parameters = Parameters()) {
        self.parameters = parameters
        let n = max(2, parameters.windowSize)
        xs = Array(repeating: 0, count: n)
        ys = Array(repeating: 0, count: n)
        threshold = parameters.initialThreshold
    }

    mutating func update(_ sample: InterGroupDelay.Sample) {
        deltas = min(deltas + 1, 1000)
        accumulatedDelay += sample.arrivalDelta - sample.sendDelta
        smoothedDelay = parameters.smoothing * smoothedDelay + (1 - parameters.smoothing) * accumulatedDelay
        let origin = firstArrival ?? sample.arrival
        firstArrival = origin
        let n = xs.count
        xs[head] = sample.arrival - origin
        ys[head] = smoothedDelay
        head = (head + 1) % n
        count = min(count + 1, n)
        var trend = previousTrend
        if count == n, let slope = slope() { trend = slope }
        detect(trend: trend, sendDelta: sample.sendDelta, now: sample.arrival)
    }

    private func slope() -> Double? {
        var sumX = 0.0
        var sumY = 0.0
        for i in 0..<count {
            sumX += xs[i]
            sumY += ys[i]
        }
        let meanX = sumX / Double(count)
        let meanY = sumY / Double(count)
        var numerator = 0.0
        var denominator = 0.0
        for i in 0..<count {
            let dx = xs[i] - meanX
            numerator += dx * (ys[i] - meanY)
            denominator += dx * dx
        }
        return denominator == 0 ? nil : numerator / denominator
    }

    private mutating func detect(trend: Double, sendDelta: Double, now: Double) {
        guard deltas >= 2 else {
            usage = .normal
            previousTrend = trend
            return
        }
        let modified = Double(min(deltas, 60)) * trend * parameters.gain
        modifiedTrend = modified
        if modified > threshold {
            timeOverUsing = timeOverUsing < 0 ? sendDelta / 2 : timeOverUsing + sendDelta
            overuseCounter += 1
            if timeOverUsing > parameters.overuseTimeMilliseconds, overuseCounter > 1, trend >= previousTrend {
                timeOverUsing = 0
                overuseCounter = 0
                usage = .overusing
            }
        } else if modified < -threshold {
            timeOverUsing = -1
            overuseCounter = 0
            usage = .underusing
        } else {
            timeOverUsing = -1
            overuseCounter = 0
            usage = .normal
        }
        previousTrend = trend
        updateThreshold(modified, now: now)
    }

    private mutating func updateThreshold(_ modified: Double, now: Double) {
        let last = lastThresholdUpdate ?? now
        lastThresholdUpdate = now
        guard abs(modified) <= threshold + 15 else { return }
        let k = abs(modified) < threshold ? parameters.kDown : parameters.kUp
        let dt = min(max(now - last, 0), 100)
        threshold = min(max(threshold + k * (abs(modified) - threshold) * dt, 6), 600)
    }
}

/// AIMD rate control driven by the detector (draft-ietf-rmcat-gcc-02 §5.5). Over-use decreases the
/// rate to β × the acknowledged bitrate (β = 0.85) and holds; under-use holds while the queue drains;
/// normal increases: multiplicatively (`increaseFactorPerSecond`, 8 %/s) while the link capacity is
/// unknown or exceeded (η = 1.08/s), additively (about one packet per response time, RTT + 100 ms,
/// at least 4 kbit/s per second) near the capacity last seen at an over-use. Increases never go above 1.5 × the acknowledged bitrate +
/// 10 kbit/s (§5.5), so an application-limited sender does not inflate the estimate.
struct AIMDRateControl: Sendable {
    enum State: Sendable { case hold, increase }

    var bitrate: Double
    let beta: Double
    let increaseFactorPerSecond: Double
    private(set) var state = State.hold
    private var lastChange: Instant?
    private var lastDecrease: Instant?
    /// Link capacity seen at over-uses, in kbit/s, with its normalised variance (as in libwebrtc).
    private var capacity: Double?
    private var capacityVariance = 0.4

    init(bitrate: Double, beta: Double, increaseFactorPerSecond: Double) {
        self.bitrate = bitrate
        self.beta = beta
        self.increaseFactorPerSecond = increaseFactorPerSecond
    }

    private var capacityDeviation: Double { (capacityVariance * (capacity ?? 0)).squareRoot() }

    mutating func update(usage: BandwidthUsage, acked: Double?, rtt: Duration, now: Instant) {
        switch usage {
        case .overusing:
            decrease(acked: acked, rtt: rtt, now: now)
        case .underusing:
            state = .hold
        case .normal:
            if state == .hold {
                state = .increase
                lastChange = now
            } else {
                increase(acked: acked, rtt: rtt, now: now)
            }
        }
    }

    private mutating func increase(acked: Double?, rtt: Duration, now: Instant) {
        if let c = capacity, bitrate / 1000 > c + 3 * capacityDeviation { capacity = nil }
        let elapsed = min(1, max(0, (now - (lastChange ?? now)).inSeconds))
        var next: Double
        if capacity != nil {
            // About one packet per response time, the packet size being that of a 30 fps frame split
            // into packets of at most 1200 bytes.
            let response = rtt.inSeconds + 0.1
            let bitsPerFrame = bitrate / 30
            let packetsPerFrame = (bitsPerFrame / (1200 * 8)).rounded(.up)
            let packetBits = packetsPerFrame > 0 ? bitsPerFrame / packetsPerFrame : bitsPerFrame
            next = bitrate + max(4000, packetBits / response) * elapsed
        } else {
            // η^Δt linearised per update (Δt is a feedback interval): compounds to about η per second.
            next = bitrate + max(1000, bitrate * (increaseFactorPerSecond - 1)) * elapsed
        }
        if let acked {
            let limit = 1.5 * acked + 10_000
            next = bitrate < limit ? min(next, limit) : bitrate
        }
        bitrate = next
        lastChange = now
    }

    private mutating func decrease(acked: Double?, rtt: Duration, now: Instant) {
        // One decrease per RTT (10...200 ms) unless the throughput collapsed below half the rate.
        let interval = min(max(rtt, .milliseconds(10)), .milliseconds(200))
        if let last = lastDecrease, now - last < interval, (acked ?? bitrate) >= bitrate / 2 { return }
        var target = beta * (acked ?? bitrate)
        if target > bitrate, let c = capacity { target = beta * c * 1000 }
        if target < bitrate { bitrate = target }
        if let acked {
            let kbps = acked / 1000
            if let c = capacity, kbps < c - 3 * capacityDeviation { capacity = nil }
            let estimate = capacity.map { 0.95 * $0 + 0.05 * kbps } ?? kbps
            let error = estimate - kbps
            capacityVariance = min(max(0.95 * capacityVariance + 0.05 * error * error / max(estimate, 1), 0.4), 2.5)
            capacity = estimate
        }
        state = .hold
        lastChange = now
        lastDecrease = now
    }

}
