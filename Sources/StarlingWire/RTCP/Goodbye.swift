/// BYE: goodbye, RTCP packet type 203 (RFC 3550 §6.6).
///
/// The sources leaving (SC in the header) and an optional reason: a length octet and that many bytes of
/// text, null-padded to a 32-bit boundary.
public struct Goodbye: WireCodable {
    /// SSRC/CSRC identifiers leaving; at most 31 are written (the SC field is 5 bits).
    public var sources: [UInt32]
    /// The reason for leaving as sent (normally UTF-8), or nil when absent; at most 255 bytes are written.
    public var reason: [UInt8]?

    public init(sources: [UInt32], reason: [UInt8]? = nil) {
        self.sources = sources
        self.reason = reason
    }

    public init(sources: [UInt32], reasonText: String) {
        self.init(sources: sources, reason: Array(reasonText.utf8))
    }

    /// The reason decoded as UTF-8 (invalid sequences replaced).
    public var reasonText: String? { reason.map { String(decoding: $0, as: UTF8.self) } }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed BYE. Up to three null bytes may follow the reason (its padding); more are rejected.
    public init(view: RTCPPacketView) throws(WireError) {
        guard view.packetType == .goodbye else {
            throw WireError.invalid(.rtcp, "packetType", "expected BYE (203), got \(view.packetType.rawValue)")
        }
        var r = ByteReader(view.body, proto: .rtcp)
        try r.require(Int(view.count) * 4, "bye.sources")
        var sources: [UInt32] = []
        sources.reserveCapacity(Int(view.count))
        for _ in 0..<view.count { sources.append(try r.u32("bye.sources")) }
        self.sources = sources
        if r.isAtEnd {
            reason = nil
        } else {
            let length = try r.u8("bye.reason.length")
            reason = try r.array(Int(length), "bye.reason")
            guard r.remaining < 4 else {
                throw WireError.invalid(.rtcp, "bye.reason", "\(r.remaining) bytes after the reason")
            }
        }
    }

    public func serialize(into out: inout [UInt8]) {
        let n = min(sources.count, RTCPHeader.maxCount)
        RTCPHeader.writePacket(.goodbye, count: UInt8(n), into: &out) { out in
            let bodyStart = out.count
            for source in sources.prefix(n) { out.appendBE32(source) }
            if let reason {
                let length = min(reason.count, Int(UInt8.max))
                out.append(UInt8(length))
                out.append(contentsOf: reason.prefix(length))
                while (out.count - bodyStart) % 4 != 0 { out.append(0) }
            }
        }
    }
}
