import StarlingTransport
import StarlingWire
import Testing

/// The controlling agent against hand-built responses.
@Suite struct ICEControllingAgentTests {
    let server = STUNAddress(ipv4: 198, 51, 100, 1, port: 3478)
    let me = STUNAddress(ipv4: 192, 0, 2, 10, port: 50_000)
    let serverKey = STUNCredentials.shortTermKey(password: ICEHarness.serverCredentials.pwd)

    func makeAgent(candidates: [STUNAddress]? = nil) -> ICEControllingAgent {
        ICEControllingAgent(
            configuration: .init(
                local: ICEHarness.clientCredentials, remote: ICEHarness.serverCredentials,
                remoteCandidates: candidates ?? [server], tieBreaker: 0xDEAD_BEEF))
    }

    func transmits(_ agent: inout ICEControllingAgent) -> [ICEControllingAgent.Transmit] {
        var out: [ICEControllingAgent.Transmit] = []
        while let t = agent.pollTransmit() { out.append(t) }
        return out
    }

    func events(_ agent: inout ICEControllingAgent) -> [ICEEvent] {
        var out: [ICEEvent] = []
        while let e = agent.pollEvent() { out.append(e) }
        return out
    }

    func success(to request: [UInt8], mapped: STUNAddress, key: [UInt8]?, fingerprint: Bool = true) throws -> [UInt8] {
        STUNMessage.successResponse(to: try Requests.parse(request), mappedAddress: mapped)
            .serialize(integrityKey: key, fingerprint: fingerprint)
    }

    @Test func checksCarryWhatALitePeerNeeds() throws {
        var agent = makeAgent()
        agent.start(now: .zero)
        let sent = transmits(&agent)
        #expect(sent.count == 1)
        let check = try #require(sent.first)
        #expect(check.destination == server)
        let message = try Requests.parse(check.bytes)
        #expect(message.type == .bindingRequest)
        #expect(message.username == "SFUu:CLNT")
        #expect(message.priority == ICEControllingAgent.Configuration.peerReflexivePriority)
        #expect(message.iceControlling == 0xDEAD_BEEF)
        #expect(message.iceControlled == nil)
        #expect(message.useCandidate)
        #expect(STUNMessage.verifyIntegrity(check.bytes, key: serverKey))
        #expect(STUNMessage.verifyFingerprint(check.bytes))
        #expect(agent.state == .checking)
        #expect(agent.nextDeadline == Instant.zero + .milliseconds(500))
    }

