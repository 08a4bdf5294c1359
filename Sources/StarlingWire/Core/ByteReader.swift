/// A bounds-checked big-endian cursor over untrusted bytes. It never copies and never allocates;
/// every read names the field it reads so a short input yields a `WireError` that says which.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public var offset: Int
    public let proto: WireProtocol

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, proto: WireProtocol, offset: Int = 0) {
        self.bytes = bytes
        self.proto = proto
        self.offset = min(max(0, offset), bytes.count)
    }

    @inlinable public var remaining: Int { bytes.count - offset }
    @inlinable public var isAtEnd: Bool { offset >= bytes.count }

    @inlinable @inline(__always)
    public func require(_ n: Int, _ field: String) throws(WireError) {
        if n < 0 || n > remaining {
            throw WireError.truncated(proto, field, needed: n, available: remaining)
        }
    }

    @inlinable @inline(__always)
    public mutating func u8(_ field: String) throws(WireError) -> UInt8 {
        try require(1, field)
        defer { offset += 1 }
        return bytes[offset]
    }

    @inlinable @inline(__always)
    public mutating func u16(_ field: String) throws(WireError) -> UInt16 {
        try require(2, field)
        defer { offset += 2 }
        return bytes.loadBE16(at: offset)
    }

    @inlinable @inline(__always)
    public mutating func u24(_ field: String) throws(WireError) -> UInt32 {
        try require(3, field)
        defer { offset += 3 }
        return bytes.loadBE24(at: offset)
    }

    @inlinable @inline(__always)
    public mutating func u32(_ field: String) throws(WireError) -> UInt32 {
        try require(4, field)
        defer { offset += 4 }
        return bytes.loadBE32(at: offset)
    }

    @inlinable @inline(__always)
    public mutating func u64(_ field: String) throws(WireError) -> UInt64 {
        try require(8, field)
        defer { offset += 8 }
        return UInt64(bytes.loadBE32(at: offset)) << 32 | UInt64(bytes.loadBE32(at: offset + 4))
    }

    @inlinable
    public mutating func skip(_ n: Int, _ field: String) throws(WireError) {
        try require(n, field)
        offset += n
    }

    /// The next `n` bytes as a view into the same memory (rebased to start at index 0).
    @inlinable
    public mutating func slice(_ n: Int, _ field: String) throws(WireError) -> UnsafeRawBufferPointer {
        try require(n, field)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }

    /// The next `n` bytes copied into an array (allocates; for control-path values).
    @inlinable
    public mutating func array(_ n: Int, _ field: String) throws(WireError) -> [UInt8] {
        try require(n, field)
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    /// Everything left, as a view.
    @inlinable
    public mutating func rest() -> UnsafeRawBufferPointer {
        defer { offset = bytes.count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset...])
    }
}

extension UnsafeRawBufferPointer {
    /// Unchecked big-endian loads; callers check bounds first.
    @inlinable @inline(__always)
    public func loadBE16(at i: Int) -> UInt16 {
        UInt16(self[i]) << 8 | UInt16(self[i + 1])
    }

    @inlinable @inline(__always)
    public func loadBE24(at i: Int) -> UInt32 {
        UInt32(self[i]) << 16 | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2])
    }

    @inlinable @inline(__always)
    public func loadBE32(at i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
}

extension Array where Element == UInt8 {
    @inlinable @inline(__always)
    public mutating func appendBE16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }

    @inlinable @inline(__always)
    public mutating func appendBE24(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v >> 16))
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }

    @inlinable @inline(__always)
    public mutating func appendBE32(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v >> 24))
        append(UInt8(truncatingIfNeeded: v >> 16))
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }

    @inlinable @inline(__always)
    public mutating func appendBE64(_ v: UInt64) {
        appendBE32(UInt32(truncatingIfNeeded: v >> 32))
        appendBE32(UInt32(truncatingIfNeeded: v))
    }

    /// Overwrites two bytes at `i` (used to patch a length once the body is written).
    @inlinable @inline(__always)
    public mutating func setBE16(_ v: UInt16, at i: Int) {
        self[i] = UInt8(truncatingIfNeeded: v >> 8)
        self[i + 1] = UInt8(truncatingIfNeeded: v)
    }

    @inlinable @inline(__always)
    public mutating func setBE32(_ v: UInt32, at i: Int) {
        self[i] = UInt8(truncatingIfNeeded: v >> 24)
        self[i + 1] = UInt8(truncatingIfNeeded: v >> 16)
        self[i + 2] = UInt8(truncatingIfNeeded: v >> 8)
        self[i + 3] = UInt8(truncatingIfNeeded: v)
    }

    /// Appends zero bytes until the count is a multiple of `alignment`.
    @inlinable
    public mutating func padToMultiple(of alignment: Int) {
        while count % alignment != 0 { append(0) }
    }
}
