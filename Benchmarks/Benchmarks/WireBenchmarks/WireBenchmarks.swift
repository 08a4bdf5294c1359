import Benchmark
import StarlingWire

/// Each benchmark runs its body `scaledIterations` times per sample; the malloc metrics are per sample,
/// so a parse path that allocates nothing reports 0 however many packets it handled.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000
    )

    let rtp = WireSamples.rtpPacket
    Benchmark("RTP header parse + 4 extension lookups") { benchmark in
        rtp.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                guard let header = try? RTPHeader(parsing: bytes) else { fatalError("sample must parse") }
                blackHole(header.sequenceNumber)
                blackHole(header.transportWideSequenceNumber(id: 3, in: bytes))
                blackHole(header.absoluteSendTime(id: 2, in: bytes))
                blackHole(header.headerExtension(id: 4, in: bytes))
                blackHole(header.headerExtension(id: 10, in: bytes))
            }
        }
    }

    Benchmark("RTP header parse + mid/rid as String") { benchmark in
        rtp.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                guard let header = try? RTPHeader(parsing: bytes) else { fatalError("sample must parse") }
                blackHole(header.mid(id: 4, in: bytes))
                blackHole(header.rid(id: 10, in: bytes))
            }
        }
    }

    // MARK: RTCP

    let compound = WireSamples.rtcpCompound
    Benchmark("RTCP compound parse (iterator, SR+SDES+NACK+PLI+REMB)") { benchmark in
        compound.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                var iterator = RTCPPacketIterator(bytes)
                var packets = 0
                while let view = try? iterator.next() {
                    packets += 1
                    blackHole(view.packetType)
                }
                blackHole(packets)
            }
        }
    }

    Benchmark("RTCP compound parse (owned values)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? RTCPCompoundPacket(parsing: compound))
        }
    }

    let nack = WireSamples.nack
    Benchmark("NACK feedback parse (visitor, 34 lost)") { benchmark in
        nack.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                guard let view = try? RTCPPacketView(parsingSingle: bytes), let fb = try? view.feedback() else {
                    fatalError("sample must parse")
                }
                var lost = 0
                try? GenericNACK.forEachLostSequenceNumber(fci: fb.fci) { lost &+= Int($0) }
                blackHole(lost)
            }
        }
    }

    Benchmark("NACK feedback build (34 lost, reused buffer)") { benchmark in
        var out: [UInt8] = []
        out.reserveCapacity(256)
        let lost = WireSamples.lostSequenceNumbers
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            GenericNACK.serialize(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: lost, into: &out)
            blackHole(out.count)
        }
    }

    let twcc = WireSamples.transportFeedback
    Benchmark("TWCC feedback parse (visitor, 100 packets)") { benchmark in
        twcc.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                guard let view = try? RTCPPacketView(parsingSingle: bytes), let fb = try? view.feedback() else {
                    fatalError("sample must parse")
                }
                var sum: Int64 = 0
                _ = try? TransportFeedback.forEachPacketResult(fci: fb.fci) { seq, _, delta in
                    sum &+= Int64(seq) &+ (delta ?? 0)
                }
                blackHole(sum)
            }
        }
    }

    Benchmark("TWCC feedback build (100 packets, reused buffer)") { benchmark in
        var out: [UInt8] = []
        out.reserveCapacity(512)
        let results = WireSamples.packetResults
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            TransportFeedback.serialize(
                senderSSRC: 1, mediaSSRC: 2, baseSequenceNumber: 1000, referenceTime: 42, feedbackPacketCount: 7,
                packetResults: results, into: &out)
            blackHole(out.count)
        }
    }

    // MARK: STUN

    let binding = WireSamples.bindingRequest
    let key = STUNCredentials.shortTermKey(password: WireSamples.icePassword)
    Benchmark("STUN Binding request parse + integrity + fingerprint") { benchmark in
        binding.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                guard let message = try? STUNMessage(parsing: bytes) else { fatalError("sample must parse") }
                blackHole(message.username)
                blackHole(STUNMessage.verifyFingerprint(bytes))
                blackHole(STUNMessage.verifyIntegrity(bytes, key: key))
            }
        }
    }

    Benchmark("STUN peek USERNAME (shared-port demux)") { benchmark in
        binding.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                blackHole(STUNMessage.peek(bytes)?.usernameRange)
            }
        }
    }
}

