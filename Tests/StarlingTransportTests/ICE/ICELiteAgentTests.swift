import StarlingTestSupport
import StarlingTransport
import StarlingWire
import Testing

/// The lite agent against hand-built requests.
@Suite struct ICELiteAgentTests {
    let peer = STUNAddress(ipv4: 192, 0, 2, 10, port: 50_000)
    let serverKey = STUNCredentials.shortTermKey(password: ICEHarness.serverCredentials.pwd)

    func makeAgent(remote: ICECredentials? = ICEHarness.clientCredentials) -> ICELiteAgent {
        ICELiteAgent(local: ICEHarness.serverCredentials, remote: remote)
    }

    func events(_ agent: inout ICELiteAgent) -> [ICEEvent] {
        var out: [ICEEvent] = []
        while let e = agent.pollEvent() { out.append(e) }
        return out
    }

    /// Checks a success response the way a controlling agent would (RFC 8445 §7.2.5).
    func expectSuccess(_ response: [UInt8]?, to request: [UInt8], mapped: STUNAddress) throws {
        let bytes = try #require(response)
        let message = try Requests.parse(bytes)
        #expect(message.type == .bindingSuccessResponse)
        #expect(message.transactionID == (try Requests.parse(request)).transactionID)
        #expect(message.xorMappedAddress == mapped)
        #expect(STUNMessage.verifyIntegrity(bytes, key: serverKey))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(message.attributes.last?.type == .fingerprint)
    }

    /// A Binding request shaped like Chromium's (libwebrtc `Connection::Ping` with a lite peer once the
    /// pair is selected): USERNAME, GOOG-NETWORK-INFO (0xC057: network id 1, cost 10), ICE-CONTROLLING,
    /// USE-CANDIDATE, PRIORITY, MESSAGE-INTEGRITY, FINGERPRINT; 4-char ufrag and 24-char password.
    @Test func answersARequestAsChromiumSendsIt() throws {
        let server = ICECredentials(ufrag: "Qz7v", pwd: "kP3xW9mR2tYbN6cV8hJ4sL1q")
        var agent = ICELiteAgent(local: server, remote: ICECredentials(ufrag: "aB9+", pwd: "u5Fh2Kd8Ls3Gm7Qw1Zx6Rt4Y"))
        let id = try #require(STUNTransactionID(bytes: [0x4E, 0x2B, 0x76, 0x51, 0x6A, 0x31, 0x63, 0x58, 0x41, 0x6F, 0x7A, 0x33]))
        let request = STUNMessage(
            type: .bindingRequest, transactionID: id,
            attributes: [
                .username("Qz7v:aB9+"),
                .unknown(type: 0xC057, value: [0x00, 0x01, 0x00, 0x0A]),
                .iceControlling(0x8B3F_04A1_C2D5_9E67),
                .useCandidate,
                .priority(0x6E7F_1EFF),
            ]
        ).serialize(integrityKey: STUNCredentials.shortTermKey(password: server.pwd), fingerprint: true)
        // 20-byte header, USERNAME 16 (9 bytes and padding), GOOG-NETWORK-INFO 8, ICE-CONTROLLING 12, USE-CANDIDATE 4, PRIORITY 8,
        // MESSAGE-INTEGRITY 24, FINGERPRINT 8.
        #expect(request.count == 100)
        let source = STUNAddress(ipv4: 10, 0, 0, 5, port: 54_321)
        let response = agent.handleSTUN(request, from: source, now: .zero)

        let bytes = try #require(response)
        let message = try Requests.parse(bytes)
        #expect(message.type == .bindingSuccessResponse)
        #expect(message.transactionID == id)
        #expect(message.xorMappedAddress == source)
        #expect(STUNMessage.verifyIntegrity(bytes, key: STUNCredentials.shortTermKey(password: server.pwd)))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(agent.destination == source)
        #expect(agent.pairs.first?.nominated == true)
        #expect(events(&agent) == [.selectedPairChanged(remote: source), .connected])
    }

