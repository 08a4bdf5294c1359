import StarlingTransport
import StarlingWire
import Testing

/// Garbage, truncated, duplicated and replayed datagrams are dropped and counted; the handshake and
/// the association go on (RFC 6347 §4.1.2.7).
@Suite struct DTLSRobustnessTests {
    /// A record header (RFC 6347 §4.1) followed by `body`.
    static func record(type: UInt8, version: UInt16 = 0xFEFD, epoch: UInt16, sequence: UInt64 = 0, body: [UInt8]) -> [UInt8] {
        var r: [UInt8] = [type, UInt8(version >> 8), UInt8(version & 0xFF), UInt8(epoch >> 8), UInt8(epoch & 0xFF)]
        for shift in stride(from: 40, through: 0, by: -8) { r.append(UInt8(truncatingIfNeeded: sequence >> UInt64(shift))) }
        r.append(UInt8(body.count >> 8))
        r.append(UInt8(body.count & 0xFF))
        return r + body
    }

    /// Datagrams the framing check rejects, each labelled with the counter it must land in.
    static func rejectedGarbage(_ rng: inout DTLSTestRandom) -> (truncated: [[UInt8]], malformed: [[UInt8]]) {
        var truncated: [[UInt8]] = []
        var malformed: [[UInt8]] = []
        // Shorter than a record header, first byte in the DTLS range (RFC 7983 §7).
        truncated.append([UInt8(rng.int(20...63))] + rng.bytes(rng.int(0...11)))
        // A header claiming more bytes than follow.
        truncated.append(Array(record(type: 22, epoch: 0, body: rng.bytes(100)).prefix(60)))
        // Content types the demux sends here but DTLS does not define.
        malformed.append(record(type: UInt8(rng.int(24...63)), epoch: 0, body: rng.bytes(rng.int(1...200))))
        // TLS rather than DTLS version; epochs WebRTC never reaches.
        malformed.append(record(type: 22, version: 0x0303, epoch: 0, body: rng.bytes(40)))
        malformed.append(record(type: 23, epoch: UInt16(rng.int(2...0xFFFF)), body: rng.bytes(40)))
        // Plaintext that cannot be: application data in epoch 0, bad CCS and alert bodies, a
        // handshake fragment running past its message, an unknown handshake type.
        malformed.append(record(type: 23, epoch: 0, body: rng.bytes(30)))
        malformed.append(record(type: 20, epoch: 0, body: [2]))
        malformed.append(record(type: 21, epoch: 0, body: [9, 40]))
        malformed.append(record(type: 22, epoch: 0, body: [1, 0, 0, 10, 0, 0, 0, 0, 8, 0, 0, 4] + rng.bytes(4)))
        malformed.append(record(type: 22, epoch: 0, body: [99, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4] + rng.bytes(4)))
        // A good record followed by a truncated one counts as truncated.
        truncated.append(record(type: 20, epoch: 0, body: [1]) + [22, 0xFE])
        // Random bytes in the DTLS range.
        for _ in 0..<20 {
            var junk = rng.bytes(rng.int(13...400))
            junk[0] = UInt8(rng.int(24...63))
            malformed.append(junk)
        }
        return (truncated, malformed)
    }

    /// Well-framed records of epoch 1 with random bodies: they reach OpenSSL, which must drop them
    /// when they fail authentication, before and after the handshake.
    static func protectedGarbage(_ rng: inout DTLSTestRandom) -> [[UInt8]] {
        (0..<6).map { i in
            record(type: [21, 22, 23][i % 3], epoch: 1, sequence: UInt64(rng.int(0...100)), body: rng.bytes(rng.int(1...300)))
        }
    }

