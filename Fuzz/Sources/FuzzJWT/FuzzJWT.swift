import StarlingWireChecks

/// libFuzzer entry for JWT verification and claims parsing: traps on the first broken invariant
/// (`WireInvariants.jwt`, which the unit tests run too).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let problem = WireInvariants.jwt(bytes) { fatalError(problem) }
    return 0
}