    /// A Binding request captured from Chromium, as published in mediasoup's STUN tests
    /// (worker/test/src/RTC/ICE/TestStunPacket.cpp): USERNAME "78tal5pc6dkyv1rpg56vuay5je13cewm:s3Jg",
    /// GOOG-NETWORK-INFO (network 3, cost 10), ICE-CONTROLLING, USE-CANDIDATE, PRIORITY 1853693695,
    /// MESSAGE-INTEGRITY keyed with "1ezk7fni4jeo5bt7ibcdk4wjl8712suw", FINGERPRINT.
    @Test func answersACapturedChromiumRequest() throws {
        let capture: [UInt8] = [
            0x00, 0x01, 0x00, 0x6C, 0x21, 0x12, 0xA4, 0x42, 0x4A, 0x31, 0x77, 0x59, 0x41, 0x76, 0x4E, 0x54,
            0x70, 0x64, 0x4B, 0x33, 0x00, 0x06, 0x00, 0x25, 0x37, 0x38, 0x74, 0x61, 0x6C, 0x35, 0x70, 0x63,
            0x36, 0x64, 0x6B, 0x79, 0x76, 0x31, 0x72, 0x70, 0x67, 0x35, 0x36, 0x76, 0x75, 0x61, 0x79, 0x35,
            0x6A, 0x65, 0x31, 0x33, 0x63, 0x65, 0x77, 0x6D, 0x3A, 0x73, 0x33, 0x4A, 0x67, 0x00, 0x00, 0x00,
            0xC0, 0x57, 0x00, 0x04, 0x00, 0x03, 0x00, 0x0A, 0x80, 0x2A, 0x00, 0x08, 0xDC, 0x9F, 0x43, 0x72,
            0xE9, 0x1D, 0x90, 0x14, 0x00, 0x25, 0x00, 0x00, 0x00, 0x24, 0x00, 0x04, 0x6E, 0x7D, 0x1E, 0xFF,
            0x00, 0x08, 0x00, 0x14, 0xF3, 0x9A, 0x23, 0xB3, 0xA6, 0x05, 0x4E, 0x75, 0xB3, 0x9D, 0xF2, 0x17,
            0x71, 0x00, 0x18, 0x2D, 0xA7, 0x68, 0x34, 0xF8, 0x80, 0x28, 0x00, 0x04, 0x6A, 0x37, 0x3F, 0x8C,
        ]
        let local = ICECredentials(ufrag: "78tal5pc6dkyv1rpg56vuay5je13cewm", pwd: "1ezk7fni4jeo5bt7ibcdk4wjl8712suw")
        var agent = ICELiteAgent(local: local, remote: ICECredentials(ufrag: "s3Jg", pwd: "unknownToUsAndNotNeeded"))
        let source = try #require(STUNAddress("[2001:db8::5]:60123"))
        let answer = agent.handleSTUN(capture, from: source, now: .zero)
        let bytes = try #require(answer)
        let message = try Requests.parse(bytes)
        #expect(message.type == .bindingSuccessResponse)
        #expect(message.transactionID.description == "4a31775941764e5470644b33")
        #expect(message.xorMappedAddress == source)
        #expect(STUNMessage.verifyIntegrity(bytes, key: STUNCredentials.shortTermKey(password: local.pwd)))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(agent.pairs.first?.priority == 1_853_693_695)
        #expect(agent.pairs.first?.nominated == true)
        #expect(agent.destination == source)
    }

    @Test func answersWithXORMappedIPv6() throws {
        var agent = makeAgent()
        let source = try #require(STUNAddress("[2001:db8:85a3::8a2e:370:7334]:61000"))
        let request = Requests.binding(useCandidate: true)
        try expectSuccess(agent.handleSTUN(request, from: source, now: .zero), to: request, mapped: source)
        #expect(agent.destination == source)
    }

