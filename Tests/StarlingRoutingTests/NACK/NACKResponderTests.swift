import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@Suite struct NACKResponderTests {
    private func filled(_ seqs: ClosedRange<UInt16>, now: Instant = at(ms: 0)) -> RetransmissionBuffer {
        let buffer = RetransmissionBuffer(slots: 64, slotSize: 1500)
        for seq in seqs {
            let p = rtpBytes(sequenceNumber: seq)
            p.withUnsafeBytes { _ = buffer.store(packet: $0, sequenceNumber: seq, now: now) }
        }
        return buffer
    }

    private func handle(_ responder: NACKResponder, _ seqs: [UInt16], now: Instant) throws -> [[UInt8]] {
        var sent: [[UInt8]] = []
        try nackFCI(seqs).withUnsafeBytes { fci in
            try responder.handleNACK(fci: fci, now: now) { sent.append(Array($0)) }
        }
        return sent
    }

    @Test func resendsOriginalsWithoutRTX() throws {
        let responder = NACKResponder(buffer: filled(10...20))
        let sent = try handle(responder, [12, 15, 16, 30], now: at(ms: 50))
        #expect(sent == [rtpBytes(sequenceNumber: 12), rtpBytes(sequenceNumber: 15), rtpBytes(sequenceNumber: 16)])
        #expect(responder.counters.requested == 4)
        #expect(responder.counters.resent == 3)
        #expect(responder.counters.missing == 1)
    }

    @Test func resendsOverRTXWhenNegotiated() throws {
        let responder = NACKResponder(
            buffer: filled(10...20), rtx: RTXEncoder(ssrc: 0x2222_2222, payloadType: 97, initialSequenceNumber: 1000))
        let sent = try handle(responder, [11, 13], now: at(ms: 50))
        #expect(sent.count == 2)
        let decoder = RTXDecoder(rtxSSRC: 0x2222_2222, originalSSRC: 0x1111_1111, associatedPayloadTypes: [97: 96])
        for (i, (rtx, seq)) in zip(sent, [UInt16(11), 13]).enumerated() {
            let h = try rtx.withUnsafeBytes { try RTPHeader(parsing: $0) }
            #expect(h.sequenceNumber == 1000 + UInt16(i))
            var bytes = rtx
            let n = try bytes.withUnsafeMutableBytes { try decoder.decode(inPlace: $0) }
            #expect(n.map { Array(bytes[0..<$0]) } == rtpBytes(sequenceNumber: seq))
        }
        #expect(responder.rtx?.sequenceNumber == 1002)
    }

    @Test func throttlesRepeatsWithinTheMinimumInterval() throws {
        let responder = NACKResponder(buffer: filled(10...20), minInterval: .milliseconds(50))
        #expect(try handle(responder, [12], now: at(ms: 100)).count == 1)
        #expect(try handle(responder, [12, 13], now: at(ms: 120)).count == 1)  // 12 throttled, 13 sent
        #expect(responder.counters.throttled == 1)
        #expect(try handle(responder, [12], now: at(ms: 149)).isEmpty)
        #expect(try handle(responder, [12], now: at(ms: 150)).count == 1)
        // A NACK naming one number twice sends it once.
        let twice: [UInt8] = [0, 14, 0, 0, 0, 14, 0, 0]
        var sent = 0
        try twice.withUnsafeBytes { fci in
            try responder.handleNACK(fci: fci, now: at(ms: 150)) { _ in sent += 1 }
        }
        #expect(sent == 1)
        #expect(responder.counters == {
            var c = NACKResponder.Counters()
            c.requested = 7
            c.resent = 4
            c.throttled = 3
            return c
        }())
    }

    @Test func tooOldPacketsAreMissing() throws {
        let responder = NACKResponder(buffer: filled(10...20, now: at(ms: 0)))
        #expect(try handle(responder, [12], now: at(ms: 1001)).isEmpty)
        #expect(responder.counters.missing == 1)
    }

    @Test func malformedFCIThrowsBeforeSending() {
        let responder = NACKResponder(buffer: filled(10...20))
        let fci: [UInt8] = [0, 12, 0, 0, 0, 13]
        var sent = 0
        #expect(throws: WireError.self) {
            try fci.withUnsafeBytes { try responder.handleNACK(fci: $0, now: at(ms: 1)) { _ in sent += 1 } }
        }
        #expect(sent == 0)
        #expect(responder.counters.requested == 0)
    }
}
