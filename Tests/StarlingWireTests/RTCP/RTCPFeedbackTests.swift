import StarlingTestSupport
import Testing
@testable import StarlingWire

/// Generic NACK, transport-wide feedback, PLI, FIR and REMB (RFC 4585 §6, RFC 5104 §4.3.1,
/// draft-holmer-rmcat-transport-wide-cc-extensions-01, draft-alvestrand-rmcat-remb).
@Suite struct RTCPFeedbackTests {
    // MARK: Generic NACK

    /// Hand-written from RFC 4585 §6.2.1: PID 1000 with BLP 0b101, so 1000, 1001 and 1003 are lost.
    static let nack: [UInt8] = [
        0x81, 0xCD, 0x00, 0x03,  // V=2 FMT=1, PT=205, length 3
        0x00, 0x00, 0x00, 0x01,  // SSRC of packet sender
        0x12, 0x34, 0x56, 0x78,  // SSRC of media source
        0x03, 0xE8, 0x00, 0x05,  // PID 1000, BLP 0x0005
    ]

    @Test func nackKnownAnswer() throws {
        let nack = try GenericNACK(parsing: Self.nack)
        #expect(nack == GenericNACK(senderSSRC: 1, mediaSSRC: 0x1234_5678, items: [.init(packetID: 1000, lostPacketsBitmask: 5)]))
        #expect(nack.lostSequenceNumbers == [1000, 1001, 1003])
        #expect(GenericNACK(senderSSRC: 1, mediaSSRC: 0x1234_5678, lostSequenceNumbers: [1000, 1001, 1003]).serialized() == Self.nack)
        var built: [UInt8] = []
        GenericNACK.serialize(senderSSRC: 1, mediaSSRC: 0x1234_5678, lostSequenceNumbers: [1000, 1001, 1003], into: &built)
        #expect(built == Self.nack)
    }

    @Test func nackItemsWrapAroundAndExpand() {
        let items = GenericNACK.items(lostSequenceNumbers: [65534, 65535, 0, 17, 18, 33])
        #expect(items == [.init(packetID: 65534, lostPacketsBitmask: 0b11), .init(packetID: 17, lostPacketsBitmask: 0x8001)])
        #expect(items[0].sequenceNumbers == [65534, 65535, 0])
        #expect(items[1].sequenceNumbers == [17, 18, 33])
        // 34 is 17 after PID 17, one past the bitmask: a new item.
        #expect(GenericNACK.items(lostSequenceNumbers: [17, 34]) == [.init(packetID: 17), .init(packetID: 34)])
        #expect(GenericNACK.items(lostSequenceNumbers: [5, 5, 6, 5]).count == 1)
        #expect(GenericNACK.items(lostSequenceNumbers: []).isEmpty)
    }

