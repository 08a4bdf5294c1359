import StarlingTransport

/// The dominant speaker changed: `producer` is the new one, or nil when nobody is speaking any more.
public struct ActiveSpeakerEvent<Producer: Hashable & Sendable>: Hashable, Sendable {
    public var producer: Producer?
    public var at: Instant

    public init(producer: Producer?, at: Instant) {
        self.producer = producer
        self.at = at
    }
}

/// Picks a room's dominant speaker from the audio levels its publishers put in their RTP packets
/// (RFC 6464 client-to-mixer audio level header extension).
///
/// Input per packet: the level, 0...127 in -dBov (0 is the loudest, 127 digital silence, RFC 6464 §3),
/// and the V flag; pass nil for the flag when the extension's `vad` attribute is off (RFC 6464 §4: the
/// flag then carries no voice-activity information). A packet's loudness is how far it is above the
/// silence level, in dB: `silenceLevel - level`, or 0 when the level is at or below it, or when V says
/// there is no voice.
///
/// State per producer: a ring of time buckets (`bucketCount` covering `window`, plus the one being
/// filled), each with the sum and count of loudnesses received in it. The smoothed loudness at a time
/// is the mean of the averages of the `bucketCount` whole buckets before it, an empty bucket counting
/// as silence (packets stop or thin out under DTX when nobody speaks).
///
/// The detector is evaluated at bucket boundaries (`nextDeadline`, `handleTimeout`). The dominant
/// speaker changes only when another producer is the loudest and louder than the dominant one by
/// `switchMargin` dB (or speaking at all while the dominant one is silent) at every evaluation for
/// `minSwitchDuration`; so a cough, a laugh or an "mm-hm" does not take over. A dominant speaker silent
/// for `silenceTimeout` is handed over to the loudest producer still making sound, or cleared (an event
/// with nil). Removing the dominant producer hands over (or clears) at once. Events queue for
/// `pollEvent`.
///
/// Producers are added and removed at setup time (allocates); `record` and `handleTimeout` allocate
/// nothing (a dictionary lookup and fixed arrays). `levels(now:)` builds an array, for the UI.
public struct ActiveSpeakerDetector<Producer: Hashable & Sendable>: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// The span of the smoothing.
        public var window: Duration
        /// How many buckets cover `window`; evaluations happen at each bucket boundary.
        public var bucketCount: Int
        /// Levels at or above this (in -dBov: 50 is -50 dBov) are silence.
        public var silenceLevel: UInt8
        /// Whether a V flag of false (RFC 6464 §3) makes a packet silent whatever its level.
        public var usesVoiceActivity: Bool
        /// How much louder (dB of smoothed loudness) a producer must be than a speaking dominant one.
        public var switchMargin: Int
        /// How long a producer must stay clearly the loudest before it becomes dominant.
        public var minSwitchDuration: Duration
        /// A dominant speaker silent this long is handed over or cleared; nil keeps the last speaker.
        public var silenceTimeout: Duration?
        /// Events kept until polled; the oldest are dropped beyond this.
        public var maxPendingEvents: Int

        public init(
            window: Duration = .milliseconds(500), bucketCount: Int = 5, silenceLevel: UInt8 = 50,
            usesVoiceActivity: Bool = true, switchMargin: Int = 6, minSwitchDuration: Duration = .seconds(1),
            silenceTimeout: Duration? = .seconds(2), maxPendingEvents: Int = 16
        ) {
            self.window = window
            self.bucketCount = bucketCount
            self.silenceLevel = silenceLevel
            self.usesVoiceActivity = usesVoiceActivity
            self.switchMargin = switchMargin
            self.minSwitchDuration = minSwitchDuration
            self.silenceTimeout = silenceTimeout
            self.maxPendingEvents = maxPendingEvents
        }
    }

    /// One producer's smoothed level, as an RFC 6464 level (-dBov; 127 when silent).
    public struct ProducerLevel: Hashable, Sendable {
        public var producer: Producer
        public var level: UInt8

        public init(producer: Producer, level: UInt8) {
            self.producer = producer
            self.level = level
        }
    }

    public let configuration: Configuration
    /// The current dominant speaker.
    public private(set) var dominantSpeaker: Producer?
    /// When `handleTimeout` should next be called; nil while everything is quiet and no timer runs.
    public private(set) var nextDeadline: Instant?
    /// Events dropped because `pollEvent` was not called.
    public private(set) var droppedEvents = 0

    private struct Slot: Sendable {
        var producer: Producer
        /// The absolute index of the newest bucket written; nil before the first packet.
        var newestBucket: Int64?
    }

    /// Fixed point for smoothed loudness: 1/256 dB.
    private static var unit: Int { 256 }

    private let bucketNanoseconds: Int64
    private var ringSize: Int { configuration.bucketCount + 1 }
    private var slots: [Slot] = []
    private var slotIndex: [Producer: Int] = [:]
    /// `ringSize` entries per slot, slot i at `i * ringSize`.
    private var sums: [Int] = []
    private var counts: [Int] = []
    private var candidate: Producer?
    private var candidateSince: Instant = .zero
    private var dominantSilentSince: Instant?
    private var events: [ActiveSpeakerEvent<Producer>] = []
    private var eventHead = 0

    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.bucketCount > 0, "ActiveSpeakerDetector: bucketCount must be positive")
        precondition(configuration.maxPendingEvents > 0, "ActiveSpeakerDetector: maxPendingEvents must be positive")
        let nanoseconds = configuration.window.nanosecondsClamped / Int64(configuration.bucketCount)
        precondition(nanoseconds > 0, "ActiveSpeakerDetector: window too short for bucketCount")
        self.configuration = configuration
        bucketNanoseconds = nanoseconds
        events.reserveCapacity(configuration.maxPendingEvents)
    }

    /// The producers tracked.
    public var producers: [Producer] { slots.map(\.producer) }

    /// Starts tracking an audio producer (setup time). Adding a known one does nothing.
    public mutating func addProducer(_ producer: Producer) {
        guard slotIndex[producer] == nil else { return }
        slotIndex[producer] = slots.count
        slots.append(Slot(producer: producer))
        sums.append(contentsOf: repeatElement(0, count: ringSize))
        counts.append(contentsOf: repeatElement(0, count: ringSize))
    }

    /// Stops tracking `producer`. If it was the dominant speaker, the loudest producer still making
    /// sound takes over at once, or nobody (an event either way).
    public mutating func removeProducer(_ producer: Producer, now: Instant) {
        guard let i = slotIndex.removeValue(forKey: producer) else { return }
        let b = ringSize
        let last = slots.count - 1
        if i != last {
            slots[i] = slots[last]
            slotIndex[slots[i].producer] = i
            for j in 0..<b {
                sums[i * b + j] = sums[last * b + j]
                counts[i * b + j] = counts[last * b + j]
            }
        }
        slots.removeLast()
        sums.removeLast(b)
        counts.removeLast(b)
        if candidate == producer { candidate = nil }
        if dominantSpeaker == producer {
            let k = bucket(now)
            var best: Int?
            var bestLoudness = 0
            for s in slots.indices {
                let l = smoothedLoudness(s, at: k)
                if l > bestLoudness { best = s; bestLoudness = l }
            }
            if let best { makeDominant(slots[best].producer, now: now) } else { clearDominant(now: now) }
        }
        updateDeadline(now: now)
    }

    /// Records one packet's audio level (RFC 6464 §3). Returns false, doing nothing, for a producer
    /// not added.
    @discardableResult
    public mutating func record(producer: Producer, level: UInt8, voiceActivity: Bool?, now: Instant) -> Bool {
        guard let i = slotIndex[producer] else { return false }
        let k = advance(i, to: bucket(now))
        let position = i * ringSize + ring(k)
        let value = loudness(level: level, voiceActivity: voiceActivity)
        sums[position] += value
        counts[position] += 1
        if value > 0 {
            let boundary = Instant(nanoseconds: (k + 1) &* bucketNanoseconds)
            if nextDeadline.map({ boundary < $0 }) ?? true { nextDeadline = boundary }
        }
        return true
    }

    /// Re-evaluates the dominant speaker; call at `nextDeadline` (earlier or later is harmless).
    public mutating func handleTimeout(now: Instant) {
        let k = bucket(now)
        var dominantLoudness = 0
        var best: Int?
        var bestLoudness = 0
        var anyLoud = false
        for i in slots.indices {
            let l = smoothedLoudness(i, at: k)
            if l > 0 { anyLoud = true }
            let producer = slots[i].producer
            if producer == dominantSpeaker {
                dominantLoudness = l
                continue
            }
            if l > bestLoudness || (l == bestLoudness && l > 0 && producer == candidate) {
                best = i
                bestLoudness = l
            }
        }
        let margin = dominantLoudness > 0 ? min(max(configuration.switchMargin, 0), 127) * Self.unit : 0
        var switched = false
        if let best, bestLoudness > 0, bestLoudness >= dominantLoudness + margin {
            let producer = slots[best].producer
            if candidate != producer {
                candidate = producer
                candidateSince = now
            }
            if now - candidateSince >= configuration.minSwitchDuration {
                makeDominant(producer, now: now)
                switched = true
            }
        } else {
            candidate = nil
        }
        if !switched, dominantSpeaker != nil {
            if dominantLoudness > 0 {
                dominantSilentSince = nil
            } else {
                let since = dominantSilentSince ?? now
                dominantSilentSince = since
                if let timeout = configuration.silenceTimeout, now - since >= timeout {
                    if let best, bestLoudness > 0 {
                        makeDominant(slots[best].producer, now: now)
                    } else {
                        clearDominant(now: now)
                    }
                }
            }
        }
        nextDeadline = nil
        if anyLoud || candidate != nil {
            nextDeadline = Instant(nanoseconds: (k + 1) &* bucketNanoseconds)
        } else if dominantSpeaker != nil, let since = dominantSilentSince, let timeout = configuration.silenceTimeout {
            nextDeadline = since + timeout
        }
    }

    /// The next dominant-speaker change, oldest first; nil when none is pending.
    public mutating func pollEvent() -> ActiveSpeakerEvent<Producer>? {
        guard eventHead < events.count else { return nil }
        let event = events[eventHead]
        eventHead += 1
        if eventHead == events.count {
            events.removeAll(keepingCapacity: true)
            eventHead = 0
        }
        return event
    }

    /// `producer`'s smoothed level at `now`, as an RFC 6464 level (-dBov, 127 when silent); nil for a
    /// producer not added.
    public func level(of producer: Producer, now: Instant) -> UInt8? {
        slotIndex[producer].map { level(loudness: smoothedLoudness($0, at: bucket(now))) }
    }

    /// Every producer's smoothed level at `now`, loudest first: a snapshot for the UI. Allocates.
    public func levels(now: Instant) -> [ProducerLevel] {
        let k = bucket(now)
        let loudness = slots.indices.map { smoothedLoudness($0, at: k) }
        return slots.indices.sorted { loudness[$0] > loudness[$1] || (loudness[$0] == loudness[$1] && $0 < $1) }
            .map { ProducerLevel(producer: slots[$0].producer, level: level(loudness: loudness[$0])) }
    }

    // MARK: private

    private func loudness(level: UInt8, voiceActivity: Bool?) -> Int {
        if configuration.usesVoiceActivity, voiceActivity == false { return 0 }
        let silence = Int(min(configuration.silenceLevel, 127))
        return max(0, silence - Int(min(level, 127)))
    }

    /// A smoothed loudness (1/256 dB) as a level in -dBov.
    private func level(loudness: Int) -> UInt8 {
        guard loudness > 0 else { return 127 }
        let decibels = (loudness + Self.unit / 2) / Self.unit
        return UInt8(clamping: Int(min(configuration.silenceLevel, 127)) - decibels)
    }

    private func bucket(_ now: Instant) -> Int64 {
        let n = now.nanoseconds
        return n >= 0 ? n / bucketNanoseconds : -((-(n &+ 1)) / bucketNanoseconds) - 1
    }

    private func ring(_ k: Int64) -> Int {
        let b = Int64(ringSize)
        return Int(((k % b) + b) % b)
    }

    /// Moves slot `i` on to bucket `k`, emptying the buckets it skips; returns the bucket to write
    /// (`k`, or the newest when time went backwards).
    private mutating func advance(_ i: Int, to k: Int64) -> Int64 {
        let b = ringSize
        let base = i * b
        guard let newest = slots[i].newestBucket else {
            for j in 0..<b { sums[base + j] = 0; counts[base + j] = 0 }
            slots[i].newestBucket = k
            return k
        }
        guard k > newest else { return newest }
        if k - newest >= Int64(b) {
            for j in 0..<b { sums[base + j] = 0; counts[base + j] = 0 }
        } else {
            var j = newest + 1
            while j <= k {
                sums[base + ring(j)] = 0
                counts[base + ring(j)] = 0
                j += 1
            }
        }
        slots[i].newestBucket = k
        return k
    }

    /// Slot `i`'s mean bucket loudness over the `bucketCount` whole buckets before bucket `k` (the
    /// window ending at the start of `k`), in 1/256 dB.
    private func smoothedLoudness(_ i: Int, at k: Int64) -> Int {
        guard let newest = slots[i].newestBucket else { return 0 }
        let b = Int64(configuration.bucketCount)
        let base = i * ringSize
        var j = max(newest - b, k - b)
        let end = min(newest, k - 1)
        var total = 0
        while j <= end {
            let p = base + ring(j)
            if counts[p] > 0 { total += sums[p] * Self.unit / counts[p] }
            j += 1
        }
        return total / configuration.bucketCount
    }

    private mutating func makeDominant(_ producer: Producer, now: Instant) {
        candidate = nil
        dominantSilentSince = nil
        guard producer != dominantSpeaker else { return }
        dominantSpeaker = producer
        emit(ActiveSpeakerEvent(producer: producer, at: now))
    }

    private mutating func clearDominant(now: Instant) {
        candidate = nil
        dominantSilentSince = nil
        guard dominantSpeaker != nil else { return }
        dominantSpeaker = nil
        emit(ActiveSpeakerEvent(producer: nil, at: now))
    }

    private mutating func emit(_ event: ActiveSpeakerEvent<Producer>) {
        if events.count - eventHead >= configuration.maxPendingEvents {
            eventHead += 1
            droppedEvents += 1
        }
        if events.count == configuration.maxPendingEvents, eventHead > 0 {
            events.removeFirst(eventHead)
            eventHead = 0
        }
        events.append(event)
    }

    /// After a removal: evaluate at the next boundary if anything may change.
    private mutating func updateDeadline(now: Instant) {
        let boundary = Instant(nanoseconds: (bucket(now) + 1) &* bucketNanoseconds)
        if !slots.isEmpty, nextDeadline.map({ boundary < $0 }) ?? true { nextDeadline = boundary }
        if slots.isEmpty { nextDeadline = nil }
    }
}
