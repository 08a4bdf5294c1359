/// Generic NACK: transport layer feedback FMT 1 (RFC 4585 §6.2.1).
///
/// The FCI is a list of items, each a packet ID (PID, a lost RTP sequence number) and a bitmask of
/// following lost packets (BLP): bit i set means PID + i + 1 was lost too.
public struct GenericNACK: WireCodable {
    /// FMT of Generic NACK in RTPFB (RFC 4585 §6.2).
    public static let format: UInt8 = 1

    /// One FCI entry (RFC 4585 §6.2.1).
    public struct Item: Hashable, Sendable {
        /// PID: the first lost sequence number.
        public var packetID: UInt16
        /// BLP: bit i (least significant first) reports PID + i + 1 lost.
        public var lostPacketsBitmask: UInt16

        public init(packetID: UInt16, lostPacketsBitmask: UInt16 = 0) {
            self.packetID = packetID
            self.lostPacketsBitmask = lostPacketsBitmask
        }

        /// Calls `body` with each sequence number this item reports lost, in order (wrapping at 65535).
        @inlinable
        public func forEachSequenceNumber(_ body: (UInt16) -> Void) {
            body(packetID)
            var mask = lostPacketsBitmask
            while mask != 0 {
                let bit = mask.trailingZeroBitCount
                body(packetID &+ UInt16(bit) &+ 1)
                mask &= mask &- 1
            }
        }

        /// The sequence numbers this item reports lost, in order.
        public var sequenceNumbers: [UInt16] {
            var out: [UInt16] = []
            out.reserveCapacity(1 + lostPacketsBitmask.nonzeroBitCount)
            forEachSequenceNumber { out.append($0) }
            return out
        }
    }

    /// SSRC of the packet sender.
    public var senderSSRC: UInt32
    /// SSRC of the media source whose packets are reported lost.
    public var mediaSSRC: UInt32
    public var items: [Item]

    public init(senderSSRC: UInt32, mediaSSRC: UInt32, items: [Item]) {
        self.senderSSRC = senderSSRC
        self.mediaSSRC = mediaSSRC
        self.items = items
    }

    /// A NACK for `lostSequenceNumbers`, packed into as few items as their order allows.
    @inlinable
    public init(senderSSRC: UInt32, mediaSSRC: UInt32, lostSequenceNumbers: some Sequence<UInt16>) {
        self.init(senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, items: GenericNACK.items(lostSequenceNumbers: lostSequenceNumbers))
    }

    /// Every sequence number reported lost, item by item.
    public var lostSequenceNumbers: [UInt16] {
        var out: [UInt16] = []
        for item in items { item.forEachSequenceNumber { out.append($0) } }
        return out
    }

    /// Packs sequence numbers into items: each number within 16 after the current item's PID (in
    /// wrap-around order, so 65534, 65535, 0, 1 share one item) sets a BLP bit, any other starts a new
    /// item. Give them in RTP order (ascending modulo 2^16) for the fewest items; repeats are absorbed.
    @inlinable
    public static func items(lostSequenceNumbers: some Sequence<UInt16>) -> [Item] {
        var items: [Item] = []
        var packer = Packer()
        for seq in lostSequenceNumbers {
            if let done = packer.add(seq) { items.append(done) }
        }
        if let last = packer.finish() { items.append(last) }
        return items
    }

    /// Builds a NACK for `lostSequenceNumbers` straight into `out` without an intermediate array (only
    /// `out` may grow); packs items like `items(lostSequenceNumbers:)`. Inlinable, so it is specialised for
    /// the caller's sequence type and allocates nothing else.
    @inlinable
    public static func serialize(
        senderSSRC: UInt32, mediaSSRC: UInt32, lostSequenceNumbers: some Sequence<UInt16>, into out: inout [UInt8]
    ) {
        RTCPHeader.writeFeedback(.transportLayerFeedback, format: format, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, into: &out) { out in
            var packer = Packer()
            for seq in lostSequenceNumbers {
                if let done = packer.add(seq) { done.write(into: &out) }
            }
            if let last = packer.finish() { last.write(into: &out) }
        }
    }

    /// Calls `body` with every lost sequence number in a Generic NACK FCI, without allocating. The FCI is
    /// checked whole (a multiple of 4 bytes) before the first call.
    @inlinable
    public static func forEachLostSequenceNumber(
        fci: UnsafeRawBufferPointer, _ body: (UInt16) -> Void
    ) throws(WireError) {
        try forEachItem(fci: fci) { $0.forEachSequenceNumber(body) }
    }

    /// Calls `body` with every item of a Generic NACK FCI, without allocating.
    @inlinable
    public static func forEachItem(fci: UnsafeRawBufferPointer, _ body: (Item) -> Void) throws(WireError) {
        guard fci.count % 4 == 0 else {
            throw WireError.invalid(.rtcp, "nack.fci", "length \(fci.count) is not a multiple of 4")
        }
        var i = 0
        while i < fci.count {
            body(Item(packetID: fci.loadBE16(at: i), lostPacketsBitmask: fci.loadBE16(at: i + 2)))
            i += 4
        }
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed Generic NACK. An empty FCI is accepted (and means nothing is lost).
    public init(view: RTCPPacketView) throws(WireError) {
        let fb = try RTCPFeedbackView(view, .transportLayerFeedback, format: GenericNACK.format, "Generic NACK")
        senderSSRC = fb.senderSSRC
        mediaSSRC = fb.mediaSSRC
        var items: [Item] = []
        items.reserveCapacity(fb.fci.count / 4)
        try GenericNACK.forEachItem(fci: fb.fci) { items.append($0) }
        self.items = items
    }

    public func serialize(into out: inout [UInt8]) {
        RTCPHeader.writeFeedback(.transportLayerFeedback, format: GenericNACK.format, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, into: &out) { out in
            for item in items { item.write(into: &out) }
        }
    }

    /// Accumulates sequence numbers into items.
    @usableFromInline
    struct Packer {
        @usableFromInline var current: Item?

        @inlinable init() { current = nil }

        /// Adds `seq`; returns the previous item when `seq` starts a new one.
        @inlinable
        mutating func add(_ seq: UInt16) -> Item? {
            if var item = current {
                let distance = seq &- item.packetID
                if distance == 0 { return nil }
                if distance <= 16 {
                    item.lostPacketsBitmask |= 1 << (distance - 1)
                    current = item
                    return nil
                }
            }
            let done = current
            current = Item(packetID: seq)
            return done
        }

        @inlinable
        mutating func finish() -> Item? {
            defer { current = nil }
            return current
        }
    }
}

extension GenericNACK.Item {
    @inlinable
    func write(into out: inout [UInt8]) {
        out.appendBE16(packetID)
        out.appendBE16(lostPacketsBitmask)
    }
}
