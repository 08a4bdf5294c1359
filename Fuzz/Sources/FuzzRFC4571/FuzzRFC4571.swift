import StarlingWireChecks

/// libFuzzer entry for RFC 4571 framing (ICE-TCP): traps on the first broken invariant
/// (`WireInvariants.rfc4571`, which the unit tests run too).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let problem = WireInvariants.rfc4571(bytes) { fatalError(problem) }
    return 0
}
