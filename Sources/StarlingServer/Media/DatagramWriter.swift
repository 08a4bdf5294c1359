import NIOCore

/// Where a peer's packets go: an address on a UDP socket, or an ICE-TCP connection (RFC 6544), whose packets
/// are framed (RFC 4571). The loop gives a peer its route when ICE selects a pair (`MediaLoop.route(to:for:)`).
enum MediaRoute {
    case datagram(channel: any Channel, address: SocketAddress)
    case stream(channel: any Channel)
}

/// The outgoing side of one media loop: datagrams (and ICE-TCP frames) are copied into a ring of reused
/// `ByteBuffer`s and written to their channel, and every channel written to is flushed once per read burst or timer tick
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
        /// Packets for an ICE-TCP connection not sent: its write buffer is over its high mark (a receiver that
        /// does not read; like loss on UDP, NACK and keyframe requests recover) or it is closed.
        var streamPacketsDropped = 0
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

    /// Queues `bytes` on `route`; sent at the next `flush()`.
    @inline(__always)
    func send(_ bytes: UnsafeRawBufferPointer, via route: MediaRoute) {
        switch route {
        case .datagram(let channel, let address): send(bytes, to: address, on: channel)
        case .stream(let channel): sendFramed(bytes, on: channel)
        }
    }

    /// Queues `bytes` for `address` on `channel`; sent at the next `flush()`.
    func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress, on channel: any Channel) {
        let buffer = fill(bytes, framed: false, allocator: channel.allocator)
        channel.write(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        written(on: channel)
    }

    /// Queues `bytes` on an ICE-TCP connection with its RFC 4571 length in front (RFC 6544 §3); sent at the
    /// next `flush()`. Packets over 65535 bytes cannot be framed and are not sent.
    func sendFramed(_ bytes: UnsafeRawBufferPointer, on channel: any Channel) {
        guard bytes.count <= 65_535, channel.isWritable else {
            counters.streamPacketsDropped += 1
            return
        }
        let buffer = fill(bytes, framed: true, allocator: channel.allocator)
        channel.write(buffer, promise: nil)
        written(on: channel)
    }

    /// The next slot's buffer holding `bytes` (after their 16-bit length when `framed`).
    private func fill(_ bytes: UnsafeRawBufferPointer, framed: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        if writtenSinceFlush >= slots.count / 2 {
            counters.forcedFlushes += 1
            flush()
        }
        // Take the buffer out of its slot so that ours is the only reference while we fill it.
        var buffer = slots[next].take() ?? allocator.buffer(capacity: Self.slotCapacity)
        buffer.clear()
        if framed { buffer.writeInteger(UInt16(bytes.count)) }
        buffer.writeBytes(bytes)
        slots[next] = buffer
        next = next + 1 == slots.count ? 0 : next + 1
        return buffer
    }

    private func written(on channel: any Channel) {
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
