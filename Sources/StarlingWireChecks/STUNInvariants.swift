import StarlingWire

extension WireInvariants {
    /// STUN (RFC 8489): the in-place peek only accepts what `looksLikeSTUN` accepts and agrees with the full
    /// parse; parse -> serialize -> re-parse gives the same message and length; the MESSAGE-INTEGRITY and
    /// FINGERPRINT verifiers (section 14.5-14.7) and the peek's USERNAME lookup never trap.
    public static func stun(_ bytes: UnsafeRawBufferPointer) -> String? {
        let looks = STUNMessage.looksLikeSTUN(bytes)
        let peek = STUNMessage.peek(bytes)
        if peek != nil, !looks { return "peek accepted what looksLikeSTUN rejects" }
        if let peek, let username = peek.username(in: bytes) { _ = peek.usernameBeforeColon(in: bytes); _ = username.count }
        _ = STUNMessage.verifyFingerprint(bytes)
        _ = STUNMessage.verifyIntegrity(bytes, key: Array("VOkJxbRl1RmTxUk/WvJxBt".utf8))
        _ = STUNMessage.verifyIntegritySHA256(bytes, key: [])

        guard let message = try? STUNMessage(parsing: bytes) else { return nil }
        if !looks { return "parsed what looksLikeSTUN rejects" }
        if peek?.type != message.type || peek?.transactionID != message.transactionID { return "peek disagrees with parse" }
        let again = message.serialized()
        guard let reparsed = try? STUNMessage(parsing: again) else { return "re-parse failed: \(message)" }
        if reparsed != message { return "round-trip mismatch: \(message) vs \(reparsed)" }
        if again.count != bytes.count { return "length changed on round-trip" }
        _ = message.unknownComprehensionRequiredAttributes
        _ = message.username
        _ = message.description
        return nil
    }
}
