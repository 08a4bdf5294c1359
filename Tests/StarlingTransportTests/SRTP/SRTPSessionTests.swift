import StarlingTransport
import Testing

@Suite struct SRTPSessionTests {
    typealias T = SRTPTestSupport
    static let profiles = SRTPProtectionProfile.allCases

    /// An outbound session and the inbound session that reads what it writes.
    static func sessions(
        _ profile: SRTPProtectionProfile, options: SRTPSession.Options = .init(), seed: UInt64 = 1
    ) throws -> (out: SRTPSession, in: SRTPSession) {
        var random = T.Random(seed: seed)
        let key = random.bytes(profile.keyLength)
        let salt = random.bytes(profile.saltLength)
        return (
            try SRTPSession(profile: profile, masterKey: key, masterSalt: salt, direction: .outbound, options: options),
            try SRTPSession(profile: profile, masterKey: key, masterSalt: salt, direction: .inbound, options: options)
        )
    }

    @Test func profileParameters() {
        let cm = SRTPProtectionProfile.aes128CmHmacSha1_80
        #expect((cm.keyLength, cm.saltLength, cm.rtpTagLength, cm.rtcpTrailerLength) == (16, 14, 10, 14))
        #expect(cm.keyingMaterialLength == 60 && cm.name == "SRTP_AES128_CM_SHA1_80")
        let gcm = SRTPProtectionProfile.aeadAes128Gcm
        #expect((gcm.keyLength, gcm.saltLength, gcm.rtpTagLength, gcm.rtcpTrailerLength) == (16, 12, 16, 20))
        #expect(gcm.keyingMaterialLength == 56 && gcm.name == "SRTP_AEAD_AES_128_GCM")
        #expect(SRTPProtectionProfile(dtlsProfileID: 0x0001) == cm)
        #expect(SRTPProtectionProfile(dtlsProfileID: 0x0007) == gcm)
        #expect(SRTPProtectionProfile(dtlsProfileID: 0x0002) == nil)  // SHA1_32: not offered
    }

    /// Random packets with 0–15 CSRCs, with and without header extensions, 0–1200 payload bytes.
    @Test(arguments: profiles) func rtpRoundTrip(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        var random = T.Random(seed: 0x5EED)
        for i in 0..<300 {
            let csrcs = (0..<random.int(0...15)).map { _ in UInt32.random(in: 0...UInt32.max, using: &random) }
            let plain = T.rtpPacket(
                sequenceNumber: UInt16(1000 + i), ssrc: 0xA1B2_C3D4, timestamp: UInt32(i * 3000), csrcs: csrcs,
                extensionWords: random.int(0...2) == 0 ? nil : random.int(0...5),
                payload: random.bytes(random.int(0...1200)))
            var packet = plain
            try out.protectRTP(&packet)
            #expect(packet.count == plain.count + profile.rtpTagLength)
            let headerLength = T.rtpHeaderLength(plain)
            #expect(packet.prefix(headerLength) == plain.prefix(headerLength))  // the header stays in clear
            if plain.count - headerLength >= 8 {
                #expect(packet[headerLength..<plain.count] != plain[headerLength...])
            }
            try inb.unprotectRTP(&packet)
            #expect(packet == plain)
        }
        #expect(out.counters.rtpProtected == 300 && inb.counters.rtpUnprotected == 300)
        #expect(out.counters.protectFailures == 0 && inb.counters.authFailures == 0)
    }

    @Test(arguments: profiles) func rtcpRoundTrip(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        var random = T.Random(seed: 0xC0FFEE)
        for _ in 0..<200 {
            let plain = T.rtcpPacket(ssrc: 0x0BAD_CAFE, extra: random.bytes(4 * random.int(0...100)))
            var packet = plain
            try out.protectRTCP(&packet)
            #expect(packet.count == plain.count + profile.rtcpTrailerLength)
            #expect(packet.prefix(8) == plain.prefix(8))
            #expect(packet[8..<plain.count] != plain[8...])
            try inb.unprotectRTCP(&packet)
            #expect(packet == plain)
        }
        #expect(out.counters.rtcpProtected == 200 && inb.counters.rtcpUnprotected == 200)
    }

