import StarlingTransport
import Testing

@Suite struct DemultiplexerTests {
    func kind(_ bytes: [UInt8]) -> DatagramKind { bytes.withUnsafeBytes { DatagramKind(classifying: $0) } }

    /// RFC 7983 §7 ranges, boundaries included.
    @Test func classifiesByFirstByte() {
        #expect(kind([]) == .unknown)
        #expect(kind([0x00, 0x01]) == .stun)
        #expect(kind([0x03]) == .stun)
        #expect(kind([0x04]) == .unknown)
        #expect(kind([16]) == .zrtp)
        #expect(kind([20, 0xFE]) == .dtls)
        #expect(kind([63]) == .dtls)
        #expect(kind([64]) == .turnChannel)
        #expect(kind([79]) == .turnChannel)
        #expect(kind([80]) == .unknown)
        #expect(kind([128]) == .unknown)  // too short to tell RTP from RTCP
        #expect(kind([0x80, 96]) == .rtp)
        #expect(kind([0x80, 96 | 0x80]) == .rtp)  // marker set, PT 96
        #expect(kind([0x80, 200]) == .rtcp)  // SR
        #expect(kind([0x81, 205]) == .rtcp)  // RTPFB
        #expect(kind([0x80, 223]) == .rtcp)
        #expect(kind([0x80, 224]) == .rtp)  // marker + PT 96
        #expect(kind([191, 0]) == .rtp)
        #expect(kind([192, 0]) == .unknown)
        #expect(kind([255]) == .unknown)
    }
}
