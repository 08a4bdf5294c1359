/// APP: application-defined, RTCP packet type 204 (RFC 3550 §6.7).
///
/// A 5-bit subtype (in the count field), the sender's SSRC, a four-character name and opaque data.
public struct ApplicationDefined: WireCodable {
    /// The 5-bit subtype; only the low 5 bits are written.
    public var subtype: UInt8
    /// SSRC/CSRC of the sender.
    public var ssrc: UInt32
    /// Four ASCII characters, big-endian (`"ABCD"` is `0x4142_4344`).
    public var name: UInt32
    /// Application-dependent data. Should be a multiple of four bytes; other lengths are sent with RTCP
    /// padding, so they still round-trip.
    public var data: [UInt8]

    public init(subtype: UInt8, ssrc: UInt32, name: UInt32, data: [UInt8] = []) {
        self.subtype = subtype
        self.ssrc = ssrc
        self.name = name
        self.data = data
    }

    /// `name` from its first four UTF-8 bytes, space-filled when shorter.
    public init(subtype: UInt8, ssrc: UInt32, name: String, data: [UInt8] = []) {
        var packed: UInt32 = 0
        var bytes = name.utf8.makeIterator()
        for _ in 0..<4 { packed = packed << 8 | UInt32(bytes.next() ?? 0x20) }
        self.init(subtype: subtype, ssrc: ssrc, name: packed, data: data)
    }

    /// The name as text (each byte taken as a Latin-1 character).
    public var nameText: String {
        String(String.UnicodeScalarView((0..<4).map { Unicode.Scalar(UInt8(truncatingIfNeeded: name >> (24 - 8 * $0))) }))
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed APP.
    public init(view: RTCPPacketView) throws(WireError) {
        guard view.packetType == .applicationDefined else {
            throw WireError.invalid(.rtcp, "packetType", "expected APP (204), got \(view.packetType.rawValue)")
        }
        var r = ByteReader(view.body, proto: .rtcp)
        subtype = view.count
        ssrc = try r.u32("app.ssrc")
        name = try r.u32("app.name")
        data = Array(r.rest())
    }

    public func serialize(into out: inout [UInt8]) {
        RTCPHeader.writePacket(.applicationDefined, count: subtype, into: &out) { out in
            out.appendBE32(ssrc)
            out.appendBE32(name)
            out.append(contentsOf: data)
        }
    }
}
