import StarlingTransport
import StarlingWire
import Testing

/// Our controlling agent and the lite agent talking over the in-memory network with a virtual clock.
@Suite struct ICEExchangeTests {
    let server = STUNAddress(ipv4: 198, 51, 100, 1, port: 3478)
    let client = STUNAddress(ipv4: 192, 0, 2, 10, port: 50_000)

    @Test func connectsAndSelectsThePair() throws {
        var h = ICEHarness()
        h.start()
        h.run(for: .seconds(1))

        #expect(h.lite.state == .connected)
        #expect(h.lite.selectedRemote == client)
        #expect(h.lite.destination == client)
        #expect(h.liteEventList == [.selectedPairChanged(remote: client), .connected])
        #expect(h.client.state == .connected)
        #expect(h.client.destination == server)
        #expect(h.clientEventList == [.selectedPairChanged(remote: server), .connected])
        // One round trip: request at 0, response back at 20 ms.
        #expect(h.clientEvents.last?.at == Instant.zero + .milliseconds(20))
        #expect(h.client.mappedAddress == client)
        #expect(h.client.counters.requestsSent == 1)
        #expect(h.client.counters.retransmissions == 0)
        #expect(h.lite.counters.successResponses == 1)
        let pair = try #require(h.lite.pairs.first)
        #expect(pair.nominated)
        #expect(pair.priority == ICEControllingAgent.Configuration.peerReflexivePriority)
    }

    @Test func lostRequestsAreRetransmitted() {
        var h = ICEHarness()
        var toServer = 0
        h.drop = { packet in
            guard packet.toServer else { return false }
            toServer += 1
            return toServer <= 2
        }
        h.start()
        h.run(for: .seconds(3))
        // Sends at 0, 0.5 and 1.5 s (RFC 8489 §6.2.1); the third gets through.
        #expect(h.client.counters.retransmissions == 2)
        #expect(h.clientEvents.last?.at == Instant.zero + .milliseconds(1520))
        #expect(h.client.state == .connected)
        #expect(h.lite.state == .connected)
    }

    @Test func lostResponsesAreRetransmittedAndAnsweredAgain() {
        var h = ICEHarness()
        var toClient = 0
        h.drop = { packet in
            guard !packet.toServer else { return false }
            toClient += 1
            return toClient == 1
        }
        h.start()
        h.run(for: .seconds(2))
        #expect(h.lite.counters.successResponses == 2)
        #expect(h.client.counters.retransmissions == 1)
        #expect(h.client.state == .connected)
        // The lite agent selected on the first check and does not report it twice.
        #expect(h.liteEventList == [.selectedPairChanged(remote: client), .connected])
    }

    @Test func wrongPasswordIsNeverAnswered() {
        var h = ICEHarness(clientRemote: ICECredentials(ufrag: "SFUu", pwd: "notTheServerPasswordAtAll"))
        h.start()
        h.run(for: .seconds(45))
        #expect(h.responsesFromServer.isEmpty)
        #expect(h.lite.counters.badIntegrity == 7)
        #expect(h.lite.state == .new)
        #expect(h.lite.pairs.isEmpty)
        // RFC 8489 §6.2.1: Rc = 7 transmissions, then Rm = 16 RTOs: given up at 39.5 s.
        #expect(h.client.counters.requestsSent == 1)
        #expect(h.client.counters.retransmissions == 6)
        #expect(h.client.counters.transactionTimeouts == 1)
        #expect(h.clientEventList == [.failed])
        #expect(h.clientEvents.first?.at == Instant.zero + .milliseconds(39_500))
        #expect(h.client.state == .failed)
        #expect(h.client.nextDeadline == nil)
    }

    @Test func unknownUfragIsNeverAnswered() {
        var h = ICEHarness(clientRemote: ICECredentials(ufrag: "XXXX", pwd: ICEHarness.serverCredentials.pwd))
        h.start()
        h.run(for: .seconds(40))
        #expect(h.responsesFromServer.isEmpty)
        #expect(h.lite.counters.unknownUfrag == 7)
        #expect(h.lite.counters.successResponses == 0)
        #expect(h.client.state == .failed)
    }

    @Test func wrongRemoteUfragIsNeverAnswered() {
        // The server knows the client's ufrag; the client claims another one.
        var h = ICEHarness(clientLocal: ICECredentials(ufrag: "OTHR", pwd: "clientPasswordIsLongEnough"))
        h.start()
        h.run(for: .seconds(2))
        #expect(h.responsesFromServer.isEmpty)
        #expect(h.lite.counters.remoteUfragMismatch == 3)
    }

