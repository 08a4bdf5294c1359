import StarlingRouting
import StarlingTestSupport
import StarlingWire
import Testing

@Suite struct RTXTests {
    let decoder = RTXDecoder(rtxSSRC: 0x2222_2222, originalSSRC: 0x1111_1111, associatedPayloadTypes: [97: 96, 99: 98])

    private func encode(_ encoder: inout RTXEncoder, _ original: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: original.count + 2)
        let n = try original.withUnsafeBytes { src in
            try out.withUnsafeMutableBytes { try encoder.encode(src, into: $0) }
        }
        return Array(out[0..<n])
    }

    @Test func encodesPerRFC4588() throws {
        var encoder = RTXEncoder(ssrc: 0x2222_2222, payloadType: 97, initialSequenceNumber: 500)
        let original = rtpBytes(
            sequenceNumber: 0x1234, marker: true, csrcs: [0xAABB_CCDD],
            headerExtension: .opaque(profile: 0xBEDE, data: [0x10, 0x55, 0, 0]))
        let rtx = try encode(&encoder, original)
        let o = try RTPPacket(parsing: original.withUnsafeBytes { UnsafeRawBufferPointer($0) })
        let r = try rtx.withUnsafeBytes { bytes in try RTPPacket(parsing: bytes) }
        #expect(r.ssrc == 0x2222_2222)
        #expect(r.payloadType == 97)
        #expect(r.sequenceNumber == 500)
        #expect(r.marker && r.timestamp == o.timestamp && r.csrcs == o.csrcs && r.headerExtension == o.headerExtension)
        #expect(r.payload == [0x12, 0x34] + o.payload)
        #expect(encoder.sequenceNumber == 501)
        let second = try encode(&encoder, original)
        #expect(second[2] == 0x01 && second[3] == 0xF5)  // 501: its own counter
    }

    @Test func roundTripGivesTheOriginalBytes() throws {
        var random = SeededRandom(seed: 4588)
        var encoder = RTXEncoder(ssrc: 0x2222_2222, payloadType: 97, initialSequenceNumber: 65534)
        for _ in 0..<300 {
            let original = rtpBytes(
                sequenceNumber: UInt16(truncatingIfNeeded: random.next()), payloadLength: random.int(0...1200),
                marker: random.bool(), csrcs: (0..<random.int(0...3)).map { _ in UInt32(truncatingIfNeeded: random.next()) },
                headerExtension: random.bool() ? .opaque(profile: 0xBEDE, data: random.bytes(4 * random.int(0...3))) : nil)
            let rtx = try encode(&encoder, original)
            // Into a separate buffer...
            var out = [UInt8](repeating: 0, count: rtx.count)
            let n = try rtx.withUnsafeBytes { src in try out.withUnsafeMutableBytes { try decoder.decode(src, into: $0) } }
            #expect(n.map { Array(out[0..<$0]) } == original)
            // ...and in place.
            var inPlace = rtx
            let m = try inPlace.withUnsafeMutableBytes { try decoder.decode(inPlace: $0) }
            #expect(m.map { Array(inPlace[0..<$0]) } == original)
        }
    }

    @Test func paddingIsDropped() throws {
        var encoder = RTXEncoder(ssrc: 0x2222_2222, payloadType: 97)
        let padded = rtpBytes(sequenceNumber: 77, paddingLength: 4)
        let rtx = try encode(&encoder, padded)
        #expect(rtx.count == padded.count - 4 + 2)
        #expect(rtx[0] & 0x20 == 0)
        var out = [UInt8](repeating: 0, count: rtx.count)
        let n = try rtx.withUnsafeBytes { src in try out.withUnsafeMutableBytes { try decoder.decode(src, into: $0) } }
        #expect(n.map { Array(out[0..<$0]) } == rtpBytes(sequenceNumber: 77))

        // Padding on the RTX packet itself is dropped on decoding.
        var paddedRTX = RTPPacket(payloadType: 97, sequenceNumber: 3, timestamp: 90_000 &* 77, ssrc: 0x2222_2222)
        paddedRTX.payload = [0, 77] + Array(rtpBytes(sequenceNumber: 77)[12...])
        paddedRTX.paddingLength = 8
        var bytes: [UInt8] = []
        paddedRTX.serialize(into: &bytes)
        let m = try bytes.withUnsafeMutableBytes { try decoder.decode(inPlace: $0) }
        #expect(m.map { Array(bytes[0..<$0]) } == rtpBytes(sequenceNumber: 77))
    }

    @Test func paddingOnlyProbesRecoverNothing() throws {
        var probe = RTPPacket(payloadType: 97, sequenceNumber: 1, timestamp: 0, ssrc: 0x2222_2222)
        probe.paddingLength = 200
        var bytes: [UInt8] = []
        probe.serialize(into: &bytes)
        #expect(try bytes.withUnsafeMutableBytes { try decoder.decode(inPlace: $0) } == nil)
    }

    @Test func rejectsWhatIsNotRTXOfThisStream() {
        func decode(_ packet: RTPPacket) throws(WireError) -> Int? {
            var bytes: [UInt8] = []
            packet.serialize(into: &bytes)
            let result: Result<Int?, WireError> = bytes.withUnsafeMutableBytes { b in
                Result { () throws(WireError) -> Int? in try decoder.decode(inPlace: b) }
            }
            return try result.get()
        }
        #expect(throws: WireError.self) {
            try decode(RTPPacket(payloadType: 97, sequenceNumber: 1, timestamp: 0, ssrc: 0x3333_3333, payload: [0, 1]))
        }
        #expect(throws: WireError.self) {
            try decode(RTPPacket(payloadType: 100, sequenceNumber: 1, timestamp: 0, ssrc: 0x2222_2222, payload: [0, 1]))
        }
        #expect(throws: WireError.self) {
            try decode(RTPPacket(payloadType: 97, sequenceNumber: 1, timestamp: 0, ssrc: 0x2222_2222, payload: [0]))
        }
        #expect(decoder.associatedPayloadType(of: 99) == 98)
        #expect(decoder.associatedPayloadType(of: 200) == nil)
    }

    @Test func encoderRejectsGarbageAndShortOutput() {
        var encoder = RTXEncoder(ssrc: 1, payloadType: 97)
        let original = rtpBytes(sequenceNumber: 5)
        var small = [UInt8](repeating: 0, count: original.count + 1)
        #expect(throws: WireError.self) {
            _ = try original.withUnsafeBytes { src in try small.withUnsafeMutableBytes { try encoder.encode(src, into: $0) } }
        }
        let garbage: [UInt8] = [0x00, 1, 2]
        #expect(throws: WireError.self) {
            _ = try garbage.withUnsafeBytes { src in try small.withUnsafeMutableBytes { try encoder.encode(src, into: $0) } }
        }
        #expect(encoder.sequenceNumber == 0)
    }
}
