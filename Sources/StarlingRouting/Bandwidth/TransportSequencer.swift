import StarlingTransport
import StarlingWire

/// Send side of transport-wide congestion control, one per subscriber transport: numbers every packet
/// sent on the transport with the transport-wide sequence number
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2), whatever stream it belongs to, and keeps
/// when each was sent and how big it was, so the subscriber's feedback (§3.1) can be matched to it.
///
/// State: the next extended number and a power-of-two ring of (extended number, send time, size)
/// indexed by it. A number older than `capacity` packets is forgotten. Nothing allocates after `init`.
public struct TransportSequencer: Sendable {
    /// What was recorded about one sent packet.
    public struct SentPacket: Hashable, Sendable {
        /// The extended (64-bit, never wrapping) transport-wide sequence number.
        public var sequenceNumber: Int64
        public var sendTime: Instant
        /// Bytes on the wire as counted by the caller (typically the RTP packet size).
        public var size: Int

        public init(sequenceNumber: Int64, sendTime: Instant, size: Int) {
            self.sequenceNumber = sequenceNumber
            self.sendTime = sendTime
            self.size = size
        }
    }

    private struct Slot: Sendable {
        var sequenceNumber: Int64
        var sendNanoseconds: Int64
        var size: Int32
    }

    private var ring: [Slot]
    private let mask: Int64
    private let firstExtended: Int64
    private var nextExtended: Int64

    /// A sequencer whose first number is `firstSequenceNumber`, remembering the last `capacity` packets
    /// (rounded up to a power of two, at least 16, at most 32768: feedback can only name numbers within
    /// half the 16-bit space). The default, 2048 packets (48 KiB per transport), covers 2 s of feedback delay at
    /// 1000 packets/s (about 10 Mbit/s); feedback comes every 50-100 ms.
    public init(capacity: Int = 2048, firstSequenceNumber: UInt16 = 1) {
        var size = 1
        while size < min(max(capacity, 16), 32768) { size <<= 1 }
        ring = Array(repeating: Slot(sequenceNumber: .min, sendNanoseconds: 0, size: 0), count: size)
        mask = Int64(size - 1)
        firstExtended = Int64(firstSequenceNumber)
        nextExtended = firstExtended
    }

    /// How many packets the history keeps.
    public var capacity: Int { ring.count }

    /// Packets numbered so far.
    public var packetsSent: Int64 { nextExtended - firstExtended }

    /// The number the next packet gets.
    public var nextSequenceNumber: UInt16 { UInt16(truncatingIfNeeded: nextExtended) }

    /// Numbers the next packet sent (`size` bytes at `now`) and records it; write the result into the
    /// packet's transport-wide-cc header extension.
    public mutating func next(size: Int, now: Instant) -> UInt16 {
        let value = nextExtended
        nextExtended += 1
        ring[Int(value & mask)] = Slot(
            sequenceNumber: value, sendNanoseconds: now.nanoseconds, size: Int32(clamping: size))
        return UInt16(truncatingIfNeeded: value)
    }

    /// Numbers an outgoing RTP packet in place: overwrites its transport-wide-cc extension element
    /// `extensionID` (2 bytes) with the next number and records the packet at its full size. Returns the
    /// number, or nil (consuming none) when the packet has no such 2-byte element.
    public mutating func stamp(
        packet: UnsafeMutableRawBufferPointer, header: RTPHeader, extensionID: UInt8, now: Instant
    ) -> UInt16? {
        guard let existing = header.headerExtension(id: extensionID, in: UnsafeRawBufferPointer(packet)),
            existing.count == 2
        else { return nil }
        let number = nextSequenceNumber
        var bigEndian = number.bigEndian
        let written = withUnsafeBytes(of: &bigEndian) { value in
            header.overwriteHeaderExtension(id: extensionID, with: value, in: packet)
        }
        guard written else { return nil }
        return next(size: packet.count, now: now)
    }

    /// The extended number a 16-bit number from feedback stands for: the latest sent number at or below
    /// it modulo 2^16. Nil before anything was sent.
    public func extendedSequenceNumber(_ sequenceNumber: UInt16) -> Int64? {
        guard nextExtended > firstExtended else { return nil }
        let latest = nextExtended - 1
        return latest - Int64(UInt16(truncatingIfNeeded: latest) &- sequenceNumber)
    }

    /// The sent packet a 16-bit number from feedback refers to, if still in the history.
    public func sentPacket(_ sequenceNumber: UInt16) -> SentPacket? {
        extendedSequenceNumber(sequenceNumber).flatMap(sentPacket(extended:))
    }

    /// The sent packet with extended number `value`, if still in the history.
    public func sentPacket(extended value: Int64) -> SentPacket? {
        guard value >= firstExtended, value < nextExtended else { return nil }
        let s = ring[Int(value & mask)]
        guard s.sequenceNumber == value else { return nil }
        return SentPacket(sequenceNumber: value, sendTime: Instant(nanoseconds: s.sendNanoseconds), size: Int(s.size))
    }
}