    @Test func garbageIsDroppedAndCountedWhileHandshakeCompletes() throws {
        let pair = try DTLSPair()
        var rng = DTLSTestRandom(seed: 0x5EED)
        var expectedTruncated = [DTLSPair.Direction.toServer: 0, .toClient: 0]
        var expectedMalformed = [DTLSPair.Direction.toServer: 0, .toClient: 0]
        var expectedShort = [DTLSPair.Direction.toServer: 0, .toClient: 0]
        let client = pair.client
        let server = pair.server
        pair.deliver = { direction, _ in
            let target = direction == .toServer ? server : client
            let (truncated, malformed) = Self.rejectedGarbage(&rng)
            let protected = Self.protectedGarbage(&rng)
            for d in truncated + malformed + protected {
                d.withUnsafeBytes { target.handleDatagram($0, now: pair.now) }
            }
            expectedTruncated[direction, default: 0] += truncated.count
            expectedMalformed[direction, default: 0] += malformed.count
            // Shorter than AES-GCM's nonce and tag (the suite both ends prefer): dropped before OpenSSL.
            expectedShort[direction, default: 0] += protected.filter { $0.count - 13 < 24 }.count
            return true
        }
        pair.handshake()
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
        let c = try #require(pair.client.keys)
        let s = try #require(pair.server.keys)
        #expect(c.localKey == s.remoteKey && c.remoteKey == s.localKey)
        #expect(pair.server.counters.truncatedDatagrams == expectedTruncated[.toServer])
        #expect(pair.server.counters.malformedDatagrams == expectedMalformed[.toServer])
        #expect(pair.client.counters.truncatedDatagrams == expectedTruncated[.toClient])
        #expect(pair.client.counters.malformedDatagrams == expectedMalformed[.toClient])
        #expect(pair.server.counters.shortProtectedDatagrams == expectedShort[.toServer])
        #expect(pair.client.counters.shortProtectedDatagrams == expectedShort[.toClient])
        #expect(pair.clientEvents.compactMap(\.error).isEmpty)
        #expect(pair.serverEvents.compactMap(\.error).isEmpty)
    }

    /// A protected record of every length below AES-GCM's explicit nonce and tag (24 bytes), of every
    /// content type, sent to a connected server and client: OpenSSL 3.0 answers such a record with a
    /// fatal internal_error (openssl/openssl#25290), so the endpoint drops it first; both stay connected
    /// and exchange data.
    @Test func protectedRecordsTooShortToAuthenticateAreDropped() throws {
        let pair = try DTLSPair()
        pair.handshake()
        var sent = 0
        for type: UInt8 in [20, 21, 22, 23] {
            for length in 1..<24 {
                let forged = Self.record(type: type, epoch: 1, sequence: UInt64(100 + length), body: [UInt8](repeating: 0xAB, count: length))
                forged.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
                forged.withUnsafeBytes { pair.client.handleDatagram($0, now: pair.now) }
                sent += 1
            }
        }
        // A long one is OpenSSL's to drop (it fails authentication); it must not fail either.
        let long = Self.record(type: 23, epoch: 1, sequence: 999, body: [UInt8](repeating: 0xCD, count: 24))
        long.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        pair.exchange()
        #expect(pair.server.state == .connected)
        #expect(pair.client.state == .connected)
        #expect(pair.server.counters.shortProtectedDatagrams == sent)
        #expect(pair.client.counters.shortProtectedDatagrams == sent)
        #expect(pair.server.counters.discardedDatagrams == 1)
        try pair.client.send(applicationData: [7])
        pair.exchange()
        #expect(pair.serverEvents.compactMap(\.data) == [[7]])
        #expect(pair.clientEvents.compactMap(\.error).isEmpty)
        #expect(pair.serverEvents.compactMap(\.error).isEmpty)
    }

    /// Every prefix of a real ClientHello is dropped as truncated (or empty); the whole one works.
    @Test func truncatedClientHellosAreDropped() throws {
        let pair = try DTLSPair()
        pair.client.start(now: pair.now)
        let hello = try #require(pair.client.pollDatagram())
        for length in 0..<hello.count {
            Array(hello.prefix(length)).withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        }
        #expect(pair.server.counters.malformedDatagrams == 1)  // the empty one
        #expect(pair.server.counters.truncatedDatagrams == hello.count - 1)
        #expect(pair.server.pollDatagram() == nil)
        hello.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        pair.run(until: { pair.bothSettled })
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
    }

    /// Duplicated datagrams (the network may duplicate, RFC 6347 §4.1.2.6) do not disturb the handshake.
    @Test func duplicatedDatagramsAreHarmless() throws {
        let pair = try DTLSPair()
        let client = pair.client
        let server = pair.server
        pair.deliver = { direction, d in
            let target = direction == .toServer ? server : client
            d.withUnsafeBytes { target.handleDatagram($0, now: pair.now) }
            return true
        }
        pair.handshake()
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
        #expect(pair.clientEvents.compactMap(\.keys).count == 1)
        #expect(pair.serverEvents.compactMap(\.keys).count == 1)
    }

