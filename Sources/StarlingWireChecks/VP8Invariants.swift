import StarlingWire

extension WireInvariants {
    /// VP8 payload descriptor (RFC 7741 4.2): the descriptor survives serialize + re-parse; the in-place
    /// rewriter, run on a copy, keeps the descriptor's length, writes the fields present (a 7-bit picture
    /// ID gets the low bits) and leaves the VP8 data alone.
    public static func vp8(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let p = try? VP8Payload(parsing: bytes) else { return nil }
        guard (try? VP8PayloadDescriptor(parsing: p.descriptor.serialized())) == p.descriptor else {
            return "VP8 descriptor round trip mismatch: \(p.descriptor)"
        }
        var copy = Array(bytes)
        let done = copy.withUnsafeMutableBytes { raw in
            try? VP8PayloadDescriptor.rewrite(raw, pictureID: 0x4321, tl0PicIdx: 0x65, keyIndex: 0x1B)
        }
        guard done != nil else { return "VP8 in-place rewrite failed on a descriptor that parses: \(p.descriptor)" }
        guard let q = try? copy.withUnsafeBytes({ raw in try VP8Payload(parsing: raw) }),
            q.descriptorLength == p.descriptorLength,
            copy[p.descriptorLength...].elementsEqual(bytes[p.descriptorLength...]),
            p.descriptor.tl0PicIdx == nil || q.descriptor.tl0PicIdx == 0x65,
            p.descriptor.keyIndex == nil || q.descriptor.keyIndex == 0x1B,
            p.descriptor.pictureID.map({ q.descriptor.pictureID?.value == ($0.isLong ? 0x4321 : 0x21) }) ?? true
        else {
            return "VP8 in-place rewrite broke the descriptor: \(p.descriptor)"
        }
        return nil
    }
}
