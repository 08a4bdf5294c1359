import Foundation
import StarlingTransport
import StarlingWire
import Testing

/// A client transport (controlling ICE, DTLS client; what StarlingClient runs) and a server transport
/// (ICE-lite, DTLS server; what Starling runs) over an in-memory network with a virtual clock.
///
/// OpenSSL times DTLS retransmissions with the wall clock whatever clock we pass in, so the one test that
/// needs a retransmission uses a 20 ms initial timeout and lets a little real time pass while the virtual
/// clock runs (see DTLSEndpoint).
final class PeerPair {
    static let serverCertificate = try! DTLSCertificate(generatingWithCommonName: "server")
    static let clientCertificate = try! DTLSCertificate(generatingWithCommonName: "client")

    let serverAddress = STUNAddress(ipv4: 127, 0, 0, 1, port: 7881)
    var clientAddress = STUNAddress(ipv4: 127, 0, 0, 1, port: 50000)
    let server: PeerTransport
    let client: PeerTransport
    var now = Instant(nanoseconds: 1_000_000_000)
    var serverEvents: [PeerTransport.Event] = []
    var clientEvents: [PeerTransport.Event] = []
    var serverReceived: [[UInt8]] = []
    var clientReceived: [[UInt8]] = []

    struct InFlight {
        var bytes: [UInt8]
        var from: STUNAddress
        var toServer: Bool
        var at: Instant
    }
    var inFlight: [InFlight] = []
    /// Decides per datagram whether the network drops it.
    var drop: (_ bytes: [UInt8], _ toServer: Bool) -> Bool = { _, _ in false }
    var latency: Duration = .milliseconds(10)

    init(
        profiles: [SRTPProtectionProfile] = [.aeadAes128Gcm, .aes128CmHmacSha1_80],
        serverExpects: SDP.Fingerprint? = nil, retransmission: Duration = .seconds(1)
    ) throws {
        let serverICE = ICECredentials.random()
        let clientICE = ICECredentials.random()
        server = try PeerTransport(
            configuration: .init(
                localCredentials: serverICE, remoteCredentials: clientICE, ice: .lite(.init()),
                dtls: .init(
                    certificate: Self.serverCertificate, role: .server,
                    remoteFingerprints: [serverExpects ?? Self.clientCertificate.fingerprint], srtpProfiles: profiles,
                    initialRetransmissionTimeout: retransmission)),
            now: now)
        client = try PeerTransport(
            configuration: .init(
                localCredentials: clientICE, remoteCredentials: serverICE,
                ice: .controlling(remoteCandidates: [serverAddress], tieBreaker: 42),
                dtls: .init(
                    certificate: Self.clientCertificate, role: .client,
                    remoteFingerprints: [Self.serverCertificate.fingerprint], srtpProfiles: profiles,
                    initialRetransmissionTimeout: retransmission)),
            now: now)
    }

    private func collect() {
        while let t = server.pollTransmit() {
            if !drop(t.bytes, false) { inFlight.append(InFlight(bytes: t.bytes, from: serverAddress, toServer: false, at: now + latency)) }
        }
        while let t = client.pollTransmit() {
            if !drop(t.bytes, true) { inFlight.append(InFlight(bytes: t.bytes, from: clientAddress, toServer: true, at: now + latency)) }
        }
        while let e = server.pollEvent() { serverEvents.append(e) }
        while let e = client.pollEvent() { clientEvents.append(e) }
    }

