@testable import StarlingWire

/// Bytes from hex as RFCs print it: spaces and line breaks ignored.
func stunHex(_ text: String) -> [UInt8] {
    let digits = Array(text.utf8.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") })
    var out: [UInt8] = []
    var i = 0
    while i + 1 < digits.count {
        out.append(UInt8(String(decoding: digits[i...(i + 1)], as: UTF8.self), radix: 16) ?? 0xEE)
        i += 2
    }
    return out
}

extension STUNMessage {
    /// The plain serialization with a chosen padding byte.
    func serialized(padding: UInt8) -> [UInt8] {
        var out: [UInt8] = []
        serialize(into: &out, padding: padding)
        return out
    }
}
