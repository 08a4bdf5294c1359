import StarlingTransport
import StarlingWire

/// Answers a receiver's Generic NACKs (RFC 4585 §6.2.1) for one outgoing stream from its
/// `RetransmissionBuffer`: over RTX (RFC 4588) when negotiated, else by resending the original bytes.
///
/// State: the buffer (shared with the sending path, which stores every packet it sends), the RTX
/// encoder and its sequence counter, a scratch slot for the RTX packet, and counters. A packet
/// retransmitted less than `minInterval` ago (set it to the RTT) is skipped, so a burst of NACKs
/// for the same loss does not become a retransmission storm. Nothing allocates after `init`.
public final class NACKResponder {
    public struct Counters: Hashable, Sendable {
        /// Sequence numbers asked for.
        public var requested = 0
        /// Packets retransmitted.
        public var resent = 0
        /// Asked for but not (or no longer) in the buffer.
        public var missing = 0
        /// Skipped because retransmitted less than `minInterval` ago.
        public var throttled = 0

        public init() {}
    }

    /// What happened to one requested sequence number.
    public enum Outcome: Hashable, Sendable {
        case resent, missing, throttled
    }

    public let buffer: RetransmissionBuffer
    /// Set when RTX is negotiated for the stream; nil resends original packets.
    public var rtx: RTXEncoder?
    /// Minimum time between two retransmissions of one packet: the RTT, or a floor when unknown.
    public var minInterval: Duration
    public private(set) var counters = Counters()

    private let scratch: UnsafeMutableRawBufferPointer

    public init(buffer: RetransmissionBuffer, rtx: RTXEncoder? = nil, minInterval: Duration = .milliseconds(100)) {
        self.buffer = buffer
        self.rtx = rtx
        self.minInterval = minInterval
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.slotSize + 2, alignment: 16)
    }

    deinit { scratch.deallocate() }

    /// Handles the FCI of a Generic NACK: calls `send` with each packet to retransmit, in the order
    /// requested. The bytes passed to `send` are valid only during the call. Throws for a malformed
    /// FCI before anything is sent.
    public func handleNACK(
        fci: UnsafeRawBufferPointer, now: Instant, send: (UnsafeRawBufferPointer) -> Void
    ) throws(WireError) {
        try GenericNACK.forEachLostSequenceNumber(fci: fci) { sequenceNumber in
            _ = retransmit(sequenceNumber: sequenceNumber, now: now, send: send)
        }
    }

    /// Retransmits the packet sent with `sequenceNumber` unless it is missing or throttled.
    @discardableResult
    public func retransmit(
        sequenceNumber: UInt16, now: Instant, send: (UnsafeRawBufferPointer) -> Void
    ) -> Outcome {
        counters.requested += 1
        guard buffer.contains(sequenceNumber: sequenceNumber, now: now) else {
            counters.missing += 1
            return .missing
        }
        if let last = buffer.lastRetransmission(sequenceNumber: sequenceNumber, now: now), now - last < minInterval {
            counters.throttled += 1
            return .throttled
        }
        let sent: Bool? = buffer.withPacket(sequenceNumber: sequenceNumber, now: now) { packet in
            guard var encoder = rtx else {
                send(packet)
                return true
            }
            guard let length = try? encoder.encode(packet, into: scratch) else { return false }
            rtx = encoder
            send(UnsafeRawBufferPointer(start: scratch.baseAddress, count: length))
            return true
        }
        guard sent == true else {
            counters.missing += 1
            return .missing
        }
        buffer.markRetransmitted(sequenceNumber: sequenceNumber, now: now)
        counters.resent += 1
        return .resent
    }
}