    /// A 1200-byte packet through the in-place API with exactly the capacity needed; the bytes
    /// beyond the capacity are never touched.
    @Test(arguments: profiles) func inPlace1200BytePacket(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        var random = T.Random(seed: 1200)
        let plain = T.rtpPacket(sequenceNumber: 1, ssrc: 99, payload: random.bytes(1200 - 12))
        let capacity = plain.count + profile.rtpTagLength
        let canary = [UInt8](repeating: 0xE7, count: 64)
        var storage = plain + [UInt8](repeating: 0, count: profile.rtpTagLength) + canary
        let protectedLength = try storage.withUnsafeMutableBytes { b throws(SRTPError) in
            try out.protectRTP(b.baseAddress!, length: plain.count, capacity: capacity)
        }
        #expect(protectedLength == 1200 + profile.rtpTagLength)
        #expect(Array(storage[capacity...]) == canary)
        let length = try storage.withUnsafeMutableBytes { b throws(SRTPError) in
            try inb.unprotectRTP(b.baseAddress!, length: protectedLength)
        }
        #expect(length == 1200 && Array(storage.prefix(1200)) == plain)
        #expect(Array(storage[capacity...]) == canary)

        // The same with RTCP and the buffer-pointer form.
        let rtcp = T.rtcpPacket(ssrc: 99, extra: random.bytes(1200 - 28 - 12))
        var rtcpStorage = rtcp + [UInt8](repeating: 0, count: profile.rtcpTrailerLength) + canary
        let rtcpCapacity = rtcp.count + profile.rtcpTrailerLength
        let rtcpLength = try rtcpStorage.withUnsafeMutableBytes { b throws(SRTPError) in
            try out.protectRTCP(UnsafeMutableRawBufferPointer(rebasing: b[..<rtcpCapacity]), length: rtcp.count)
        }
        #expect(rtcpLength == rtcpCapacity && Array(rtcpStorage[rtcpCapacity...]) == canary)
        let rtcpPlainLength = try rtcpStorage.withUnsafeMutableBytes { b throws(SRTPError) in
            try inb.unprotectRTCP(b, length: rtcpLength)
        }
        #expect(rtcpPlainLength == rtcp.count && Array(rtcpStorage.prefix(rtcp.count)) == rtcp)
    }

