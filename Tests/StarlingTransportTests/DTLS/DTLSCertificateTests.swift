import StarlingTransport
import StarlingWire
import Testing

@Suite struct DTLSCertificateTests {
    /// RFC 8122 §5: `sha-256` and 32 upper-case hex pairs joined by colons.
    @Test func fingerprintIsSHA256InSDPForm() throws {
        let f = DTLSTestCertificates.server.fingerprint
        #expect(f.hashFunction == "sha-256")
        #expect(f.bytes.count == 32)
        let value = f.hexValue
        #expect(value.count == 32 * 3 - 1)
        let pairs = value.split(separator: ":", omittingEmptySubsequences: false)
        #expect(pairs.count == 32)
        for pair in pairs {
            #expect(pair.count == 2)
            #expect(pair.allSatisfy { ("0"..."9").contains($0) || ("A"..."F").contains($0) })
        }
        #expect(f.sdpValue == "sha-256 " + value)
    }

    @Test func otherHashFunctions() throws {
        let c = DTLSTestCertificates.server
        #expect(c.fingerprint(hashFunction: "sha-1")?.bytes.count == 20)
        #expect(c.fingerprint(hashFunction: "sha-224")?.bytes.count == 28)
        #expect(c.fingerprint(hashFunction: "SHA-256") == c.fingerprint)
        #expect(c.fingerprint(hashFunction: "sha-384")?.bytes.count == 48)
        #expect(c.fingerprint(hashFunction: "sha-512")?.bytes.count == 64)
        #expect(c.fingerprint(hashFunction: "md5") == nil)
        #expect(c.fingerprint(hashFunction: "sha-3") == nil)
    }

    @Test func generatedCertificatesDiffer() throws {
        let a = try DTLSCertificate()
        let b = try DTLSCertificate()
        #expect(a.fingerprint != b.fingerprint)
    }

    @Test func pemRoundTrip() throws {
        let c = DTLSTestCertificates.client
        #expect(c.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(c.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let loaded = try DTLSCertificate(certificatePEM: c.certificatePEM, privateKeyPEM: c.privateKeyPEM)
        #expect(loaded.fingerprint == c.fingerprint)
        #expect(loaded.certificatePEM == c.certificatePEM)
    }

    @Test func pemErrors() {
        let a = DTLSTestCertificates.client
        let b = DTLSTestCertificates.server
        #expect(throws: DTLSError.self) { try DTLSCertificate(certificatePEM: a.certificatePEM, privateKeyPEM: b.privateKeyPEM) }
        #expect(throws: DTLSError.self) { try DTLSCertificate(certificatePEM: "garbage", privateKeyPEM: a.privateKeyPEM) }
        #expect(throws: DTLSError.self) { try DTLSCertificate(certificatePEM: a.certificatePEM, privateKeyPEM: "") }
        do {
            _ = try DTLSCertificate(certificatePEM: a.certificatePEM, privateKeyPEM: b.privateKeyPEM)
        } catch {
            guard case .certificate(let why) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(!why.isEmpty)
        }
    }

    /// A certificate loaded from PEM works in a handshake.
    @Test func loadedCertificateHandshakes() throws {
        let c = DTLSTestCertificates.client
        let loaded = try DTLSCertificate(certificatePEM: c.certificatePEM, privateKeyPEM: c.privateKeyPEM)
        let client = try DTLSEndpoint(
            configuration: .init(certificate: loaded, role: .client, remoteFingerprints: [DTLSTestCertificates.server.fingerprint]))
        let server = try DTLSEndpoint(
            configuration: .init(certificate: DTLSTestCertificates.server, role: .server, remoteFingerprints: [c.fingerprint]))
        let now = Instant.zero
        client.start(now: now)
        server.start(now: now)
        for _ in 0..<4 {
            while let d = client.pollDatagram() { d.withUnsafeBytes { server.handleDatagram($0, now: now) } }
            while let d = server.pollDatagram() { d.withUnsafeBytes { client.handleDatagram($0, now: now) } }
        }
        #expect(client.state == .connected)
        #expect(server.state == .connected)
        #expect(server.remoteCertificateFingerprint == c.fingerprint)
    }
}
