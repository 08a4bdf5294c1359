import StarlingWire

/// RTP header + extensions: the in-place header parse must agree with the owned packet parse, every
/// extension lookup must stay inside the buffer, and parse(serialize(parse(x))) == parse(x).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let header = try? RTPHeader(parsing: bytes) else { return 0 }
    guard header.payloadOffset + header.payloadLength + header.paddingLength == size else {
        fatalError("RTP header lengths do not add up")
    }
    for id in UInt8(0)...UInt8(255) {
        if let value = header.headerExtension(id: id, in: bytes) {
            let start = value.baseAddress.map { UnsafeRawPointer($0) - UnsafeRawPointer(data) } ?? header.extensionOffset
            guard start >= header.extensionOffset, start + value.count <= header.extensionOffset + header.extensionLength else {
                fatalError("extension value outside the extension block")
            }
        }
    }
    _ = header.mid(id: 1, in: bytes)
    _ = header.absoluteSendTime(id: 2, in: bytes)
    _ = header.transportWideSequenceNumber(id: 3, in: bytes)
    _ = header.audioLevel(id: 4, in: bytes)
    guard let packet = try? RTPPacket(parsing: bytes) else { return 0 }
    guard packet.sequenceNumber == header.sequenceNumber, packet.payload.count == header.payloadLength else {
        fatalError("owned and in-place parses disagree")
    }
    let again: RTPPacket
    do {
        again = try RTPPacket(parsing: packet.serialized())
    } catch {
        fatalError("re-parse of serialized packet failed: \(error)")
    }
    guard again == packet else { fatalError("RTP round trip changed the packet") }
    return 0
}
