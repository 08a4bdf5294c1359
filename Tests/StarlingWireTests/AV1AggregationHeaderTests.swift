import StarlingWire
import Testing

/// The AV1 RTP aggregation header (RTP Payload Format for AV1, §4.4): a subscriber starts at N.
@Suite struct AV1AggregationHeaderTests {
    static func parse(_ bytes: [UInt8]) throws -> AV1AggregationHeader {
        try bytes.withUnsafeBytes { raw throws(WireError) in try AV1AggregationHeader(parsing: raw) }
    }

    @Test func keyFrameStartIsNWithoutZ() throws {
        let start = try Self.parse([0x18, 0x0A])  // W = 1, N
        #expect(start.isKeyFrameStart && start.elementCount == 1 && !start.continuesFirstElement)
        let delta = try Self.parse([0x10, 0x32])
        #expect(!delta.isKeyFrameStart)
        let continuation = try Self.parse([0xC0])
        #expect(continuation.continuesFirstElement && continuation.lastElementContinues && !continuation.isKeyFrameStart)
        #expect(start.byte == 0x18 && continuation.byte == 0xC0)
    }

    @Test func malformedHeadersAreTypedErrors() {
        #expect(throws: WireError.self) { try Self.parse([]) }
        #expect(throws: WireError.self) { try Self.parse([0x01]) }  // reserved bits
        #expect(throws: WireError.self) { try Self.parse([0x88]) }  // N with Z
        for b in 0...255 {
            _ = try? Self.parse([UInt8(b), 0])
        }
    }
}
