/// The picture ID shared by the VP8 and VP9 payload descriptors (RFC 7741 §4.2, RFC 9628 §4.2):
///
///     |M| PictureID   |   M = 0: a 7-bit picture ID
///     |   PictureID   |   M = 1: a second octet follows, for a 15-bit picture ID
///
/// Picture IDs wrap at the size of their field, so `value` is kept modulo 2^7 or 2^15.
public struct PictureID: Hashable, Sendable {
    /// The picture ID, below 128 when `isLong` is false and below 32768 otherwise.
    public let value: UInt16
    /// The M bit: the 15-bit, two-octet form.
    public let isLong: Bool

    /// `value` is reduced modulo the size of the chosen form.
    @inlinable
    public init(_ value: UInt16, isLong: Bool) {
        self.value = value & (isLong ? 0x7FFF : 0x7F)
        self.isLong = isLong
    }

    @inlinable public var encodedLength: Int { isLong ? 2 : 1 }

    @inlinable
    static func parse(_ r: inout ByteReader, _ field: String) throws(WireError) -> PictureID {
        let first = try r.u8(field)
        if first & 0x80 == 0 { return PictureID(UInt16(first), isLong: false) }
        let second = try r.u8(field)
        return PictureID(UInt16(first & 0x7F) << 8 | UInt16(second), isLong: true)
    }

    public func serialize(into out: inout [UInt8]) {
        if isLong {
            out.appendBE16(0x8000 | value)
        } else {
            out.append(UInt8(truncatingIfNeeded: value))
        }
    }
}
