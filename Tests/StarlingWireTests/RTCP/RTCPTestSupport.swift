import StarlingTestSupport
@testable import StarlingWire

/// Random valid RTCP values for the property tests; every value generated is one the codecs round-trip.
enum RTCPGen {
    static func u32(_ g: inout SeededRandom) -> UInt32 { UInt32.random(in: 0...UInt32.max, using: &g) }
    static func u16(_ g: inout SeededRandom) -> UInt16 { UInt16.random(in: 0...UInt16.max, using: &g) }
    static func u8(_ g: inout SeededRandom) -> UInt8 { UInt8.random(in: 0...UInt8.max, using: &g) }

    static func reportBlock(_ g: inout SeededRandom) -> ReportBlock {
        ReportBlock(
            ssrc: u32(&g), fractionLost: u8(&g),
            cumulativeLost: Int32.random(in: ReportBlock.cumulativeLostRange, using: &g),
            extendedHighestSequenceNumber: u32(&g), jitter: u32(&g),
            lastSenderReport: u32(&g), delaySinceLastSenderReport: u32(&g))
    }

    static func blocks(_ g: inout SeededRandom) -> [ReportBlock] {
        (0..<g.int(0...(g.bool() ? 3 : 31))).map { _ in reportBlock(&g) }
    }

    static func extensions(_ g: inout SeededRandom) -> [UInt8] {
        g.int(0...3) == 0 ? g.bytes(g.int(1...13)) : []
    }

    static func senderReport(_ g: inout SeededRandom) -> SenderReport {
        SenderReport(
            ssrc: u32(&g), ntpTimestamp: UInt64.random(in: 0...UInt64.max, using: &g), rtpTimestamp: u32(&g),
            packetCount: u32(&g), octetCount: u32(&g), reportBlocks: blocks(&g), profileExtensions: extensions(&g))
    }

    static func receiverReport(_ g: inout SeededRandom) -> ReceiverReport {
        ReceiverReport(ssrc: u32(&g), reportBlocks: blocks(&g), profileExtensions: extensions(&g))
    }

    static func sourceDescription(_ g: inout SeededRandom) -> SourceDescription {
        SourceDescription(chunks: (0..<g.int(0...4)).map { _ in
            SourceDescription.Chunk(source: u32(&g), items: (0..<g.int(0...4)).map { _ in
                SourceDescription.Item(
                    type: SourceDescription.ItemType(rawValue: UInt8(g.int(1...255))),
                    value: g.bytes(g.int(0...(g.bool() ? 20 : 255))))
            })
        })
    }

    static func goodbye(_ g: inout SeededRandom) -> Goodbye {
        Goodbye(sources: (0..<g.int(0...31)).map { _ in u32(&g) }, reason: g.bool() ? g.bytes(g.int(0...255)) : nil)
    }

    static func applicationDefined(_ g: inout SeededRandom) -> ApplicationDefined {
        ApplicationDefined(subtype: UInt8(g.int(0...31)), ssrc: u32(&g), name: u32(&g), data: g.bytes(g.int(0...40)))
    }

    /// Lost sequence numbers in RTP order from a random start (so some lists wrap past 65535).
    static func lostSequenceNumbers(_ g: inout SeededRandom) -> [UInt16] {
        var seq = g.bool() ? UInt16(65535 - g.int(0...40)) : u16(&g)
        return (0..<g.int(1...60)).map { _ in
            seq &+= UInt16(g.int(1...(g.bool() ? 3 : 40)))
            return seq
        }
    }

    static func genericNACK(_ g: inout SeededRandom) -> GenericNACK {
        GenericNACK(senderSSRC: u32(&g), mediaSSRC: u32(&g), lostSequenceNumbers: lostSequenceNumbers(&g))
    }