    @Test func fallsBackToTheNextCandidateAfterPacing() {
        let dead = STUNAddress(ipv4: 198, 51, 100, 99, port: 3478)
        var h = ICEHarness(serverAddresses: [dead, server])
        var sentToDead = 0
        h.drop = { packet in
            guard packet.to == dead else { return false }
            sentToDead += 1
            return true
        }
        h.start()
        h.run(for: .seconds(1))
        // The second candidate's first check goes out Ta = 50 ms after the first, and answers at 70 ms.
        #expect(h.client.selectedRemote == server)
        #expect(h.clientEvents.last?.at == Instant.zero + .milliseconds(70))
        // The check to the dead candidate was cancelled before its first retransmission at 500 ms.
        h.run(for: .seconds(40))
        #expect(sentToDead == 1)
        #expect(h.client.counters.transactionTimeouts == 0)
        #expect(h.client.state == .connected)
    }

    @Test func firstSuccessEndsChecksToOtherCandidates() {
        let other = STUNAddress(ipv4: 198, 51, 100, 2, port: 3478)
        var h = ICEHarness(serverAddresses: [server, other])
        h.start()
        h.run(for: .seconds(2))
        // The first candidate answered at 20 ms, before the second one's turn at 50 ms.
        #expect(h.client.counters.requestsSent == 1)
        #expect(h.deliveredToServer.allSatisfy { $0.to == server })
        #expect(h.client.selectedRemote == server)
    }

    @Test func ipv6() throws {
        let client6 = try #require(STUNAddress("[2001:db8::10]:50000"))
        let server6 = try #require(STUNAddress("[2001:db8::1]:3478"))
        var h = ICEHarness(clientAddress: client6, serverAddresses: [server6])
        h.start()
        h.run(for: .seconds(1))
        #expect(h.lite.selectedRemote == client6)
        #expect(h.client.selectedRemote == server6)
        #expect(h.client.mappedAddress == client6)
        #expect(h.lite.state == .connected && h.client.state == .connected)
    }

    @Test func consentChecksKeepBothSidesConnected() {
        var h = ICEHarness()
        h.start()
        h.run(for: .seconds(120))
        #expect(h.lite.state == .connected)
        #expect(h.client.state == .connected)
        #expect(h.liteEventList == [.selectedPairChanged(remote: client), .connected])
        // One consent check every 4-6 s (RFC 7675 §5.1). The first is timed from the nominating check's
        // response, which arrives one round trip after that check was sent.
        let sends = h.deliveredToServer.map(\.arrival)
        for (i, (a, b)) in zip(sends, sends.dropFirst()).enumerated() {
            let slack: Duration = i == 0 ? .milliseconds(100) : .zero
            #expect(b - a >= .seconds(4) && b - a <= .seconds(6) + slack, "interval \(i): \(b - a)")
        }
        #expect(sends.count >= 20 && sends.count <= 31)
    }

    @Test func consentExpiresAfterThirtySecondsOfSilenceAndRevives() throws {
        var h = ICEHarness()
        var cut = false
        h.drop = { _ in cut }
        h.start()
        h.run(for: .seconds(10))
        while !h.inFlight.isEmpty { h.run(for: .milliseconds(1)) }
        cut = true
        h.run(for: .seconds(40))
        let lastCheck = try #require(h.lite.pairs.first?.lastValidCheck)

        let liteDown = try #require(h.liteEvents.first { $0.event == .disconnected })
        #expect(liteDown.at == lastCheck + .seconds(30))
        #expect(h.lite.state == .disconnected)
        #expect(h.lite.destination == nil)
        #expect(h.lite.selectedRemote == client)
        #expect(h.lite.counters.consentExpirations == 1)
        let clientDown = try #require(h.clientEvents.first { $0.event == .disconnected })
        #expect(clientDown.at == lastCheck + .milliseconds(10) + .seconds(30))
        #expect(h.client.destination == nil)
        #expect(h.client.counters.consentExpirations == 1)

        // The network comes back: the client kept sending consent checks and both revive.
        cut = false
        h.run(for: .seconds(7))
        #expect(h.lite.state == .connected)
        #expect(h.client.state == .connected)
        #expect(h.liteEventList == [.selectedPairChanged(remote: client), .connected, .disconnected, .connected])
        #expect(h.clientEventList == [.selectedPairChanged(remote: server), .connected, .disconnected, .connected])
    }

