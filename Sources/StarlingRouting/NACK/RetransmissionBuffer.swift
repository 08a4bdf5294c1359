import StarlingTransport

/// The packets of one outgoing stream that a receiver may still NACK (RFC 4585 §6.2.1), keyed by the
/// sequence number they were sent with.
///
/// State: a ring of `slotCount` fixed-size slots (a power of two, so `sequenceNumber % slotCount`
/// stays continuous across the 65535 -> 0 wrap), each holding the packet's bytes, length, sequence
/// number, send time and the time it was last retransmitted. Bounded by memory (slots × slot size,
/// allocated once in `init`) and by age (`maxAge`): a packet is returned only while it is the one
/// stored in its slot and was sent less than `maxAge` ago. Nothing allocates after `init`.
public final class RetransmissionBuffer {
    /// Number of slots: the requested count rounded up to a power of two.
    public let slotCount: Int
    /// Largest packet a slot holds; larger packets are not cached.
    public let slotSize: Int
    /// How long a packet stays retrievable after it was sent.
    public var maxAge: Duration

    private let mask: Int
    private let bytes: UnsafeMutableRawPointer
    private let slots: UnsafeMutableBufferPointer<Slot>

    private struct Slot {
        /// 0 marks an empty slot.
        var length: Int32
        var sequenceNumber: UInt16
        var sentAt: Instant
        /// `Int64.min` nanoseconds when never retransmitted.
        var retransmittedAt: Instant
    }

    private static let never = Instant(nanoseconds: .min)

    /// - Parameters:
    ///   - slots: how many packets to keep at most (rounded up to a power of two, at least 1).
    ///   - slotSize: the largest packet kept, in bytes.
    ///   - maxAge: how long a packet stays retrievable.
    public init(slots: Int = 512, slotSize: Int = 1500, maxAge: Duration = .seconds(1)) {
        precondition(slots > 0 && slots <= 65536, "RetransmissionBuffer: slots must be in 1...65536")
        precondition(slotSize > 0, "RetransmissionBuffer: slotSize must be positive")
        var count = 1
        while count < slots { count <<= 1 }
        slotCount = count
        mask = count - 1
        self.slotSize = slotSize
        self.maxAge = maxAge
        bytes = UnsafeMutableRawPointer.allocate(byteCount: count * slotSize, alignment: 16)
        // Touch every page now: the memory is the buffer's from the start (and counted in RSS at once),
        // rather than faulted in on the forwarding path as the ring first fills.
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: count * slotSize)
        self.slots = UnsafeMutableBufferPointer<Slot>.allocate(capacity: count)
        self.slots.initialize(
            repeating: Slot(length: 0, sequenceNumber: 0, sentAt: Self.never, retransmittedAt: Self.never))
    }

    deinit {
        bytes.deallocate()
        slots.deallocate()
    }

    /// Caches `packet`, sent now with `sequenceNumber`, replacing whatever its slot held. Returns false
    /// (and leaves the slot empty) when the packet is empty or larger than `slotSize`.
    @discardableResult
    public func store(packet: UnsafeRawBufferPointer, sequenceNumber: UInt16, now: Instant) -> Bool {
        let index = Int(sequenceNumber) & mask
        guard packet.count > 0, packet.count <= slotSize, let source = packet.baseAddress else {
            slots[index].length = 0
            return false
        }
        (bytes + index * slotSize).copyMemory(from: source, byteCount: packet.count)
        slots[index] = Slot(
            length: Int32(packet.count), sequenceNumber: sequenceNumber, sentAt: now, retransmittedAt: Self.never)
        return true
    }

    /// Calls `body` with the packet sent with `sequenceNumber`; nil when it was never stored, has been
    /// overwritten, or is older than `maxAge`. The bytes are valid only inside `body`.
    public func withPacket<R>(
        sequenceNumber: UInt16, now: Instant, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R? {
        guard let index = liveIndex(sequenceNumber, now: now) else { return nil }
        return try body(UnsafeRawBufferPointer(start: bytes + index * slotSize, count: Int(slots[index].length)))
    }

    /// Whether the packet sent with `sequenceNumber` is still retrievable.
    public func contains(sequenceNumber: UInt16, now: Instant) -> Bool {
        liveIndex(sequenceNumber, now: now) != nil
    }

    /// When the packet with `sequenceNumber` was last retransmitted; nil when never or not cached.
    public func lastRetransmission(sequenceNumber: UInt16, now: Instant) -> Instant? {
        guard let index = liveIndex(sequenceNumber, now: now) else { return nil }
        let at = slots[index].retransmittedAt
        return at == Self.never ? nil : at
    }

    /// Records that the packet with `sequenceNumber` was retransmitted at `now` (for throttling).
    public func markRetransmitted(sequenceNumber: UInt16, now: Instant) {
        guard let index = liveIndex(sequenceNumber, now: now) else { return }
        slots[index].retransmittedAt = now
    }

    /// Empties every slot (e.g. when the stream's sequence numbering restarts).
    public func removeAll() {
        for i in 0..<slotCount { slots[i].length = 0 }
    }

    private func liveIndex(_ sequenceNumber: UInt16, now: Instant) -> Int? {
        let index = Int(sequenceNumber) & mask
        let slot = slots[index]
        guard slot.length > 0, slot.sequenceNumber == sequenceNumber, now - slot.sentAt <= maxAge else {
            return nil
        }
        return index
    }
}
