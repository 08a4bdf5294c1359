import StarlingWireChecks

/// libFuzzer entry for DCEP: traps on the first broken invariant (`WireInvariants.dcep`, which the
/// unit tests run too).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let problem = WireInvariants.dcep(bytes) { fatalError(problem) }
    return 0
}
