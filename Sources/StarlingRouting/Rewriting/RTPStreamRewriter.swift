import StarlingTransport
import StarlingWire

/// Maps the packets of one *current source* (an SSRC of a producer, e.g. one simulcast layer) onto the
/// single outgoing stream a consumer sends: one SSRC, sequence numbers without gaps of the
/// router's making, and timestamps that stay monotonic across source switches and pauses.
///
/// State:
/// - the current source and the base of its mapping (set by `switchSource(to:arrival:)` at a key frame);
/// - sequence numbers: `out = base_out + (in - base_in) - (drops declared in [base_in, in))`, extended to
///   64 bits; drops are those the router made on purpose (`dropped(sequenceNumber:)`), remembered in a
///   fixed bitmap window behind the highest input number (the idea of mediasoup's SeqManager);
/// - timestamps: `out = in + offset (mod 2^32)`; at a switch the offset is chosen so the key frame's
///   timestamp is the last one sent advanced by the wall time elapsed since it was first sent, at least
///   one tick (RFC 3550 §5.1: the timestamp reflects the sampling instant).
///
/// Per packet it allocates nothing: the window is allocated once in `init`.
public struct RTPStreamRewriter: Sendable {
    /// How many input sequence numbers behind the highest one a packet may arrive and still be rewritten.
    public static let reorderWindow = 1024
    private static let windowWords = reorderWindow / 64

    /// The SSRC every outgoing packet carries.
    public let outgoingSSRC: UInt32
    /// The RTP clock rate of the stream (e.g. 90000 for video, 48000 for Opus).
    public let clockRate: UInt32

    /// The input SSRC currently mapped, if any.
    public private(set) var currentSource: UInt32?

    private let firstSequenceNumber: UInt16?
    private let firstTimestamp: UInt32?

    // Input side of the current source, extended to 64 bits.
    private var unwrapper = SequenceNumberUnwrapper()
    private var baseIn: Int64 = 0
    private var highestIn: Int64 = 0
    /// Bit `x mod reorderWindow` is set when input `x` in (highestIn - reorderWindow, highestIn] was dropped.
    private var droppedBits: [UInt64]
    /// Drops declared since `baseIn` (those that left the window included).
    private var dropsSinceBase: Int64 = 0

    // Output side.
    private var baseOut: Int64 = 0
    private var timestampOffset: UInt32 = 0
    private var hasSent = false
    private var highestOut: Int64 = -1
    private var lastTimestamp: UInt32 = 0
    private var lastTimestampArrival = Instant.zero

    /// `firstSequenceNumber`/`firstTimestamp` start the outgoing stream (RFC 3550 §5.1 recommends random
    /// values); when nil the first source's own numbers are kept.
    public init(
        outgoingSSRC: UInt32, clockRate: UInt32, firstSequenceNumber: UInt16? = nil, firstTimestamp: UInt32? = nil
    ) {
        self.outgoingSSRC = outgoingSSRC
        self.clockRate = clockRate
        self.firstSequenceNumber = firstSequenceNumber
        self.firstTimestamp = firstTimestamp
        droppedBits = Array(repeating: 0, count: Self.windowWords)
    }

    /// The last outgoing sequence number and timestamp, once a packet was sent.
    public var lastSent: (sequenceNumber: UInt16, timestamp: UInt32)? {
        hasSent ? (UInt16(truncatingIfNeeded: highestOut), lastTimestamp) : nil
    }

    /// Starts mapping the source of `keyFrame` (its first packet, which the caller forwards next with
    /// `rewrite`). The key frame's outgoing sequence number is the last sent + 1, and its outgoing
    /// timestamp the last sent + max(1, elapsed wall time × clock rate). Packets of any other SSRC, and of
    /// this one from before the key frame, are dropped from now on. Switching to the same SSRC re-bases it
    /// (e.g. on resuming after a pause).
    public mutating func switchSource(to keyFrame: RTPHeader, arrival: Instant) {
        currentSource = keyFrame.ssrc
        unwrapper = SequenceNumberUnwrapper()
        baseIn = unwrapper.unwrap(keyFrame.sequenceNumber)
        highestIn = baseIn
        for i in droppedBits.indices { droppedBits[i] = 0 }
        dropsSinceBase = 0
        if hasSent {
            baseOut = highestOut &+ 1
            let out = lastTimestamp &+ ticks(since: lastTimestampArrival, until: arrival)
            timestampOffset = out &- keyFrame.timestamp
        } else {
            baseOut = Int64(firstSequenceNumber ?? keyFrame.sequenceNumber)
            timestampOffset = (firstTimestamp ?? keyFrame.timestamp) &- keyFrame.timestamp
        }
    }

