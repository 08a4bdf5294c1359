/// Extends 16-bit RTP sequence numbers to 64 bits across wrap-arounds (RFC 3550 §A.1), tolerating
/// reordering: a number within half the space behind the highest seen is treated as late, not as a
/// new cycle. Used for loss detection, NACK generation and receiver reports.
public struct SequenceNumberUnwrapper: Sendable {
    private var last: Int64?

    public init() {}

    /// The extended value of `sequenceNumber`, relative to the highest number seen so far.
    public mutating func unwrap(_ sequenceNumber: UInt16) -> Int64 {
        guard let last else {
            self.last = Int64(sequenceNumber)
            return Int64(sequenceNumber)
        }
        let delta = Int64(Int16(bitPattern: sequenceNumber &- UInt16(truncatingIfNeeded: last)))
        let value = last + delta
        if value > last { self.last = value }
        return value
    }

    /// The highest extended sequence number seen, if any.
    public var highest: Int64? { last }
}

/// Extends 32-bit RTP timestamps to 64 bits in the same way (for jitter and SR/RR arithmetic).
public struct TimestampUnwrapper: Sendable {
    private var last: Int64?

    public init() {}

    public mutating func unwrap(_ timestamp: UInt32) -> Int64 {
        guard let last else {
            self.last = Int64(timestamp)
            return Int64(timestamp)
        }
        let delta = Int64(Int32(bitPattern: timestamp &- UInt32(truncatingIfNeeded: last)))
        let value = last + delta
        if value > last { self.last = value }
        return value
    }
}
