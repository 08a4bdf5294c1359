import StarlingTransport
import StarlingWire
import Testing

@Suite struct DTLSEndpointTests {
    /// Both ends derive mirrored keys (RFC 5764 §4.2): our local is their remote.
    func expectMirrored(_ pair: DTLSPair, profile: SRTPProtectionProfile) throws {
        let c = try #require(pair.clientEvents.compactMap(\.keys).first)
        let s = try #require(pair.serverEvents.compactMap(\.keys).first)
        #expect(c.profile == profile)
        #expect(s.profile == profile)
        #expect(c.localKey == s.remoteKey)
        #expect(c.localSalt == s.remoteSalt)
        #expect(c.remoteKey == s.localKey)
        #expect(c.remoteSalt == s.localSalt)
        #expect(c.localKey != c.remoteKey)
        #expect(c.localKey.count == profile.keyLength)
        #expect(c.localSalt.count == profile.saltLength)
        #expect(c.remoteSalt.count == profile.saltLength)
        #expect(pair.client.keys == c)
        #expect(pair.server.keys == s)
    }

    @Test func handshakeNegotiatesGCMAndMirroredKeys() throws {
        let pair = try DTLSPair()
        pair.handshake()
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
        try expectMirrored(pair, profile: .aeadAes128Gcm)
        // ClientHello; server flight; client flight; server CCS + Finished.
        #expect(pair.rounds <= 3)
        #expect(pair.realWaits == 0)
        #expect(pair.client.remoteCertificateFingerprint == DTLSTestCertificates.server.fingerprint)
        #expect(pair.server.remoteCertificateFingerprint == DTLSTestCertificates.client.fingerprint)
        #expect(pair.sent.allSatisfy { $0.1.count <= 1200 })
        #expect(pair.client.counters.retransmissions == 0)
        #expect(pair.clientEvents.count == 1)
        #expect(pair.serverEvents.count == 1)
        #expect(pair.client.nextDeadline == nil)
    }

    @Test(arguments: [
        ([SRTPProtectionProfile.aeadAes128Gcm, .aes128CmHmacSha1_80], [SRTPProtectionProfile.aes128CmHmacSha1_80]),
        ([.aes128CmHmacSha1_80], [.aeadAes128Gcm, .aes128CmHmacSha1_80]),
        ([.aes128CmHmacSha1_80, .aeadAes128Gcm], [.aes128CmHmacSha1_80]),
    ])
    func handshakeFallsBackToCounterMode(client: [SRTPProtectionProfile], server: [SRTPProtectionProfile]) throws {
        let pair = try DTLSPair(clientProfiles: client, serverProfiles: server)
        pair.handshake()
        try expectMirrored(pair, profile: .aes128CmHmacSha1_80)
    }

    /// No common profile: the handshake completes without use_srtp, which must fail (RFC 5764 §4.1.1).
    @Test func noCommonProfileFails() throws {
        let pair = try DTLSPair(clientProfiles: [.aeadAes128Gcm], serverProfiles: [.aes128CmHmacSha1_80])
        pair.handshake()
        #expect(pair.clientEvents.compactMap(\.keys).isEmpty)
        #expect(pair.serverEvents.compactMap(\.keys).isEmpty)
        #expect(pair.clientEvents.compactMap(\.error).contains(.noSRTPProfileNegotiated))
        #expect(pair.server.state == .failed || pair.server.state == .closed)
    }

    /// The first transmission of every flight is lost; the timers of both sides recover it,
    /// including the server's last flight, which only a retransmitted client flight brings back.
    @Test func handshakeSurvivesLostFirstFlights() throws {
        let pair = try DTLSPair(initialTimeout: .milliseconds(20))
        var seen: Set<[UInt8]> = []
        pair.deliver = { direction, datagram in
            // A flight is known by its direction and first record's type, epoch and handshake type.
            let key = [direction == .toServer ? 0 : 1, datagram[0], datagram[3], datagram[4], datagram.count > 13 ? datagram[13] : 0]
            return !seen.insert(key).inserted
        }
        let start = pair.now
        pair.start()
        #expect(pair.client.nextDeadline != nil)
        pair.run(until: { pair.bothSettled && pair.client.state == .connected })
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
        try expectMirrored(pair, profile: .aeadAes128Gcm)
        #expect(pair.client.counters.retransmissions >= 2)
        #expect(pair.server.counters.retransmissions >= 1)
        #expect(seen.count >= 4)
        // Time only moved by the deadlines the endpoints asked for.
        #expect(pair.now > start)
    }

    /// The deadline is the injected clock plus OpenSSL's timer, and an early timeout is a no-op.
    @Test func deadlineFollowsInjectedClock() throws {
        let pair = try DTLSPair()
        let now = Instant(nanoseconds: 5_000_000_000)
        pair.client.start(now: now)
        let deadline = try #require(pair.client.nextDeadline)
        #expect(deadline > now + .milliseconds(900))
        #expect(deadline <= now + .seconds(1))
        let hello = try #require(pair.client.pollDatagram())
        #expect(hello[0] == 22)
        pair.client.handleTimeout(now: now + .milliseconds(500))
        #expect(pair.client.pollDatagram() == nil)
        #expect(pair.client.counters.retransmissions == 0)
        // The server has no timer before the ClientHello.
        #expect(pair.server.nextDeadline == nil)
    }

