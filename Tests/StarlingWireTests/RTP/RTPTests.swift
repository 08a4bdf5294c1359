import StarlingTestSupport
import Testing

@testable import StarlingWire
import StarlingWireChecks

@Suite struct RTPHeaderTests {
    /// A VP8 packet as Chromium sends it with BUNDLE: one-byte extensions (RFC 8285 §4.2) carrying
    /// abs-send-time (id 2), transport-wide-cc (id 3), sdes:mid (id 4) and rid (id 10), then padding bytes.
    static let chromiumLike: [UInt8] = [
        0x90, 0xE0, 0x12, 0x34,  // V=2, X=1; M=1, PT=96; seq 0x1234
        0x00, 0x01, 0xE2, 0x40,  // timestamp 123456
        0xDE, 0xAD, 0xBE, 0xEF,  // SSRC
        0xBE, 0xDE, 0x00, 0x04,  // one-byte profile, 4 words
        0x22, 0x01, 0x02, 0x03,  // id 2 len 3: abs-send-time 0x010203
        0x31, 0x00, 0x2A,  // id 3 len 2: transport-wide seq 42
        0x40, 0x30,  // id 4 len 1: mid "0"
        0xA0, 0x68,  // id 10 len 1: rid "h"
        0x00, 0x00, 0x00, 0x00, 0x00,  // padding to the word boundary
        0x90, 0x01, 0x02,  // payload (VP8 descriptor + data)
    ]

    @Test func parsesFixedHeaderAndExtensionsInPlace() throws {
        try Self.chromiumLike.withUnsafeBytes { bytes in
            let h = try RTPHeader(parsing: bytes)
            #expect(h.marker)
            #expect(h.payloadType == 96)
            #expect(h.sequenceNumber == 0x1234)
            #expect(h.timestamp == 123_456)
            #expect(h.ssrc == 0xDEAD_BEEF)
            #expect(h.extensionProfile == 0xBEDE)
            #expect(h.extensionForm == .oneByte)
            #expect(h.headerLength == 32)
            #expect(h.payloadLength == 3)
            #expect(h.absoluteSendTime(id: 2, in: bytes) == AbsoluteSendTime(rawValue: 0x010203))
            #expect(h.transportWideSequenceNumber(id: 3, in: bytes) == 42)
            #expect(h.mid(id: 4, in: bytes) == "0")
            #expect(h.rid(id: 10, in: bytes) == "h")
            #expect(h.headerExtension(id: 5, in: bytes) == nil)
            // The payload is a view into the same memory: no copy.
            #expect(h.payload(in: bytes).baseAddress == bytes.baseAddress! + 32)
        }
    }

    @Test func csrcsPaddingAndTwoByteExtensions() throws {
        var packet = RTPPacket(
            payloadType: 111, sequenceNumber: 65535, timestamp: 0xFFFF_FFFF, ssrc: 1, csrcs: [7, 8],
            payload: [1, 2, 3, 4, 5], paddingLength: 4)
        packet.setHeaderExtensionValue(id: 1, AudioLevel(voiceActivity: true, level: 30).encoded)
        packet.setHeaderExtensionValue(id: 20, Array(repeating: 0xAB, count: 20))  // needs two-byte form
        let bytes = packet.serialized()
        #expect(bytes[0] == 0xB2)  // V=2, P=1, X=1, CC=2
        try bytes.withUnsafeBytes { raw in
            let h = try RTPHeader(parsing: raw)
            #expect(h.csrcCount == 2)
            #expect(h.csrc(at: 1, in: raw) == 8)
            #expect(h.csrc(at: 2, in: raw) == nil)
            #expect(h.extensionForm == .twoByte(appBits: 0))
            #expect(h.audioLevel(id: 1, in: raw) == AudioLevel(voiceActivity: true, level: 30))
            #expect(h.headerExtension(id: 20, in: raw)?.count == 20)
            #expect(h.paddingLength == 4)
            #expect(Array(h.payload(in: raw)) == [1, 2, 3, 4, 5])
        }
        #expect(try RTPPacket(parsing: bytes) == packet)
    }

