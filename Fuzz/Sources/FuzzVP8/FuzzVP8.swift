import StarlingWireChecks

/// libFuzzer entry for VP8: traps on the first broken invariant (`WireInvariants.vp8`, which the
/// unit tests run too).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let problem = WireInvariants.vp8(bytes) { fatalError(problem) }
    return 0
}
