import StarlingWireChecks

/// libFuzzer entry for VP9: traps on the first broken invariant (`WireInvariants.vp9`, which the
/// unit tests run too).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let problem = WireInvariants.vp9(bytes) { fatalError(problem) }
    return 0
}
