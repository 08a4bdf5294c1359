import StarlingTransport
import StarlingWire

/// One keyframe request to send to a publisher now: a PLI (RFC 4585 §6.3.1) or a FIR (RFC 5104
/// §4.3.1) for the media source `ssrc`.
public struct KeyframeRequest: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Picture loss indication (RFC 4585 §6.3.1): PSFB FMT 1, media source SSRC = `ssrc`.
        case pli
        /// Full intra request (RFC 5104 §4.3.1): PSFB FMT 4, one FCI entry with `ssrc` and this
        /// command sequence number.
        case fir(sequenceNumber: UInt8)
    }

    /// SSRC of the publisher's encoding that should send a keyframe.
    public var ssrc: UInt32
    public var kind: Kind

    public init(ssrc: UInt32, kind: Kind) {
        self.ssrc = ssrc
        self.kind = kind
    }

    /// The PLI to send, from `senderSSRC` (ours); nil for a FIR.
    public func pictureLossIndication(senderSSRC: UInt32) -> PictureLossIndication? {
        guard case .pli = kind else { return nil }
        return PictureLossIndication(senderSSRC: senderSSRC, mediaSSRC: ssrc)
    }

    /// The FIR FCI entry (RFC 5104 §4.3.1.1); nil for a PLI. Several go in one FIR packet.
    public var firEntry: FullIntraRequest.Entry? {
        guard case .fir(let sequenceNumber) = kind else { return nil }
        return FullIntraRequest.Entry(ssrc: ssrc, sequenceNumber: sequenceNumber)
    }
}

