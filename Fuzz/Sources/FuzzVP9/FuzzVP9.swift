import StarlingWire

/// VP9 payload descriptor: the non-allocating parse; then the scalability structure (which must parse
/// wherever the fast parse found it); then serialize + re-parse must give the same values and length.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let p = try? VP9Payload(parsing: bytes) else { return 0 }
    let ssResult = Result { () throws(WireError) in try p.scalabilityStructure(in: bytes) }
    guard case .success(let ss) = ssResult else {
        fatalError("VP9 scalability structure skipped but not parsed")
    }
    var out: [UInt8] = []
    p.descriptor.serialize(into: &out, scalabilityStructure: ss)
    guard let q = try? out.withUnsafeBytes({ raw in try VP9Payload(parsing: raw) }),
        q.descriptor == p.descriptor, q.descriptorLength == out.count,
        (try? out.withUnsafeBytes({ raw in try q.scalabilityStructure(in: raw) })) == ss
    else {
        fatalError("VP9 descriptor round trip mismatch: \(p)")
    }
    return 0
}
