import StarlingWire

/// A fixed template dependency structure (L1T3, one chain) so that descriptors with custom fields,
/// which need a known structure, are exercised too.
let knownStructure = AV1TemplateDependencyStructure(
    templateIDOffset: 1, decodeTargetCount: 3,
    templates: [
        AV1FrameDependencyTemplate(
            spatialID: 0, temporalID: 0, decodeTargetIndications: AV1DecodeTargetIndications([.switchIndication, .switchIndication, .switchIndication]),
            frameDiffs: [], chainDiffs: [0]),
        AV1FrameDependencyTemplate(
            spatialID: 0, temporalID: 1, decodeTargetIndications: AV1DecodeTargetIndications([.switchIndication, .discardable, .notPresent]),
            frameDiffs: [2], chainDiffs: [2]),
        AV1FrameDependencyTemplate(
            spatialID: 0, temporalID: 2, decodeTargetIndications: AV1DecodeTargetIndications([.discardable, .notPresent, .notPresent]),
            frameDiffs: [1], chainDiffs: [1]),
    ],
    chainCount: 1, decodeTargetProtectedBy: [0, 0, 0])

/// AV1 Dependency Descriptor: parse with no known structure and with one; whatever parses must survive
/// serialize + re-parse; resolving the frame's dependencies must not trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? AV1DependencyDescriptor.MandatoryFields(parsing: bytes)
    for known in [nil, knownStructure] {
        guard let d = try? AV1DependencyDescriptor(parsing: bytes, structure: known) else { continue }
        guard let out = try? d.serialized(structure: known),
            (try? AV1DependencyDescriptor(parsing: out, structure: known)) == d
        else {
            fatalError("AV1 dependency descriptor round trip mismatch: \(d)")
        }
        _ = try? d.frameDependency(structure: known)
    }
    return 0
}
