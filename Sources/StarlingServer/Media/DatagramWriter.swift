import NIOCore

/// The outgoing side of one media loop: datagrams are copied into a ring of reused `ByteBuffer`s and
/// written to their channel, and every channel written to is flushed once per read burst or timer tick
/// (NIO then hands the pending datagrams to the kernel with one `sendmmsg`).
///
/// A slot's buffer is reused only after a full turn of the ring. The ring is flushed at least every
/// half turn, so by the time a slot comes round NIO has written its datagram and dropped its reference,
/// the buffer is uniquely ours again and refilling it allocates nothing. (Should a socket stay blocked for
/// a whole turn, refilling copies the buffer: correct, merely an allocation.)
///
/// Touched only on its loop's thread, by the loop's actor and the rooms sharing that executor.
final class DatagramWriter: @unchecked Sendable {
    struct Counters {
        var datagramsOut = 0
        var flushes = 0
        /// Flushes forced because half the ring was written without one.
        var forcedFlushes = 0
    }
    private(set) var counters = Counters()

    static let slotCapacity = 2048
    private var slots: [ByteBuffer?]
    private var next = 0
    private var writtenSinceFlush = 0
    private var channelsToFlush: [ObjectIdentifier: any Channel] = [:]

    init(slotCount: Int = 1024, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        slots = (0..<slotCount).map { _ in allocator.buffer(capacity: Self.slotCapacity) }
        channelsToFlush.reserveCapacity(64)
    }

    /// Queues `bytes` for `address` on `channel`; sent at the next `flush()`.
    func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress, on channel: any Channel) {
        if writtenSinceFlush >= slots.count / 2 {
            counters.forcedFlushes += 1
            flush()
        }
        // Take the buffer out of its slot so that ours is the only reference while we fill it.
        var buffer = slots[next].take() ?? channel.allocator.buffer(capacity: Self.slotCapacity)
        buffer.clear()
        buffer.writeBytes(bytes)
        slots[next] = buffer
        next = next + 1 == slots.count ? 0 : next + 1
        channel.write(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        let id = ObjectIdentifier(channel)
        if channelsToFlush[id] == nil { channelsToFlush[id] = channel }
        writtenSinceFlush += 1
        counters.datagramsOut += 1
    }

    /// Flushes every channel written to since the last flush.
    func flush() {
        guard !channelsToFlush.isEmpty else { return }
        for channel in channelsToFlush.values { channel.flush() }
        channelsToFlush.removeAll(keepingCapacity: true)
        writtenSinceFlush = 0
        counters.flushes += 1
    }
}