    /// Delivers one datagram to a transport, the way the UDP layer does (decrypting in place).
    func deliver(_ bytes: [UInt8], toServer: Bool, from: STUNAddress) {
        var buffer = bytes + [UInt8](repeating: 0, count: 64)
        let count = bytes.count
        let received = buffer.withUnsafeMutableBytes { raw in
            (toServer ? server : client).handleDatagram(
                UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), from: from, now: now)
        }
        switch received {
        case .none: break
        case .rtp(let n), .rtcp(let n):
            if toServer { serverReceived.append(Array(buffer[0..<n])) } else { clientReceived.append(Array(buffer[0..<n])) }
        }
    }

    /// Runs the virtual clock forward by `duration` in 5 ms steps.
    func run(for duration: Duration, realTimePerStep: Duration = .zero) {
        let end = now + duration
        collect()
        while now < end {
            now += .milliseconds(5)
            if realTimePerStep > .zero { Thread.sleep(forTimeInterval: Double(realTimePerStep.nanosecondsClamped) / 1e9) }
            let due = inFlight.filter { $0.at <= now }
            inFlight.removeAll { $0.at <= now }
            for d in due { deliver(d.bytes, toServer: d.toServer, from: d.toServer ? d.from : serverAddress) }
            for t in [server, client] {
                if let deadline = t.nextDeadline, deadline <= now { t.handleTimeout(now: now) }
            }
            collect()
        }
    }

    func connect(timeout: Duration = .seconds(5), realTimePerStep: Duration = .zero) {
        let end = now + timeout
        while now < end && !(server.isConnected && client.isConnected) {
            run(for: .milliseconds(50), realTimePerStep: realTimePerStep)
        }
    }

    /// An RTP packet protected by `sender`, as it would go on the wire.
    func protectedRTP(from sender: PeerTransport, sequenceNumber: UInt16, payload: [UInt8]) throws -> [UInt8] {
        let plain = RTPPacket(payloadType: 96, sequenceNumber: sequenceNumber, timestamp: 90_000, ssrc: 0xABCD, payload: payload)
            .serialized()
        var buffer = plain + [UInt8](repeating: 0, count: 32)
        let length = try buffer.withUnsafeMutableBytes { raw throws(SRTPError) -> Int in
            try sender.protectRTP(raw.baseAddress!, length: plain.count, capacity: raw.count)
        }
        return Array(buffer[0..<length])
    }
}

extension SCTPTests {
    /// Data channels over the whole stack: ICE, DTLS, then SCTP inside DTLS (RFC 8261) between the two
    /// transports, with the first DTLS flights of each direction lost on the way.
    @Suite struct DataChannelsOverDTLSTests {
        @Test func channelsOpenAndCarryMessagesOverDTLS() throws {
            let pair = try PeerPair()
            var dropped = 0
            pair.drop = { bytes, _ in
                // Lose one DTLS application-data record (content type 23) early on: SCTP retransmits it.
                guard bytes.first == 23, dropped < 1 else { return false }
                dropped += 1
                return true
            }
            pair.now = SCTPTests.nextStart()
            try pair.server.enableDataChannels(remoteMaxMessageSize: 262_144, now: pair.now)
            try pair.client.enableDataChannels(remoteMaxMessageSize: 262_144, now: pair.now)
            pair.connect()
            #expect(pair.server.isConnected && pair.client.isConnected)
            pair.run(for: .milliseconds(300))
            let client = try #require(pair.client.dataChannels), server = try #require(pair.server.dataChannels)
            #expect(client.association.state == .connected && server.association.state == .connected)
            let chat = try client.open(label: "chat")
            pair.client.flushDataChannels(now: pair.now)
            let big = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0) })
            try pair.client.sendData(.string("hello over DTLS"), on: chat.id, now: pair.now)
            try pair.client.sendData(.binary(big), on: chat.id, now: pair.now)
            pair.run(for: .seconds(3))
            var events: [DataChannelEndpoint.Event] = []
            while let e = server.pollEvent() { events.append(e) }
            #expect(events.contains { if case .opened(let c) = $0 { c.label == "chat" && c.id == 0 } else { false } })
            #expect(events.contains(.message(channel: 0, .string("hello over DTLS"))))
            #expect(events.contains(.message(channel: 0, .binary(big))))
            #expect(dropped == 1)
            // The server answers on the same channel.
            try pair.server.sendData(.string("hi"), on: chat.id, now: pair.now)
            pair.run(for: .milliseconds(200))
            var back: [DataChannelEndpoint.Event] = []
            while let e = client.pollEvent() { back.append(e) }
            #expect(back.contains(.message(channel: 0, .string("hi"))))
        }
    }
}

