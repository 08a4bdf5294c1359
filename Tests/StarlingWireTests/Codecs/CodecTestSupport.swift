import StarlingTestSupport
import Testing
@testable import StarlingWire

/// Octets from a string of bits ('0' and '1'; spaces and '|' separate fields for the reader, and "//"
/// starts a comment running to the end of the line), zero-padded to a whole octet. Lets test vectors be
/// written field by field.
func octets(fromBits text: String) -> [UInt8] {
    var out: [UInt8] = []
    var n = 0
    let code = text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { line in line.components(separatedBy: "//")[0] }.joined()
    for c in code where c == "0" || c == "1" {
        if n % 8 == 0 { out.append(0) }
        if c == "1" { out[out.count - 1] |= 0x80 >> UInt8(n % 8) }
        n += 1
    }
    return out
}

/// Runs a typed-throwing parse over `bytes` and returns its result.
func parse<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> T) -> Result<T, WireError> {
    bytes.withUnsafeBytes { raw in Result { () throws(WireError) -> T in try body(raw) } }
}

/// Every prefix of `bytes`, and `count` random mutations of it (1-4 octets changed, sometimes cut or
/// extended), each handed to `check`, which must not crash.
func forEachTruncationAndMutation(of bytes: [UInt8], seed: UInt64, count: Int = 500, _ check: ([UInt8]) -> Void) {
    for n in 0...bytes.count { check(Array(bytes.prefix(n))) }
    var rng = SeededRandom(seed: seed)
    for _ in 0..<count {
        var m = bytes
        for _ in 0..<rng.int(1...4) where !m.isEmpty {
            m[rng.int(0...(m.count - 1))] = UInt8.random(in: 0...255, using: &rng)
        }
        switch rng.int(0...3) {
        case 0 where !m.isEmpty: m.removeLast(rng.int(1...m.count))
        case 1: m += rng.bytes(rng.int(1...8))
        default: break
        }
        check(m)
    }
}
