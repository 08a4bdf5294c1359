import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@Suite struct RetransmissionBufferTests {
    private func cached(_ buffer: RetransmissionBuffer, _ seq: UInt16, now: Instant) -> [UInt8]? {
        buffer.withPacket(sequenceNumber: seq, now: now) { Array($0) }
    }

    private func store(_ buffer: RetransmissionBuffer, _ bytes: [UInt8], _ seq: UInt16, now: Instant) -> Bool {
        bytes.withUnsafeBytes { buffer.store(packet: $0, sequenceNumber: seq, now: now) } != nil
    }

    @Test func returnsWhatWasStored() {
        let buffer = RetransmissionBuffer(slots: 8, slotSize: 1500)
        let p = rtpBytes(sequenceNumber: 7)
        #expect(store(buffer, p, 7, now: at(ms: 0)))
        #expect(cached(buffer, 7, now: at(ms: 10)) == p)
        #expect(cached(buffer, 8, now: at(ms: 10)) == nil)
        #expect(buffer.contains(sequenceNumber: 7, now: at(ms: 10)))
    }

    @Test func slotCountIsRoundedUpToAPowerOfTwo() {
        #expect(RetransmissionBuffer(slots: 500).slotCount == 512)
        #expect(RetransmissionBuffer(slots: 1).slotCount == 1)
        #expect(RetransmissionBuffer(slots: 512).slotCount == 512)
    }

    @Test func packetsExpireAfterMaxAge() {
        let buffer = RetransmissionBuffer(slots: 8, slotSize: 1500, maxAge: .milliseconds(1000))
        let p = rtpBytes(sequenceNumber: 1)
        _ = store(buffer, p, 1, now: at(ms: 100))
        #expect(cached(buffer, 1, now: at(ms: 1100)) == p)
        #expect(cached(buffer, 1, now: at(ms: 1101)) == nil)
        buffer.maxAge = .seconds(2)
        #expect(cached(buffer, 1, now: at(ms: 1101)) == p)
    }

    @Test func newerPacketsOverwriteOlderOnes() {
        let buffer = RetransmissionBuffer(slots: 4, slotSize: 1500)
        for seq: UInt16 in 0..<6 { _ = store(buffer, rtpBytes(sequenceNumber: seq), seq, now: at(ms: Int(seq))) }
        #expect(cached(buffer, 0, now: at(ms: 10)) == nil)  // slot 0 now holds 4
        #expect(cached(buffer, 1, now: at(ms: 10)) == nil)
        for seq: UInt16 in 2..<6 { #expect(cached(buffer, seq, now: at(ms: 10)) == rtpBytes(sequenceNumber: seq)) }
    }

    @Test func wrapsAt65535() {
        let buffer = RetransmissionBuffer(slots: 16, slotSize: 1500)
        let seqs: [UInt16] = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3]
        for (i, seq) in seqs.enumerated() { _ = store(buffer, rtpBytes(sequenceNumber: seq), seq, now: at(ms: i)) }
        for seq in seqs { #expect(cached(buffer, seq, now: at(ms: 20)) == rtpBytes(sequenceNumber: seq)) }
        // One full cycle later the same numbers hold the new packets, not the old ones.
        let late = rtpBytes(sequenceNumber: 65535, payloadLength: 10)
        _ = store(buffer, late, 65535, now: at(ms: 30))
        #expect(cached(buffer, 65535, now: at(ms: 30)) == late)
    }

    @Test func oversizedAndEmptyPacketsAreNotCachedAndEmptyTheirSlot() {
        let buffer = RetransmissionBuffer(slots: 4, slotSize: 200)
        _ = store(buffer, rtpBytes(sequenceNumber: 1), 1, now: at(ms: 0))
        let big = rtpBytes(sequenceNumber: 5, payloadLength: 300)
        #expect(!store(buffer, big, 5, now: at(ms: 1)))
        #expect(cached(buffer, 5, now: at(ms: 1)) == nil)
        #expect(cached(buffer, 1, now: at(ms: 1)) == nil)
        #expect(!store(buffer, [], 2, now: at(ms: 1)))
        let exact = [UInt8](repeating: 0x80, count: 200)
        #expect(store(buffer, exact, 3, now: at(ms: 1)))
        #expect(cached(buffer, 3, now: at(ms: 1)) == exact)
    }

    @Test func tracksRetransmissionTimePerPacket() {
        let buffer = RetransmissionBuffer(slots: 4, slotSize: 1500)
        _ = store(buffer, rtpBytes(sequenceNumber: 9), 9, now: at(ms: 0))
        #expect(buffer.lastRetransmission(sequenceNumber: 9, now: at(ms: 1)) == nil)
        buffer.markRetransmitted(sequenceNumber: 9, now: at(ms: 5))
        #expect(buffer.lastRetransmission(sequenceNumber: 9, now: at(ms: 6)) == at(ms: 5))
        _ = store(buffer, rtpBytes(sequenceNumber: 13), 13, now: at(ms: 7))  // same slot, new packet
        #expect(buffer.lastRetransmission(sequenceNumber: 13, now: at(ms: 8)) == nil)
        buffer.removeAll()
        #expect(!buffer.contains(sequenceNumber: 13, now: at(ms: 8)))
    }

    /// Memory follows use: no ring until a packet arrives; a packet re-stored under the same sequence
    /// number (a publisher repeating a number with other contents) gets a new generation.
    @Test func ringIsAllocatedByTheFirstPacketAndGenerationsTellCopiesApart() {
        let buffer = RetransmissionBuffer(slots: 512, slotSize: 1500)
        #expect(!buffer.isAllocated)
        #expect(!buffer.contains(sequenceNumber: 1, now: at(ms: 0)))
        buffer.removeAll()
        #expect(!buffer.isAllocated)
        let first = rtpBytes(sequenceNumber: 1).withUnsafeBytes { buffer.store(packet: $0, sequenceNumber: 1, now: at(ms: 0)) }
        #expect(buffer.isAllocated)
        let again = [UInt8](repeating: 0x90, count: 100).withUnsafeBytes { buffer.store(packet: $0, sequenceNumber: 1, now: at(ms: 1)) }
        #expect(first != nil && again != nil && first != again)
        let seen = buffer.withPacket(sequenceNumber: 1, now: at(ms: 2)) { bytes, generation in (bytes.count, generation) }
        #expect(seen?.0 == 100 && seen?.1 == again)
    }
}
