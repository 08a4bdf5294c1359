import StarlingWireChecks

/// libFuzzer entry for RTCP: traps on the first broken invariant (`WireInvariants.rtcp`, which the
/// unit tests run too).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let problem = WireInvariants.rtcp(bytes) { fatalError(problem) }
    return 0
}
