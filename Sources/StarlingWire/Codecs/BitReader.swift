/// A bounds-checked, most-significant-bit-first cursor over untrusted bytes: the `f(n)` and `ns(n)`
/// reads of the AV1 RTP specification, Appendix A.8.2. It never copies and never allocates; a read past
/// the end throws a `WireError` naming the field instead of trapping.
public struct BitReader {
    public let bytes: UnsafeRawBufferPointer
    public let proto: WireProtocol
    /// Bits consumed so far (`TotalConsumedBits` in the specification).
    public var bitOffset: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, proto: WireProtocol) {
        self.bytes = bytes
        self.proto = proto
        self.bitOffset = 0
    }

    @inlinable public var remainingBits: Int { bytes.count &* 8 &- bitOffset }

    /// `f(n)`: an unsigned `n`-bit number, high bit first. `n` is chosen by the caller's code (0...32),
    /// never taken from the input unchecked.
    @inlinable
    public mutating func bits(_ n: Int, _ field: String) throws(WireError) -> UInt32 {
        precondition(n >= 0 && n <= 32, "BitReader reads at most 32 bits at a time")
        if n > remainingBits {
            let byteIndex = bitOffset >> 3
            throw WireError.truncated(
                proto, field, needed: ((bitOffset & 7) + n + 7) >> 3, available: bytes.count - byteIndex)
        }
        var value: UInt32 = 0
        var left = n
        while left > 0 {
            let byte = UInt32(bytes[bitOffset >> 3])
            let available = 8 - (bitOffset & 7)
            let take = min(available, left)
            let chunk = (byte >> UInt32(available - take)) & ((1 << UInt32(take)) - 1)
            value = value << UInt32(take) | chunk
            left -= take
            bitOffset += take
        }
        return value
    }

    @inlinable
    public mutating func bit(_ field: String) throws(WireError) -> Bool {
        try bits(1, field) != 0
    }

    /// `ns(n)`: a non-symmetric unsigned number in `0..<n` (AV1 RTP specification A.8.2); `n >= 1`.
    @inlinable
    public mutating func nonSymmetric(_ n: UInt32, _ field: String) throws(WireError) -> UInt32 {
        precondition(n >= 1, "ns(n) needs n >= 1")
        let w = UInt32.bitWidth - n.leadingZeroBitCount
        let m = (UInt32(1) << UInt32(w)) - n
        let v = try bits(w - 1, field)
        if v < m { return v }
        let extra = try bits(1, field)
        return (v << 1) - m + extra
    }
}

/// The writing side of `BitReader`: appends bits high bit first and pads the last byte with zeros.
public struct BitWriter {
    public private(set) var bytes: [UInt8] = []
    public private(set) var bitCount: Int = 0

    public init() {}

    /// `write_f(n, v)`: the low `n` bits of `value` (0...32).
    public mutating func write(_ value: UInt32, bits n: Int) {
        precondition(n >= 0 && n <= 32, "BitWriter writes at most 32 bits at a time")
        var left = n
        while left > 0 {
            if bitCount & 7 == 0 { bytes.append(0) }
            let free = 8 - (bitCount & 7)
            let take = min(free, left)
            let chunk = UInt8(truncatingIfNeeded: (value >> UInt32(left - take)) & ((1 << UInt32(take)) - 1))
            bytes[bytes.count - 1] |= chunk << UInt8(free - take)
            left -= take
            bitCount += take
        }
    }

    public mutating func write(_ bit: Bool) {
        write(bit ? 1 : 0, bits: 1)
    }

    /// `write_ns(n, v)` (AV1 RTP specification A.8.2); `v` is clamped into `0..<n`.
    public mutating func writeNonSymmetric(_ v: UInt32, _ n: UInt32) {
        if n <= 1 { return }
        let v = min(v, n - 1)
        let w = UInt32.bitWidth - n.leadingZeroBitCount
        let m = (UInt32(1) << UInt32(w)) - n
        if v < m {
            write(v, bits: w - 1)
        } else {
            write(v + m, bits: w)
        }
    }
}
