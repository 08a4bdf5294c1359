import StarlingWire

extension WireInvariants {
    /// DCEP (RFC 8832): a message that parses serializes back to the same bytes (the encoding has one form),
    /// and its re-parse is equal.
    public static func dcep(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let message = try? DCEPMessage(parsing: bytes) else { return nil }
        let out = message.serialized()
        guard out.elementsEqual(bytes) else { return "DCEP re-serialization differs: \(message)" }
        guard (try? DCEPMessage(parsing: out)) == message else { return "DCEP round trip mismatch: \(message)" }
        return nil
    }
}
