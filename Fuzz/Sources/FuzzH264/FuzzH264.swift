import StarlingWire

/// H.264 payload: parse; the NAL unit visitor must agree with it; a STAP-A rebuilt from its units must
/// yield the same units; an FU-A header must survive serialize + re-parse.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let p = try? H264Payload(parsing: bytes) else { return 0 }
    var units: [[UInt8]] = []
    guard (try? H264Payload.forEachNALUnit(in: bytes, { units.append(Array($0)) })) != nil else {
        fatalError("H.264 payload parsed but its NAL units do not")
    }
    switch p.packetization {
    case .singleNALUnit:
        guard units.count == 1, units[0].elementsEqual(bytes) else { fatalError("H.264 single NAL unit mismatch") }
    case .stapA:
        var out: [UInt8] = []
        var again: [[UInt8]] = []
        guard units.count == p.nalUnitCount, (try? H264Payload.serializeSTAPA(units, into: &out)) != nil,
            (try? out.withUnsafeBytes({ raw in try H264Payload.forEachNALUnit(in: raw, { again.append(Array($0)) }) })) != nil,
            again == units
        else { fatalError("H.264 STAP-A round trip mismatch") }
    case .fuA:
        guard units.isEmpty, let fu = p.fuHeader, (try? H264FUAHeader(parsing: fu.serialized())) == fu else {
            fatalError("H.264 FU-A header round trip mismatch")
        }
    }
    return 0
}
