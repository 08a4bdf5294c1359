import StarlingTestSupport
import Testing
@testable import StarlingWire

/// SR, RR, report blocks, SDES, BYE and APP (RFC 3550 §6.4–§6.7).
@Suite struct RTCPReportTests {
    @Test func reportBlockSignedLossAndClamping() throws {
        // Hand-written block: cumulative lost 0xFFFFFE is -2 in 24-bit two's complement (RFC 3550 §6.4.1).
        let bytes: [UInt8] = [
            0x01, 0x02, 0x03, 0x04, 0x40, 0xFF, 0xFF, 0xFE, 0x00, 0x00, 0xFF, 0xFF,
            0x00, 0x00, 0x01, 0x00, 0x11, 0x22, 0x33, 0x44, 0x00, 0x01, 0x00, 0x00,
        ]
        let block = try ReportBlock(parsing: bytes)
        #expect(block == ReportBlock(
            ssrc: 0x0102_0304, fractionLost: 0x40, cumulativeLost: -2, extendedHighestSequenceNumber: 0xFFFF,
            jitter: 256, lastSenderReport: 0x1122_3344, delaySinceLastSenderReport: 0x1_0000))
        #expect(block.serialized() == bytes)
        // Out-of-range losses are clamped (RFC 3550 §A.3).
        var big = block
        big.cumulativeLost = 10_000_000
        #expect(try ReportBlock(parsing: big.serialized()).cumulativeLost == 0x7F_FFFF)
        big.cumulativeLost = -10_000_000
        #expect(try ReportBlock(parsing: big.serialized()).cumulativeLost == -0x80_0000)
        #expect(throws: WireError.self) { try ReportBlock(parsing: Array(bytes.dropLast())) }
    }

    @Test func emptyReceiverReport() throws {
        // The RR a receive-only endpoint sends: no report blocks (RFC 3550 §6.4.2).
        let bytes: [UInt8] = [0x80, 0xC9, 0x00, 0x01, 0xDE, 0xAD, 0xBE, 0xEF]
        let rr = try ReceiverReport(parsing: bytes)
        #expect(rr == ReceiverReport(ssrc: 0xDEAD_BEEF))
        #expect(rr.serialized() == bytes)
        #expect(throws: WireError.self) { try SenderReport(parsing: bytes) }
    }

    @Test func receiverReportWithBlockAndExtension() throws {
        let bytes: [UInt8] = [
            0x81, 0xC9, 0x00, 0x08, 0x00, 0x00, 0x00, 0x09,
            0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x10, 0x00,
            0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xCA, 0xFE, 0xBA, 0xBE,  // profile-specific extension
        ]
        let rr = try ReceiverReport(parsing: bytes)
        #expect(rr.reportBlocks == [ReportBlock(ssrc: 10, cumulativeLost: 5, extendedHighestSequenceNumber: 0x1000, jitter: 7)])
        #expect(rr.profileExtensions == [0xCA, 0xFE, 0xBA, 0xBE])
        #expect(rr.serialized() == bytes)
        // RC says 2 blocks but only one fits.
        var lying = bytes
        lying[0] = 0x82
        #expect(throws: WireError.truncated(.rtcp, "reportBlocks", needed: 48, available: 28)) { try ReceiverReport(parsing: lying) }
    }

    @Test func visitingReportBlocksAllocatesNoArrays() throws {
        let compound = try RTCPCompoundPacket(parsing: RTCPFramingTests.chromeSRAndSDES)
        guard case .senderReport(let expected) = compound.packets[0] else { Issue.record("not an SR"); return }
        try RTCPFramingTests.chromeSRAndSDES.withUnsafeBytes { raw in
            var it = RTCPPacketIterator(raw)
            let view = try #require(try it.next())
            var blocks: [ReportBlock] = []
            let sr = try SenderReport(view: view) { blocks.append($0) }
            #expect(blocks == expected.reportBlocks)
            #expect(sr.reportBlocks.isEmpty && sr.ntpTimestamp == expected.ntpTimestamp && sr.octetCount == expected.octetCount)
        }
    }

    @Test func sourceDescriptionPaddingPerChunk() throws {
        // Two chunks: CNAME "ab" (4+2+2=8 bytes, then a null octet and 3 pad bytes) and a chunk with no items
        // (SSRC then four null octets), RFC 3550 §6.5.
        let bytes: [UInt8] = [
            0x82, 0xCA, 0x00, 0x05,
            0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x61, 0x62, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        ]
        let sdes = try SourceDescription(parsing: bytes)
        #expect(sdes == SourceDescription(chunks: [
            .init(source: 1, items: [.init(type: .cname, text: "ab")]),
            .init(source: 2, items: []),
        ]))
        #expect(sdes.serialized() == bytes)
        // An item ending exactly on a word boundary still needs a terminating null word.
        let three = SourceDescription(chunks: [.init(source: 3, items: [.init(type: .tool, text: "xy")])])
        #expect(three.serialized() == [0x81, 0xCA, 0x00, 0x03, 0, 0, 0, 3, 0x06, 0x02, 0x78, 0x79, 0, 0, 0, 0])
        // Missing terminator, trailing bytes after SC chunks, and an item running past the end.
        #expect(throws: WireError.self) { try SourceDescription(parsing: [0x81, 0xCA, 0x00, 0x02, 0, 0, 0, 1, 0x01, 0x02, 0x61, 0x62]) }
        #expect(throws: WireError.self) { try SourceDescription(parsing: [0x80, 0xCA, 0x00, 0x01, 0, 0, 0, 0]) }
        #expect(throws: WireError.self) { try SourceDescription(parsing: [0x81, 0xCA, 0x00, 0x02, 0, 0, 0, 1, 0x01, 0x09, 0x61, 0x62]) }
    }

    @Test func goodbyeWithAndWithoutReason() throws {
        let withReason: [UInt8] = [0x81, 0xCB, 0x00, 0x02, 0x12, 0x34, 0x56, 0x78, 0x02, 0x6F, 0x6B, 0x00]
        let bye = try Goodbye(parsing: withReason)
        #expect(bye == Goodbye(sources: [0x1234_5678], reasonText: "ok"))
        #expect(bye.reasonText == "ok")
        #expect(bye.serialized() == withReason)
        let plain: [UInt8] = [0x82, 0xCB, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2]
        #expect(try Goodbye(parsing: plain) == Goodbye(sources: [1, 2]))
        #expect(try Goodbye(parsing: plain).reason == nil)
        // Reason length beyond the packet; SC beyond the packet.
        #expect(throws: WireError.self) { try Goodbye(parsing: [0x81, 0xCB, 0x00, 0x02, 0, 0, 0, 1, 0x05, 0x6F, 0x6B, 0x00]) }
        #expect(throws: WireError.self) { try Goodbye(parsing: [0x83, 0xCB, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2]) }
    }

    @Test func applicationDefinedKnownAnswer() throws {
        let bytes: [UInt8] = [0x83, 0xCC, 0x00, 0x03, 0x00, 0x00, 0x00, 0x2A, 0x53, 0x54, 0x52, 0x4C, 0x01, 0x02, 0x03, 0x04]
        let app = try ApplicationDefined(parsing: bytes)
        #expect(app == ApplicationDefined(subtype: 3, ssrc: 42, name: "STRL", data: [1, 2, 3, 4]))
        #expect(app.nameText == "STRL")
        #expect(app.serialized() == bytes)
        #expect(throws: WireError.self) { try ApplicationDefined(parsing: [0x80, 0xCC, 0x00, 0x01, 0, 0, 0, 1]) }
    }

    @Test func roundTripProperties() throws {
        for seed in 0..<300 as Range<UInt64> {
            var g = SeededRandom(seed: seed)
            let block = RTCPGen.reportBlock(&g)
            #expect(try ReportBlock(parsing: block.serialized()) == block, "seed \(seed)")
            let sr = RTCPGen.senderReport(&g)
            #expect(try SenderReport(parsing: sr.serialized()) == sr, "seed \(seed)")
            let rr = RTCPGen.receiverReport(&g)
            #expect(try ReceiverReport(parsing: rr.serialized()) == rr, "seed \(seed)")
            let sdes = RTCPGen.sourceDescription(&g)
            #expect(try SourceDescription(parsing: sdes.serialized()) == sdes, "seed \(seed)")
            let bye = RTCPGen.goodbye(&g)
            #expect(try Goodbye(parsing: bye.serialized()) == bye, "seed \(seed)")
            let app = RTCPGen.applicationDefined(&g)
            #expect(try ApplicationDefined(parsing: app.serialized()) == app, "seed \(seed)")
            // And the canonical bytes come back unchanged.
            for bytes in [sr.serialized(), rr.serialized(), sdes.serialized(), bye.serialized(), app.serialized()] {
                #expect(try RTCPPacket(parsing: bytes).serialized() == bytes, "seed \(seed)")
            }
        }
    }

    @Test func countsBeyondFiveBitsAreClamped() throws {
        let blocks = (0..<40).map { ReportBlock(ssrc: UInt32($0)) }
        let rr = try ReceiverReport(parsing: ReceiverReport(ssrc: 1, reportBlocks: blocks).serialized())
        #expect(rr.reportBlocks == Array(blocks.prefix(31)))
        let bye = try Goodbye(parsing: Goodbye(sources: Array(0..<40)).serialized())
        #expect(bye.sources == Array(0..<31))
        let longText = SourceDescription.Item(type: .note, value: Array(repeating: 0x41, count: 300))
        let sdes = try SourceDescription(parsing: SourceDescription(chunks: [.init(source: 1, items: [longText])]).serialized())
        #expect(sdes.chunks[0].items[0].value.count == 255)
    }
}