    /// RFC 8445 §7.3: a lite peer that checks us anyway (libnice does) gets an authenticated success response
    /// with its address; forged, unknown or wrongly keyed checks get nothing; a peer also claiming control
    /// gets 487 while our tie-breaker is not smaller, and nothing when it is.
    @Test func answersThePeersChecks() throws {
        var agent = makeAgent()
        agent.start(now: .zero)
        _ = transmits(&agent)
        let clientKey = STUNCredentials.shortTermKey(password: ICEHarness.clientCredentials.pwd)
        let check = Requests.binding(username: "CLNT:SFUu", pwd: ICEHarness.clientCredentials.pwd, controlled: true)
        agent.handleSTUN(check, from: server, now: .zero)
        let answered = transmits(&agent)
        #expect(answered.count == 1 && answered.first?.destination == server)
        let response = try Requests.parse(try #require(answered.first).bytes)
        #expect(response.type == .bindingSuccessResponse)
        #expect(response.transactionID == (try Requests.parse(check)).transactionID)
        #expect(response.xorMappedAddress == server)
        #expect(STUNMessage.verifyIntegrity(answered[0].bytes, key: clientKey))
        #expect(STUNMessage.verifyFingerprint(answered[0].bytes))
        #expect(agent.counters.checksAnswered == 1)

        // Their password instead of ours, their ufrag first, no fingerprint: dropped.
        for bad in [
            Requests.binding(username: "CLNT:SFUu", pwd: ICEHarness.serverCredentials.pwd, controlled: true),
            Requests.binding(username: "SFUu:CLNT", pwd: ICEHarness.clientCredentials.pwd, controlled: true),
            Requests.binding(username: "CLNT:SFUu", pwd: ICEHarness.clientCredentials.pwd, controlled: true, fingerprint: false),
        ] {
            agent.handleSTUN(bad, from: server, now: .zero)
            #expect(transmits(&agent).isEmpty)
        }
        #expect(agent.counters.ignoredRequests == 3)

        // Both controlling: our tie-breaker (0xDEADBEEF) beats 0x5678, so the peer is told of the conflict.
        agent.handleSTUN(Requests.binding(username: "CLNT:SFUu", pwd: ICEHarness.clientCredentials.pwd), from: server, now: .zero)
        let conflict = try Requests.parse(try #require(transmits(&agent).first).bytes)
        #expect(conflict.type == .bindingErrorResponse && conflict.errorCode?.code == 487)
        #expect(agent.counters.roleConflictResponses == 1 && agent.state == .checking)
    }

    @Test func retransmissionScheduleFollowsRFC8489() {
        var agent = makeAgent()
        agent.start(now: .zero)
        var sendTimes: [Instant] = [.zero]
        _ = transmits(&agent)
        while let deadline = agent.nextDeadline {
            agent.handleTimeout(now: deadline)
            for _ in transmits(&agent) { sendTimes.append(deadline) }
        }
        let ms = sendTimes.map(\.milliseconds)
        #expect(ms == [0, 500, 1500, 3500, 7500, 15_500, 31_500])
        #expect(events(&agent) == [.failed])
        #expect(agent.state == .failed)
    }

    @Test func ignoresResponsesThatAreNotAuthentic() throws {
        var agent = makeAgent()
        agent.start(now: .zero)
        let first = transmits(&agent).first
        let request = try #require(first).bytes
        let now = Instant.zero + .milliseconds(30)

        // From another address (RFC 8445 §7.2.5.2.1).
        agent.handleSTUN(try success(to: request, mapped: me, key: serverKey), from: STUNAddress(ipv4: 6, 6, 6, 6, port: 3478), now: now)
        #expect(agent.counters.asymmetricResponses == 1)
        // Wrong key, no integrity, broken fingerprint.
        agent.handleSTUN(try success(to: request, mapped: me, key: [1, 2, 3]), from: server, now: now)
        #expect(agent.counters.badIntegrity == 1)
        agent.handleSTUN(try success(to: request, mapped: me, key: nil), from: server, now: now)
        #expect(agent.counters.missingIntegrity == 1)
        var broken = try success(to: request, mapped: me, key: serverKey)
        broken[broken.count - 2] ^= 0xFF
        agent.handleSTUN(broken, from: server, now: now)
        #expect(agent.counters.badFingerprint == 1)
        // An unauthenticated 401 cannot end the check.
        let unauthorized = STUNMessage.errorResponse(to: try Requests.parse(request), code: 401, reason: "Unauthorized")
            .serialize(integrityKey: nil, fingerprint: true)
        agent.handleSTUN(unauthorized, from: server, now: now)
        #expect(agent.counters.missingIntegrity == 2)
        // A response to another transaction; a request; garbage.
        let stranger = STUNMessage(type: .bindingSuccessResponse, transactionID: .random(), attributes: [.xorMappedAddress(me)])
            .serialize(integrityKey: serverKey, fingerprint: true)
        agent.handleSTUN(stranger, from: server, now: now)
        #expect(agent.counters.unmatchedResponses == 1)
        agent.handleSTUN(Requests.binding(), from: server, now: now)
        #expect(agent.counters.ignoredRequests == 1)
        agent.handleSTUN([0xFF, 0x00], from: server, now: now)
        #expect(agent.counters.malformed == 1)
        #expect(agent.state == .checking)
        #expect(events(&agent).isEmpty)

        // The genuine response still works, even without FINGERPRINT.
        agent.handleSTUN(try success(to: request, mapped: me, key: serverKey, fingerprint: false), from: server, now: now)
        #expect(agent.state == .connected)
        #expect(agent.mappedAddress == me)
        #expect(events(&agent) == [.selectedPairChanged(remote: server), .connected])
        // A duplicate (the answer to a retransmission) is unmatched now.
        agent.handleSTUN(try success(to: request, mapped: me, key: serverKey), from: server, now: now)
        #expect(agent.counters.unmatchedResponses == 2)
    }

    @Test func authenticatedErrorFailsTheCheck() throws {
        var agent = makeAgent()
        agent.start(now: .zero)
        let first = transmits(&agent).first
        let request = try #require(first).bytes
        let conflict = STUNMessage.errorResponse(to: try Requests.parse(request), code: 487, reason: "Role Conflict")
            .serialize(integrityKey: serverKey, fingerprint: true)
        agent.handleSTUN(conflict, from: server, now: .zero + .milliseconds(20))
        #expect(agent.counters.errorResponses == 1)
        #expect(agent.state == .failed)
        #expect(events(&agent) == [.failed])
        #expect(agent.nextDeadline == nil)
    }

    @Test func consentChecksAreJitteredAndReplaceEachOther() throws {
        var agent = makeAgent()
        agent.start(now: .zero)
        let first = transmits(&agent).first
        let request = try #require(first).bytes
        agent.handleSTUN(try success(to: request, mapped: me, key: serverKey), from: server, now: .zero + .milliseconds(20))
        #expect(agent.state == .connected)

        // No answers any more: consent checks every 4-6 s, each retransmitted until the next one starts.
        var firstSends: [Instant] = []
        var ids: Set<STUNTransactionID> = []
        while let deadline = agent.nextDeadline, deadline < .zero + .seconds(60) {
            agent.handleTimeout(now: deadline)
            for t in transmits(&agent) {
                let message = try Requests.parse(t.bytes)
                #expect(message.useCandidate)
                #expect(t.destination == server)
                if ids.insert(message.transactionID).inserted { firstSends.append(deadline) }
            }
        }
        for (a, b) in zip(firstSends, firstSends.dropFirst()) {
            #expect(b - a >= .seconds(4) && b - a <= .seconds(6))
        }
        #expect(agent.counters.retransmissions >= 2 * firstSends.count)
        #expect(agent.counters.transactionTimeouts == 0)
        #expect(agent.state == .disconnected)
        #expect(events(&agent) == [.selectedPairChanged(remote: server), .connected, .disconnected])
    }

    @Test func noCandidatesFailsAtOnce() {
        var agent = makeAgent(candidates: [])
        agent.start(now: .zero)
        #expect(agent.state == .failed)
        #expect(events(&agent) == [.failed])
    }
}

@Suite struct ICECredentialsTests {
    @Test func generatedCredentialsAreWellFormedAndDistinct() {
        var seen: Set<String> = []
        for _ in 0..<1000 {
            let c = ICECredentials.random()
            #expect(c.isWellFormed)
            #expect(c.ufrag.utf8.count == 8)
            #expect(c.pwd.utf8.count == 24)
            seen.insert(c.ufrag)
        }
        #expect(seen.count == 1000)
    }

    @Test func seededGenerationIsReproducibleAndUsesTheWholeAlphabet() {
        var a = SplitMix64(seed: 7)
        var b = SplitMix64(seed: 7)
        #expect(ICECredentials.random(using: &a) == ICECredentials.random(using: &b))
        var chars: Set<Character> = []
        for _ in 0..<500 { chars.formUnion(ICECredentials.random(using: &a).pwd) }
        #expect(chars.count == 64)
    }

    @Test func wellFormedFollowsRFC8839() {
        #expect(ICECredentials(ufrag: "abcd", pwd: String(repeating: "x", count: 22)).isWellFormed)
        #expect(ICECredentials(ufrag: "a+/9", pwd: String(repeating: "+", count: 256)).isWellFormed)
        #expect(!ICECredentials(ufrag: "abc", pwd: String(repeating: "x", count: 22)).isWellFormed)
        #expect(!ICECredentials(ufrag: "abcd", pwd: String(repeating: "x", count: 21)).isWellFormed)
        #expect(!ICECredentials(ufrag: "ab:d", pwd: String(repeating: "x", count: 22)).isWellFormed)
        #expect(!ICECredentials(ufrag: "abcd", pwd: String(repeating: "é", count: 22)).isWellFormed)
        #expect(!ICECredentials(ufrag: String(repeating: "a", count: 257), pwd: String(repeating: "x", count: 22)).isWellFormed)
        #expect(!ICECredentials(ufrag: "abcd", pwd: "secretsecretsecretsecret").description.contains("secret"))
    }
}
