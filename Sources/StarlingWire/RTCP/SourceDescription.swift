/// SDES: source description, RTCP packet type 202 (RFC 3550 §6.5).
///
/// One chunk per source (SC in the header), each an SSRC/CSRC followed by items and ended by a null
/// octet, then null padding to the next 32-bit boundary (RFC 3550 §6.5).
public struct SourceDescription: WireCodable {
    /// An SDES item type (RFC 3550 §6.5.1–§6.5.8). Open: any non-zero byte is representable; 0 ends a list.
    public struct ItemType: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let cname = ItemType(rawValue: 1)
        public static let name = ItemType(rawValue: 2)
        public static let email = ItemType(rawValue: 3)
        public static let phone = ItemType(rawValue: 4)
        public static let location = ItemType(rawValue: 5)
        public static let tool = ItemType(rawValue: 6)
        public static let note = ItemType(rawValue: 7)
        /// PRIV: the value starts with its own prefix length and prefix (RFC 3550 §6.5.8); kept as raw bytes.
        public static let privateExtension = ItemType(rawValue: 8)
    }

    /// One item: a type and up to 255 bytes of (normally UTF-8) text.
    public struct Item: Hashable, Sendable {
        /// Must not be 0 (the end-of-list marker); items of type 0 are not written.
        public var type: ItemType
        /// The item's bytes as sent; at most 255 are written.
        public var value: [UInt8]

        public init(type: ItemType, value: [UInt8]) {
            self.type = type
            self.value = value
        }

        public init(type: ItemType, text: String) {
            self.init(type: type, value: Array(text.utf8))
        }

        /// The value decoded as UTF-8 (invalid sequences replaced).
        public var text: String { String(decoding: value, as: UTF8.self) }
    }

    /// The items describing one source.
    public struct Chunk: Hashable, Sendable {
        /// The SSRC or CSRC described.
        public var source: UInt32
        public var items: [Item]

        public init(source: UInt32, items: [Item]) {
            self.source = source
            self.items = items
        }

        /// The first CNAME item's text, if any.
        public var cname: String? { items.first { $0.type == .cname }?.text }
    }

    /// At most 31 chunks are written (the SC field is 5 bits).
    public var chunks: [Chunk]

    public init(chunks: [Chunk]) {
        self.chunks = chunks
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed SDES. Bytes after the SC chunks are rejected.
    public init(view: RTCPPacketView) throws(WireError) {
        guard view.packetType == .sourceDescription else {
            throw WireError.invalid(.rtcp, "packetType", "expected SDES (202), got \(view.packetType.rawValue)")
        }
        var r = ByteReader(view.body, proto: .rtcp)
        var chunks: [Chunk] = []
        chunks.reserveCapacity(Int(view.count))
        for _ in 0..<view.count {
            let source = try r.u32("sdes.chunk.source")
            var items: [Item] = []
            while true {
                let type = try r.u8("sdes.item.type")
                if type == 0 { break }
                let length = try r.u8("sdes.item.length")
                items.append(Item(type: ItemType(rawValue: type), value: try r.array(Int(length), "sdes.item.value")))
            }
            // Null octets up to the next 32-bit boundary; the body starts on one.
            try r.skip((4 - r.offset % 4) % 4, "sdes.chunk.padding")
            chunks.append(Chunk(source: source, items: items))
        }
        guard r.isAtEnd else {
            throw WireError.invalid(.rtcp, "sdes.chunks", "\(r.remaining) bytes after \(view.count) chunks")
        }
        self.chunks = chunks
    }

    public func serialize(into out: inout [UInt8]) {
        let n = min(chunks.count, RTCPHeader.maxCount)
        RTCPHeader.writePacket(.sourceDescription, count: UInt8(n), into: &out) { out in
            let bodyStart = out.count
            for chunk in chunks.prefix(n) {
                out.appendBE32(chunk.source)
                for item in chunk.items where item.type.rawValue != 0 {
                    let length = min(item.value.count, Int(UInt8.max))
                    out.append(item.type.rawValue)
                    out.append(UInt8(length))
                    out.append(contentsOf: item.value.prefix(length))
                }
                out.append(0)
                while (out.count - bodyStart) % 4 != 0 { out.append(0) }
            }
        }
    }
}
