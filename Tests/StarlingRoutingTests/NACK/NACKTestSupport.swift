import StarlingTransport
import StarlingWire

/// Virtual time for the NACK tests.
func at(ms: Int) -> Instant { Instant(nanoseconds: Int64(ms) * 1_000_000) }

/// A serialized RTP packet whose payload encodes its sequence number, so a cached copy can be checked.
func rtpBytes(
    sequenceNumber: UInt16, ssrc: UInt32 = 0x1111_1111, payloadType: UInt8 = 96, payloadLength: Int = 100,
    marker: Bool = false, csrcs: [UInt32] = [], headerExtension: RTPPacket.HeaderExtension? = nil,
    paddingLength: UInt8 = 0
) -> [UInt8] {
    let payload = (0..<payloadLength).map { UInt8(truncatingIfNeeded: Int(sequenceNumber) &+ $0) }
    let packet = RTPPacket(
        marker: marker, payloadType: payloadType, sequenceNumber: sequenceNumber,
        timestamp: 90_000 &* UInt32(sequenceNumber), ssrc: ssrc, csrcs: csrcs, headerExtension: headerExtension,
        payload: payload, paddingLength: paddingLength)
    var out: [UInt8] = []
    packet.serialize(into: &out)
    return out
}

/// The FCI bytes of a Generic NACK for `sequenceNumbers`.
func nackFCI(_ sequenceNumbers: [UInt16]) -> [UInt8] {
    var out: [UInt8] = []
    for item in GenericNACK.items(lostSequenceNumbers: sequenceNumbers) {
        out.appendBE16(item.packetID)
        out.appendBE16(item.lostPacketsBitmask)
    }
    return out
}
