import Testing

/// Runs one of the `WireInvariants` checks (StarlingWireChecks, shared with the fuzz targets) over `bytes`
/// and records the first broken invariant, with the input, as an issue. A plain `if` rather than `#expect`,
/// so loops over thousands of inputs stay fast in debug builds.
func checkInvariants(
    _ check: (UnsafeRawBufferPointer) -> String?, _ bytes: [UInt8], _ context: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if let problem = bytes.withUnsafeBytes(check) {
        Issue.record("\(problem) \(context()) input: \(bytes)", sourceLocation: sourceLocation)
    }
}