    @Test(arguments: profiles) func capacityTooSmallIsRefused(profile: SRTPProtectionProfile) throws {
        let (out, _) = try Self.sessions(profile)
        let plain = T.rtpPacket(sequenceNumber: 1, ssrc: 1, payload: Array(repeating: 1, count: 100))
        var storage = plain + [UInt8](repeating: 0, count: 32)
        #expect(throws: SRTPError.bufferTooSmall(required: 112 + profile.rtpTagLength, capacity: 111 + profile.rtpTagLength)) {
            try storage.withUnsafeMutableBytes { b throws(SRTPError) in
                try out.protectRTP(b.baseAddress!, length: plain.count, capacity: plain.count + profile.rtpTagLength - 1)
            }
        }
        #expect(storage.prefix(plain.count) == plain[...])  // untouched
        let rtcp = T.rtcpPacket(ssrc: 1)
        var rtcpStorage = rtcp + [UInt8](repeating: 0, count: 32)
        #expect(throws: SRTPError.self) {
            try rtcpStorage.withUnsafeMutableBytes { b throws(SRTPError) in
                try out.protectRTCP(b.baseAddress!, length: rtcp.count, capacity: rtcp.count + profile.rtcpTrailerLength - 1)
            }
        }
        #expect(out.counters.protectFailures == 2 && out.counters.rtpProtected == 0)
    }

    /// A modified packet fails authentication, is counted, and does not disturb the stream: the
    /// genuine packet with the same index still decrypts, and so do later ones.
    @Test(arguments: profiles) func tamperedPacketsAreCountedAndDropped(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        let plain = T.rtpPacket(sequenceNumber: 500, ssrc: 0x1111, csrcs: [7], payload: Array(repeating: 0x42, count: 160))
        var genuine = plain
        try out.protectRTP(&genuine)
        // Flip one bit in the header (SSRC kept, so the same stream), payload, and tag.
        for position in [1, 5, 20, 100, genuine.count - 1] {
            var forged = genuine
            forged[position] ^= 0x04
            #expect(throws: SRTPError.authenticationFailed) { try inb.unprotectRTP(&forged) }
        }
        #expect(inb.counters.authFailures == 5)
        var copy = genuine
        try inb.unprotectRTP(&copy)
        #expect(copy == plain)
        var next = T.rtpPacket(sequenceNumber: 501, ssrc: 0x1111, payload: [1, 2, 3])
        try out.protectRTP(&next)
        try inb.unprotectRTP(&next)

        var rtcp = T.rtcpPacket(ssrc: 0x1111, extra: Array(repeating: 9, count: 16))
        try out.protectRTCP(&rtcp)
        for position in [0, 9, rtcp.count - profile.rtcpTrailerLength, rtcp.count - 1] {
            var forged = rtcp
            forged[position] ^= 0x01
            #expect(throws: SRTPError.self) { try inb.unprotectRTCP(&forged) }
        }
        // Depending on where the bit is, libsrtp reports an auth failure or (a flipped E bit / index)
        // another error; every one is counted once.
        #expect(inb.counters.authFailures + inb.counters.otherUnprotectFailures + inb.counters.replayDrops == 9)
        try inb.unprotectRTCP(&rtcp)
        #expect(inb.counters.rtpUnprotected == 2 && inb.counters.rtcpUnprotected == 1)
    }

    /// A packet from a different key fails authentication (a key mix-up is not a crash).
    @Test(arguments: profiles) func wrongKeyFailsAuthentication(profile: SRTPProtectionProfile) throws {
        let (out, _) = try Self.sessions(profile, seed: 1)
        let (_, other) = try Self.sessions(profile, seed: 2)
        var packet = T.rtpPacket(sequenceNumber: 1, ssrc: 5, payload: Array(repeating: 3, count: 50))
        try out.protectRTP(&packet)
        #expect(throws: SRTPError.authenticationFailed) { try other.unprotectRTP(&packet) }
        var rtcp = T.rtcpPacket(ssrc: 5)
        try out.protectRTCP(&rtcp)
        #expect(throws: SRTPError.authenticationFailed) { try other.unprotectRTCP(&rtcp) }
        #expect(other.counters.authFailures == 2)
    }

    @Test(arguments: profiles) func replaysAreDroppedAndCounted(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        var packets: [[UInt8]] = []
        for seq in UInt16(10)...UInt16(1100) {
            var p = T.rtpPacket(sequenceNumber: seq, ssrc: 0x2222, payload: [UInt8(truncatingIfNeeded: seq)])
            try out.protectRTP(&p)
            packets.append(p)
        }
        // Deliver all but the first (seq 10), then replay one seen packet and send the held one.
        for p in packets.dropFirst() {
            var copy = p
            try inb.unprotectRTP(&copy)
        }
        var replay = packets[500]
        #expect(throws: SRTPError.replayed) { try inb.unprotectRTP(&replay) }
        var late = packets[0]  // 1090 behind the newest: outside the 1024-packet window
        #expect(throws: SRTPError.replayTooOld) { try inb.unprotectRTP(&late) }
        var withinWindow = packets[1090 - 1000]  // already received: a replay, not too old
        #expect(throws: SRTPError.replayed) { try inb.unprotectRTP(&withinWindow) }
        #expect(inb.counters.replayDrops == 3 && inb.counters.authFailures == 0)

        var rtcp = T.rtcpPacket(ssrc: 0x2222)
        try out.protectRTCP(&rtcp)
        var first = rtcp
        try inb.unprotectRTCP(&first)
        #expect(throws: SRTPError.replayed) { try inb.unprotectRTCP(&rtcp) }
        #expect(inb.counters.replayDrops == 4)
    }

    /// Reordering inside the window is fine; with a window of 64 a packet 100 behind is too old.
    @Test func replayWindowIsConfigurable() throws {
        let (out, inb) = try Self.sessions(.aeadAes128Gcm, options: .init(replayWindowSize: 64))
        var packets: [[UInt8]] = []
        for seq in UInt16(0)..<200 {
            var p = T.rtpPacket(sequenceNumber: seq, ssrc: 3, payload: [1])
            try out.protectRTP(&p)
            packets.append(p)
        }
        for i in 101..<200 where i != 150 { var p = packets[i]; try inb.unprotectRTP(&p) }
        var reordered = packets[150]  // 49 behind the newest, not seen yet: inside the window
        try inb.unprotectRTP(&reordered)
        var again = packets[136]  // delivered above: a replay
        #expect(throws: SRTPError.replayed) { try inb.unprotectRTP(&again) }
        var old = packets[100]  // 99 behind, window 64
        #expect(throws: SRTPError.replayTooOld) { try inb.unprotectRTP(&old) }
        #expect(throws: SRTPError.invalidReplayWindow(32)) {
            _ = try SRTPSession(
                profile: .aeadAes128Gcm, masterKey: Array(repeating: 0, count: 16), masterSalt: Array(repeating: 0, count: 12),
                direction: .inbound, options: .init(replayWindowSize: 32))
        }
    }

    /// The sequence number wraps from 65535 to 0: libsrtp increments the rollover counter on both
    /// sides (RFC 3711 §3.3.1) and every packet decrypts, also when the wrap arrives reordered.
    @Test(arguments: profiles) func sequenceNumberWrap(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        var seq: UInt16 = 65000
        var protected: [[UInt8]] = []
        var plains: [[UInt8]] = []
        for i in 0..<2000 {
            let plain = T.rtpPacket(sequenceNumber: seq, ssrc: 0x3333, payload: [UInt8(truncatingIfNeeded: i), 0xAA, 0xBB])
            var p = plain
            try out.protectRTP(&p)
            protected.append(p)
            plains.append(plain)
            seq &+= 1
        }
        #expect(out.rolloverCounter(ssrc: 0x3333) == 1)
        // Swap a few packets around the wrap (65534, 65535, 0, 1 arrive as 0, 65535, 1, 65534).
        let wrap = 536  // index of seq 0
        var order = Array(0..<2000)
        order.swapAt(wrap - 2, wrap + 1)
        order.swapAt(wrap - 1, wrap)
        for i in order {
            var p = protected[i]
            try inb.unprotectRTP(&p)
            #expect(p == plains[i], "packet \(i)")
        }
        #expect(inb.rolloverCounter(ssrc: 0x3333) == 1)
        #expect(inb.counters.rtpUnprotected == 2000)
    }

    /// One session carries many SSRCs (an SFU sends every consumer's stream over one transport).
    @Test(arguments: profiles) func manySSRCsThroughOneSession(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        var random = T.Random(seed: 77)
        let ssrcs = (0..<200).map { UInt32(0x1000_0000 + $0 * 7919) }
        for round in 0..<10 {
            for ssrc in ssrcs.shuffled(using: &random) {
                let plain = T.rtpPacket(
                    sequenceNumber: UInt16(truncatingIfNeeded: Int(ssrc) &+ round), ssrc: ssrc,
                    payload: random.bytes(random.int(1...200)))
                var p = plain
                try out.protectRTP(&p)
                try inb.unprotectRTP(&p)
                #expect(p == plain)
                var rtcp = T.rtcpPacket(ssrc: ssrc)
                let rtcpPlain = rtcp
                try out.protectRTCP(&rtcp)
                try inb.unprotectRTCP(&rtcp)
                #expect(rtcp == rtcpPlain)
            }
        }
        #expect(inb.counters.rtpUnprotected == 2000 && inb.counters.rtcpUnprotected == 2000)
        #expect(inb.rolloverCounter(ssrc: ssrcs[0]) == 0)
        #expect(inb.rolloverCounter(ssrc: 0x0BAD_F00D) == nil)
        // Removing a stream forgets its state: a replayed packet of that SSRC is accepted again as
        // the first of a new stream, which is why streams are removed only when the SSRC is gone.
        #expect(inb.removeStream(ssrc: ssrcs[0]))
        #expect(!inb.removeStream(ssrc: ssrcs[0]))
        #expect(inb.rolloverCounter(ssrc: ssrcs[0]) == nil)
    }

    /// `allowRepeatTransmission` lets an SFU answer a NACK by protecting the same packet again;
    /// identical plaintext gives identical ciphertext. Without it the second protect is a replay.
    @Test(arguments: profiles) func repeatedTransmission(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        let plain = T.rtpPacket(sequenceNumber: 9, ssrc: 0x4444, payload: Array(repeating: 5, count: 100))
        var first = plain, second = plain
        try out.protectRTP(&first)
        var later = T.rtpPacket(sequenceNumber: 10, ssrc: 0x4444, payload: [1])
        try out.protectRTP(&later)
        try out.protectRTP(&second)
        #expect(first == second)
        try inb.unprotectRTP(&later)
        try inb.unprotectRTP(&second)  // the receiver missed the first copy
        #expect(second == plain)

        let (strict, _) = try Self.sessions(profile, options: .init(allowRepeatTransmission: false))
        var a = plain, b = plain
        try strict.protectRTP(&a)
        #expect(throws: SRTPError.replayed) { try strict.protectRTP(&b) }
        #expect(strict.counters.protectFailures == 1)
    }

    /// The outbound window bounds how old a retransmitted index may be.
    @Test func outboundIndexOlderThanWindowIsRefused() throws {
        let (out, _) = try Self.sessions(.aes128CmHmacSha1_80)
        var newest = T.rtpPacket(sequenceNumber: 3000, ssrc: 1, payload: [0])
        try out.protectRTP(&newest)
        var old = T.rtpPacket(sequenceNumber: 3000 - 1100, ssrc: 1, payload: [0])
        #expect(throws: SRTPError.replayTooOld) { try out.protectRTP(&old) }
        var recent = T.rtpPacket(sequenceNumber: 3000 - 1000, ssrc: 1, payload: [0])
        try out.protectRTP(&recent)  // never sent before, inside the window: allowed
    }

    @Test func directionIsEnforced() throws {
        let (out, inb) = try Self.sessions(.aeadAes128Gcm)
        var packet = T.rtpPacket(sequenceNumber: 1, ssrc: 1, payload: [1, 2, 3])
        #expect(throws: SRTPError.wrongDirection) { try inb.protectRTP(&packet) }
        #expect(throws: SRTPError.wrongDirection) { try inb.protectRTCP(&packet) }
        try out.protectRTP(&packet)
        #expect(throws: SRTPError.wrongDirection) { try out.unprotectRTP(&packet) }
        #expect(inb.counters.protectFailures == 2 && out.counters.otherUnprotectFailures == 1)
    }

    @Test func invalidKeyMaterialIsRejected() {
        for profile in Self.profiles {
            #expect(throws: SRTPError.invalidKeyLength(expected: 16, actual: 32)) {
                _ = try SRTPSession(
                    profile: profile, masterKey: Array(repeating: 1, count: 32),
                    masterSalt: Array(repeating: 1, count: profile.saltLength), direction: .outbound)
            }
            #expect(throws: SRTPError.invalidSaltLength(expected: profile.saltLength, actual: 13)) {
                _ = try SRTPSession(
                    profile: profile, masterKey: Array(repeating: 1, count: 16), masterSalt: Array(repeating: 1, count: 13),
                    direction: .outbound)
            }
        }
    }

    /// `pair` builds both directions from DTLS's keys; two peers with mirrored keys talk.
    @Test(arguments: profiles) func pairsInteroperate(profile: SRTPProtectionProfile) throws {
        var random = T.Random(seed: 5764)
        let clientKey = random.bytes(16), clientSalt = random.bytes(profile.saltLength)
        let serverKey = random.bytes(16), serverSalt = random.bytes(profile.saltLength)
        let client = try SRTPSession.pair(
            profile: profile, localKey: clientKey, localSalt: clientSalt, remoteKey: serverKey, remoteSalt: serverSalt)
        let server = try SRTPSession.pair(
            profile: profile, localKey: serverKey, localSalt: serverSalt, remoteKey: clientKey, remoteSalt: clientSalt)
        let plain = T.rtpPacket(sequenceNumber: 1, ssrc: 1, payload: [1, 2, 3])
        var a = plain, b = plain
        try client.outbound.protectRTP(&a)
        try server.inbound.unprotectRTP(&a)
        try server.outbound.protectRTP(&b)
        try client.inbound.unprotectRTP(&b)
        #expect(a == plain && b == plain)
        #expect(client.outbound.direction == .outbound && client.inbound.direction == .inbound)
    }

    /// Untrusted input never traps: every truncation of a valid packet, random mutations and
    /// random bytes are rejected with a typed error, each counted exactly once.
    @Test(arguments: profiles) func untrustedInputNeverTraps(profile: SRTPProtectionProfile) throws {
        let (out, inb) = try Self.sessions(profile)
        var random = T.Random(seed: 0xF022)
        var rtp = T.rtpPacket(sequenceNumber: 77, ssrc: 0x5555, csrcs: [1, 2], extensionWords: 3, payload: random.bytes(100))
        try out.protectRTP(&rtp)
        var rtcp = T.rtcpPacket(ssrc: 0x5555, extra: random.bytes(40))
        try out.protectRTCP(&rtcp)
        var attempts = 0
        var accepted = 0
        func tryRTP(_ bytes: [UInt8]) {
            var p = bytes
            attempts += 1
            if (try? inb.unprotectRTP(&p)) != nil { accepted += 1 }
        }
        func tryRTCP(_ bytes: [UInt8]) {
            var p = bytes
            attempts += 1
            if (try? inb.unprotectRTCP(&p)) != nil { accepted += 1 }
        }
        for n in 0..<rtp.count { tryRTP(Array(rtp.prefix(n))) }
        for n in 0..<rtcp.count { tryRTCP(Array(rtcp.prefix(n))) }
        for _ in 0..<2000 {
            tryRTP(mutate(rtp, &random))
            tryRTCP(mutate(rtcp, &random))
            tryRTP(random.bytes(random.int(0...300)))
            tryRTCP(random.bytes(random.int(0...300)))
            // Plausible headers (version 2) with garbage after them reach libsrtp's own checks.
            tryRTP([0x80 | UInt8(random.int(0...31))] + random.bytes(random.int(0...80)))
            tryRTCP([0x80, 200] + random.bytes(random.int(0...80)))
        }
        #expect(accepted == 0)
        let c = inb.counters
        #expect(c.authFailures + c.replayDrops + c.otherUnprotectFailures == attempts)
        // The genuine packets still go through afterwards.
        try inb.unprotectRTP(&rtp)
        try inb.unprotectRTCP(&rtcp)
    }

    /// Changes 1–4 distinct bytes (each to a different value).
    func mutate(_ packet: [UInt8], _ random: inout T.Random) -> [UInt8] {
        var m = packet
        var positions = Set<Int>()
        for _ in 0..<random.int(1...4) { positions.insert(random.int(0...(m.count - 1))) }
        for i in positions { m[i] ^= UInt8(random.int(1...255)) }
        return m
    }

    @Test func emptyArraysAreRejected() throws {
        let (out, inb) = try Self.sessions(.aes128CmHmacSha1_80)
        var empty: [UInt8] = []
        #expect(throws: SRTPError.packetTooShort(length: 0, minimum: 22)) { try inb.unprotectRTP(&empty) }
        #expect(throws: SRTPError.packetTooShort(length: 0, minimum: 12)) { try out.protectRTP(&empty) }
        #expect(empty.isEmpty)
        var notV2: [UInt8] = [0x40] + Array(repeating: 0, count: 40)
        #expect(throws: SRTPError.invalidVersion(1)) { try inb.unprotectRTP(&notV2) }
        #expect(notV2.count == 41)
    }
}
