import StarlingWire

extension WireInvariants {
    /// AV1 Dependency Descriptor (AV1 RTP spec, Appendix A.8): the mandatory fields parse or throw; the
    /// descriptor, read with no known structure and with each known structure below (so that descriptors
    /// with custom fields, which need one, are exercised too), serializes and survives re-parse; resolving
    /// the frame's dependencies never traps.
    public static func av1DependencyDescriptor(_ bytes: UnsafeRawBufferPointer) -> String? {
        _ = try? AV1DependencyDescriptor.MandatoryFields(parsing: bytes)
        for known in [nil] + av1KnownStructures {
            guard let d = try? AV1DependencyDescriptor(parsing: bytes, structure: known) else { continue }
            guard let out = try? d.serialized(structure: known) else {
                return "AV1 dependency descriptor parses but does not serialize: \(d)"
            }
            guard (try? AV1DependencyDescriptor(parsing: out, structure: known)) == d else {
                return "AV1 dependency descriptor round trip mismatch: \(d)"
            }
            _ = try? d.frameDependency(structure: known)
        }
        return nil
    }

    /// Two L1T3 structures: the three-template form, and a five-template form (template IDs 1...5, a second
    /// T0 and T2 template with other diffs, a render resolution).
    private static let av1KnownStructures = [
        l1t3([(0, nil, 0), (1, 2, 2), (2, 1, 1)]),
        l1t3(
            [(0, nil, 0), (0, 4, 4), (1, 2, 2), (2, 1, 1), (2, 1, 3)],
            renderResolution: AV1RenderResolution(width: 640, height: 360)),
    ]

    /// An L1T3 structure (template ID offset 1) whose one chain protects its three decode targets (all
    /// layers, T0+T1, T0): per template its temporal ID, frame diff (none for a key frame) and chain diff.
    private static func l1t3(
        _ templates: [(temporalID: UInt8, frameDiff: UInt16?, chainDiff: UInt8)], renderResolution: AV1RenderResolution? = nil
    ) -> AV1TemplateDependencyStructure {
        let indications: [[AV1DecodeTargetIndication]] = [
            [.switchIndication, .switchIndication, .switchIndication],
            [.switchIndication, .discardable, .notPresent],
            [.discardable, .notPresent, .notPresent],
        ]
        return AV1TemplateDependencyStructure(
            templateIDOffset: 1, decodeTargetCount: 3,
            templates: templates.map { t in
                AV1FrameDependencyTemplate(
                    spatialID: 0, temporalID: t.temporalID,
                    decodeTargetIndications: AV1DecodeTargetIndications(indications[Int(t.temporalID)]),
                    frameDiffs: AV1FrameDiffs(t.frameDiff.map { [$0] } ?? []), chainDiffs: [t.chainDiff])
            },
            chainCount: 1, decodeTargetProtectedBy: [0, 0, 0], renderResolutions: renderResolution.map { [$0] })
    }
}
