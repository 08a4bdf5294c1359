import StarlingWireChecks

/// libFuzzer entry for the AV1 dependency descriptor: traps on the first broken invariant
/// (`WireInvariants.av1DependencyDescriptor`, which the unit tests run too).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let problem = WireInvariants.av1DependencyDescriptor(bytes) { fatalError(problem) }
    return 0
}
