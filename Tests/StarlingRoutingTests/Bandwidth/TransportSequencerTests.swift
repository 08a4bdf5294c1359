import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@Suite struct TransportSequencerTests {
    @Test func wrapsAroundAndMatchesFeedbackNumbers() throws {
        var s = TransportSequencer(capacity: 64, firstSequenceNumber: 65_534)
        #expect(s.sentPacket(65_534) == nil)  // nothing sent yet
        #expect(s.next(size: 100, now: at(us: 1000)) == 65_534)
        #expect(s.next(size: 200, now: at(us: 2000)) == 65_535)
        #expect(s.next(size: 300, now: at(us: 3000)) == 0)
        #expect(s.next(size: 400, now: at(us: 4000)) == 1)
        #expect(s.packetsSent == 4)
        #expect(s.nextSequenceNumber == 2)
        #expect(s.sentPacket(65_535) == .init(sequenceNumber: 65_535, sendTime: at(us: 2000), size: 200))
        #expect(s.sentPacket(0) == .init(sequenceNumber: 65_536, sendTime: at(us: 3000), size: 300))
        #expect(s.sentPacket(1)?.size == 400)
        #expect(s.extendedSequenceNumber(65_534) == 65_534)
        #expect(s.sentPacket(2) == nil)  // not sent yet: it stands for 2 - 65536 + 65536·k ≤ latest
        #expect(s.sentPacket(65_533) == nil)  // before the first
    }

    @Test func historyForgetsOldPackets() {
        var s = TransportSequencer(capacity: 16, firstSequenceNumber: 0)
        #expect(s.capacity == 16)
        for i in 0..<40 { _ = s.next(size: i, now: at(us: Int64(i))) }
        #expect(s.sentPacket(23) == nil)
        #expect(s.sentPacket(24)?.size == 24)
        #expect(s.sentPacket(39)?.sendTime == at(us: 39))
        // Far more than 2^16 packets later, numbers still map to the latest lap.
        for i in 0..<70_000 { _ = s.next(size: 1, now: at(us: Int64(i))) }
        let latest = s.nextSequenceNumber &- 1
        #expect(s.sentPacket(latest)?.sequenceNumber == 70_039)
    }

    @Test func stampsTheHeaderExtensionInPlace() throws {
        var packet: [UInt8] = [
            0x90, 0x60, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0xDE, 0xAD, 0xBE, 0xEF,
            0xBE, 0xDE, 0x00, 0x01,  // one-byte extensions, 1 word
            0x31, 0x00, 0x00, 0x00,  // id 3 len 2 (transport-wide-cc), padding
            0x01, 0x02, 0x03,  // payload
        ]
        var s = TransportSequencer(firstSequenceNumber: 500)
        try packet.withUnsafeMutableBytes { raw in
            let header = try RTPHeader(parsing: UnsafeRawBufferPointer(raw))
            #expect(s.stamp(packet: raw, header: header, extensionID: 3, now: at(us: 7)) == 500)
            #expect(s.stamp(packet: raw, header: header, extensionID: 4, now: at(us: 8)) == nil)  // absent
            #expect(header.transportWideSequenceNumber(id: 3, in: UnsafeRawBufferPointer(raw)) == 500)
        }
        #expect(s.sentPacket(500) == .init(sequenceNumber: 500, sendTime: at(us: 7), size: packet.count))
        #expect(s.nextSequenceNumber == 501)
    }
}

@Suite struct BitrateWindowTests {
    @Test func measuresAConstantRate() {
        var w = BitrateWindow(window: .seconds(1), buckets: 20)
        #expect(w.bitrate(atMicroseconds: 0) == nil)
        // 1000 bytes every 8 ms = 1 Mbit/s.
        var t: Int64 = 0
        while t < 3_000_000 {
            w.add(bytes: 1000, atMicroseconds: t)
            t += 8000
        }
        let rate = w.bitrate(atMicroseconds: t) ?? 0
        #expect(abs(rate - 1_000_000) < 20_000)
        // Half a second later, half the window has emptied.
        let later = w.bitrate(atMicroseconds: t + 500_000) ?? 0
        #expect(abs(later - 500_000) < 60_000)
        #expect(w.bitrate(atMicroseconds: t + 1_100_000) == 0)
    }

    @Test func earlyRateUsesTheElapsedTime() {
        var w = BitrateWindow(window: .seconds(1), buckets: 20)
        for i in 0..<25 { w.add(bytes: 1000, at: at(us: Int64(i) * 8000)) }  // 200 ms at 1 Mbit/s
        let rate = w.bitrate(at: at(us: 200_000)) ?? 0
        #expect(abs(rate - 1_000_000) < 50_000)
    }
}

@Suite struct REMBGeneratorTests {
    /// Feeds `bitrate` in 1000-byte packets from `from` to `to`.
    private func feed(_ g: inout REMBGenerator, bitrate: Int, from: Int64, to: Int64, polled: inout [(Int64, UInt64)]) {
        let spacing = Int64(8000 * 1_000_000 / bitrate)
        var t = from
        while t < to {
            g.record(size: 1000, now: at(us: t))
            if let d = g.nextDeadline, d <= at(us: t), let v = g.poll(now: at(us: t)) { polled.append((t, v)) }
            t += spacing
        }
    }

    @Test func offersHeadroomEverySecondAndDropsAtOnce() {
        var g = REMBGenerator(configuration: .init(headroom: 1.5, minBitrate: 100_000, maxBitrate: 3_000_000))
        var polled: [(Int64, UInt64)] = []
        feed(&g, bitrate: 1_000_000, from: 0, to: 5_050_000, polled: &polled)
        #expect(polled.count == 5)  // at about 1, 2, 3, 4, 5 s
        for (t, v) in polled {
            #expect(abs(Double(v) - 1_500_000) < 60_000, "at \(t) µs: \(v)")
        }
        let beforeDrop = polled.count
        // The publisher halves its rate: a REMB goes out well before the next second.
        feed(&g, bitrate: 500_000, from: 5_050_000, to: 5_450_000, polled: &polled)
        // The first as soon as `minimumInterval` allows; further ones (the value keeps falling) at least 200 ms apart.
        let afterDrop = polled[beforeDrop...].map(\.0)
        #expect((1...2).contains(afterDrop.count))
        #expect(afterDrop.first.map { $0 <= 5_210_000 } == true)  // 200 ms after the one at 5 s
        #expect(Double(polled[beforeDrop].1) < 1_500_000 * 0.97)
        #expect(zip(afterDrop, afterDrop.dropFirst()).allSatisfy { $1 - $0 >= 200_000 })
        // Capped by the maximum.
        feed(&g, bitrate: 4_000_000, from: 5_450_000, to: 9_000_000, polled: &polled)
        #expect(polled.last?.1 == 3_000_000)
        let rembPacket = g.pollREMB(now: at(us: 20_000_000), senderSSRC: 9, ssrcs: [1, 2])
        #expect(rembPacket?.ssrcs == [1, 2])
        #expect(rembPacket?.bitrate == 100_000)  // nothing arrived for 11 s: the floor
        #expect(g.nextDeadline == nil)
    }

    @Test func withoutHeadroomOffersTheMaximum() {
        var g = REMBGenerator(configuration: .init(headroom: nil, maxBitrate: 2_500_000))
        var polled: [(Int64, UInt64)] = []
        feed(&g, bitrate: 300_000, from: 0, to: 2_100_000, polled: &polled)
        #expect(polled.map(\.1) == [2_500_000, 2_500_000])
        #expect(g.incomingBitrate(now: at(us: 2_100_000)).map { abs($0 - 300_000) < 20_000 } == true)
    }
}