@Suite struct PeerTransportTests {
    @Test(arguments: [SRTPProtectionProfile.aeadAes128Gcm, .aes128CmHmacSha1_80])
    func connectsAndCarriesMediaBothWays(profile: SRTPProtectionProfile) throws {
        let pair = try PeerPair(profiles: [profile])
        pair.connect()
        #expect(pair.server.isConnected && pair.client.isConnected)
        #expect(pair.serverEvents.contains(.connected(profile)))
        #expect(pair.clientEvents.contains(.connected(profile)))
        #expect(pair.server.destination == pair.clientAddress)

        for seq in UInt16(0)..<50 {
            pair.deliver(try pair.protectedRTP(from: pair.client, sequenceNumber: seq, payload: [1, 2, 3, UInt8(seq)]),
                         toServer: true, from: pair.clientAddress)
            pair.deliver(try pair.protectedRTP(from: pair.server, sequenceNumber: seq, payload: [9, UInt8(seq)]),
                         toServer: false, from: pair.serverAddress)
        }
        #expect(pair.serverReceived.count == 50)
        #expect(pair.clientReceived.count == 50)
        let first = try RTPPacket(parsing: pair.serverReceived[0])
        #expect(first.payload == [1, 2, 3, 0])
        #expect(try RTPPacket(parsing: pair.clientReceived[49]).payload == [9, 49])

        // RTCP too (a PLI, reduced-size).
        var pli = PictureLossIndication(senderSSRC: 1, mediaSSRC: 0xABCD).serialized()
        let plainLength = pli.count
        pli += [UInt8](repeating: 0, count: 32)
        let length = try pli.withUnsafeMutableBytes { raw throws(SRTPError) -> Int in
            try pair.client.protectRTCP(raw.baseAddress!, length: plainLength, capacity: raw.count)
        }
        pair.deliver(Array(pli[0..<length]), toServer: true, from: pair.clientAddress)
        #expect(try PictureLossIndication(parsing: pair.serverReceived.last!).mediaSSRC == 0xABCD)
    }

    @Test func handshakeCompletesWhenTheFirstDTLSFlightsAreDropped() throws {
        let pair = try PeerPair(retransmission: .milliseconds(20))
        var droppedToServer = 0
        var droppedToClient = 0
        pair.drop = { bytes, toServer in
            guard bytes.first.map({ (20...63).contains($0) }) == true else { return false }  // DTLS only
            if toServer && droppedToServer < 1 { droppedToServer += 1; return true }
            if !toServer && droppedToClient < 1 { droppedToClient += 1; return true }
            return false
        }
        pair.connect(timeout: .seconds(10), realTimePerStep: .milliseconds(1))
        #expect(droppedToServer == 1 && droppedToClient == 1)
        #expect(pair.server.isConnected && pair.client.isConnected)
        #expect(pair.client.dtls.counters.retransmissions + pair.server.dtls.counters.retransmissions > 0)
    }

    @Test func wrongFingerprintFailsWithoutMedia() throws {
        let wrong = SDP.Fingerprint(hashFunction: "sha-256", bytes: [UInt8](repeating: 0xAB, count: 32))
        let pair = try PeerPair(serverExpects: wrong)
        pair.connect(timeout: .seconds(3))
        #expect(!pair.server.isConnected)
        #expect(pair.server.state == .failed)
        let failure = pair.serverEvents.compactMap { if case .failed(let why) = $0 { why } else { nil } }.first
        #expect(failure?.contains("fingerprint") == true, "\(pair.serverEvents)")
        #expect(!pair.serverEvents.contains { if case .connected = $0 { true } else { false } })
    }

    @Test func consentExpiresAfterThirtySecondsOfSilenceAndMediaStops() throws {
        let pair = try PeerPair()
        pair.connect()
        #expect(pair.server.isConnected)
        pair.drop = { _, toServer in toServer }  // the client's checks no longer arrive
        pair.run(for: .seconds(29))
        #expect(pair.server.destination != nil)
        pair.run(for: .seconds(2))
        #expect(pair.serverEvents.contains(.disconnected))
        #expect(pair.server.destination == nil)
        #expect(!pair.server.isConnected)
        // Checks get through again: consent comes back.
        pair.drop = { _, _ in false }
        pair.run(for: .seconds(8))
        #expect(pair.serverEvents.contains(.reconnected))
        #expect(pair.server.isConnected)
    }