/// Coalesces and throttles the keyframe requests for a publisher's encodings (one per SSRC: a
/// simulcast layer, or the single stream), before they go upstream as PLI (RFC 4585 §6.3.1) or FIR
/// (RFC 5104 §3.5.1, §4.3.1).
///
/// Needs come from subscribers' PLI/FIR, from new subscriptions and from layer switches. Per SSRC the
/// state is one of:
/// - idle: nothing needed;
/// - queued: needed, a request is due at the end of the throttle interval since the last one sent
///   (at once when none was sent that recently). More needs while queued are the same request.
/// - awaiting: a request was sent and no keyframe has arrived. More needs are the same request. If no
///   keyframe arrives within the retry interval the request is sent again, up to `maxRetries` times,
///   then the need is given up (counted; the next need starts afresh). A need arriving while
///   awaiting renews the retries, since someone still wants the keyframe.
///
/// A keyframe from the publisher (`keyframeReceived`) makes the SSRC idle, cancelling a queued request.
/// So at most one request per SSRC goes out per throttle interval however many ask.
///
/// FIR: each FIR sent carries the next command sequence number of its SSRC (RFC 5104 §4.3.1.1: "increased
/// by 1 modulo 256 for each new command"). A retry after the retry interval is a new command too, not a
/// repetition: the media sender may have answered the previous one with a keyframe that was lost, and
/// a media sender ignores a FIR whose number it has already acted on (libwebrtc does exactly that).
///
/// Streams are added and removed at setup time (`addStream`, `removeStream`); `request`,
/// `keyframeReceived` and `poll` allocate nothing. The manager is meant to serve one publisher (a few
/// SSRCs); it scans its streams linearly when computing the deadline.
public struct KeyframeRequestManager: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// At most one request per SSRC per this interval (raised to the RTT when that is larger).
        public var throttleInterval: Duration
        /// A request not answered by a keyframe within this interval (raised to twice the RTT when that
        /// is larger) is sent again.
        public var retryInterval: Duration
        /// How many times one need is re-requested before it is given up.
        public var maxRetries: Int

        public init(
            throttleInterval: Duration = .milliseconds(300), retryInterval: Duration = .seconds(1), maxRetries: Int = 3
        ) {
            self.throttleInterval = throttleInterval
            self.retryInterval = retryInterval
            self.maxRetries = maxRetries
        }
    }

    public struct Counters: Hashable, Sendable {
        /// Calls to `request` for a known SSRC.
        public var needs = 0
        /// Needs folded into a request already queued or awaiting its keyframe.
        public var coalesced = 0
        /// Requests returned by `poll`, first sends and retries.
        public var sent = 0
        /// Of `sent`, the retries.
        public var retried = 0
        /// Needs ended by a keyframe.
        public var satisfied = 0
        /// Needs given up after `maxRetries` retries.
        public var gaveUp = 0

        public init() {}
    }

    /// Where a need stands for one SSRC.
    public enum State: Hashable, Sendable {
        case idle
        /// A request is due at the end of the throttle interval.
        case queued
        /// A request was sent; waiting for the keyframe.
        case awaiting
    }

    public var configuration: Configuration
    /// The current round-trip time to the publisher, if known: raises the throttle and retry intervals.
    public var rtt: Duration?
    public private(set) var counters = Counters()
    /// When `poll` should next be called; nil when no SSRC needs anything. May be early, never late.
    public private(set) var nextDeadline: Instant?

    private struct Stream: Sendable {
        var ssrc: UInt32
        var prefersFIR: Bool
        /// The sequence number of the next FIR.
        var nextFIRSequenceNumber: UInt8
        var state: State = .idle
        var lastSentAt: Instant?
        /// When queued: when the request is sent. When awaiting: when it is retried or given up.
        var dueAt: Instant = .zero
        var retries = 0
    }

    private var streams: [Stream] = []

    public init(configuration: Configuration = Configuration(), rtt: Duration? = nil) {
        self.configuration = configuration
        self.rtt = rtt
    }

    /// Starts tracking `ssrc` (setup time; may allocate). `prefersFIR`: the publisher negotiated
    /// `ccm fir` and not `nack pli`, so requests go as FIR. A known SSRC keeps its state and only
    /// changes its preference.
    public mutating func addStream(ssrc: UInt32, prefersFIR: Bool = false, firstFIRSequenceNumber: UInt8 = 0) {
        if let i = index(of: ssrc) {
            streams[i].prefersFIR = prefersFIR
            return
        }
        streams.append(Stream(ssrc: ssrc, prefersFIR: prefersFIR, nextFIRSequenceNumber: firstFIRSequenceNumber))
    }

    /// Stops tracking `ssrc` (the encoding went away, or its SSRC changed), dropping its pending need.
    public mutating func removeStream(ssrc: UInt32) {
        guard let i = index(of: ssrc) else { return }
        streams.remove(at: i)
        updateDeadline()
    }

    /// The SSRCs tracked, in the order added.
    public var ssrcs: [UInt32] { streams.map(\.ssrc) }

    /// Where the need for `ssrc` stands; nil for an unknown SSRC.
    public func state(ssrc: UInt32) -> State? {
        index(of: ssrc).map { streams[$0].state }
    }

    /// The sequence number the next FIR for `ssrc` will carry; nil for an unknown SSRC.
    public func nextFIRSequenceNumber(ssrc: UInt32) -> UInt8? {
        index(of: ssrc).map { streams[$0].nextFIRSequenceNumber }
    }

    /// Records that a keyframe of `ssrc` is needed (a subscriber's PLI or FIR, a new subscription, a
    /// layer switch). Returns false, doing nothing, for an SSRC not added.
    @discardableResult
    public mutating func request(ssrc: UInt32, now: Instant) -> Bool {
        guard let i = index(of: ssrc) else { return false }
        counters.needs += 1
        switch streams[i].state {
        case .idle:
            streams[i].state = .queued
            streams[i].retries = 0
            let throttledUntil = streams[i].lastSentAt.map { $0 + throttle } ?? now
            streams[i].dueAt = max(now, throttledUntil)
            lowerDeadline(to: streams[i].dueAt)
        case .queued:
            counters.coalesced += 1
        case .awaiting:
            counters.coalesced += 1
            streams[i].retries = 0
        }
        return true
    }

    /// Records that a keyframe of `ssrc` arrived from the publisher: the need, queued or awaiting, is met.
    public mutating func keyframeReceived(ssrc: UInt32, now: Instant) {
        guard let i = index(of: ssrc), streams[i].state != .idle else { return }
        streams[i].state = .idle
        streams[i].retries = 0
        counters.satisfied += 1
        updateDeadline()
    }

    /// The next request to send now, or nil when none is due; call until nil. Gives up needs past their
    /// retries on the way.
    public mutating func poll(now: Instant) -> KeyframeRequest? {
        var found: KeyframeRequest?
        for i in streams.indices where streams[i].state != .idle && streams[i].dueAt <= now {
            if streams[i].state == .awaiting {
                if streams[i].retries >= configuration.maxRetries {
                    streams[i].state = .idle
                    counters.gaveUp += 1
                    continue
                }
                streams[i].retries += 1
                counters.retried += 1
            }
            found = send(i, now: now)
            break
        }
        updateDeadline()
        return found
    }

    /// Forgets every pending need (keeps the streams, their last send times and FIR sequence numbers).
    public mutating func reset() {
        for i in streams.indices { streams[i].state = .idle }
        nextDeadline = nil
    }

    // MARK: private

    private var throttle: Duration { max(configuration.throttleInterval, rtt ?? .zero) }

    private var retry: Duration { max(configuration.retryInterval, (rtt ?? .zero) * 2, throttle) }

    private mutating func send(_ i: Int, now: Instant) -> KeyframeRequest {
        streams[i].state = .awaiting
        streams[i].lastSentAt = now
        streams[i].dueAt = now + retry
        counters.sent += 1
        let ssrc = streams[i].ssrc
        guard streams[i].prefersFIR else { return KeyframeRequest(ssrc: ssrc, kind: .pli) }
        let sequenceNumber = streams[i].nextFIRSequenceNumber
        streams[i].nextFIRSequenceNumber = sequenceNumber &+ 1
        return KeyframeRequest(ssrc: ssrc, kind: .fir(sequenceNumber: sequenceNumber))
    }

    private func index(of ssrc: UInt32) -> Int? {
        for i in streams.indices where streams[i].ssrc == ssrc { return i }
        return nil
    }

    private mutating func lowerDeadline(to instant: Instant) {
        if nextDeadline.map({ instant < $0 }) ?? true { nextDeadline = instant }
    }

    private mutating func updateDeadline() {
        var next: Instant?
        for i in streams.indices where streams[i].state != .idle {
            let due = streams[i].dueAt
            if let n = next, n <= due { continue }
            next = due
        }
        nextDeadline = next
    }
}