    @Test func fingerprintMismatchFailsServerWithClearError() throws {
        let wrong = DTLSTestCertificates.other.fingerprint
        let pair = try DTLSPair(serverExpects: [wrong])
        pair.handshake()
        #expect(pair.server.state == .failed)
        #expect(pair.serverEvents.compactMap(\.keys).isEmpty)
        #expect(pair.clientEvents.compactMap(\.keys).isEmpty)
        let error = try #require(pair.serverEvents.compactMap(\.error).first)
        #expect(error == .fingerprintMismatch(expected: [wrong], actual: [DTLSTestCertificates.client.fingerprint]))
        #expect(error.description.contains(wrong.hexValue))
        #expect(error.description.contains(DTLSTestCertificates.client.fingerprint.hexValue))
        #expect(error.description.contains("mismatch"))
        // The client learns through the bad_certificate alert.
        #expect(pair.client.state == .failed)
        let clientError = try #require(pair.clientEvents.compactMap(\.error).first)
        #expect(clientError.description.lowercased().contains("bad certificate"))
        #expect(pair.server.keys == nil)
        #expect(pair.client.keys == nil)
    }

    @Test func fingerprintMismatchFailsClient() throws {
        let wrong = DTLSTestCertificates.other.fingerprint
        let pair = try DTLSPair(clientExpects: [wrong])
        pair.handshake()
        #expect(pair.client.state == .failed)
        #expect(pair.clientEvents.compactMap(\.keys).isEmpty)
        #expect(pair.serverEvents.compactMap(\.keys).isEmpty)
        let error = try #require(pair.clientEvents.compactMap(\.error).first)
        #expect(error == .fingerprintMismatch(expected: [wrong], actual: [DTLSTestCertificates.server.fingerprint]))
    }

    /// RFC 8122 §5: several fingerprints may be signalled; one match is enough, whatever the case
    /// of the hash function's name. Unsupported ones are ignored.
    @Test func anyMatchingFingerprintIsEnough() throws {
        let server = DTLSTestCertificates.server
        let sha512 = try #require(server.fingerprint(hashFunction: "sha-512"))
        let wrong256 = DTLSTestCertificates.other.fingerprint
        let expects = [
            SDP.Fingerprint(hashFunction: "md5", bytes: [1, 2, 3]), wrong256,
            SDP.Fingerprint(hashFunction: "SHA-512", bytes: sha512.bytes),
        ]
        let pair = try DTLSPair(clientExpects: expects)
        pair.handshake()
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
    }

    @Test func mismatchReportsEverySignalledAlgorithm() throws {
        let other = DTLSTestCertificates.other
        let expects = [other.fingerprint, try #require(other.fingerprint(hashFunction: "sha-1"))]
        let pair = try DTLSPair(clientExpects: expects)
        pair.handshake()
        let error = try #require(pair.clientEvents.compactMap(\.error).first)
        let server = DTLSTestCertificates.server
        #expect(error == .fingerprintMismatch(expected: expects, actual: [server.fingerprint, try #require(server.fingerprint(hashFunction: "sha-1"))]))
    }

    @Test func applicationDataBothWays() throws {
        let pair = try DTLSPair()
        pair.handshake()
        try pair.client.send(applicationData: Array("hello from the client".utf8))
        pair.exchange()
        #expect(pair.serverEvents.compactMap(\.data) == [Array("hello from the client".utf8)])
        let big = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
        try pair.server.send(applicationData: big)
        try pair.server.send(applicationData: [1])
        pair.exchange()
        #expect(pair.clientEvents.compactMap(\.data) == [big, [1]])
        #expect(pair.client.counters.applicationDataReceived == 2)
        #expect(pair.server.counters.applicationDataSent == 2)
        // Empty messages send nothing.
        try pair.client.send(applicationData: [])
        #expect(pair.client.pollDatagram() == nil)
    }

    /// One message is one record in one datagram of at most the MTU.
    @Test func applicationDataLimitKeepsDatagramsWithinMTU() throws {
        let pair = try DTLSPair()
        #expect(pair.client.maximumApplicationDataSize == 0)
        #expect(throws: DTLSError.notConnected) { try pair.client.send(applicationData: [1]) }
        pair.handshake()
        let limit = pair.client.maximumApplicationDataSize
        #expect(limit > 1100 && limit < 1200)
        try pair.client.send(applicationData: [UInt8](repeating: 7, count: limit))
        let datagram = try #require(pair.client.pollDatagram())
        #expect(datagram.count <= 1200)
        #expect(throws: DTLSError.applicationDataTooLarge(size: limit + 1, limit: limit)) {
            try pair.client.send(applicationData: [UInt8](repeating: 7, count: limit + 1))
        }
        datagram.withUnsafeBytes { pair.server.handleDatagram($0, now: pair.now) }
        pair.drainEvents()
        #expect(pair.serverEvents.compactMap(\.data).first?.count == limit)
    }

