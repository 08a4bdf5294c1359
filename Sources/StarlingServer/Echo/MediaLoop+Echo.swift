import Logging
import NIOCore
import StarlingTransport
import StarlingWire

extension MediaLoop {
    /// Creates an echo session for an SDP offer on this loop; returns its id and the SDP answer.
    func createEchoSession(
        offer text: String, certificate: DTLSCertificate, candidateAddresses: [String]
    ) async throws -> (id: String, answer: String) {
        let offer: SessionDescription
        do {
            offer = try SessionDescription(parsing: text)
        } catch {
            throw EchoError.badOffer("the SDP offer does not parse: \(error)")
        }
        guard let fingerprint = certificate.fingerprint(hashFunction: "sha-256") else {
            throw EchoError.internalError("no certificate fingerprint")
        }
        let local = ICECredentials.random()
        let socket = try await socketForNewPeer()
        let plan: EchoAnswer
        do {
            plan = try EchoAnswer(
                offer: offer, local: local, fingerprint: fingerprint, candidateAddresses: candidateAddresses,
                port: socket.port, newSSRC: { UInt32.random(in: 1...UInt32.max) })
        } catch {
            if socket.owned { try? await socket.channel.close() }
            throw EchoError.badOffer("\(error)")
        }
        let now = MediaLoop.now()
        let transport = try PeerTransport(
            configuration: .init(
                localCredentials: local, remoteCredentials: plan.remoteCredentials, ice: .lite(.init()),
                dtls: .init(certificate: certificate, role: plan.dtlsRole, remoteFingerprints: plan.remoteFingerprints)),
            now: now)
        let id = "\(index)-\(local.ufrag)"
        let session = EchoSession(id: id, transport: transport, answer: plan, now: now, logger: logger)
        add(session, channel: socket.channel, owned: socket.owned)
        logger.info(
            "echo session created",
            metadata: ["session": "\(id)", "tracks": "\(plan.tracks.map(\.mid))", "port": "\(socket.port)"])
        return (id, plan.answer.serialized())
    }

    /// Ends the echo session `id`; false when there is none.
    func endEchoSession(id: String) -> Bool {
        guard let session = peer(where: { ($0 as? EchoSession)?.id == id }) as? EchoSession else { return false }
        session.end(now: MediaLoop.now())
        remove(session)
        flush()
        return true
    }
}

enum EchoError: Error, CustomStringConvertible {
    case badOffer(String)
    case internalError(String)
    var description: String {
        switch self {
        case .badOffer(let s), .internalError(let s): s
        }
    }
}
