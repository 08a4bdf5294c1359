import StarlingWire

extension WireInvariants {
    /// H.264 payload (RFC 6184 5.6-5.8): the NAL unit visitor agrees with the parse; a single NAL unit is
    /// the whole payload; a STAP-A rebuilt from its units yields the same units; an FU-A has no whole
    /// units and its FU header survives serialize + re-parse.
    public static func h264(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let p = try? H264Payload(parsing: bytes) else { return nil }
        var units: [[UInt8]] = []
        guard (try? H264Payload.forEachNALUnit(in: bytes, { units.append(Array($0)) })) != nil else {
            return "H.264 payload parsed but its NAL units do not"
        }
        switch p.packetization {
        case .singleNALUnit:
            guard units.count == 1, units[0].elementsEqual(bytes) else { return "H.264 single NAL unit mismatch" }
        case .stapA:
            guard units.count == p.nalUnitCount else { return "H.264 STAP-A unit count mismatch" }
            var out: [UInt8] = []
            var again: [[UInt8]] = []
            guard (try? H264Payload.serializeSTAPA(units, into: &out)) != nil,
                (try? out.withUnsafeBytes({ raw in try H264Payload.forEachNALUnit(in: raw, { again.append(Array($0)) }) })) != nil,
                again == units
            else { return "H.264 STAP-A round trip mismatch" }
        case .fuA:
            guard units.isEmpty, let fu = p.fuHeader, (try? H264FUAHeader(parsing: fu.serialized())) == fu else {
                return "H.264 FU-A header round trip mismatch"
            }
        }
        return nil
    }
}
