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

/// The body of Fuzz/Sources/FuzzSTUN/FuzzSTUN.swift, kept identical so the unit tests prove it compiles
/// and runs: parse, serialize, re-parse and compare; the verifiers and the peek must not trap.
func fuzzSTUNOne(_ bytes: UnsafeRawBufferPointer) {
    let looks = STUNMessage.looksLikeSTUN(bytes)
    let peek = STUNMessage.peek(bytes)
    if peek != nil, !looks { fatalError("peek accepted what looksLikeSTUN rejects") }
    if let peek, let username = peek.username(in: bytes) { _ = peek.usernameBeforeColon(in: bytes); _ = username.count }
    _ = STUNMessage.verifyFingerprint(bytes)
    _ = STUNMessage.verifyIntegrity(bytes, key: Array("VOkJxbRl1RmTxUk/WvJxBt".utf8))
    _ = STUNMessage.verifyIntegritySHA256(bytes, key: [])

    guard let message = try? STUNMessage(parsing: bytes) else { return }
    if !looks { fatalError("parsed what looksLikeSTUN rejects") }
    if peek?.type != message.type || peek?.transactionID != message.transactionID { fatalError("peek disagrees with parse") }
    let again = message.serialized()
    guard let reparsed = try? STUNMessage(parsing: again) else { fatalError("re-parse failed: \(message)") }
    if reparsed != message { fatalError("round-trip mismatch: \(message) vs \(reparsed)") }
    if again.count != bytes.count { fatalError("length changed on round-trip") }
    _ = message.unknownComprehensionRequiredAttributes
    _ = message.username
    _ = message.description
}
