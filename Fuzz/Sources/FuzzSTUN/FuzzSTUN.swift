import StarlingWire

/// libFuzzer entry for the STUN codec: parse, serialize, re-parse and compare; the MESSAGE-INTEGRITY
/// and FINGERPRINT verifiers and the in-place peek run on every input and must never trap.
/// (Kept identical to `fuzzSTUNOne` in Tests/StarlingWireTests/STUN/STUNTestSupport.swift.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let looks = STUNMessage.looksLikeSTUN(bytes)
    let peek = STUNMessage.peek(bytes)
    if peek != nil, !looks { fatalError("peek accepted what looksLikeSTUN rejects") }
    if let peek, let username = peek.username(in: bytes) { _ = peek.usernameBeforeColon(in: bytes); _ = username.count }
    _ = STUNMessage.verifyFingerprint(bytes)
    _ = STUNMessage.verifyIntegrity(bytes, key: Array("VOkJxbRl1RmTxUk/WvJxBt".utf8))
    _ = STUNMessage.verifyIntegritySHA256(bytes, key: [])

    guard let message = try? STUNMessage(parsing: bytes) else { return 0 }
    if !looks { fatalError("parsed what looksLikeSTUN rejects") }
    if peek?.type != message.type || peek?.transactionID != message.transactionID { fatalError("peek disagrees with parse") }
    let again = message.serialized()
    guard let reparsed = try? STUNMessage(parsing: again) else { fatalError("re-parse failed: \(message)") }
    if reparsed != message { fatalError("round-trip mismatch: \(message) vs \(reparsed)") }
    if again.count != bytes.count { fatalError("length changed on round-trip") }
    _ = message.unknownComprehensionRequiredAttributes
    _ = message.username
    _ = message.description
    return 0
}
