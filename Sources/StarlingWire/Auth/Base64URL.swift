/// base64url without padding (RFC 7515 §2 and Appendix C; RFC 4648 §5), strict: only the 64 URL-safe
/// characters, no '=' padding, no whitespace, and the unused low bits of the last character must be zero
/// (RFC 4648 §3.5), so every byte string has exactly one accepted encoding.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            guard let b1 else { break }
            out.append(alphabet[Int((b1 & 0x0F) << 2 | (b2 ?? 0) >> 6)])
            guard let b2 else { break }
            out.append(alphabet[Int(b2 & 0x3F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Why a segment is not canonical unpadded base64url; the offset is within the segment.
    enum DecodeError: Error, Equatable {
        case invalidCharacter(offset: Int)
        case invalidLength
        case nonZeroTrailingBits
    }

    /// The 6-bit value of one base64url character, nil for anything else (padding, whitespace, '+', '/').
    @inline(__always)
    private static func sextet(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): c &- UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): c &- UInt8(ascii: "a") &+ 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c &- UInt8(ascii: "0") &+ 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }

    static func decode(_ text: ArraySlice<UInt8>) throws(DecodeError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for (offset, c) in text.enumerated() {
            guard let value = sextet(c) else { throw .invalidCharacter(offset: offset) }
            accumulator = (accumulator << 6 | UInt32(value)) & 0xFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // A lone character in the last group carries only 6 bits: never a whole byte.
        guard text.count % 4 != 1 else { throw .invalidLength }
        // 2 or 4 bits left over at the end: they must be zero.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { throw .nonZeroTrailingBits }
        return out
    }
}
