import StarlingWire

extension WireInvariants {
    /// VP9 payload descriptor (RFC 9628 4.2, 4.2.1): after the non-allocating parse, the scalability
    /// structure parses wherever the fast parse skipped one; serialize + re-parse gives the same
    /// descriptor, structure and length.
    public static func vp9(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let p = try? VP9Payload(parsing: bytes) else { return nil }
        let ssResult = Result { () throws(WireError) in try p.scalabilityStructure(in: bytes) }
        guard case .success(let ss) = ssResult else {
            return "VP9 scalability structure skipped but not parsed"
        }
        var out: [UInt8] = []
        p.descriptor.serialize(into: &out, scalabilityStructure: ss)
        guard let q = try? out.withUnsafeBytes({ raw in try VP9Payload(parsing: raw) }),
            q.descriptor == p.descriptor, q.descriptorLength == out.count,
            (try? out.withUnsafeBytes({ raw in try q.scalabilityStructure(in: raw) })) == ss
        else {
            return "VP9 descriptor round trip mismatch: \(p)"
        }
        return nil
    }
}
