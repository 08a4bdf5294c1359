import StarlingWire

extension WireInvariants {
    /// SDP (RFC 8866): whatever parses serializes to text that parses again to an equal description and
    /// serializes to the same text.
    public static func sdp(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let first = try? SessionDescription(parsing: bytes) else { return nil }
        let text = first.serialized()
        guard let second = try? SessionDescription(parsing: text) else {
            return "SDP: serialized description does not parse:\n\(text)"
        }
        if second != first || second.serialized() != text {
            return "SDP: round trip changed the description:\n\(text)"
        }
        return nil
    }
}