    @Test func followsTheClientAfterANATRebinding() throws {
        var h = ICEHarness()
        h.start()
        h.run(for: .seconds(1))
        let rebound = STUNAddress(ipv4: 203, 0, 113, 7, port: 61_000)
        h.clientAddress = rebound
        // Until a valid check arrives from the new mapping the server keeps the old pair.
        #expect(h.lite.destination == client)
        h.run(for: .seconds(6))
        // Our consent checks nominate (USE-CANDIDATE), so the first one from the new mapping moves it.
        #expect(h.lite.destination == rebound)
        #expect(h.liteEventList == [.selectedPairChanged(remote: client), .connected, .selectedPairChanged(remote: rebound)])
        #expect(h.client.state == .connected)
        #expect(h.client.mappedAddress == rebound)
    }

    @Test func iceRestartKeepsThePairAndRetiresTheOldCredentials() throws {
        var h = ICEHarness()
        h.start()
        h.run(for: .seconds(2))
        let newServer = ICECredentials(ufrag: "SFU2", pwd: "aNewServerPasswordForRestart")
        let newClient = ICECredentials(ufrag: "CLN2", pwd: "aNewClientPasswordForRestart")

        // The offer/answer of the restart: the server learns both new sets first.
        h.lite.restart(local: newServer, remote: newClient)
        #expect(h.lite.pendingLocalCredentials == newServer)
        // Old credentials are still answered meanwhile, and media keeps its destination.
        let answeredBefore = h.lite.counters.successResponses
        h.run(for: .seconds(7))
        #expect(h.lite.counters.successResponses > answeredBefore)
        #expect(h.lite.destination == client)

        h.client.restart(local: newClient, remote: newServer, now: h.now)
        h.run(for: .seconds(1))
        #expect(h.liteEventList == [.selectedPairChanged(remote: client), .connected, .restarted])
        #expect(h.clientEventList == [.selectedPairChanged(remote: server), .connected, .restarted])
        #expect(h.lite.localCredentials == newServer)
        #expect(h.lite.pendingLocalCredentials == nil)
        #expect(h.lite.destination == client)
        #expect(h.client.destination == server)

        // A check with the old credentials is no longer answered.
        let old = Requests.binding(username: "SFUu:CLNT", pwd: ICEHarness.serverCredentials.pwd, useCandidate: true)
        let unknownBefore = h.lite.counters.unknownUfrag
        #expect(h.inject(old, from: client) == nil)
        #expect(h.lite.counters.unknownUfrag == unknownBefore + 1)

        // A new-credential check from elsewhere without USE-CANDIDATE does not take the pair over...
        let elsewhere = STUNAddress(ipv4: 192, 0, 2, 77, port: 40_000)
        let check = Requests.binding(username: "SFU2:CLN2", pwd: newServer.pwd, useCandidate: false)
        #expect(h.inject(check, from: elsewhere) != nil)
        #expect(h.lite.destination == client)
        // ...a nominating one does.
        let nominating = Requests.binding(username: "SFU2:CLN2", pwd: newServer.pwd, useCandidate: true)
        #expect(h.inject(nominating, from: elsewhere) != nil)
        #expect(h.lite.destination == elsewhere)
        #expect(h.liteEventList.last == .selectedPairChanged(remote: elsewhere))

        // Consent keeps running with the new credentials.
        h.run(for: .seconds(60))
        #expect(h.client.state == .connected)
    }

    @Test func restartWithUnusableCredentialsFailsButKeepsThePairUntilConsentEnds() {
        var h = ICEHarness()
        h.start()
        h.run(for: .seconds(2))
        h.client.restart(
            local: ICECredentials(ufrag: "CLN3", pwd: "yetAnotherClientPassword!"),
            remote: ICECredentials(ufrag: "SFU3", pwd: "serverNeverHeardOfThisOne"), now: h.now)
        h.run(for: .seconds(25))
        #expect(h.client.state == .connected)  // still within 30 s of the last valid response
        h.run(for: .seconds(20))
        #expect(h.clientEventList.contains(.failed))
        #expect(h.clientEventList.contains(.disconnected))
        #expect(h.client.state == .disconnected)
        #expect(h.lite.state == .disconnected)
    }
}
