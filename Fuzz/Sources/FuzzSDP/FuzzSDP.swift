import StarlingWire

/// Parses arbitrary bytes as SDP; whatever parses must serialize, re-parse to an equal value and
/// serialize to the same text again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let first = try? SessionDescription(parsing: bytes) else { return 0 }
    let text = first.serialized()
    guard let second = try? SessionDescription(parsing: text) else {
        fatalError("SDP: serialized description does not parse:\n\(text)")
    }
    if second != first || second.serialized() != text {
        fatalError("SDP: round trip changed the description:\n\(text)")
    }
    return 0
}
