import StarlingTransport

/// The packets of one outgoing stream that a receiver may still NACK (RFC 4585 §6.2.1), keyed by the
/// sequence number they were sent with.
///
/// State: a ring of `slotCount` fixed-size slots (a power of two, so `sequenceNumber % slotCount`
/// stays continuous across the 65535 -> 0 wrap), each holding the packet's bytes, length, sequence
/// number, send time, the time it was last retransmitted and a generation that changes whenever the
/// slot is written. Bounded by memory (slots × slot size) and by age (`maxAge`): a packet is returned
/// only while it is the one stored in its slot and was sent less than `maxAge` ago. The ring's bytes
/// are allocated by the first `store`, so a stream that never carries a packet costs nothing; after
/// that nothing allocates.
public final class RetransmissionBuffer {
    /// Number of slots: the requested count rounded up to a power of two.
    public let slotCount: Int
    /// Largest packet a slot holds; larger packets are not cached.
    public let slotSize: Int
    /// How long a packet stays retrievable after it was sent.
    public var maxAge: Duration

    private let mask: Int
    /// nil until the first packet is stored.
    private var bytes: UnsafeMutableRawPointer?
    private var slots: UnsafeMutableBufferPointer<Slot>?
    /// Counts every store; a slot keeps the value of the store that filled it.
    private var generations: UInt32 = 0

    private struct Slot {
        /// 0 marks an empty slot.
        var length: Int32
        var sequenceNumber: UInt16
        var generation: UInt32
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
    }

    deinit {
        bytes?.deallocate()
        slots?.deallocate()
    }

    /// Whether the ring's memory has been allocated (by a first `store`).
    public var isAllocated: Bool { bytes != nil }

    /// Allocates the ring. Its bytes are left as they come (a slot is read only after a packet was copied
    /// into it), so the pages are faulted in as packets fill them, a page every few packets, rather than
    /// 768 KiB at once on the forwarding path when a layer's first packet arrives.
    private func allocate() -> (UnsafeMutableRawPointer, UnsafeMutableBufferPointer<Slot>) {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: slotCount * slotSize, alignment: 16)
        let table = UnsafeMutableBufferPointer<Slot>.allocate(capacity: slotCount)
        table.initialize(
            repeating: Slot(length: 0, sequenceNumber: 0, generation: 0, sentAt: Self.never, retransmittedAt: Self.never))
        bytes = storage
        slots = table
        return (storage, table)
    }

    /// Caches `packet`, sent now with `sequenceNumber`, replacing whatever its slot held. Returns the
    /// generation of the stored copy (see `withPacket`), or nil (leaving the slot empty) when the packet
    /// is empty or larger than `slotSize`.
    @discardableResult
    public func store(packet: UnsafeRawBufferPointer, sequenceNumber: UInt16, now: Instant) -> UInt32? {
        let index = Int(sequenceNumber) & mask
        guard packet.count > 0, packet.count <= slotSize, let source = packet.baseAddress else {
            slots?[index].length = 0
            return nil
        }
        let (storage, table) = bytes.flatMap { b in slots.map { (b, $0) } } ?? allocate()
        (storage + index * slotSize).copyMemory(from: source, byteCount: packet.count)
        generations &+= 1
        if generations == 0 { generations = 1 }
        table[index] = Slot(
            length: Int32(truncatingIfNeeded: packet.count), sequenceNumber: sequenceNumber, generation: generations,
            sentAt: now, retransmittedAt: Self.never)
        return generations
    }

    /// Calls `body` with the packet sent with `sequenceNumber`; nil when it was never stored, has been
    /// overwritten, or is older than `maxAge`. The bytes are valid only inside `body`.
    public func withPacket<R>(
        sequenceNumber: UInt16, now: Instant, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R? {
        try withPacket(sequenceNumber: sequenceNumber, now: now) { bytes, _ in try body(bytes) }
    }

    /// Like `withPacket(sequenceNumber:now:_:)`, also passing the generation `store` returned for the copy:
    /// a caller that must resend exactly what it sent before checks that it is still the same copy.
    public func withPacket<R>(
        sequenceNumber: UInt16, now: Instant, _ body: (UnsafeRawBufferPointer, UInt32) throws -> R
    ) rethrows -> R? {
        guard let index = liveIndex(sequenceNumber, now: now), let bytes, let slots else { return nil }
        return try body(
            UnsafeRawBufferPointer(start: bytes + index * slotSize, count: Int(slots[index].length)), slots[index].generation)
    }

    /// Whether the packet sent with `sequenceNumber` is still retrievable.
    public func contains(sequenceNumber: UInt16, now: Instant) -> Bool {
        liveIndex(sequenceNumber, now: now) != nil
    }

    /// When the packet with `sequenceNumber` was last retransmitted; nil when never or not cached.
    public func lastRetransmission(sequenceNumber: UInt16, now: Instant) -> Instant? {
        guard let index = liveIndex(sequenceNumber, now: now), let slots else { return nil }
        let at = slots[index].retransmittedAt
        return at == Self.never ? nil : at
    }

    /// Records that the packet with `sequenceNumber` was retransmitted at `now` (for throttling).
    public func markRetransmitted(sequenceNumber: UInt16, now: Instant) {
        guard let index = liveIndex(sequenceNumber, now: now) else { return }
        slots?[index].retransmittedAt = now
    }

    /// Empties every slot (e.g. when the stream's sequence numbering restarts).
    public func removeAll() {
        guard let slots else { return }
        for i in 0..<slotCount { slots[i].length = 0 }
    }

    private func liveIndex(_ sequenceNumber: UInt16, now: Instant) -> Int? {
        let index = Int(sequenceNumber) & mask
        guard let slot = slots?[index] else { return nil }
        guard slot.length > 0, slot.sequenceNumber == sequenceNumber, now - slot.sentAt <= maxAge else {
            return nil
        }
        return index
    }
}