    @Test func nackVisitorAndErrors() throws {
        var seen: [UInt16] = []
        try Self.nack.withUnsafeBytes { raw in
            let fb = try RTCPPacketView(parsingSingle: raw).feedback()
            #expect(fb.senderSSRC == 1 && fb.mediaSSRC == 0x1234_5678 && fb.fci.count == 4)
            try GenericNACK.forEachLostSequenceNumber(fci: fb.fci) { seen.append($0) }
            // An FCI that is not whole items is rejected before any callback.
            var called = false
            #expect(throws: WireError.self) {
                try GenericNACK.forEachLostSequenceNumber(fci: UnsafeRawBufferPointer(rebasing: fb.fci[0..<3])) { _ in called = true }
            }
            #expect(!called)
        }
        #expect(seen == [1000, 1001, 1003])
        // Wrong FMT for the type, and a feedback body too short for the SSRCs.
        var pli = Self.nack
        pli[1] = 0xCE
        #expect(throws: WireError.self) { try GenericNACK(parsing: pli) }
        #expect(throws: WireError.truncated(.rtcp, "mediaSSRC", needed: 4, available: 0)) {
            try GenericNACK(parsing: [0x81, 0xCD, 0x00, 0x01, 0, 0, 0, 1])
        }
    }

    @Test func nackRoundTripProperty() throws {
        for seed in 0..<300 as Range<UInt64> {
            var g = SeededRandom(seed: seed)
            let lost = RTCPGen.lostSequenceNumbers(&g)
            let nack = GenericNACK(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: lost)
            #expect(nack.lostSequenceNumbers == lost, "seed \(seed)")
            let bytes = nack.serialized()
            var direct: [UInt8] = []
            GenericNACK.serialize(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: lost, into: &direct)
            #expect(direct == bytes, "seed \(seed)")
            #expect(try GenericNACK(parsing: bytes) == nack, "seed \(seed)")
        }
    }

    // MARK: Transport-wide feedback

    /// Hand-computed feedback using all three chunk kinds and RTCP padding:
    /// packets 0–19 received with small deltas (run-length chunk 0x2014), packets 20–26 in a 2-bit vector
    /// (L N S S N S S = 0xE145), packets 27–40 in a 1-bit vector (N S S N N S S S N S N N N S = 0x99D1).
    static let twcc: [UInt8] = [
        0xAF, 0xCD, 0x00, 0x0E,  // V=2 P=1 FMT=15, PT=205, length 14 (60 bytes)
        0xFA, 0x17, 0xFA, 0x17,  // SSRC of packet sender
        0x4B, 0xC2, 0x3A, 0x01,  // SSRC of media source
        0x00, 0x64, 0x00, 0x29,  // base sequence number 100, packet status count 41
        0x01, 0x23, 0x45, 0x07,  // reference time 0x012345 (× 64 ms), feedback packet count 7
        0x20, 0x14, 0xE1, 0x45, 0x99, 0xD1,  // chunks
        0x00, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,  // deltas of packets 0-19 (1-byte)
        0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
        0xFF, 0xF8, 0x50, 0x01, 0xFF, 0x40,  // packet 20: -8 (2-byte), 22: 80, 23: 1, 25: 255, 26: 64
        0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // packets 28, 29, 32, 33, 34, 36, 40
        0x01,  // RTCP padding: 1 byte
    ]

    static var twccResults: [TransportFeedback.PacketResult] {
        var r: [TransportFeedback.PacketResult] = [.received(delta: 0)] + Array(repeating: .received(delta: 4), count: 19)
        r += [.received(delta: -8), .notReceived, .received(delta: 80), .received(delta: 1), .notReceived,
              .received(delta: 255), .received(delta: 64)]
        r += [.notReceived, .received(delta: 2), .received(delta: 3), .notReceived, .notReceived,
              .received(delta: 4), .received(delta: 5), .received(delta: 6), .notReceived, .received(delta: 7),
              .notReceived, .notReceived, .notReceived, .received(delta: 8)]
        return r
    }

    @Test func twccKnownAnswer() throws {
        let expected = TransportFeedback(
            senderSSRC: 0xFA17_FA17, mediaSSRC: 0x4BC2_3A01, baseSequenceNumber: 100, referenceTime: 0x01_2345,
            feedbackPacketCount: 7, packetResults: Self.twccResults)
        #expect(expected.packetResults.count == 41)
        let parsed = try TransportFeedback(parsing: Self.twcc)
        #expect(parsed == expected)
        #expect(parsed.referenceTimeMicroseconds == 0x01_2345 * 64_000)
        #expect(expected.serialized() == Self.twcc)
    }

    @Test func twccVisitorYieldsStatusAndMicroseconds() throws {
        var seqs: [UInt16] = []
        var statuses: [TransportFeedback.Status] = []
        var deltas: [Int64?] = []
        let header = try Self.twcc.withUnsafeBytes { raw in
            try TransportFeedback.forEachPacketResult(fci: try RTCPPacketView(parsingSingle: raw).feedback().fci) { seq, status, delta in
                seqs.append(seq)
                statuses.append(status)
                deltas.append(delta)
            }
        }
        #expect(header == TransportFeedback.Header(baseSequenceNumber: 100, packetStatusCount: 41, referenceTime: 0x01_2345, feedbackPacketCount: 7))
        #expect(seqs == Array(100...140))
        #expect(statuses[19] == .receivedSmallDelta && statuses[20] == .receivedLargeDelta && statuses[21] == .notReceived)
        #expect(deltas == Self.twccResults.map(\.deltaMicroseconds))
        #expect(deltas[20] == -2000 && deltas[22] == 20_000)
    }

    @Test func twccDraftChunkExamples() throws {
        // draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.3 example 1: a run of 221 "not received"
        // (0|00|0000011011101), here the whole feedback, with base sequence number 65500 so it wraps.
        let run: [UInt8] = [0x8F, 0xCD, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 2,
                            0xFF, 0xDC, 0x00, 0xDD, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xDD, 0x00, 0x00]
        let runFeedback = try TransportFeedback(parsing: run)
        #expect(runFeedback.packetResults == Array(repeating: .notReceived, count: 221))
        #expect(runFeedback.referenceTime == -1)
        var last: UInt16 = 0
        try run.withUnsafeBytes { raw in
            _ = try TransportFeedback.forEachPacketResult(fci: try RTCPPacketView(parsingSingle: raw).feedback().fci) { seq, _, _ in last = seq }
        }
        #expect(last == 65500 &+ 220)
        // §3.1.4 example 1: 1-bit vector 1|0|01111100011100: N, 5×S, 3×N, 3×S, 2×N, with small deltas 1...8.
        let vector: [UInt8] = [0x8F, 0xCD, 0x00, 0x07, 0, 0, 0, 1, 0, 0, 0, 2,
                               0x00, 0x01, 0x00, 0x0E, 0x00, 0x00, 0x00, 0x00, 0x9F, 0x1C,
                               1, 2, 3, 4, 5, 6, 7, 8, 0, 0]
        let expected: [TransportFeedback.PacketResult] = [.notReceived] + (1...5).map { .received(delta: $0) }
            + Array(repeating: .notReceived, count: 3) + (6...8).map { .received(delta: $0) } + [.notReceived, .notReceived]
        #expect(try TransportFeedback(parsing: vector).packetResults == expected)
        // The draft's other examples use symbol 11, reserved in -01: rejected.
        let reserved: [UInt8] = [0x8F, 0xCD, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 2,
                                 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0xCD, 0x50, 0x00, 0x00]
        #expect(throws: WireError.invalid(.rtcp, "twcc.packetChunk", "reserved status symbol")) {
            try TransportFeedback(parsing: reserved)
        }
    }

    @Test func twccMalformedInputs() throws {
        func fci(_ body: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [0x8F, 0xCD, 0x00, 0x00, 0, 0, 0, 1, 0, 0, 0, 2] + body
            let pad = (4 - out.count % 4) % 4
            if pad > 0 { out[0] |= 0x20; out += Array(repeating: 0, count: pad - 1) + [UInt8(pad)] }
            out[3] = UInt8(out.count / 4 - 1)
            return out
        }
        // Status count 2 but chunks for none.
        #expect(throws: WireError.truncated(.rtcp, "twcc.packetChunk", needed: 2, available: 0)) {
            try TransportFeedback(parsing: fci([0, 1, 0, 2, 0, 0, 0, 0]))
        }
        // Two packets received with large deltas, but only 3 delta bytes.
        #expect(throws: WireError.truncated(.rtcp, "twcc.receiveDelta", needed: 4, available: 3)) {
            try TransportFeedback(parsing: fci([0, 1, 0, 2, 0, 0, 0, 0, 0x40, 0x02, 1, 2, 3]))
        }
        // Four stray bytes after the deltas.
        #expect(throws: WireError.self) {
            try TransportFeedback(parsing: fci([0, 1, 0, 1, 0, 0, 0, 0, 0x20, 0x01, 9, 0, 0, 0, 0]))
        }
        // Up to three bytes of zero padding without the P bit are accepted (the draft's "zero padding").
        let zeroPadded: [UInt8] = [0x8F, 0xCD, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0x20, 0x01, 9, 0]
        #expect(try TransportFeedback(parsing: zeroPadded).packetResults == [.received(delta: 9)])
        // Header fields cut short.
        #expect(throws: WireError.self) { try TransportFeedback(parsing: fci([0, 1, 0, 1, 0, 0])) }
        // A visitor is not called for a feedback that turns out malformed.
        var called = false
        let bad = fci([0, 1, 0, 2, 0, 0, 0, 0, 0x40, 0x02, 1, 2, 3])
        bad.withUnsafeBytes { raw -> Void in
            #expect(throws: WireError.self) {
                try TransportFeedback.forEachPacketResult(fci: try RTCPPacketView(parsingSingle: raw).feedback().fci) { _, _, _ in called = true }
            }
        }
        #expect(!called)
    }

    @Test func twccEncoderChoosesCompactChunks() throws {
        // 1000 received small: one run-length chunk.
        let allSmall = TransportFeedback(senderSSRC: 1, mediaSSRC: 2, baseSequenceNumber: 0, referenceTime: 0,
                                         feedbackPacketCount: 0, packetResults: Array(repeating: .received(delta: 1), count: 1000))
        let a = allSmall.serialized()
        #expect(Array(a[20..<22]) == [0x23, 0xE8])  // 0|01|1111101000
        #expect(a.count == 20 + 2 + 1000 + 2)
        // 9000 not received: two run-length chunks (8191 + 809).
        let lost = TransportFeedback(senderSSRC: 1, mediaSSRC: 2, baseSequenceNumber: 0, referenceTime: 0,
                                     feedbackPacketCount: 0, packetResults: Array(repeating: .notReceived, count: 9000))
        let b = lost.serialized()
        #expect(Array(b[20..<24]) == [0x1F, 0xFF, 0x03, 0x29])
        #expect(try TransportFeedback(parsing: b) == lost)
        // Three packets, alternating: a short last 1-bit vector chunk.
        let short = TransportFeedback(senderSSRC: 1, mediaSSRC: 2, baseSequenceNumber: 0, referenceTime: 0,
                                      feedbackPacketCount: 0, packetResults: [.received(delta: 1), .notReceived, .received(delta: 2)])
        #expect(Array(short.serialized()[20..<22]) == [0xA8, 0x00])  // 1|0|101 then zeros
        #expect(try TransportFeedback(parsing: short.serialized()) == short)
    }

    @Test func twccRoundTripProperty() throws {
        for seed in 0..<400 as Range<UInt64> {
            var g = SeededRandom(seed: seed)
            let feedback = RTCPGen.transportFeedback(&g)
            let bytes = feedback.serialized()
            let parsed = try TransportFeedback(parsing: bytes)
            #expect(parsed == feedback, "seed \(seed)")
            #expect(parsed.serialized() == bytes, "seed \(seed)")
            // The visitor agrees with the value.
            var results: [TransportFeedback.PacketResult] = []
            try bytes.withUnsafeBytes { raw in
                _ = try TransportFeedback.forEachPacketResult(fci: try RTCPPacketView(parsingSingle: raw).feedback().fci) { _, status, delta in
                    #expect((status == .notReceived) == (delta == nil))
                    results.append(delta.map { .received(delta: Int16($0 / 250)) } ?? .notReceived)
                }
            }
            #expect(results == feedback.packetResults, "seed \(seed)")
        }
    }

    @Test func twccBuilderFromArrivalTimes() throws {
        // Reference 1_000_000 µs → 15 × 64 ms = 960_000 µs. Arrivals given in µs; deltas rounded to 250 µs
        // without drift: each one measured from the previous rounded arrival.
        var builder = TransportFeedback.Builder(senderSSRC: 1, mediaSSRC: 2, feedbackPacketCount: 3,
                                                baseSequenceNumber: 65534, referenceArrivalMicroseconds: 1_000_000)
        #expect(builder.feedback.referenceTime == 15)
        let added = [
            builder.addReceived(sequenceNumber: 65534, arrivalMicroseconds: 1_000_100),  // 4000.4 ticks → 4000; delta 160
            builder.addReceived(sequenceNumber: 1, arrivalMicroseconds: 1_000_230),  // 65535, 0 lost; 4000.92 → 4001
            builder.addReceived(sequenceNumber: 2, arrivalMicroseconds: 990_000),  // earlier: negative delta
            builder.addReceived(sequenceNumber: 2, arrivalMicroseconds: 990_000),  // not after the previous
            builder.addReceived(sequenceNumber: 3, arrivalMicroseconds: 990_000 + 8_200_000),  // delta > 8.19 s
        ]
        #expect(added == [true, true, true, false, false])
        #expect(builder.feedback.packetResults == [
            .received(delta: 160), .notReceived, .notReceived, .received(delta: 1), .received(delta: -41),
        ])
        let bytes = builder.feedback.serialized()
        var arrivals: [Int64] = []
        var t = try TransportFeedback(parsing: bytes).referenceTimeMicroseconds
        try bytes.withUnsafeBytes { raw in
            _ = try TransportFeedback.forEachPacketResult(fci: try RTCPPacketView(parsingSingle: raw).feedback().fci) { _, _, delta in
                if let delta { t += delta; arrivals.append(t) }
            }
        }
        #expect(arrivals == [1_000_000, 1_000_250, 990_000])
        builder.reset(feedbackPacketCount: 4, baseSequenceNumber: 3, referenceArrivalMicroseconds: -1)
        #expect(builder.count == 0 && builder.feedback.referenceTime == -1 && builder.feedback.feedbackPacketCount == 4)
    }

    // MARK: PLI, FIR, REMB

    @Test func pliKnownAnswer() throws {
        let bytes: [UInt8] = [0x81, 0xCE, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]
        let pli = try PictureLossIndication(parsing: bytes)
        #expect(pli == PictureLossIndication(senderSSRC: 1, mediaSSRC: 0x1234_5678))
        #expect(pli.serialized() == bytes)
        #expect(throws: WireError.self) { try PictureLossIndication(parsing: Array(bytes[0..<8])) }
    }

    @Test func firKnownAnswerAndVisitor() throws {
        // RFC 5104 §4.3.1: media source SSRC 0, one entry for SSRC 0x12345678 with command sequence number 5.
        let bytes: [UInt8] = [0x84, 0xCE, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                              0x12, 0x34, 0x56, 0x78, 0x05, 0x00, 0x00, 0x00]
        let fir = try FullIntraRequest(parsing: bytes)
        #expect(fir == FullIntraRequest(senderSSRC: 1, entries: [.init(ssrc: 0x1234_5678, sequenceNumber: 5)]))
        #expect(fir.serialized() == bytes)
        var entries: [FullIntraRequest.Entry] = []
        try bytes.withUnsafeBytes { raw in
            try FullIntraRequest.forEachEntry(fci: try RTCPPacketView(parsingSingle: raw).feedback().fci) { entries.append($0) }
        }
        #expect(entries == fir.entries)
        // An entry cut to 4 bytes.
        #expect(throws: WireError.self) { try FullIntraRequest(parsing: [0x84, 0xCE, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]) }
    }

    /// 1 Mbit/s = 250000 × 2^2: exponent 2, mantissa 0x3D090, packed 0x0BD090 (draft-alvestrand-rmcat-remb §2.2).
    static let remb: [UInt8] = [
        0x8F, 0xCE, 0x00, 0x05,  // V=2 FMT=15, PT=206, length 5
        0x00, 0x00, 0x00, 0x01,  // SSRC of packet sender
        0x00, 0x00, 0x00, 0x00,  // SSRC of media source: 0
        0x52, 0x45, 0x4D, 0x42,  // "REMB"
        0x01, 0x0B, 0xD0, 0x90,  // Num SSRC 1, BR Exp 2, BR Mantissa 250000
        0x12, 0x34, 0x56, 0x78,  // SSRC feedback
    ]

    @Test func rembKnownAnswer() throws {
        let remb = try ReceiverEstimatedMaxBitrate(parsing: Self.remb)
        #expect(remb == ReceiverEstimatedMaxBitrate(senderSSRC: 1, bitrate: 1_000_000, ssrcs: [0x1234_5678]))
        #expect(remb.serialized() == Self.remb)
        let packed = ReceiverEstimatedMaxBitrate.exponentAndMantissa(for: 1_000_000)
        #expect(packed.exponent == 2 && packed.mantissa == 250_000)
        var ssrcs: [UInt32] = []
        let bitrate = try Self.remb.withUnsafeBytes { raw in
            try ReceiverEstimatedMaxBitrate.forEachSSRC(fci: try RTCPPacketView(parsingSingle: raw).feedback().fci) { ssrcs.append($0) }
        }
        #expect(bitrate == 1_000_000 && ssrcs == [0x1234_5678])
    }

    @Test func rembBitrateRoundsDown() throws {
        for (bitrate, exponent, mantissa) in [
            (UInt64(0), UInt8(0), UInt32(0)), (262_143, 0, 262_143), (262_144, 1, 131_072), (1_000_001, 2, 250_000),
            (1_000_003, 2, 250_000), (UInt64.max, 46, 0x3_FFFF),
        ] {
            let packed = ReceiverEstimatedMaxBitrate.exponentAndMantissa(for: bitrate)
            #expect(packed.exponent == exponent && packed.mantissa == mantissa, "\(bitrate)")
            let decoded = UInt64(mantissa) << UInt64(exponent)
            #expect(decoded <= bitrate)
            let remb = ReceiverEstimatedMaxBitrate(senderSSRC: 1, bitrate: bitrate, ssrcs: [])
            #expect(try ReceiverEstimatedMaxBitrate(parsing: remb.serialized()).bitrate == decoded)
        }
        // Rounding down loses less than one part in 2^17.
        var g = SeededRandom(seed: 3)
        for _ in 0..<1000 {
            let bitrate = UInt64.random(in: 0...UInt64.max, using: &g) >> UInt64(g.int(0...63))
            let p = ReceiverEstimatedMaxBitrate.exponentAndMantissa(for: bitrate)
            let decoded = UInt64(p.mantissa) << UInt64(p.exponent)
            #expect(decoded <= bitrate && bitrate - decoded < (UInt64(1) << UInt64(p.exponent)) && p.mantissa < 1 << 18)
        }
    }

    @Test func rembMalformed() {
        var wrongCount = Self.remb
        wrongCount[16] = 2  // claims two SSRCs
        #expect(throws: WireError.truncated(.rtcp, "remb.ssrcs", needed: 8, available: 4)) { try ReceiverEstimatedMaxBitrate(parsing: wrongCount) }
        var overflow = Self.remb
        overflow[17] = 0xFC  // exponent 63 with a non-zero mantissa
        #expect(throws: WireError.invalid(.rtcp, "remb.bitrate", "exceeds 64 bits")) { try ReceiverEstimatedMaxBitrate(parsing: overflow) }
        var notREMB = Self.remb
        notREMB[12] = 0x41
        #expect(throws: WireError.self) { try ReceiverEstimatedMaxBitrate(parsing: notREMB) }
        // ... but as part of a compound it is just an unknown application layer feedback.
        #expect(try! RTCPCompoundPacket(parsing: notREMB).packets == [
            .unknown(packetType: .payloadSpecificFeedback, count: 15, body: Array(notREMB[4...])),
        ])
    }

    @Test func feedbackRoundTripProperties() throws {
        for seed in 0..<300 as Range<UInt64> {
            var g = SeededRandom(seed: seed)
            let pli = RTCPGen.pli(&g)
            #expect(try PictureLossIndication(parsing: pli.serialized()) == pli, "seed \(seed)")
            let fir = RTCPGen.fir(&g)
            #expect(try FullIntraRequest(parsing: fir.serialized()) == fir, "seed \(seed)")
            let remb = RTCPGen.remb(&g)
            #expect(try ReceiverEstimatedMaxBitrate(parsing: remb.serialized()) == remb, "seed \(seed)")
            let nack = RTCPGen.genericNACK(&g)
            #expect(try GenericNACK(parsing: nack.serialized()) == nack, "seed \(seed)")
            for bytes in [pli.serialized(), fir.serialized(), remb.serialized(), nack.serialized()] {
                #expect(try RTCPPacket(parsing: bytes).serialized() == bytes, "seed \(seed)")
            }
        }
    }
}