    /// Rewrites SSRC, sequence number and timestamp of `packet` (whose header is `header`) in place.
    /// Returns false, leaving the packet untouched, when it must not be sent: no current source, another
    /// SSRC, from before the switch point, declared dropped, or too old for the reorder window.
    public mutating func rewrite(header: RTPHeader, packet: UnsafeMutableRawBufferPointer, arrival: Instant) -> Bool {
        guard let out = outgoing(header: header, arrival: arrival) else { return false }
        RTPHeader.setSSRC(outgoingSSRC, in: packet)
        RTPHeader.setSequenceNumber(out.sequenceNumber, in: packet)
        RTPHeader.setTimestamp(out.timestamp, in: packet)
        return true
    }

    /// What `rewrite` would write, recording the packet as sent (for callers that build the packet elsewhere).
    public mutating func outgoing(header: RTPHeader, arrival: Instant) -> (sequenceNumber: UInt16, timestamp: UInt32)? {
        guard header.ssrc == currentSource else { return nil }
        let x = unwrapper.unwrap(header.sequenceNumber)
        guard x >= baseIn, x > highestIn - Int64(Self.reorderWindow) else { return nil }
        if x > highestIn {
            advance(to: x)
        } else if isDropped(x) {
            return nil
        }
        let outExt = baseOut + (x - baseIn) - (dropsSinceBase - dropsAbove(x))
        if outExt > highestOut { highestOut = outExt }
        let ts = header.timestamp &+ timestampOffset
        if !hasSent || Int32(bitPattern: ts &- lastTimestamp) > 0 {
            lastTimestamp = ts
            lastTimestampArrival = arrival
        }
        hasSent = true
        return (UInt16(truncatingIfNeeded: outExt), ts)
    }

    /// Declares that the router drops input `sequenceNumber` of the current source on purpose (e.g. a
    /// temporal layer it does not forward), so the outgoing numbering closes the gap. Only numbers newer
    /// than every one seen are taken (as in mediasoup's SeqManager); others are ignored.
    public mutating func dropped(sequenceNumber: UInt16) {
        guard currentSource != nil else { return }
        let x = unwrapper.unwrap(sequenceNumber)
        guard x > highestIn else { return }
        advance(to: x)
        setBit(x)
        dropsSinceBase += 1
    }

    // MARK: - Window

    private mutating func advance(to x: Int64) {
        if x - highestIn >= Int64(Self.reorderWindow) {
            for i in droppedBits.indices { droppedBits[i] = 0 }
        } else {
            var i = highestIn + 1
            while i <= x {
                clearBit(i)
                i += 1
            }
        }
        highestIn = x
    }

    private func isDropped(_ x: Int64) -> Bool {
        let (word, bit) = Self.position(x)
        return droppedBits[word] & (1 << bit) != 0
    }

    /// Drops declared in (x, highestIn]; `x` must be within the window.
    private func dropsAbove(_ x: Int64) -> Int64 {
        var count: Int64 = 0
        var i = x + 1
        while i <= highestIn {
            if isDropped(i) { count += 1 }
            i += 1
        }
        return count
    }

    private mutating func setBit(_ x: Int64) {
        let (word, bit) = Self.position(x)
        droppedBits[word] |= 1 << bit
    }

    private mutating func clearBit(_ x: Int64) {
        let (word, bit) = Self.position(x)
        droppedBits[word] &= ~(1 << bit)
    }

    private static func position(_ x: Int64) -> (Int, UInt64) {
        let slot = Int(UInt64(bitPattern: x) % UInt64(reorderWindow))
        return (slot / 64, UInt64(slot % 64))
    }

    /// Wall time from `from` to `to` in clock ticks: at least 1, at most 2^31 - 1 (so it still reads as
    /// newer modulo 2^32).
    private func ticks(since from: Instant, until to: Instant) -> UInt32 {
        let micros = (to.nanoseconds &- from.nanoseconds) / 1000
        guard micros > 0 else { return 1 }
        let (product, overflow) = micros.multipliedReportingOverflow(by: Int64(clockRate))
        let ticks = overflow ? Int64(Int32.max) : min(product / 1_000_000, Int64(Int32.max))
        return UInt32(max(ticks, 1))
    }
}
