import StarlingRouting
import StarlingTransport
import StarlingWire

/// A connection the client offers (its publishing connection), as the last exchange left it: what later
/// offers on it are answered with (JSEP, RFC 8829 §5.3 "subsequent answers").
struct OfferedConnection {
    var local: ICECredentials
    var remote: ICECredentials
    var fingerprints: [SDP.Fingerprint]
    var setup: SDP.Setup
    var port: Int
    var tcpPort: Int?
    var origin: SDP.Origin
    /// The producers of the m-lines the client sends on, by mid.
    var producers: [String: ProducerID]
}

extension Room {
    /// What a renegotiation changed.
    struct Renegotiation: Sendable {
        var answer: String
        /// New m-lines the client now sends on, and the producers they became.
        var added: [(mid: String, producer: ProducerID)]
        /// Producers whose m-line no longer sends (stopped, inactive, recvonly, rejected or gone); removed.
        var removed: [ProducerID]
        var iceRestarted: Bool
    }

    /// A later offer on a connection the client offered (RFC 8829 §5.3): the same transport, ICE and DTLS go
    /// on; m-lines that start sending become producers (only mids in `newMids`, when given), m-lines that stop
    /// sending lose theirs. New ICE credentials in the offer are an ICE restart (RFC 8445 §9): we answer with
    /// new credentials of our own and media goes on over the selected pair until the checks move it. A new
    /// DTLS fingerprint would need a new DTLS association (RFC 8842 §5.5), which this connection cannot give:
    /// refused.
    func renegotiate(
        _ tid: TransportID, offer text: String, newMids: Set<String>?, certificate: DTLSCertificate, candidateAddresses: [String]
    ) throws -> Renegotiation {
        guard !isClosed else { throw RoomError.closed }
        guard var state = offered[tid], let peer = transports[tid] else {
            throw RoomError.notFound("the connection to renegotiate has ended; publish on a new one")
        }
        let (offer, fingerprint) = try Self.parse(offer: text, certificate: certificate)
        guard let first = offer.media.first(where: { !$0.isRejected }), let credentials = offer.iceCredentials(for: first)
        else { throw RoomError.badOffer("the offer has no m-line with a=ice-ufrag/a=ice-pwd") }
        guard Set(offer.fingerprints(for: first)) == Set(state.fingerprints) else {
            throw RoomError.badOffer("the DTLS fingerprint changed: a new DTLS association needs a new connection")
        }
        let remote = ICECredentials(ufrag: credentials.ufrag, pwd: credentials.pwd)
        let restart = remote != state.remote
        let local = restart ? ICECredentials.random() : state.local
        var origin = state.origin
        origin.sessionVersion += 1
        let plan: RoomAnswer
        do {
            plan = try RoomAnswer(
                offer: offer, local: local, fingerprint: fingerprint, candidateAddresses: candidateAddresses, port: state.port,
                tcpPort: state.tcpPort,
                sources: [:], cname: "starling", setup: state.setup, origin: origin, limits: limits.offer,
                newSSRC: { UInt32.random(in: 1...UInt32.max) })
        } catch {
            throw RoomError(error)
        }
        let now = MediaLoop.now()
        let sending = Set(plan.published.map(\.mid))
        var result = Renegotiation(answer: plan.answer.serialized(), added: [], removed: [], iceRestarted: restart)
        // Removals first: a line that stopped may hand its SSRCs to a new one.
        for (mid, producer) in state.producers where !sending.contains(mid) {
            state.producers[mid] = nil
            result.removed.append(producer)
        }
        offered[tid] = state
        for producer in result.removed { removeProducer(producer) }
        for p in plan.published where state.producers[p.mid] == nil && (newMids?.contains(p.mid) ?? true) {
            do {
                let producer = try addProducer(p, on: tid, now: now)
                state.producers[p.mid] = producer
                result.added.append((p.mid, producer))
            } catch {
                offered[tid] = state
                throw RoomError.rejected("m-line \(p.mid): \(error)")
            }
        }
        if restart {
            peer.transport.restartICE(local: local, remote: remote, now: now)
            state.local = local
            state.remote = remote
        }
        state.origin = origin
        offered[tid] = state
        logger.info(
            "room transport renegotiated",
            metadata: [
                "room": "\(id)", "transport": "\(tid)", "added": "\(result.added.map(\.mid))",
                "removed": "\(result.removed.count)", "iceRestart": "\(restart)",
            ])
        return result
    }
}
