import StarlingTestSupport
import Foundation
import StarlingTransport
import StarlingWire

/// Certificates shared by the DTLS tests (generation costs a key pair each).
enum DTLSTestCertificates {
    static let client: DTLSCertificate = try! DTLSCertificate(generatingWithCommonName: "client", unixTime: 1_750_000_000)
    static let server: DTLSCertificate = try! DTLSCertificate(generatingWithCommonName: "server", unixTime: 1_750_000_000)
    static let other: DTLSCertificate = try! DTLSCertificate(generatingWithCommonName: "other", unixTime: 1_750_000_000)
}

typealias DTLSTestRandom = SeededRandom

/// A client and a server endpoint joined by an in-memory link, driven by a virtual clock.
///
/// OpenSSL runs its retransmission timer on the wall clock (see `DTLSEndpoint`), so when the
/// endpoints are idle and a deadline is due the pair advances the virtual clock to it and, if
/// OpenSSL has not retransmitted yet, waits a millisecond of real time and tries again.
final class DTLSPair {
    enum Direction: Hashable { case toServer, toClient }

    let client: DTLSEndpoint
    let server: DTLSEndpoint
    var now = Instant(nanoseconds: 1_000_000_000)
    var clientEvents: [DTLSEndpoint.Event] = []
    var serverEvents: [DTLSEndpoint.Event] = []
    /// Every datagram put on the link, with its direction, delivered or not.
    var sent: [(Direction, [UInt8])] = []
    /// Decides whether a datagram is delivered; all are by default.
    var deliver: (Direction, [UInt8]) -> Bool = { _, _ in true }
    /// Passes of the loop in which datagrams moved.
    var rounds = 0
    var realWaits = 0

    init(
        clientProfiles: [SRTPProtectionProfile] = [.aeadAes128Gcm, .aes128CmHmacSha1_80],
        serverProfiles: [SRTPProtectionProfile] = [.aeadAes128Gcm, .aes128CmHmacSha1_80],
        clientExpects: [SDP.Fingerprint]? = nil, serverExpects: [SDP.Fingerprint]? = nil,
        mtu: Int = 1200, initialTimeout: Duration = .seconds(1)
    ) throws {
        client = try DTLSEndpoint(
            configuration: .init(
                certificate: DTLSTestCertificates.client, role: .client,
                remoteFingerprints: clientExpects ?? [DTLSTestCertificates.server.fingerprint], mtu: mtu,
                srtpProfiles: clientProfiles, initialRetransmissionTimeout: initialTimeout))
        server = try DTLSEndpoint(
            configuration: .init(
                certificate: DTLSTestCertificates.server, role: .server,
                remoteFingerprints: serverExpects ?? [DTLSTestCertificates.client.fingerprint], mtu: mtu,
                srtpProfiles: serverProfiles, initialRetransmissionTimeout: initialTimeout))
    }

    func start() {
        server.start(now: now)
        client.start(now: now)
    }

    /// Moves datagrams both ways until neither endpoint has anything to send.
    @discardableResult
    func exchange() -> Bool {
        var movedAny = false
        while true {
            var moved = false
            while let d = client.pollDatagram() {
                moved = true
                sent.append((.toServer, d))
                if deliver(.toServer, d) { d.withUnsafeBytes { server.handleDatagram($0, now: now) } }
            }
            while let d = server.pollDatagram() {
                moved = true
                sent.append((.toClient, d))
                if deliver(.toClient, d) { d.withUnsafeBytes { client.handleDatagram($0, now: now) } }
            }
            drainEvents()
            if !moved { return movedAny }
            rounds += 1
            movedAny = true
        }
    }

    func drainEvents() {
        while let e = client.pollEvent() { clientEvents.append(e) }
        while let e = server.pollEvent() { serverEvents.append(e) }
    }

    /// Runs the link, firing timeouts when idle, until `done` holds or nothing is left to do.
    func run(until done: () -> Bool, realTimeLimit: Double = 10) {
        let started = Date()
        while !done() {
            if exchange() { continue }
            guard let deadline = [client.nextDeadline, server.nextDeadline].compactMap({ $0 }).min() else { return }
            if deadline > now { now = deadline }
            client.handleTimeout(now: now)
            server.handleTimeout(now: now)
            if !exchange() {
                guard Date().timeIntervalSince(started) < realTimeLimit else { return }
                realWaits += 1
                usleep(1000)
            }
        }
    }

    func handshake() {
        start()
        run(until: { bothSettled })
    }

    var bothSettled: Bool {
        settled(client.state) && settled(server.state)
    }

    private func settled(_ s: DTLSEndpoint.State) -> Bool { s == .connected || s == .failed || s == .closed }
}

extension DTLSEndpoint.Event {
    var keys: DTLSSRTPKeys? { if case .connected(let k) = self { k } else { nil } }
    var error: DTLSError? { if case .failed(let e) = self { e } else { nil } }
    var data: [UInt8]? { if case .applicationData(let d) = self { d } else { nil } }
}
