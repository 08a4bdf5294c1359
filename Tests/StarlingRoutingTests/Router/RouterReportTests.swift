import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

/// The RR the router sends a publisher and the SR it sends a subscriber, checked against values worked
/// out by hand from RFC 3550 §6.4.1 and §A.3.
@Suite struct RouterReportTests {
    final class Capture: RouterOutput {
        var rtp: [(TransportID, [UInt8])] = []
        var rtcp: [(TransportID, [UInt8], Instant)] = []
        var now = Instant.zero
        func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            rtp.append((transport, Array(UnsafeRawBufferPointer(rebasing: packet[0..<length]))))
        }
        func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
            rtcp.append((transport, Array(UnsafeRawBufferPointer(rebasing: packet[0..<length])), now))
        }
    }

    static let frame = Duration.nanoseconds(1_000_000_000 / 30)

    @Test func receiverAndSenderReportsMatchHandComputedValues() throws {
        let capture = Capture()
        let router = Router(configuration: .init(unixNanosecondsAtZero: 1_700_000_000_000_000_000), output: capture)
        let publisher = TransportID(1)
        let subscriber = TransportID(2)
        router.addTransport(publisher, now: .zero)
        router.addTransport(subscriber, now: .zero)
        let codec = RTPCodec(kind: .opus, payloadType: 111, clockRate: 48_000)
        let producer = try router.addProducer(
            on: publisher, ProducerParameters(kind: .audio, codec: codec, encodings: [.init(ssrc: 0x1111)], nack: false),
            now: .zero)
        let consumer = try router.addConsumer(on: subscriber, of: producer, ConsumerParameters(ssrc: 0x2222, codec: codec), now: .zero)

        // Packets 100...109, one per 20 ms with timestamps 960 apart (no jitter); 103 and 104 are lost.
        var now = Instant.zero + .milliseconds(10)
        for i in 0..<10 where i != 3 && i != 4 {
            let t = Instant.zero + .milliseconds(10 + 20 * Int64(i))
            now = t
            var bytes: [UInt8] = []
            RTPPacket(payloadType: 111, sequenceNumber: 100 + UInt16(i), timestamp: 5000 + UInt32(i) * 960, ssrc: 0x1111, payload: Array(repeating: 0xAB, count: 40))
                .serialize(into: &bytes)
            let length = bytes.count
            bytes += Array(repeating: 0, count: 64)
            bytes.withUnsafeMutableBytes { router.receiveRTP(from: publisher, packet: $0, length: length, now: t) }
        }
        #expect(capture.rtp.count == 8)
        let lastArrival = now
        // The publisher's SR at 200 ms: NTP 0x0000_1234_5678_9ABC.
        var sr: [UInt8] = []
        SenderReport(ssrc: 0x1111, ntpTimestamp: 0x0000_1234_5678_9ABC, rtpTimestamp: 5000, packetCount: 10, octetCount: 400)
            .serialize(into: &sr)
        let srArrival = Instant.zero + .milliseconds(200)
        sr.withUnsafeBytes { router.receiveRTCP(from: publisher, packet: $0, now: srArrival) }

        // Run the timers until both reports went out.
        var rr: (ReceiverReport, Instant)?
        var ours: (SenderReport, Instant)?
        now = srArrival
        while rr == nil || ours == nil, now < .zero + .seconds(3) {
            now = now + .milliseconds(10)
            capture.now = now
            router.handleTimeout(now: now)
            for (t, bytes, at) in capture.rtcp {
                bytes.withUnsafeBytes { raw in
                    var it = RTCPPacketIterator(raw)
                    while let view = try? it.next() {
                        if t == publisher, view.kind == .receiverReport, rr == nil, let r = try? ReceiverReport(view: view),
                            !r.reportBlocks.isEmpty
                        {
                            rr = (r, at)
                        }
                        if t == subscriber, view.kind == .senderReport, ours == nil, let s = try? SenderReport(view: view) {
                            ours = (s, at)
                        }
                    }
                }
            }
            capture.rtcp.removeAll()
        }
        let (receiverReport, rrAt) = try #require(rr)
        let block = try #require(receiverReport.reportBlocks.first)
        #expect(block.ssrc == 0x1111)
        // 2 of 10 expected packets lost: fraction floor(2 × 256 / 10) = 51, cumulative 2 (RFC 3550 §A.3).
        #expect(block.fractionLost == 51)
        #expect(block.cumulativeLost == 2)
        #expect(block.extendedHighestSequenceNumber == 109)
        // Arrival spacing equals timestamp spacing: no jitter.
        #expect(block.jitter == 0)
        // LSR: the middle 32 bits of the SR's NTP timestamp; DLSR: the wait since it, in 1/65536 s.
        #expect(block.lastSenderReport == 0x5678_9ABC >> 16 | 0x1234 << 16)
        let waited = (rrAt - srArrival).nanosecondsClamped
        #expect(Int64(block.delaySinceLastSenderReport) == waited * 65536 / 1_000_000_000)

        // Our SR to the subscriber: 8 packets of 40 payload octets; the RTP timestamp is the last one sent
        // advanced by the time since it arrived, at 48 kHz; the NTP time is the router's wall clock.
        let (senderReport, srAt) = try #require(ours)
        #expect(senderReport.ssrc == 0x2222)
        #expect(senderReport.packetCount == 8)
        #expect(senderReport.octetCount == 8 * 40)
        let lastSent = try #require(capture.rtp.last).1.withUnsafeBytes { try RTPHeader(parsing: $0) }
        let elapsed = (srAt - lastArrival).nanosecondsClamped
        let ticks = UInt32((elapsed * 48_000 + 500_000_000) / 1_000_000_000)
        #expect(senderReport.rtpTimestamp == lastSent.timestamp &+ ticks)
        #expect(senderReport.ntpTimestamp == NTPTimestamp(unixNanoseconds: 1_700_000_000_000_000_000 + srAt.nanoseconds).rawValue)
        // Outgoing numbering follows the input's: the publisher's own loss (103, 104) stays a gap the
        // subscriber can NACK; nothing else is added or removed.
        let headers = try capture.rtp.map { try $0.1.withUnsafeBytes { try RTPHeader(parsing: $0) } }
        let steps = zip(headers, headers.dropFirst()).map { $1.sequenceNumber &- $0.sequenceNumber }
        #expect(steps == [1, 1, 3, 1, 1, 1, 1])
        #expect(headers.allSatisfy { $0.ssrc == 0x2222 })
        _ = consumer
    }
}
