import StarlingTransport

/// Bandwidth probing for one subscriber transport (see `Router.sendPadding`), in the manner of
/// libwebrtc's probe controller: GCC's increase is capped at 1.5 × the acknowledged rate
/// (draft-ietf-rmcat-gcc-02 §5.5), so a transport that forwards less than it could would never learn
/// that more fits. While the consumers want more than the estimate (`desired > estimate`) a probe pads
/// the transport up to `min(1.1 × desired, 1.5 × estimate)` for `duration`, then waits `settle` for the
/// feedback. If the subscriber acknowledged at least 80 % of that rate without the delay detector
/// signalling over-use, the acknowledged rate becomes the estimate (`Outcome.raise`). A failed probe
/// backs off 2, 4, 8, 16, then 32 s; success or reaching the desired rate resets it. Only scalars.
public struct PaddingProbe: Sendable {
    public enum Outcome: Hashable, Sendable {
        case raise(to: Int)
        case failed
    }

    enum Phase: Hashable, Sendable {
        case idle
        case sending(until: Instant, target: Int)
        case measuring(until: Instant, target: Int)
    }

    public var duration: Duration = .milliseconds(500)
    public var settle: Duration = .milliseconds(250)
    private(set) var phase = Phase.idle
    /// Padding rate while a probe is sending, bits per second.
    public private(set) var rate = 0
    private var credit = 0
    private var lastTick: Instant?
    private var nextProbeAt: Instant?
    private var failures = 0

    public init() {}

    public var isProbing: Bool { phase != .idle }

    /// At each allocation: starts a probe when the consumers want more than the estimate allows.
    public mutating func update(desired: Int, sending: Int, estimate: Int?, now: Instant) {
        guard let estimate, desired > estimate else {
            failures = 0
            return
        }
        guard phase == .idle, now >= nextProbeAt ?? now else { return }
        let target = min(desired + desired / 10, estimate + estimate / 2)
        rate = max(0, target - sending)
        guard rate > 0 else { return }
        phase = .sending(until: now + duration, target: target)
    }

    /// Bytes of padding to send at this tick.
    public mutating func paddingBytes(now: Instant) -> Int {
        defer { lastTick = now }
        guard case .sending(let until, let target) = phase else { return 0 }
        if now >= until {
            phase = .measuring(until: now + settle, target: target)
            credit = 0
            return 0
        }
        let elapsed = min(max((now - (lastTick ?? now)).nanosecondsClamped, 0), 50_000_000)
        credit += Int(Int64(rate) * elapsed / 8_000_000_000)
        guard credit >= 1000 else { return 0 }
        defer { credit = 0 }
        return credit
    }

    /// After a probe: what the subscriber's feedback says about it.
    public mutating func poll(now: Instant, ackedBitrate: Int?, overusing: Bool) -> Outcome? {
        guard case .measuring(let until, let target) = phase, now >= until else { return nil }
        phase = .idle
        rate = 0
        if let acked = ackedBitrate, !overusing, acked * 10 >= target * 8 {
            failures = 0
            nextProbeAt = now + .seconds(1)
            return .raise(to: acked)
        }
        failures = min(failures + 1, 5)
        nextProbeAt = now + .seconds(Int64(1) << failures)
        return .failed
    }
}
