/// The SSRCs a transport has received SRTP or SRTCP under, bounded: libsrtp keeps a stream (key schedule,
/// replay window, rollover counter) for every SSRC it has authenticated a packet of and never forgets one
/// on its own, so a peer cycling through SSRCs would grow it without end.
///
/// At most `capacity` SSRCs are held. A packet of a new SSRC when the table is full takes the place of the
/// one seen least recently, if that one has been silent for `replaceableAfter`; otherwise the packet is
/// dropped (an SSRC in use is never pushed out by new ones). SSRCs silent for `forgetAfter` are forgotten
/// by `sweep`. Forgetting an SSRC is the caller's cue to remove its libsrtp stream. Sans-IO: time comes in.
struct InboundSSRCTable {
    let capacity: Int
    let replaceableAfter: Duration
    let forgetAfter: Duration
    private(set) var lastSeen: [UInt32: Instant] = [:]

    init(capacity: Int, replaceableAfter: Duration = .seconds(2), forgetAfter: Duration = .seconds(60)) {
        self.capacity = max(capacity, 1)
        self.replaceableAfter = replaceableAfter
        self.forgetAfter = forgetAfter
        lastSeen.reserveCapacity(min(self.capacity, 64))
    }

    enum Admission: Equatable {
        case known
        /// A new SSRC with room for it.
        case added
        /// A new SSRC in the place of `evicted`.
        case replaced(evicted: UInt32)
        case refused
    }

    /// Whether a packet of `ssrc` may go to SRTP now. Does not record it: call `record` once it authenticated.
    func admission(_ ssrc: UInt32, now: Instant) -> Admission {
        if lastSeen[ssrc] != nil { return .known }
        if lastSeen.count < capacity { return .added }
        guard let oldest = lastSeen.min(by: { $0.value < $1.value }), now - oldest.value >= replaceableAfter else {
            return .refused
        }
        return .replaced(evicted: oldest.key)
    }

    /// Records an authenticated packet of `ssrc` admitted by `admission`.
    mutating func record(_ ssrc: UInt32, _ admission: Admission, now: Instant) {
        switch admission {
        case .known, .added:
            lastSeen[ssrc] = now
        case .replaced(let evicted):
            lastSeen[evicted] = nil
            lastSeen[ssrc] = now
        case .refused:
            break
        }
    }

    /// Forgets the SSRCs silent for `forgetAfter`; returns them.
    mutating func sweep(now: Instant) -> [UInt32] {
        let stale = lastSeen.filter { now - $0.value >= forgetAfter }.map(\.key)
        for ssrc in stale { lastSeen[ssrc] = nil }
        return stale
    }

    var count: Int { lastSeen.count }
}