    /// A small MTU makes OpenSSL fragment the handshake messages; every datagram stays within it.
    @Test func smallMTUFragmentsHandshake() throws {
        let pair = try DTLSPair(mtu: 300)
        pair.handshake()
        #expect(pair.client.state == .connected)
        #expect(pair.server.state == .connected)
        #expect(pair.sent.allSatisfy { $0.1.count <= 300 })
        #expect(pair.sent.filter { $0.0 == .toClient }.count >= 3)
        try expectMirrored(pair, profile: .aeadAes128Gcm)
    }

    @Test func closeNotifyEndsTheAssociation() throws {
        let pair = try DTLSPair()
        pair.handshake()
        pair.client.close(now: pair.now)
        #expect(pair.client.state == .closed)
        #expect(pair.client.nextDeadline == nil)
        pair.exchange()
        #expect(pair.server.state == .closed)
        #expect(pair.serverEvents.last == .closed)
        // The server answered with its own close_notify, which the closed client ignores.
        #expect(pair.client.counters.ignoredDatagrams == 1)
        #expect(!pair.clientEvents.contains(.closed))
        #expect(throws: DTLSError.notConnected) { try pair.server.send(applicationData: [1]) }
        #expect(throws: DTLSError.notConnected) { try pair.client.send(applicationData: [1]) }
        // Closing twice does nothing.
        pair.client.close(now: pair.now)
        #expect(pair.client.pollDatagram() == nil)
    }

    @Test func closeDuringHandshakeStops() throws {
        let pair = try DTLSPair()
        pair.start()
        pair.client.close(now: pair.now)
        #expect(pair.client.state == .closed)
        #expect(pair.client.nextDeadline == nil)
        pair.exchange()
        #expect(pair.client.keys == nil)
    }

    @Test func clientIgnoresDatagramsBeforeStart() throws {
        let pair = try DTLSPair()
        pair.server.start(now: pair.now)
        let stray: [UInt8] = [22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1]
        stray.withUnsafeBytes { pair.client.handleDatagram($0, now: pair.now) }
        #expect(pair.client.counters.ignoredDatagrams == 1)
        #expect(pair.client.state == .new)
        #expect(pair.client.pollDatagram() == nil)
    }

    @Test func configurationIsValidated() throws {
        let cert = DTLSTestCertificates.server
        let fp = [DTLSTestCertificates.client.fingerprint]
        #expect(throws: DTLSError.self) {
            try DTLSEndpoint(configuration: .init(certificate: cert, role: .server, remoteFingerprints: fp, mtu: 100))
        }
        #expect(throws: DTLSError.self) {
            try DTLSEndpoint(configuration: .init(certificate: cert, role: .server, remoteFingerprints: fp, srtpProfiles: []))
        }
        #expect(throws: DTLSError.noUsableRemoteFingerprint(["md5"])) {
            try DTLSEndpoint(
                configuration: .init(certificate: cert, role: .server, remoteFingerprints: [.init(hashFunction: "md5", bytes: [1])]))
        }
        #expect(throws: DTLSError.self) {
            try DTLSEndpoint(
                configuration: .init(certificate: cert, role: .server, remoteFingerprints: fp, initialRetransmissionTimeout: .zero))
        }
    }

    @Test func keysSplitInRFC5764Order() throws {
        let material = (0..<56).map { UInt8($0) }
        let client = try #require(DTLSSRTPKeys(profile: .aeadAes128Gcm, keyingMaterial: material, isClient: true))
        #expect(client.localKey == Array(0..<16))
        #expect(client.remoteKey == Array(16..<32))
        #expect(client.localSalt == Array(32..<44))
        #expect(client.remoteSalt == Array(44..<56))
        let server = try #require(DTLSSRTPKeys(profile: .aeadAes128Gcm, keyingMaterial: material, isClient: false))
        #expect(server.localKey == client.remoteKey)
        #expect(server.localSalt == client.remoteSalt)
        let cm = try #require(DTLSSRTPKeys(profile: .aes128CmHmacSha1_80, keyingMaterial: Array(0..<60), isClient: true))
        #expect(cm.localSalt == Array(32..<46))
        #expect(cm.remoteSalt == Array(46..<60))
        #expect(DTLSSRTPKeys(profile: .aes128CmHmacSha1_80, keyingMaterial: material, isClient: true) == nil)
        #expect(!client.description.contains("0, 1, 2"))
    }
}

@Suite struct DTLSRoleTests {
    /// RFC 8842 §5.2: we answer passive to actpass and active; active to passive.
    @Test func roleForAnswer() {
        #expect(DTLSEndpoint.Role.answering(.actpass)! == (.server, .passive))
        #expect(DTLSEndpoint.Role.answering(.active)! == (.server, .passive))
        #expect(DTLSEndpoint.Role.answering(.passive)! == (.client, .active))
        #expect(DTLSEndpoint.Role.answering(.holdconn) == nil)
    }
}
