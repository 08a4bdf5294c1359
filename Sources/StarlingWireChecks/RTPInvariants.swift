import StarlingWire

extension WireInvariants {
    /// RTP header and extensions (RFC 3550 5.1, RFC 8285): the in-place header's lengths add up to the
    /// input, every extension lookup stays inside the extension block, the owned packet parse agrees with
    /// the in-place one, and parse(serialize(parse(x))) == parse(x).
    public static func rtp(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let base = bytes.baseAddress, let header = try? RTPHeader(parsing: bytes) else { return nil }
        guard header.payloadOffset + header.payloadLength + header.paddingLength == bytes.count else {
            return "RTP header lengths do not add up"
        }
        for id in UInt8(0)...UInt8(255) {
            if let value = header.headerExtension(id: id, in: bytes) {
                let start = value.baseAddress.map { $0 - base } ?? header.extensionOffset
                guard start >= header.extensionOffset, start + value.count <= header.extensionOffset + header.extensionLength else {
                    return "extension value outside the extension block"
                }
            }
        }
        _ = header.mid(id: 1, in: bytes)
        _ = header.absoluteSendTime(id: 2, in: bytes)
        _ = header.transportWideSequenceNumber(id: 3, in: bytes)
        _ = header.audioLevel(id: 4, in: bytes)
        guard let packet = try? RTPPacket(parsing: bytes) else { return nil }
        guard packet.sequenceNumber == header.sequenceNumber, packet.payload.count == header.payloadLength else {
            return "owned and in-place parses disagree"
        }
        let again: RTPPacket
        do throws(WireError) {
            again = try RTPPacket(parsing: packet.serialized())
        } catch {
            return "re-parse of serialized packet failed: \(error)"
        }
        guard again == packet else { return "RTP round trip changed the packet" }
        return nil
    }
}
