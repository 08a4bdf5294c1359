/// A binary packet (or packet part) that can be read from untrusted bytes and written back.
///
/// Conformers guarantee `parse(serialize(x)) == x` for every value they can produce, and
/// `serialize(parse(b)) == b` for every canonical encoding `b` (the round-trip property tests check both).
public protocol WireCodable: Equatable, Sendable {
    /// Parses exactly `bytes`; throws a `WireError` naming the first offending field.
    init(parsing bytes: UnsafeRawBufferPointer) throws(WireError)
    /// Appends the wire form to `out`.
    func serialize(into out: inout [UInt8])
}

extension WireCodable {
    @inlinable
    public init(parsing array: [UInt8]) throws(WireError) {
        self = try withWireBytes(array) { (bytes) throws(WireError) -> Self in try Self(parsing: bytes) }
    }

    /// The wire form in a new array.
    @inlinable
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        serialize(into: &out)
        return out
    }
}

/// Serial-number arithmetic for 16-bit RTP sequence numbers (RFC 3550 §A.1, RFC 1982):
/// `a` is newer than `b` when it is ahead by less than half the space.
@inlinable @inline(__always)
public func isNewerSequenceNumber(_ a: UInt16, than b: UInt16) -> Bool {
    a != b && (a &- b) < 0x8000
}

/// Serial-number arithmetic for 32-bit RTP timestamps.
@inlinable @inline(__always)
public func isNewerTimestamp(_ a: UInt32, than b: UInt32) -> Bool {
    a != b && (a &- b) < 0x8000_0000
}