    @Test func unknownComprehensionRequiredAttributeGets420() throws {
        var agent = makeAgent()
        let request = Requests.binding(
            useCandidate: true,
            extra: [.unknown(type: 0x0099, value: [1, 2, 3, 4]), .unknown(type: 0xC057, value: [0, 1, 0, 10])])
        let answer = agent.handleSTUN(request, from: peer, now: .zero)
        let bytes = try #require(answer)
        let message = try Requests.parse(bytes)
        #expect(message.type == .bindingErrorResponse)
        #expect(message.errorCode?.code == 420)
        #expect(message.unknownAttributes == [0x0099])  // the comprehension-optional 0xC057 is not listed
        #expect(STUNMessage.verifyIntegrity(bytes, key: serverKey))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(agent.counters.unknownAttributeResponses == 1)
        #expect(agent.pairs.isEmpty)
        #expect(agent.state == .new)

        // Without valid integrity the same request gets nothing.
        let forged = Requests.binding(pwd: "guessedPasswordGuessedPassword", extra: [.unknown(type: 0x0099, value: [])])
        #expect(agent.handleSTUN(forged, from: peer, now: .zero) == nil)
        #expect(agent.counters.badIntegrity == 1)
    }

    @Test func peerClaimingControlledGets487AndKeepsNoPair() throws {
        var agent = makeAgent()
        let answer = agent.handleSTUN(Requests.binding(controlled: true), from: peer, now: .zero)
        let bytes = try #require(answer)
        let message = try Requests.parse(bytes)
        #expect(message.type == .bindingErrorResponse)
        #expect(message.errorCode?.code == 487)
        #expect(STUNMessage.verifyIntegrity(bytes, key: serverKey))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(agent.counters.roleConflictResponses == 1)
        #expect(agent.pairs.isEmpty)
    }

    @Test func dropsAndCountsEveryBadRequest() {
        var agent = makeAgent()
        func expectDropped(_ bytes: [UInt8], _ counter: KeyPath<ICELiteAgent.Counters, Int>, _ comment: Comment) {
            let before = agent.counters[keyPath: counter]
            #expect(agent.handleSTUN(bytes, from: peer, now: .zero) == nil, comment)
            #expect(agent.counters[keyPath: counter] == before + 1, comment)
        }
        var badFingerprint = Requests.binding()
        badFingerprint[badFingerprint.count - 1] ^= 0x01
        expectDropped(badFingerprint, \.badFingerprint, "FINGERPRINT value altered")
        var badUsername = Requests.binding()
        badUsername[24] ^= 0x20  // inside USERNAME: both FINGERPRINT and integrity break
        expectDropped(badUsername, \.badFingerprint, "body altered")
        expectDropped(Requests.binding(fingerprint: false), \.missingFingerprint, "no FINGERPRINT")
        expectDropped(Requests.binding(username: nil), \.missingCredentials, "no USERNAME")
        expectDropped(Requests.binding(pwd: nil), \.missingCredentials, "no MESSAGE-INTEGRITY")
        expectDropped(Requests.binding(pwd: "wrongPasswordWrongPassword"), \.badIntegrity, "wrong password")
        expectDropped(Requests.binding(username: "XXXX:CLNT"), \.unknownUfrag, "not our ufrag")
        expectDropped(Requests.binding(username: "SFUu"), \.unknownUfrag, "no colon")
        expectDropped(Requests.binding(username: "SFUu:"), \.unknownUfrag, "empty remote ufrag")
        expectDropped(Requests.binding(username: "SFUu:OTHR"), \.remoteUfragMismatch, "not their ufrag")
        expectDropped([0x00, 0x01, 0x00], \.malformed, "truncated header")
        expectDropped(Array(repeating: 0xAB, count: 64), \.malformed, "garbage")

        let indication = STUNMessage(type: .bindingIndication, transactionID: .random()).serialize(integrityKey: nil, fingerprint: true)
        expectDropped(indication, \.ignoredIndications, "Binding indication")
        let response = STUNMessage(type: .bindingSuccessResponse, transactionID: .random(), attributes: [.xorMappedAddress(peer)])
            .serialize(integrityKey: serverKey, fingerprint: true)
        expectDropped(response, \.ignoredResponses, "a response")
        let allocate = STUNMessage(
            type: STUNMessageType(method: STUNMethod(rawValue: 0x003)!, messageClass: .request), transactionID: .random(),
            attributes: [.username("SFUu:CLNT")]
        ).serialize(integrityKey: serverKey, fingerprint: true)
        expectDropped(allocate, \.unsupportedMethod, "TURN Allocate")

        #expect(agent.counters.successResponses == 0)
        #expect(agent.pairs.isEmpty)
        #expect(agent.state == .new)
        #expect(events(&agent).isEmpty)
    }

