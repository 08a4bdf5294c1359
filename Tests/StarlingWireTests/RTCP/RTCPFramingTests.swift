import StarlingTestSupport
import Testing
@testable import StarlingWire
import StarlingWireChecks

/// Common header, padding, the packet iterator and compound packets (RFC 3550 §6.1, §6.4.1, §A.2; RFC 5506).
@Suite struct RTCPFramingTests {
    /// An SR with one report block followed by an SDES CNAME, laid out the way Chrome sends them
    /// (written by hand from RFC 3550 §6.4.1 and §6.5; the CNAME is Chrome's 16-character form).
    static let chromeSRAndSDES: [UInt8] = [
        // SR: V=2 P=0 RC=1, PT=200, length 12 (52 bytes)
        0x81, 0xC8, 0x00, 0x0C,
        0x1F, 0x2E, 0x3D, 0x4C,  // SSRC of sender
        0xEB, 0x0F, 0x2A, 0x5C, 0x41, 0x89, 0x37, 0x4B,  // NTP timestamp
        0x9A, 0x3B, 0xC0, 0xDE,  // RTP timestamp
        0x00, 0x00, 0x01, 0x23,  // sender's packet count: 291
        0x00, 0x04, 0x5A, 0x10,  // sender's octet count: 285200
        // report block
        0x55, 0x66, 0x77, 0x88,  // SSRC_1
        0x0A, 0x00, 0x00, 0x03,  // fraction lost 10/256, cumulative lost 3
        0x00, 0x01, 0x2F, 0x0A,  // extended highest sequence number: cycle 1, seq 0x2F0A
        0x00, 0x00, 0x00, 0x24,  // jitter 36
        0x2A, 0x5C, 0x41, 0x89,  // LSR
        0x00, 0x00, 0x80, 0x00,  // DLSR 0.5 s
        // SDES: V=2 P=0 SC=1, PT=202, length 6 (28 bytes)
        0x81, 0xCA, 0x00, 0x06,
        0x1F, 0x2E, 0x3D, 0x4C,  // SSRC
        0x01, 0x10,  // CNAME, 16 bytes
        0x44, 0x77, 0x4B, 0x4A, 0x33, 0x76, 0x41, 0x6D, 0x74, 0x73, 0x51, 0x73, 0x45, 0x38, 0x46, 0x41,  // "DwKJ3vAmtsQsE8FA"
        0x00, 0x00,  // end of list, pad to 32 bits
    ]

