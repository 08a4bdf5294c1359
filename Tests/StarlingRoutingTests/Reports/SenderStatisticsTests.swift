import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

private func ns(_ n: Int64) -> Instant { Instant(nanoseconds: n) }
private func ms(_ m: Int64) -> Instant { Instant(nanoseconds: m * 1_000_000) }

@Suite struct SenderStatisticsTests {
    @Test func noSenderReportBeforeAnyPacket() {
        let s = SenderStatistics(ssrc: 5, clockRate: 90_000)
        #expect(s.makeSenderReport(now: ms(1), wallClock: NTPTimestamp(rawValue: 1)) == nil)
    }

    @Test func rtpTimestampIsExtrapolatedToNow() throws {
        var s = SenderStatistics(ssrc: 5, clockRate: 90_000)
        s.recordSent(rtpTimestamp: 1_000_000, payloadBytes: 1000, capturedAt: ms(5_000))
        s.recordSent(rtpTimestamp: 1_000_000, payloadBytes: 800, capturedAt: ms(5_010))   // same frame: anchor stays
        s.recordSent(rtpTimestamp: 1_003_000, payloadBytes: 1200, capturedAt: ms(5_040))  // next frame: anchor moves
        let wall = NTPTimestamp(unixNanoseconds: 1_700_000_000_500_000_000)
        let sr = try #require(s.makeSenderReport(now: ms(5_500), wallClock: wall))
        // 5.5 s - 5.04 s = 0.46 s; 0.46 * 90000 = 41400 -> 1_003_000 + 41_400 = 1_044_400
        #expect(sr.rtpTimestamp == 1_044_400)
        #expect(sr.ntpTimestamp == wall.rawValue)
        #expect(sr.ssrc == 5 && sr.packetCount == 3 && sr.octetCount == 3000)
        #expect(sr.reportBlocks.isEmpty)

        // A retransmission of the first frame counts but does not move the mapping.
        s.recordSent(rtpTimestamp: 1_000_000, payloadBytes: 1000, capturedAt: ms(5_400))
        let sr2 = try #require(s.makeSenderReport(now: ms(5_500), wallClock: wall))
        #expect(sr2.rtpTimestamp == 1_044_400)
        #expect(sr2.packetCount == 4 && sr2.octetCount == 4000)

        // At the anchor itself the SR carries exactly the timestamp sent.
        #expect(s.rtpTimestamp(at: ms(5_040)) == 1_003_000)
        // Rounding to the nearest tick: 16_667 ns * 90000 / 1e9 = 1.50003 -> 2; 16_666 ns -> 1.49994 -> 1
        #expect(s.rtpTimestamp(at: ns(5_040_016_667)) == 1_003_002)
        #expect(s.rtpTimestamp(at: ns(5_040_016_666)) == 1_003_001)
        // Before the anchor: 5.03 s is 10 ms = 900 ticks earlier -> 1_002_100
        #expect(s.rtpTimestamp(at: ms(5_030)) == 1_002_100)
    }

    @Test func extrapolationWrapsAt32Bits() {
        var s = SenderStatistics(ssrc: 5, clockRate: 90_000)
        s.recordSent(rtpTimestamp: 0xFFFF_FF00, payloadBytes: 10, capturedAt: .zero)
        // 0xFFFF_FF00 = 4_294_967_040; + 1 s * 90000 = 4_295_057_040; - 2^32 (4_294_967_296) = 89_744
        #expect(s.rtpTimestamp(at: ms(1_000)) == 89_744)
        // A timestamp past the wrap is newer: 0x100 - 0xFFFF_FF00 = 0x200 > 0, so the anchor moves.
        s.recordSent(rtpTimestamp: 0x100, payloadBytes: 10, capturedAt: ms(2))
        #expect(s.rtpTimestamp(at: ms(2)) == 0x100)
        // Backwards across the wrap: 0x100 - 10 ms * 90 kHz (900) = 256 - 900 + 2^32 = 4_294_966_652
        #expect(s.rtpTimestamp(at: .zero + .milliseconds(-8)) == 4_294_966_652)
    }

    @Test func audioClockRate() {
        var s = SenderStatistics(ssrc: 6, clockRate: 48_000)
        s.recordSent(rtpTimestamp: 960, payloadBytes: 80, capturedAt: ms(100))
        // 20 ms at 48 kHz = 960 ticks -> 1920
        #expect(s.rtpTimestamp(at: ms(120)) == 1920)
    }

    @Test func countsWrapAt32Bits() {
        var s = SenderStatistics(ssrc: 7, clockRate: 90_000)
        s.recordSent(rtpTimestamp: 0, payloadBytes: Int(UInt32.max), capturedAt: .zero)
        s.recordSent(rtpTimestamp: 0, payloadBytes: 3, capturedAt: .zero)
        // (2^32 - 1) + 3 = 2^32 + 2 -> 2 modulo 2^32
        #expect(s.octetCount == 2 && s.packetCount == 2)
    }
}

@Suite struct NTPTimestampTests {
    @Test func fromUnixTime() {
        // Unix epoch = 2_208_988_800 s after 1900 = 0x83AA_7E80.
        #expect(NTPTimestamp(unixNanoseconds: 0) == NTPTimestamp(seconds: 0x83AA_7E80, fraction: 0))
        // 1.5 s: seconds 0x83AA_7E81, fraction 0.5 * 2^32 = 0x8000_0000; compact = 0x7E81_8000
        let t = NTPTimestamp(unixTime: .milliseconds(1_500))
        #expect(t.seconds == 0x83AA_7E81 && t.fraction == 0x8000_0000)
        #expect(t.compact == 0x7E81_8000)
        // 1_700_000_000.25 s: 1_700_000_000 + 2_208_988_800 = 3_908_988_800; 0.25 * 2^32 = 0x4000_0000
        #expect(NTPTimestamp(unixNanoseconds: 1_700_000_000_250_000_000) == NTPTimestamp(seconds: 3_908_988_800, fraction: 0x4000_0000))
        // 1 ns: 2^32 / 1e9 = 4.29 -> fraction 4 (truncated)
        #expect(NTPTimestamp(unixNanoseconds: 1).fraction == 4)
        // Before 1970: -0.5 s -> 2_208_988_799 s + 0.5
        #expect(NTPTimestamp(unixNanoseconds: -500_000_000) == NTPTimestamp(seconds: 2_208_988_799, fraction: 0x8000_0000))
        // Era 1 (February 2036): 2_085_978_496 + 2_208_988_800 = 2^32 -> seconds 0
        #expect(NTPTimestamp(unixNanoseconds: 2_085_978_496_000_000_000).seconds == 0)
    }

    @Test func compactConversions() {
        #expect(CompactNTP.units(.milliseconds(500)) == 32_768)      // 0.5 * 65536
        #expect(CompactNTP.units(.milliseconds(1)) == 65)            // 65.536 truncated
        #expect(CompactNTP.units(.seconds(-1)) == 0)
        #expect(CompactNTP.units(.seconds(70_000)) == .max)          // beyond 16 bits of seconds
        #expect(CompactNTP.duration(32_768) == .milliseconds(500))
        #expect(CompactNTP.duration(1) == .nanoseconds(15_258))      // 1e9 / 65536 = 15258.79
        #expect(CompactNTP.duration(0x0006_2000) == .milliseconds(6_125))
    }
}