    @Test func rejectsWithTheOffendingField() {
        func error(_ bytes: [UInt8]) -> WireError? {
            do {
                _ = try withWireBytes(bytes) { (b) throws(WireError) in try RTPHeader(parsing: b) }
                return nil
            } catch { return error }
        }
        #expect(error([0x80, 0, 0]) == .truncated(.rtp, "fixed header", needed: 12, available: 3))
        #expect(error([0x40] + Array(repeating: 0, count: 11))?.field == "version")
        #expect(error([0x81] + Array(repeating: 0, count: 11))?.field == "CSRC list")
        #expect(error([0x90] + Array(repeating: 0, count: 11))?.field == "header extension header")
        #expect(error([0x90] + Array(repeating: 0, count: 11) + [0xBE, 0xDE, 0, 1])?.field == "header extension")
        #expect(error([0xA0] + Array(repeating: 0, count: 11) + [0])?.field == "padding count")
        #expect(error([0xA0] + Array(repeating: 0, count: 11) + [1, 2, 9])?.field == "padding count")
        #expect(error([0xA0] + Array(repeating: 0, count: 11))?.field == "padding count")
    }

    @Test func malformedExtensionElementsStopTheLookupNotTheParse() throws {
        // One-byte element claiming 16 bytes in a 4-byte block.
        let bytes: [UInt8] = [0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0x1F, 1, 2, 3]
        try bytes.withUnsafeBytes { raw in
            let h = try RTPHeader(parsing: raw)
            #expect(h.headerExtension(id: 1, in: raw) == nil)
        }
        #expect(throws: WireError.self) { try RTPPacket(parsing: bytes) }
        // ID 15 ends processing (RFC 8285 §4.2): the element after it is not seen.
        let stop: [UInt8] = [0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0xF0, 0x10, 0x07, 0]
        try stop.withUnsafeBytes { raw in
            let h = try RTPHeader(parsing: raw)
            #expect(h.headerExtension(id: 1, in: raw) == nil)
        }
    }

    @Test func rewritesInPlace() throws {
        var bytes = Self.chromiumLike
        try bytes.withUnsafeMutableBytes { raw in
            RTPHeader.setSequenceNumber(7, in: raw)
            RTPHeader.setTimestamp(0x0102_0304, in: raw)
            RTPHeader.setSSRC(99, in: raw)
            RTPHeader.setPayloadType(100, in: raw)
            RTPHeader.setMarker(false, in: raw)
            let h = try RTPHeader(parsing: UnsafeRawBufferPointer(raw))
            let ok = TransportWideSequenceNumber.encode(4242).withUnsafeBytes {
                h.overwriteHeaderExtension(id: 3, with: $0, in: raw)
            }
            #expect(ok)
            let wrongLength = [UInt8](repeating: 0, count: 5).withUnsafeBytes {
                h.overwriteHeaderExtension(id: 3, with: $0, in: raw)
            }
            #expect(!wrongLength)
        }
        let packet = try RTPPacket(parsing: bytes)
        #expect(packet.sequenceNumber == 7)
        #expect(packet.timestamp == 0x0102_0304)
        #expect(packet.ssrc == 99)
        #expect(packet.payloadType == 100)
        #expect(!packet.marker)
        #expect(packet.headerExtensionValue(id: 3) == [0x10, 0x92])
        #expect(packet.headerExtensionValue(id: 4) == [0x30])
    }