    /// After the handshake, forged and replayed records are dropped by OpenSSL and counted; the
    /// association and its data go on.
    @Test func forgedAndReplayedRecordsAfterHandshake() throws {
        let pair = try DTLSPair()
        pair.handshake()
        var rng = DTLSTestRandom(seed: 7)
        for d in Self.protectedGarbage(&rng) where d[0] == 23 {
            d.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        }
        #expect(pair.server.counters.discardedDatagrams == 2)
        try pair.client.send(applicationData: [1, 2, 3])
        let datagram = try #require(pair.client.pollDatagram())
        datagram.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        datagram.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }  // replayed
        var tampered = datagram
        tampered[tampered.count - 1] ^= 1
        tampered.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        pair.drainEvents()
        #expect(pair.serverEvents.compactMap(\.data) == [[1, 2, 3]])
        #expect(pair.server.counters.discardedDatagrams == 4)
        let (truncated, malformed) = Self.rejectedGarbage(&rng)
        for d in truncated + malformed { d.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) } }
        #expect(pair.server.state == .connected)
        try pair.server.send(applicationData: [4])
        pair.exchange()
        #expect(pair.clientEvents.compactMap(\.data) == [[4]])
        #expect(pair.serverEvents.compactMap(\.error).isEmpty)
    }

    /// Random datagrams in the DTLS range never fail an endpoint, whatever state it is in.
    @Test(arguments: [UInt64(1), 2, 3])
    func randomDatagramsNeverFail(seed: UInt64) throws {
        var rng = DTLSTestRandom(seed: seed)
        let pair = try DTLSPair()
        pair.server.start(now: pair.now)
        for _ in 0..<300 {
            var junk = rng.bytes(rng.int(1...1500))
            junk[0] = UInt8(rng.int(20...63))
            junk.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        }
        #expect(pair.server.state != .failed)
        #expect(pair.server.pollDatagram() == nil)
        pair.handshake()
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
    }
}

@Suite struct DTLSPlaintextTests {
    typealias R = DTLSRobustnessTests

    /// Each side only sends its own handshake messages: a ServerHello sent to a server or a
    /// ClientHello sent to a client is dropped before OpenSSL sees it.
    @Test func handshakeMessagesOfTheWrongRoleAreDropped() throws {
        let pair = try DTLSPair()
        pair.start()
        let serverHello = R.record(type: 22, epoch: 0, body: [2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4, 0xFE, 0xFD, 0, 0])
        let clientHello = R.record(type: 22, epoch: 0, body: [1, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4, 0xFE, 0xFD, 0, 0])
        serverHello.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        clientHello.withUnsafeBytes { pair.client.handleDatagram($0, now: pair.now) }
        #expect(pair.server.counters.malformedDatagrams == 1)
        #expect(pair.client.counters.malformedDatagrams == 1)
        pair.run(until: { pair.bothSettled })
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
    }

    /// A plaintext close_notify during the handshake ends it as `.closed`; a plaintext fatal alert
    /// fails it with the alert named. (Epoch 0 is unauthenticated in DTLS 1.2: an attacker able to
    /// send from the peer's address can do this to any DTLS 1.2 stack.)
    @Test(arguments: [false, true])
    func plaintextAlertsDuringHandshake(fatal: Bool) throws {
        let pair = try DTLSPair()
        pair.client.start(now: pair.now)
        let hello = try #require(pair.client.pollDatagram())
        hello.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        let alert = R.record(type: 21, epoch: 0, sequence: 1, body: fatal ? [2, 40] : [1, 0])
        alert.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        pair.drainEvents()
        if fatal {
            #expect(pair.server.state == .failed)
            let error = try #require(pair.serverEvents.compactMap(\.error).first)
            #expect(error.description.contains("alert handshake failure"))
        } else {
            #expect(pair.server.state == .closed)
            #expect(pair.serverEvents == [.closed])
        }
        #expect(pair.server.nextDeadline == nil)
        #expect(pair.server.keys == nil)
    }
}