    static func packetResults(_ g: inout SeededRandom) -> [TransportFeedback.PacketResult] {
        var results: [TransportFeedback.PacketResult] = []
        let target = g.int(0...(g.bool() ? 40 : 600))
        while results.count < target {
            // Runs (to exercise run-length chunks) and mixed stretches (vectors).
            let runLength = g.int(1...(g.int(0...4) == 0 ? 200 : 5))
            let kind = g.int(0...3)
            for _ in 0..<runLength {
                switch kind {
                case 0: results.append(.notReceived)
                case 1: results.append(.received(delta: Int16(g.int(0...255))))
                case 2: results.append(.received(delta: Int16.random(in: Int16.min...Int16.max, using: &g)))
                default:
                    switch g.int(0...2) {
                    case 0: results.append(.notReceived)
                    case 1: results.append(.received(delta: Int16(g.int(0...255))))
                    default: results.append(.received(delta: Int16(g.int(-1000...1000))))
                    }
                }
            }
        }
        return Array(results.prefix(target))
    }

    static func transportFeedback(_ g: inout SeededRandom) -> TransportFeedback {
        TransportFeedback(
            senderSSRC: u32(&g), mediaSSRC: u32(&g), baseSequenceNumber: u16(&g),
            referenceTime: Int32.random(in: TransportFeedback.referenceTimeRange, using: &g),
            feedbackPacketCount: u8(&g), packetResults: packetResults(&g))
    }

    static func pli(_ g: inout SeededRandom) -> PictureLossIndication {
        PictureLossIndication(senderSSRC: u32(&g), mediaSSRC: u32(&g))
    }

    static func fir(_ g: inout SeededRandom) -> FullIntraRequest {
        FullIntraRequest(senderSSRC: u32(&g), mediaSSRC: g.bool() ? 0 : u32(&g), entries: (0..<g.int(0...5)).map { _ in
            FullIntraRequest.Entry(ssrc: u32(&g), sequenceNumber: u8(&g))
        })
    }

    /// A representable bitrate (mantissa × 2^exponent, 18-bit mantissa).
    static func bitrate(_ g: inout SeededRandom) -> UInt64 {
        let mantissa = UInt64(g.int(0...0x3_FFFF))
        let exponent = UInt64(g.int(0...46))
        return mantissa << exponent
    }

    static func remb(_ g: inout SeededRandom) -> ReceiverEstimatedMaxBitrate {
        ReceiverEstimatedMaxBitrate(
            senderSSRC: u32(&g), mediaSSRC: 0, bitrate: bitrate(&g),
            ssrcs: (0..<g.int(0...(g.bool() ? 4 : 255))).map { _ in u32(&g) })
    }

    static func unknown(_ g: inout SeededRandom) -> RTCPPacket {
        // XR, an RTPFB/PSFB FMT not modelled, or an unassigned type.
        switch g.int(0...3) {
        case 0: return .unknown(packetType: .extendedReport, count: UInt8(g.int(0...31)), body: g.bytes(g.int(0...30)))
        case 1: return .unknown(packetType: .transportLayerFeedback, count: 3, body: g.bytes(g.int(8...30)))
        case 2: return .unknown(packetType: .payloadSpecificFeedback, count: 2, body: g.bytes(g.int(8...30)))
        default: return .unknown(packetType: RTCPPacketType(UInt8(g.int(208...223))), count: UInt8(g.int(0...31)), body: g.bytes(g.int(0...30)))
        }
    }

    static func packet(_ g: inout SeededRandom) -> RTCPPacket {
        switch g.int(0...10) {
        case 0: return .senderReport(senderReport(&g))
        case 1: return .receiverReport(receiverReport(&g))
        case 2: return .sourceDescription(sourceDescription(&g))
        case 3: return .goodbye(goodbye(&g))
        case 4: return .applicationDefined(applicationDefined(&g))
        case 5: return .genericNACK(genericNACK(&g))
        case 6: return .transportFeedback(transportFeedback(&g))
        case 7: return .pictureLossIndication(pli(&g))
        case 8: return .fullIntraRequest(fir(&g))
        case 9: return .receiverEstimatedMaxBitrate(remb(&g))
        default: return unknown(&g)
        }
    }

    static func compound(_ g: inout SeededRandom) -> RTCPCompoundPacket {
        RTCPCompoundPacket(packets: (0..<g.int(1...5)).map { _ in packet(&g) })
    }
}

/// Parses `bytes` as `T`, returning the typed error instead of throwing.
func rtcpParse<T: WireCodable>(_ type: T.Type, _ bytes: [UInt8]) -> Result<T, WireError> {
    Result { () throws(WireError) -> T in try T(parsing: bytes) }
}
