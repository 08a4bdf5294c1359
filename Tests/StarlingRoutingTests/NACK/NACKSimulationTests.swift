import StarlingRouting
import StarlingTestSupport
import StarlingTransport
import StarlingWire
import Testing

/// A sender (RetransmissionBuffer + NACKResponder over RTX) and a receiver (NACKGenerator +
/// RTXDecoder) joined by a lossy link in both directions, on a virtual clock.
@Suite struct NACKSimulationTests {
    struct Result: Equatable {
        var sent = 0
        var received = 0
        var recoveredByRTX = 0
        var duplicates = 0
        /// Indices (0-based, in sending order) of packets that never arrived.
        var lost: [Int] = []
        var nackPackets = 0
        var generator = NACKGenerator.Counters()
        var responder = NACKResponder.Counters()
    }

    struct Datagram {
        var arrival: Instant
        var order: Int
        var toSender: Bool
        var bytes: [UInt8]
    }

    static let mediaSSRC: UInt32 = 0x1111_1111
    static let rtxSSRC: UInt32 = 0x2222_2222

    static func run(seed: UInt64, packets: Int, loss: Double, rtt: Duration, generatorRTT: Duration) -> Result {
        var random = SeededRandom(seed: seed)
        var result = Result()
        let oneWay = Duration.nanoseconds(rtt.nanosecondsClamped / 2)
        var inFlight: [Datagram] = []
        var order = 0
        func transmit(_ bytes: [UInt8], toSender: Bool, now: Instant) {
            if Double(random.next() % 1_000_000) / 1_000_000 < loss { return }
            let jitter = Duration.microseconds(Int64(random.next() % 8000))  // reorders now and then
            inFlight.append(Datagram(arrival: now + oneWay + jitter, order: order, toSender: toSender, bytes: bytes))
            order += 1
        }

        let buffer = RetransmissionBuffer(slots: 512, slotSize: 1500, maxAge: .seconds(1))
        let responder = NACKResponder(
            buffer: buffer, rtx: RTXEncoder(ssrc: rtxSSRC, payloadType: 97, initialSequenceNumber: 3000), minInterval: rtt)
        var generator = NACKGenerator(rtt: generatorRTT)
        let decoder = RTXDecoder(rtxSSRC: rtxSSRC, originalSSRC: mediaSSRC, associatedPayloadTypes: [97: 96])
        var got = Set<Int64>()
        var unwrapper = SequenceNumberUnwrapper()
        var nack: [UInt8] = []
        nack.reserveCapacity(1500)

        let interval = Duration.milliseconds(5)
        let firstSequenceNumber: UInt16 = 65_000  // crosses the wrap
        var now = Instant.zero
        var nextSend = Instant.zero
        let end = Instant.zero + interval * packets + .seconds(3)

        while now < end {
            // The next event: a send, an arrival, or the generator's deadline.
            var next = nextSend
            if result.sent >= packets { next = end }
            var earliest: Int?
            for (i, d) in inFlight.enumerated()
            where earliest.map({ (d.arrival, d.order) < (inFlight[$0].arrival, inFlight[$0].order) }) ?? true {
                earliest = i
            }
            if let i = earliest, inFlight[i].arrival < next { next = inFlight[i].arrival }
            if let d = generator.nextDeadline, d < next { next = max(d, now) }
            now = next
            if now >= end { break }

            if result.sent < packets, nextSend <= now {
                let seq = firstSequenceNumber &+ UInt16(truncatingIfNeeded: result.sent)
                let packet = rtpBytes(sequenceNumber: seq, ssrc: mediaSSRC, payloadLength: 200)
                packet.withUnsafeBytes { _ = buffer.store(packet: $0, sequenceNumber: seq, now: now) }
                transmit(packet, toSender: false, now: now)
                result.sent += 1
                nextSend = now + interval
            }
            if let i = earliest, inFlight[i].arrival <= now {
                var d = inFlight.remove(at: i)
                if d.toSender {
                    d.bytes.withUnsafeBytes { bytes in
                        try? responder.handleNACK(fci: UnsafeRawBufferPointer(rebasing: bytes[12...]), now: now) { rtx in
                            transmit(Array(rtx), toSender: false, now: now)
                        }
                    }
                } else {
                    let ssrc = d.bytes.withUnsafeBytes { $0.loadBE32(at: 8) }
                    var length = d.bytes.count
                    if ssrc == rtxSSRC {
                        guard let n = try? d.bytes.withUnsafeMutableBytes({ try decoder.decode(inPlace: $0) }) else { continue }
                        length = n
                    }
                    let seq = d.bytes.withUnsafeBytes { $0.loadBE16(at: 2) }
                    #expect(d.bytes[0..<length].elementsEqual(rtpBytes(sequenceNumber: seq, ssrc: mediaSSRC, payloadLength: 200)))
                    if got.insert(unwrapper.unwrap(seq)).inserted {
                        result.received += 1
                        if ssrc == rtxSSRC { result.recoveredByRTX += 1 }
                    } else {
                        result.duplicates += 1
                    }
                    generator.received(sequenceNumber: seq, now: now)
                }
            }
            if let d = generator.nextDeadline, d <= now {
                let lost = generator.pollNACK(now: now)
                if !lost.isEmpty {
                    nack.removeAll(keepingCapacity: true)
                    GenericNACK.serialize(senderSSRC: 1, mediaSSRC: mediaSSRC, lostSequenceNumbers: lost, into: &nack)
                    result.nackPackets += 1
                    transmit(nack, toSender: true, now: now)
                }
            }
        }
        let first = unwrapper.unwrap(firstSequenceNumber)
        result.lost = (0..<packets).filter { !got.contains(first + Int64($0)) }
        result.generator = generator.counters
        result.responder = responder.counters
        return result
    }

    /// 5% loss each way and 50 ms RTT (plus 0-16 ms jitter); the receiver's RTT estimate is 60 ms.
    @Test(arguments: [0x5EED, 1, 2] as [UInt64])
    func recoversAtLeast99PercentOverALossyLink(seed: UInt64) {
        let r = Self.run(seed: seed, packets: 4000, loss: 0.05, rtt: .milliseconds(50), generatorRTT: .milliseconds(60))
        #expect(r.sent == 4000)
        #expect(r.received * 100 >= r.sent * 99, "\(r)")
        #expect(r.recoveredByRTX > 100, "about 5% of 4000 are lost and come back over RTX: \(r)")
        #expect(r.generator.gaveUp == 0)
        // Only a loss at the very end goes unnoticed: no later packet reveals the gap.
        #expect(r.lost.enumerated().allSatisfy { $0.element == r.sent - r.lost.count + $0.offset }, "\(r.lost)")
        #expect(r.responder.resent > 0)
        print("NACK simulation (seed \(seed)): \(r)")
    }

    @Test func simulationIsDeterministic() {
        let a = Self.run(seed: 42, packets: 1000, loss: 0.05, rtt: .milliseconds(50), generatorRTT: .milliseconds(60))
        let b = Self.run(seed: 42, packets: 1000, loss: 0.05, rtt: .milliseconds(50), generatorRTT: .milliseconds(60))
        #expect(a == b)
    }
}