    @Test func garbageTruncatedDTLSAndBadSRTPAreDroppedAndCounted() throws {
        let pair = try PeerPair()
        pair.connect()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let garbage = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            pair.deliver(garbage, toServer: true, from: pair.clientAddress)
        }
        pair.deliver([22, 0xFE, 0xFD, 0, 0], toServer: true, from: pair.clientAddress)  // truncated DTLS record
        var tampered = try pair.protectedRTP(from: pair.client, sequenceNumber: 1000, payload: [1, 2, 3])
        tampered[tampered.count - 1] ^= 0xFF  // bad tag
        let before = pair.server.srtpInboundCounters?.authFailures ?? 0
        pair.deliver(tampered, toServer: true, from: pair.clientAddress)
        #expect((pair.server.srtpInboundCounters?.authFailures ?? 0) == before + 1)
        // Media from an address that never passed an ICE check is refused.
        pair.deliver(try pair.protectedRTP(from: pair.client, sequenceNumber: 1001, payload: [7]), toServer: true,
                     from: STUNAddress(ipv4: 127, 0, 0, 9, port: 1))
        #expect(pair.server.counters.mediaFromUnvalidatedAddress >= 1)
        // The transport goes on.
        let received = pair.serverReceived.count
        pair.deliver(try pair.protectedRTP(from: pair.client, sequenceNumber: 1002, payload: [4, 5]), toServer: true,
                     from: pair.clientAddress)
        #expect(pair.serverReceived.count == received + 1)
        #expect(pair.server.isConnected)
    }

    @Test func wrongICEPasswordGetsNoAnswer() throws {
        let server = try PeerTransport(
            configuration: .init(
                localCredentials: ICECredentials(ufrag: "srvr", pwd: "serverpassword0123456789"), remoteCredentials: nil,
                ice: .lite(.init()),
                dtls: .init(
                    certificate: PeerPair.serverCertificate, role: .server,
                    remoteFingerprints: [PeerPair.clientCertificate.fingerprint])),
            now: .zero)
        let request = STUNMessage(
            type: .bindingRequest, transactionID: .random(),
            attributes: [.username("srvr:clnt"), .priority(1), .iceControlling(1), .useCandidate])
        let wrong = request.serialize(integrityKey: STUNCredentials.shortTermKey(password: "not-the-password-at-all"), fingerprint: true)
        var buffer = wrong
        _ = buffer.withUnsafeMutableBytes { server.handleDatagram($0, from: STUNAddress(ipv4: 127, 0, 0, 1, port: 5), now: .zero) }
        #expect(server.pollTransmit() == nil)
        guard case .lite(let counters) = server.iceCounters else { Issue.record("lite agent expected"); return }
        #expect(counters.badIntegrity == 1)
        let right = request.serialize(integrityKey: STUNCredentials.shortTermKey(password: "serverpassword0123456789"), fingerprint: true)
        buffer = right
        _ = buffer.withUnsafeMutableBytes { server.handleDatagram($0, from: STUNAddress(ipv4: 127, 0, 0, 1, port: 5), now: .zero) }
        #expect(server.pollTransmit() != nil)
    }
}

/// A peer cycling through SSRCs used to make libsrtp keep a stream for each (30,000 SSRCs: +10 MB, never
/// freed). The transport now holds at most `maxInboundSSRCs`; SSRCs in use are never pushed out.
@Suite struct InboundSSRCBoundTests {
    static func protectedRTP(from sender: PeerTransport, ssrc: UInt32, sequenceNumber: UInt16) throws -> [UInt8] {
        let plain = RTPPacket(payloadType: 96, sequenceNumber: sequenceNumber, timestamp: 90_000, ssrc: ssrc, payload: [1, 2, 3])
            .serialized()
        var buffer = plain + [UInt8](repeating: 0, count: 32)
        let length = try buffer.withUnsafeMutableBytes { raw throws(SRTPError) -> Int in
            try sender.protectRTP(raw.baseAddress!, length: plain.count, capacity: raw.count)
        }
        return Array(buffer[0..<length])
    }

    @Test func inboundSSRCsAreBoundedAndSilentOnesForgotten() throws {
        let pair = try PeerPair()
        pair.connect()
        #expect(pair.server.isConnected)
        var seq: UInt16 = 0
        func send(_ ssrc: UInt32) throws {
            seq &+= 1
            pair.deliver(try Self.protectedRTP(from: pair.client, ssrc: ssrc, sequenceNumber: seq), toServer: true, from: pair.clientAddress)
        }
        try send(0xABCD)
        for ssrc in UInt32(1)...20_000 { try send(ssrc) }
        #expect(pair.server.inboundSSRCCount == 64)
        #expect(pair.server.counters.ssrcLimitDrops == 20_000 - 63)
        let before = pair.serverReceived.count
        try send(0xABCD)
        #expect(pair.serverReceived.count == before + 1, "the SSRC in use still gets through")

        // Two seconds of silence make the least recently seen replaceable; a new SSRC takes its place.
        pair.now += .seconds(3)
        try send(0xABCD)
        try send(0xFEED)
        #expect(pair.serverReceived.count == before + 3)
        #expect(pair.server.counters.ssrcsForgotten == 1)
        #expect(pair.server.inboundSSRCCount == 64)

        // A minute of silence forgets them all but the ones still sending.
        for _ in 0..<14 {
            pair.now += .seconds(5)
            try send(0xABCD)
            pair.server.handleTimeout(now: pair.now)
        }
        #expect(pair.server.inboundSSRCCount == 1)
    }
}
