import StarlingWire

/// VP8 payload descriptor: parse; the descriptor must survive serialize + re-parse; the in-place
/// rewriter, run on a copy, must keep the descriptor's length, write the fields present and leave the
/// VP8 data alone.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let p = try? VP8Payload(parsing: bytes) else { return 0 }
    guard (try? VP8PayloadDescriptor(parsing: p.descriptor.serialized())) == p.descriptor else {
        fatalError("VP8 descriptor round trip mismatch: \(p.descriptor)")
    }
    var copy = Array(bytes)
    let done = copy.withUnsafeMutableBytes { raw in
        try? VP8PayloadDescriptor.rewrite(raw, pictureID: 0x4321, tl0PicIdx: 0x65, keyIndex: 0x1B)
    }
    guard done != nil, let q = try? copy.withUnsafeBytes({ raw in try VP8Payload(parsing: raw) }),
        q.descriptorLength == p.descriptorLength,
        copy[p.descriptorLength...].elementsEqual(bytes[p.descriptorLength...]),
        p.descriptor.tl0PicIdx == nil || q.descriptor.tl0PicIdx == 0x65,
        p.descriptor.keyIndex == nil || q.descriptor.keyIndex == 0x1B,
        p.descriptor.pictureID.map({ q.descriptor.pictureID?.value == ($0.isLong ? 0x4321 : 0x21) }) ?? true
    else {
        fatalError("VP8 in-place rewrite broke the descriptor")
    }
    return 0
}