    @Test func answersBeforeTheRemoteCredentialsAreKnown() throws {
        var agent = makeAgent(remote: nil)
        let request = Requests.binding(username: "SFUu:anyPeerUfrag", useCandidate: true)
        try expectSuccess(agent.handleSTUN(request, from: peer, now: .zero), to: request, mapped: peer)
        #expect(agent.state == .connected)

        agent.setRemoteCredentials(ICEHarness.clientCredentials)
        #expect(agent.handleSTUN(request, from: peer, now: .zero) == nil)
        #expect(agent.counters.remoteUfragMismatch == 1)
        let proper = Requests.binding(username: "SFUu:CLNT")
        try expectSuccess(agent.handleSTUN(proper, from: peer, now: .zero), to: proper, mapped: peer)
    }

    /// aiortc against a lite peer checks without USE-CANDIDATE first, then nominates the same pair.
    @Test func firstValidCheckSelectsProvisionallyUntilNominated() {
        var agent = makeAgent()
        _ = agent.handleSTUN(Requests.binding(useCandidate: false), from: peer, now: .zero)
        #expect(agent.destination == peer)
        #expect(agent.pairs.first?.nominated == false)
        #expect(events(&agent) == [.selectedPairChanged(remote: peer), .connected])

        // Another valid pair checked without nomination does not take over a live selection...
        let other = STUNAddress(ipv4: 192, 0, 2, 11, port: 50_001)
        _ = agent.handleSTUN(Requests.binding(useCandidate: false), from: other, now: .zero + .seconds(1))
        #expect(agent.destination == peer)
        #expect(agent.pairs.count == 2)
        // ...nomination does.
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: other, now: .zero + .seconds(2))
        #expect(agent.destination == other)
        #expect(events(&agent) == [.selectedPairChanged(remote: other)])
        #expect(agent.counters.selectedPairChanges == 2)
    }

    /// ICE-TCP (RFC 6544): a UDP and a TCP transport address of the same IP and port are two pairs, and the
    /// agent follows the peer's nomination from one to the other (a peer that reaches us both ways uses the
    /// pair it nominated, RFC 8445 §8.1.1).
    @Test func keepsUDPAndTCPPairsApartAndFollowsTheNomination() throws {
        var agent = makeAgent()
        let udp = peer
        let tcp = peer.over(.tcp)
        #expect(udp != tcp)
        #expect(tcp.description == "192.0.2.10:50000/tcp")
        let request = Requests.binding(useCandidate: false)
        try expectSuccess(agent.handleSTUN(request, from: udp, now: .zero), to: request, mapped: udp)
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: tcp, now: .zero + .seconds(1))
        #expect(agent.pairs.count == 2)
        #expect(agent.destination == tcp)
        #expect(Set(agent.pairs.map(\.remote)) == [udp, tcp])
        #expect(events(&agent) == [.selectedPairChanged(remote: udp), .connected, .selectedPairChanged(remote: tcp)])
        // A later nomination over UDP moves media back.
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: udp, now: .zero + .seconds(2))
        #expect(agent.destination == udp)
        #expect(events(&agent) == [.selectedPairChanged(remote: udp)])
    }

    /// A peer that moved (NAT rebinding) and checks without USE-CANDIDATE, as aiortc's consent checks do.
    @Test func followsANonNominatingPeerOnlyAfterTheSelectedPairFellSilent() {
        var agent = makeAgent()
        let t0 = Instant.zero
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: peer, now: t0)
        _ = events(&agent)
        let moved = STUNAddress(ipv4: 203, 0, 113, 7, port: 61_000)

        // A forged nomination from elsewhere changes nothing.
        _ = agent.handleSTUN(Requests.binding(pwd: "attackerDoesNotKnowThePwd", useCandidate: true), from: moved, now: t0 + .seconds(1))
        #expect(agent.destination == peer)
        #expect(agent.counters.badIntegrity == 1)

        // A valid check from the new address while the old pair was checked 5 s ago: recorded, not followed.
        _ = agent.handleSTUN(Requests.binding(), from: moved, now: t0 + .seconds(5))
        #expect(agent.destination == peer)
        // 8 s of silence on the selected pair: the next valid check from the new address moves it.
        _ = agent.handleSTUN(Requests.binding(), from: moved, now: t0 + .seconds(10))
        #expect(agent.destination == moved)
        #expect(events(&agent) == [.selectedPairChanged(remote: moved)])
    }

    @Test func consentExpiryAndRevival() {
        var agent = makeAgent()
        let t0 = Instant.zero + .seconds(3)
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: peer, now: t0)
        _ = events(&agent)
        #expect(agent.nextDeadline == t0 + .seconds(30))
        agent.handleTimeout(now: t0 + .seconds(29))
        #expect(agent.state == .connected)
        agent.handleTimeout(now: t0 + .seconds(30))
        #expect(agent.state == .disconnected)
        #expect(agent.destination == nil)
        #expect(agent.nextDeadline == nil)
        #expect(events(&agent) == [.disconnected])

        _ = agent.handleSTUN(Requests.binding(), from: peer, now: t0 + .seconds(45))
        #expect(agent.state == .connected)
        #expect(agent.destination == peer)
        #expect(events(&agent) == [.connected])
        #expect(agent.nextDeadline == t0 + .seconds(75))
    }

    @Test func revivesOnAnotherAddressWhenTheOldOneIsGone() {
        var agent = makeAgent()
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: peer, now: .zero)
        agent.handleTimeout(now: .zero + .seconds(30))
        _ = events(&agent)
        let moved = STUNAddress(ipv4: 203, 0, 113, 7, port: 61_000)
        _ = agent.handleSTUN(Requests.binding(), from: moved, now: .zero + .seconds(31))
        #expect(agent.destination == moved)
        #expect(events(&agent) == [.selectedPairChanged(remote: moved), .connected])
    }

    @Test func restartAcceptsBothCredentialSetsUntilTheNewOnesAreUsed() throws {
        var agent = makeAgent()
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: peer, now: .zero)
        _ = events(&agent)
        let newLocal = ICECredentials(ufrag: "NEW1", pwd: "newServerPasswordAfterRestart")
        agent.restart(local: newLocal, remote: nil)
        agent.setRemoteCredentials(ICECredentials(ufrag: "NEWC", pwd: "unusedByTheLiteAgentAnyway"))

        #expect(agent.handleSTUN(Requests.binding(), from: peer, now: .zero + .seconds(1)) != nil)
        #expect(agent.localCredentials == ICEHarness.serverCredentials)
        // The new credentials with the wrong remote ufrag are refused.
        #expect(agent.handleSTUN(Requests.binding(username: "NEW1:CLNT", pwd: newLocal.pwd), from: peer, now: .zero + .seconds(2)) == nil)
        #expect(agent.counters.remoteUfragMismatch == 1)

        let request = Requests.binding(username: "NEW1:NEWC", pwd: newLocal.pwd)
        let answer = agent.handleSTUN(request, from: peer, now: .zero + .seconds(3))
        let response = try #require(answer)
        #expect(STUNMessage.verifyIntegrity(response, key: STUNCredentials.shortTermKey(password: newLocal.pwd)))
        #expect(!STUNMessage.verifyIntegrity(response, key: serverKey))
        #expect(events(&agent) == [.restarted])
        #expect(agent.localCredentials == newLocal)
        #expect(agent.remoteCredentials?.ufrag == "NEWC")
        #expect(agent.destination == peer)

        #expect(agent.handleSTUN(Requests.binding(), from: peer, now: .zero + .seconds(4)) == nil)
        #expect(agent.counters.unknownUfrag == 1)
    }

    @Test func restartForgetsOtherPairsButKeepsTheSelectedOne() {
        var agent = makeAgent()
        let other = STUNAddress(ipv4: 192, 0, 2, 11, port: 50_001)
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: peer, now: .zero)
        _ = agent.handleSTUN(Requests.binding(), from: other, now: .zero)
        #expect(agent.pairs.count == 2)
        let newLocal = ICECredentials(ufrag: "NEW1", pwd: "newServerPasswordAfterRestart")
        agent.restart(local: newLocal, remote: ICECredentials(ufrag: "NEWC", pwd: "x"))
        // The first new-credential check comes from a third address and does not nominate.
        let third = STUNAddress(ipv4: 192, 0, 2, 12, port: 50_002)
        _ = agent.handleSTUN(Requests.binding(username: "NEW1:NEWC", pwd: newLocal.pwd), from: third, now: .zero + .seconds(1))
        #expect(Set(agent.pairs.map(\.remote)) == [peer, third])
        #expect(agent.destination == peer)
    }

    @Test func boundsTheNumberOfPairs() {
        var agent = makeAgent()
        _ = agent.handleSTUN(Requests.binding(useCandidate: true), from: peer, now: .zero)
        for i in 0..<100 {
            let source = STUNAddress(ipv4: 10, 0, UInt8(i / 256), UInt8(i % 256), port: 9)
            _ = agent.handleSTUN(Requests.binding(), from: source, now: .zero + .milliseconds(i))
        }
        #expect(agent.pairs.count == agent.configuration.maxPairs)
        #expect(agent.pairs.contains { $0.remote == peer })
        #expect(agent.destination == peer)
        // Pairs silent past the consent timeout are forgotten, the selected one is kept.
        _ = agent.handleSTUN(Requests.binding(), from: peer, now: .zero + .seconds(20))
        agent.handleTimeout(now: .zero + .seconds(31))
        #expect(agent.pairs.map(\.remote) == [peer])
    }

    /// Every truncation and many random mutations of a valid check: never a crash, and never a
    /// success answer to bytes that differ from what was signed.
    @Test func survivesTruncationsAndMutations() {
        var agent = makeAgent()
        let valid = Requests.binding(useCandidate: true, extra: [.unknown(type: 0xC057, value: [0, 1, 0, 10])])
        for length in 0..<valid.count {
            #expect(agent.handleSTUN(Array(valid[..<length]), from: peer, now: .zero) == nil)
        }
        var rng = SplitMix64(seed: 0x1CE)
        for _ in 0..<5000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            // FINGERPRINT and MESSAGE-INTEGRITY cover every byte: only the untouched check is answered.
            if agent.handleSTUN(bytes, from: peer, now: .zero) != nil {
                #expect(bytes == valid)
            }
        }
        // Every datagram landed in exactly one counter.
        let c = agent.counters
        let total = c.successResponses + c.unknownAttributeResponses + c.roleConflictResponses + c.malformed
            + c.unsupportedMethod + c.missingFingerprint + c.badFingerprint + c.missingCredentials + c.unknownUfrag
            + c.remoteUfragMismatch + c.badIntegrity + c.ignoredIndications + c.ignoredResponses
        #expect(total == valid.count + 5000)
    }
}

typealias SplitMix64 = SeededRandom
