import Testing
@testable import StarlingWire

@Suite struct ByteReaderTests {
    @Test func readsBigEndianAndReportsTruncation() throws {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05]
        let result: Result<(UInt16, UInt16), WireError> = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> (UInt16, UInt16) in
                var r = ByteReader(raw, proto: .rtp)
                let a = try r.u16("a")
                let b = try r.u16("b")
                _ = try r.u16("c")
                return (a, b)
            }
        }
        #expect(throws: WireError.truncated(.rtp, "c", needed: 2, available: 1)) { try result.get() }
    }

    @Test func serialNumberArithmeticWraps() {
        #expect(isNewerSequenceNumber(1, than: 65535))
        #expect(!isNewerSequenceNumber(65535, than: 1))
        #expect(isNewerTimestamp(5, than: 0xFFFF_FFF0))
    }
}