enum WireSamples {
    /// A 1200-byte VP8 packet with the one-byte extensions Chromium sends (abs-send-time, transport-cc,
    /// mid, rid).
    static let rtpPacket: [UInt8] = {
        var packet = RTPPacket(
            marker: true, payloadType: 96, sequenceNumber: 4660, timestamp: 123_456, ssrc: 0xDEAD_BEEF,
            payload: Array(repeating: 0x5A, count: 1160))
        packet.setHeaderExtensionValue(id: 2, AbsoluteSendTime(microseconds: 5_000_000).encoded)
        packet.setHeaderExtensionValue(id: 3, TransportWideSequenceNumber.encode(42))
        packet.setHeaderExtensionValue(id: 4, SDESIdentifierExtension.encode("0"))
        packet.setHeaderExtensionValue(id: 10, SDESIdentifierExtension.encode("h"))
        return packet.serialized()
    }()

    /// What a receiver sends every few hundred ms: SR + SDES, then feedback.
    static let rtcpCompound: [UInt8] = {
        let sr = RTCPPacket.senderReport(
            SenderReport(
                ssrc: 0x1111, ntpTimestamp: 0xE8F0_0000_8000_0000, rtpTimestamp: 90_000, packetCount: 1000,
                octetCount: 1_000_000,
                reportBlocks: [
                    ReportBlock(
                        ssrc: 0x2222, fractionLost: 3, cumulativeLost: 12, extendedHighestSequenceNumber: 70_000,
                        jitter: 40, lastSenderReport: 0x1234_5678, delaySinceLastSenderReport: 655)
                ]))
        let sdes = RTCPPacket.sourceDescription(
            SourceDescription(chunks: [.init(source: 0x1111, items: [.init(type: .cname, text: "starling-bench")])]))
        let compound = RTCPCompoundPacket(packets: [
            sr, sdes,
            .genericNACK(GenericNACK(senderSSRC: 0x1111, mediaSSRC: 0x2222, lostSequenceNumbers: [100, 101, 105])),
            .pictureLossIndication(PictureLossIndication(senderSSRC: 0x1111, mediaSSRC: 0x2222)),
            .receiverEstimatedMaxBitrate(
                ReceiverEstimatedMaxBitrate(senderSSRC: 0x1111, bitrate: 2_500_000, ssrcs: [0x2222, 0x3333])),
        ])
        return compound.serialized()
    }()

    static let lostSequenceNumbers: [UInt16] = Array(65530...65535) + Array(0...20) + [40, 41, 57, 80, 81, 99, 200]

    static let nack: [UInt8] = GenericNACK(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: lostSequenceNumbers)
        .serialized()

    static let packetResults: [TransportFeedback.PacketResult] = (0..<100).map { (i: Int) -> TransportFeedback.PacketResult in
        if i % 17 == 5 { return .notReceived }
        let ticks: Int = i % 9 == 0 ? 300 : 20 + i % 7
        return .received(delta: Int16(ticks))
    }

    static let transportFeedback: [UInt8] = TransportFeedback(
        senderSSRC: 1, mediaSSRC: 2, baseSequenceNumber: 1000, referenceTime: 42, feedbackPacketCount: 7,
        packetResults: packetResults
    ).serialized()

    static let icePassword = "asd88fgpdd777uzjYhagZg"

    /// A Binding request with Chromium's attribute set.
    static let bindingRequest: [UInt8] = {
        let message = STUNMessage(
            type: .bindingRequest, transactionID: STUNTransactionID(high: 1, low: 2),
            attributes: [
                .username("a1b2:c3d4"), .priority(1_845_501_695), .iceControlling(0x1234_5678_9ABC_DEF0),
                .useCandidate,
            ])
        return message.serialize(integrityKey: STUNCredentials.shortTermKey(password: icePassword), fingerprint: true)
    }()
}