    @Test func chromeCompoundKnownAnswer() throws {
        let compound = try RTCPCompoundPacket(parsing: Self.chromeSRAndSDES)
        let expectedSR = SenderReport(
            ssrc: 0x1F2E_3D4C, ntpTimestamp: 0xEB0F_2A5C_4189_374B, rtpTimestamp: 0x9A3B_C0DE,
            packetCount: 291, octetCount: 285_200,
            reportBlocks: [ReportBlock(
                ssrc: 0x5566_7788, fractionLost: 10, cumulativeLost: 3, extendedHighestSequenceNumber: 0x0001_2F0A,
                jitter: 36, lastSenderReport: 0x2A5C_4189, delaySinceLastSenderReport: 0x8000)])
        let expectedSDES = SourceDescription(chunks: [
            .init(source: 0x1F2E_3D4C, items: [.init(type: .cname, text: "DwKJ3vAmtsQsE8FA")]),
        ])
        #expect(compound.packets == [.senderReport(expectedSR), .sourceDescription(expectedSDES)])
        #expect(compound.startsWithReport)
        #expect(expectedSR.compactNTPTimestamp == 0x2A5C_4189)
        if case .sourceDescription(let sdes) = compound.packets[1] { #expect(sdes.chunks[0].cname == "DwKJ3vAmtsQsE8FA") }
        #expect(compound.serialized() == Self.chromeSRAndSDES)
    }

    @Test func iteratorYieldsViewsWithoutDecoding() throws {
        try Self.chromeSRAndSDES.withUnsafeBytes { raw in
            var it = RTCPPacketIterator(raw)
            let sr = try #require(try it.next())
            #expect(sr.packetType == .senderReport && sr.kind == .senderReport)
            #expect(sr.count == 1 && sr.offset == 0 && sr.packet.count == 52 && sr.body.count == 48 && !sr.hasPadding)
            let sdes = try #require(try it.next())
            #expect(sdes.kind == .sourceDescription && sdes.offset == 52 && sdes.body.count == 24)
            #expect(try it.next() == nil)
            #expect(it.offset == raw.count)
        }
    }

    @Test func iteratorReportsMalformedPacketThenStops() throws {
        // An RR, then a packet claiming 8 more words than there are.
        let bytes: [UInt8] = [0x80, 0xC9, 0x00, 0x01, 1, 2, 3, 4, 0x80, 0xC9, 0x00, 0x08, 1, 2, 3, 4]
        try bytes.withUnsafeBytes { raw throws in
            var it = RTCPPacketIterator(raw)
            #expect(try it.next()?.kind == .receiverReport)
            #expect(throws: WireError.truncated(.rtcp, "length", needed: 36, available: 8)) { try it.next() }
            #expect(try it.next() == nil)
        }
        #expect(throws: WireError.self) { try RTCPCompoundPacket(parsing: bytes) }
    }

    @Test func forEachPacketStopsAtBodyError() {
        let result = Self.chromeSRAndSDES.withUnsafeBytes { raw in
            Result { () throws(WireError) in
                var seen = 0
                try RTCPCompoundPacket.forEachPacket(in: raw) { (view) throws(WireError) in
                    seen += 1
                    if view.kind == .sourceDescription { throw WireError.invalid(.rtcp, "test", "stop") }
                }
                Issue.record("not stopped after \(seen)")
            }
        }
        #expect(throws: WireError.invalid(.rtcp, "test", "stop")) { try result.get() }
    }

    @Test func headerValidation() {
        // Version 1.
        #expect(throws: WireError.invalid(.rtcp, "version", "must be 2")) {
            try RTCPPacket(parsing: [0x41, 0xC9, 0x00, 0x01, 1, 2, 3, 4])
        }
        // Length beyond the bytes.
        #expect(throws: WireError.truncated(.rtcp, "length", needed: 12, available: 8)) {
            try RTCPPacket(parsing: [0x80, 0xC9, 0x00, 0x02, 1, 2, 3, 4])
        }
        // Bytes after a single packet.
        #expect(throws: WireError.self) { try RTCPPacket(parsing: [0x80, 0xC9, 0x00, 0x01, 1, 2, 3, 4, 0, 0, 0, 0]) }
        // Short header, and an empty datagram.
        #expect(throws: WireError.self) { try RTCPCompoundPacket(parsing: [0x80, 0xC9, 0x00]) }
        #expect(throws: WireError.self) { try RTCPCompoundPacket(parsing: []) }
        // Trailing bytes that do not make a header.
        #expect(throws: WireError.self) { try RTCPCompoundPacket(parsing: [0x80, 0xC9, 0x00, 0x01, 1, 2, 3, 4, 0x80]) }
    }

    @Test func paddingIsValidatedAndStripped() throws {
        // RR with P set and 4 bytes of padding (pad count 4 in the last byte).
        let padded: [UInt8] = [0xA0, 0xC9, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x04]
        #expect(try ReceiverReport(parsing: padded) == ReceiverReport(ssrc: 0x1122_3344))
        // Pad count 0 is invalid, and so is one larger than the body.
        var zero = padded
        zero[11] = 0
        #expect(throws: WireError.invalid(.rtcp, "padding", "pad count must be in 1...8")) { try ReceiverReport(parsing: zero) }
        var tooLarge = padded
        tooLarge[11] = 9
        #expect(throws: WireError.self) { try ReceiverReport(parsing: tooLarge) }
        // P set on a header-only packet: no body to hold padding.
        #expect(throws: WireError.self) { try RTCPPacket(parsing: [0xA0, 0xCB, 0x00, 0x00]) }
        // Padding eating into the SSRC leaves the RR truncated.
        var eatsSSRC = padded
        eatsSSRC[11] = 8
        #expect(throws: WireError.truncated(.rtcp, "rr.ssrc", needed: 4, available: 0)) { try ReceiverReport(parsing: eatsSSRC) }
    }

    @Test func reducedSizeFeedbackAlone() throws {
        // RFC 5506: a lone PLI is a valid RTCP datagram.
        let pli: [UInt8] = [0x81, 0xCE, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]
        let compound = try RTCPCompoundPacket(parsing: pli)
        #expect(compound.packets == [.pictureLossIndication(PictureLossIndication(senderSSRC: 1, mediaSSRC: 0x1234_5678))])
        #expect(!compound.startsWithReport)
    }

    @Test func unknownPacketsAreKept() throws {
        // An XR (PT 207) with one 8-byte block, and an RTPFB with FMT 3 (TMMBR), between an RR and a BYE.
        let bytes: [UInt8] = [
            0x80, 0xC9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,
            0x80, 0xCF, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0x04, 0x00, 0x00, 0x02, 0xAA, 0xBB, 0xCC, 0xDD,
            0x83, 0xCD, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x09,
            0x81, 0xCB, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,
        ]
        let compound = try RTCPCompoundPacket(parsing: bytes)
        #expect(compound.packets[1] == .unknown(packetType: .extendedReport, count: 0, body: Array(bytes[12..<24])))
        #expect(compound.packets[2] == .unknown(packetType: .transportLayerFeedback, count: 3, body: Array(bytes[28..<36])))
        #expect(compound.serialized() == bytes)
        // A body that is not a multiple of four bytes goes out with RTCP padding and comes back the same.
        let odd = RTCPPacket.unknown(packetType: RTCPPacketType(210), count: 5, body: [1, 2, 3, 4, 5])
        let wire = odd.serialized()
        #expect(wire == [0xA5, 210, 0x00, 0x02, 1, 2, 3, 4, 5, 0, 0, 3])
        #expect(try RTCPPacket(parsing: wire) == odd)
    }

    @Test func kindFollowsTypeAndFormat() throws {
        func kind(_ bytes: [UInt8]) throws -> RTCPPacketView.Kind {
            try bytes.withUnsafeBytes { (raw) throws(WireError) in try RTCPPacketView(parsingSingle: raw).kind }
        }
        let ssrcs: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 2]
        #expect(try kind([0x81, 0xCD, 0x00, 0x02] + ssrcs) == .genericNACK)
        #expect(try kind([0x8F, 0xCD, 0x00, 0x02] + ssrcs) == .transportFeedback)
        #expect(try kind([0x81, 0xCE, 0x00, 0x02] + ssrcs) == .pictureLossIndication)
        #expect(try kind([0x84, 0xCE, 0x00, 0x02] + ssrcs) == .fullIntraRequest)
        #expect(try kind([0x8F, 0xCE, 0x00, 0x03] + ssrcs + Array("REMB".utf8)) == .receiverEstimatedMaxBitrate)
        #expect(try kind([0x8F, 0xCE, 0x00, 0x03] + ssrcs + Array("ABCD".utf8)) == .unknown)
        #expect(try kind([0x8F, 0xCE, 0x00, 0x02] + ssrcs) == .unknown)
        #expect(try kind([0x82, 0xCE, 0x00, 0x02] + ssrcs) == .unknown)
        #expect(try kind([0x80, 0xCF, 0x00, 0x00]) == .unknown)
    }

    @Test func compoundRoundTripProperty() throws {
        for seed in 0..<500 as Range<UInt64> {
            var g = SeededRandom(seed: seed)
            let compound = RTCPGen.compound(&g)
            let bytes = compound.serialized()
            let parsed = try #require(try? rtcpParse(RTCPCompoundPacket.self, bytes).get(), "seed \(seed)")
            #expect(parsed == compound, "seed \(seed)")
            #expect(parsed.serialized() == bytes, "seed \(seed)")
            #expect(bytes.count % 4 == 0)
        }
    }

    @Test func everyTruncationThrowsOrParses() {
        var g = SeededRandom(seed: 7)
        var samples = [Self.chromeSRAndSDES, RTCPFeedbackTests.nack, RTCPFeedbackTests.twcc, RTCPFeedbackTests.remb]
        for _ in 0..<40 { samples.append(RTCPGen.compound(&g).serialized()) }
        for bytes in samples {
            for n in 0..<bytes.count {
                let prefix = Array(bytes[..<n])
                // A prefix ending on a packet boundary is a valid shorter compound; others must throw.
                if case .success(let c) = rtcpParse(RTCPCompoundPacket.self, prefix) {
                    #expect(c.serialized() == prefix)
                }
                checkInvariants(WireInvariants.rtcp, prefix)
            }
        }
    }

    @Test func randomMutationsNeverBreakTheFuzzProperties() {
        var g = SeededRandom(seed: 99)
        for round in 0..<3000 {
            var bytes = round % 3 == 0 ? Self.chromeSRAndSDES : RTCPGen.compound(&g).serialized()
            for _ in 0..<g.int(1...4) {
                let i = g.int(0...(bytes.count - 1))
                switch g.int(0...2) {
                case 0: bytes[i] = RTCPGen.u8(&g)
                case 1: bytes[i] ^= 1 << UInt8(g.int(0...7))
                default: bytes.insert(RTCPGen.u8(&g), at: i)
                }
            }
            checkInvariants(WireInvariants.rtcp, bytes, "round \(round)")
        }
        // Pure noise with a valid-looking first byte.
        for _ in 0..<3000 {
            var bytes = g.bytes(g.int(4...64))
            bytes[0] = 0x80 | bytes[0] & 0x3F
            checkInvariants(WireInvariants.rtcp, bytes)
        }
    }
}