    @Test func extensionValueCodecs() throws {
        #expect(AbsoluteSendTime(microseconds: 1_000_000).rawValue == 1 << 18)
        #expect(AbsoluteSendTime(rawValue: 1 << 18).microseconds == 1_000_000)
        #expect(AbsoluteSendTime(microseconds: 64_000_000).rawValue == 0)  // wraps every 64 s
        let level = AudioLevel(voiceActivity: false, level: 127)
        #expect(try withWireBytes(level.encoded) { (b) throws(WireError) in try AudioLevel(decoding: b) } == level)
        #expect(throws: WireError.self) {
            try withWireBytes([0x20, 0x41]) { (b) throws(WireError) in try SDESIdentifierExtension.decode(b) }
        }
        #expect([UInt8]("q".utf8).withUnsafeBytes { SDESIdentifierExtension.value($0, equals: "q") })
        #expect(![UInt8]("q".utf8).withUnsafeBytes { SDESIdentifierExtension.value($0, equals: "qq") })
        #expect(throws: WireError.self) {
            try withWireBytes([1, 2, 3]) { (b) throws(WireError) in try TransportWideSequenceNumber.decode(b) }
        }
    }
}

@Suite struct RTPPropertyTests {
    static func randomPacket(_ rng: inout SeededRandom) -> RTPPacket {
        var packet = RTPPacket(
            marker: rng.bool(), payloadType: UInt8(rng.int(0...127)), sequenceNumber: UInt16(rng.int(0...65535)),
            timestamp: UInt32.random(in: 0...UInt32.max, using: &rng), ssrc: UInt32.random(in: 0...UInt32.max, using: &rng),
            csrcs: (0..<rng.int(0...15)).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) },
            payload: rng.bytes(rng.int(0...1200)), paddingLength: rng.bool() ? 0 : UInt8(rng.int(1...255)))
        switch rng.int(0...3) {
        case 0: break
        case 1:
            let ids = Array(Set((0..<rng.int(0...8)).map { _ in UInt8(rng.int(1...14)) }))
            packet.headerExtension = .elements(
                .oneByte, ids.map { RTPHeaderExtensionElement(id: $0, value: rng.bytes(rng.int(1...16))) })
        case 2:
            let ids = Array(Set((0..<rng.int(0...8)).map { _ in UInt8(rng.int(1...255)) }))
            packet.headerExtension = .elements(
                .twoByte(appBits: UInt8(rng.int(0...15))),
                ids.map { RTPHeaderExtensionElement(id: $0, value: rng.bytes(rng.int(0...40))) })
        default:
            packet.headerExtension = .opaque(profile: 0x1234, data: rng.bytes(rng.int(0...10) * 4))
        }
        return packet
    }

    @Test func roundTripsRandomPackets() throws {
        var rng = SeededRandom(seed: 0x5254_5031)
        for _ in 0..<2000 {
            let packet = Self.randomPacket(&rng)
            let bytes = packet.serialized()
            let parsed = try RTPPacket(parsing: bytes)
            #expect(parsed == packet)
            #expect(parsed.serialized() == bytes)
            try bytes.withUnsafeBytes { raw in
                let h = try RTPHeader(parsing: raw)
                #expect(h.payloadLength == packet.payload.count)
                if case .elements(_, let elements) = packet.headerExtension {
                    for element in elements {
                        #expect(h.headerExtension(id: element.id, in: raw).map(Array.init) == element.value)
                    }
                }
            }
        }
    }

    /// Every prefix and thousands of random mutations of valid packets parse or throw, never trap, and keep
    /// the RTP invariants (`WireInvariants.rtp`, also run by the FuzzRTP target).
    @Test func truncationsAndMutationsNeverTrap() {
        var rng = SeededRandom(seed: 0x5254_5032)
        for _ in 0..<200 {
            let bytes = Self.randomPacket(&rng).serialized()
            for length in 0..<min(bytes.count, 80) {
                checkInvariants(WireInvariants.rtp, Array(bytes.prefix(length)))
            }
            for _ in 0..<20 {
                var mutated = bytes
                for _ in 0..<rng.int(1...4) { mutated[rng.int(0...(mutated.count - 1))] = UInt8(rng.int(0...255)) }
                if let packet = try? RTPPacket(parsing: mutated) {
                    #expect((try? RTPPacket(parsing: packet.serialized())) == packet)
                }
                checkInvariants(WireInvariants.rtp, mutated)
            }
        }
    }
}
