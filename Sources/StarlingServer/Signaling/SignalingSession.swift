import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import StarlingRouting
import StarlingWire

/// What every `/rtc` connection shares: the media service, the token verifier and the limits.
struct SignalingSettings: Sendable {
    var media: MediaService
    /// nil when no JWT secret is configured (and no development secret): every join is refused.
    var verifier: JSONWebToken.Verifier?
    var maxMessageBytes: Int
    var requestsPerSecond: Int
    /// How long a participant whose WebSocket dropped waits in its room to resume.
    var reconnectWindow: Duration = .seconds(20)
    /// A connection that has not joined within this long is closed.
    var joinTimeout: Duration = .seconds(10)
    var turn = StarlingConfiguration.TURN()

    /// The `iceServers` of a join response: the configured TURN URLs with credentials for `identity` in
    /// coturn's REST form (draft-uberti-behave-turn-rest-00 §2.2), valid `turn.credentialSeconds`.
    func iceServers(identity: String, now: Int64) -> [[String: Any]] {
        guard !turn.urls.isEmpty, !turn.secret.isEmpty else { return [] }
        let credentials = TURNCredentials(
            secret: Array(turn.secret.utf8), user: identity, expiresAt: now + Int64(turn.credentialSeconds))
        return [["urls": turn.urls, "username": credentials.username, "credential": credentials.password]]
    }
}

/// One participant's `/rtc` WebSocket (docs/PROTOCOL.md): requests are decoded with
/// `SignalingCodec`, answered with a `response` or an `error` carrying their id, and the room's events for
/// the participant are written as they come. A bad message gets an error and the connection stays up; the
/// participant leaves its room when the connection closes.
struct SignalingSession {
    let settings: SignalingSettings
    let outbound: WebSocketOutboundWriter
    let logger: Logger
    private var joined: (room: Room, participantID: String, generation: Int)?
    private var eventsTask: Task<Void, Never>?
    /// The room's events for this participant, forwarded once the join response has gone out (so a client
    /// always reads that response before any event).
    private var pendingEvents: AsyncStream<String>?
    private var bucket: TokenBucket
    /// Closes the connection unless it joins in time.
    private var deadline: SessionDeadline?

    init(settings: SignalingSettings, outbound: WebSocketOutboundWriter, logger: Logger) {
        self.settings = settings
        self.outbound = outbound
        self.logger = logger
        bucket = TokenBucket(rate: settings.requestsPerSecond)
    }

    static func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, settings: SignalingSettings, logger: Logger) async {
        settings.media.signalingSessions.withLockedValue { $0 += 1 }
        let closer = settings.media.registerCloser { try? await outbound.close(.goingAway, reason: "server shutdown") }
        defer {
            settings.media.forgetCloser(closer)
            settings.media.signalingSessions.withLockedValue { $0 -= 1 }
        }
        var session = SignalingSession(settings: settings, outbound: outbound, logger: logger)
        session.deadline = SessionDeadline(
            after: settings.joinTimeout, outbound: outbound,
            message: SignalingCodec.error(
                SignalingError(code: .joinTimeout, message: "no join within the join timeout (signaling.joinTimeoutSeconds)")),
            reason: "join timeout")
        defer { session.deadline?.reach() }
        do {
            // The transport lets messages a little over the limit through; those get a too_large error.
            for try await message in inbound.messages(maxSize: settings.maxMessageBytes + (64 << 10)) {
                guard case .text(let text) = message else {
                    await session.send(SignalingCodec.error(SignalingError(code: .badJSON, message: "messages are JSON text, not binary")))
                    continue
                }
                if await session.handle(text) == .leave { break }
            }
        } catch {
            logger.debug("signaling connection ended", metadata: ["error": "\(error)"])
        }
        await session.disconnected()
    }

    enum Outcome { case goOn, leave }

    /// Handles one text message.
    mutating func handle(_ text: String) async -> Outcome {
        guard bucket.take() else {
            // The request is neither run nor read (parsing it would cost what the limit saves), so the error
            // carries no id (docs/PROTOCOL.md §6).
            await send(
                SignalingCodec.error(
                    SignalingError(code: .rateLimited, message: "more than \(settings.requestsPerSecond) requests per second")))
            return .goOn
        }
        let envelope: SignalingEnvelope
        switch SignalingCodec.decode(text, maxBytes: settings.maxMessageBytes) {
        case .failure(let error):
            await send(SignalingCodec.error(error))
            return .goOn
        case .success(let e):
            envelope = e
        }
        do {
            let (result, outcome) = try await perform(envelope.request)
            if outcome == .leave {
                // Answered first, then the participant goes and the connection closes.
                eventsTask?.cancel()
                eventsTask = nil
                await send(SignalingCodec.response(id: envelope.id, result: result))
                await end(reason: "left")
                // Close while the session goes on reading: the client's close frame ends the inbound stream.
                try? await outbound.close(.normalClosure, reason: "left")
                return .goOn
            }
            await send(SignalingCodec.response(id: envelope.id, result: result))
            if let stream = pendingEvents {
                pendingEvents = nil
                let outbound = self.outbound
                let media = settings.media
                eventsTask = Task {
                    for await text in stream { try? await outbound.write(.text(text)) }
                    // The room ended this participant's events: it was removed, resumed on another connection,
                    // or the room closed. The connection has nothing more to do. (Cancelled: the session ended
                    // it and closes the connection itself; a close from a cancelled task can stop half-way.)
                    guard !Task.isCancelled else { return }
                    if media.isDraining {
                        try? await outbound.close(.goingAway, reason: "server shutdown")
                    } else {
                        try? await outbound.close(.normalClosure, reason: "done")
                    }
                }
            }
            return outcome
        } catch var error as SignalingError {
            error.id = envelope.id
            await send(SignalingCodec.error(error))
        } catch let error as Room.RoomError {
            await send(SignalingCodec.error(Self.signalingError(error, id: envelope.id)))
        } catch {
            logger.error("signaling request failed", metadata: ["error": "\(error)"])
            await send(SignalingCodec.error(SignalingError(code: .internalError, message: "the request failed", id: envelope.id)))
        }
        return .goOn
    }

    private mutating func perform(_ request: SignalingRequest) async throws -> ([String: Any], Outcome) {
        if case .join(let token, let reconnect, let room, let data, let resumeToken) = request {
            return (
                try await join(token: token, reconnect: reconnect, room: room, data: data, resumeToken: resumeToken), .goOn
            )
        }
        if case .ping = request { return (["time": Int(Date().timeIntervalSince1970 * 1000)], .goOn) }
        guard let (room, participantID, _) = joined else {
            throw SignalingError(code: .unauthenticated, message: "join first")
        }
        let media = settings.media
        switch request {
        case .join, .ping:
            return ([:], .goOn)
        case .publish(let sdp, let tracks):
            try checkSDPSize(sdp)
            let (answer, published) = try await room.publish(
                participantID, offer: sdp, tracks: tracks, certificate: media.certificate,
                candidateAddresses: media.settings.candidateAddresses)
            return (["sdp": answer, "tracks": published.map(\.json)], .goOn)
        case .subscriberAnswer(let sdp, _):
            try checkSDPSize(sdp)
            try await room.answerSubscriber(participantID, sdp: sdp, certificate: media.certificate)
            return ([:], .goOn)
        case .unpublish(let trackID):
            try await room.unpublish(participantID, trackID: trackID)
            return ([:], .goOn)
        case .mute(let trackID, let muted):
            try await room.setMuted(participantID, trackID: trackID, muted: muted)
            return ([:], .goOn)
        case .setSubscription(let trackID, let spatial, let temporal, let paused):
            try await room.setSubscription(
                participantID, trackID: trackID, maxSpatialLayer: spatial, maxTemporalLayer: temporal, paused: paused)
            return ([:], .goOn)
        case .leave:
            return ([:], .leave)
        }
    }

    private mutating func join(
        token: String, reconnect: Bool, room expectedRoom: String?, data wantsData: Bool, resumeToken: String?
    ) async throws -> [String: Any] {
        guard joined == nil else { throw SignalingError(code: .invalidField, message: "already joined") }
        guard let verifier = settings.verifier else {
            throw SignalingError(code: .unauthenticated, message: "this server has no token secret configured (auth.jwtSecret)")
        }
        let claims: JSONWebToken.Claims
        do throws(JWTError) {
            claims = try verifier.verify(token, now: Int64(Date().timeIntervalSince1970), expectedRoom: expectedRoom)
        } catch {
            switch error {
            case .expired, .notYetValid: throw SignalingError(code: .tokenExpired, message: error.description)
            case .wrongRoom: throw SignalingError(code: .wrongRoom, message: error.description)
            default: throw SignalingError(code: .unauthenticated, message: error.description)
            }
        }
        guard !MediaService.isReserved(roomName: claims.room) else {
            throw SignalingError(code: .invalidField, message: "room names starting with '\(MediaService.echoPrefix)' are reserved")
        }
        let room: Room
        do {
            room = try await settings.media.openRoom(claims.room).room
        } catch {
            throw SignalingError(code: .limitExceeded, message: error.description)
        }
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let identity = ParticipantIdentity(
            identity: claims.identity, name: claims.name ?? claims.identity,
            grants: ParticipantGrants(
                publish: claims.grants.publish, subscribe: claims.grants.subscribe, publishData: claims.grants.publishData))
        let result: Room.JoinResult
        do {
            result = try await room.join(
                identity, resume: reconnect ? resumeToken : nil, dataChannels: wantsData, events: continuation,
                certificate: settings.media.certificate, candidateAddresses: settings.media.settings.candidateAddresses)
        } catch {
            // A room this join created stays only as long as its empty timeout.
            await room.scheduleEmptyCheck()
            throw error
        }
        joined = (room, result.participant.id, result.generation)
        deadline?.reach()
        pendingEvents = stream
        logger.info(
            result.resumed ? "participant resumed" : "participant joined",
            metadata: ["room": "\(claims.room)", "identity": "\(claims.identity)"])
        var response: [String: Any] = [
            "participant": result.participant.json, "room": ["name": claims.room],
            "participants": result.participants.map(\.json), "tracks": result.tracks.map(\.json),
            "resumed": result.resumed, "resumeToken": result.resumeToken,
            "iceServers": settings.iceServers(identity: claims.identity, now: Int64(Date().timeIntervalSince1970)),
        ]
        let data = settings.media.roomDefaults.data
        if data.enabled && wantsData {
            // What a client needs to pace itself (docs/PROTOCOL.md, "Data channels").
            response["data"] = [
                "maxMessageBytes": data.maxMessageBytes, "messagesPerSecond": data.messagesPerSecond,
                "bytesPerSecond": data.bytesPerSecond, "reliableLabel": DataRoom.reliableLabel, "lossyLabel": DataRoom.lossyLabel,
            ]
        }
        if result.resumed { response["ownTracks"] = result.ownTracks.map(\.json) }
        return response
    }

    /// Refuses an SDP over `limits.sdpBytes` before it is parsed.
    private func checkSDPSize(_ sdp: String) throws {
        let limit = settings.media.roomLimits.sdpBytes
        guard sdp.utf8.count <= limit else {
            throw SignalingError(code: .limitExceeded, message: "the SDP is \(sdp.utf8.count) bytes, more than \(limit) (limits.sdpBytes)")
        }
    }

    /// `leave`: the participant goes at once.
    mutating func end(reason: String) async {
        if let (room, participantID, _) = joined { await room.leave(participantID, reason: reason) }
        joined = nil
        eventsTask?.cancel()
        eventsTask = nil
    }

    /// The WebSocket closed without `leave`: the participant may resume within the reconnect window.
    mutating func disconnected() async {
        if let (room, participantID, generation) = joined {
            await room.disconnected(participantID, generation: generation, window: settings.reconnectWindow)
        }
        joined = nil
        eventsTask?.cancel()
        eventsTask = nil
    }

    func send(_ text: String) async {
        try? await outbound.write(.text(text))
    }

    static func signalingError(_ error: Room.RoomError, id: SignalingRequestID?) -> SignalingError {
        switch error {
        case .badOffer(let why):
            let code: SignalingError.Code = why.contains("no m-line with a codec") ? .noCodec : .badSDP
            return SignalingError(code: code, message: why, id: id)
        case .closed: return SignalingError(code: .notFound, message: "the room is closed", id: id)
        case .forbidden(let why): return SignalingError(code: .forbidden, message: why, id: id)
        case .notFound(let why): return SignalingError(code: .notFound, message: why, id: id)
        case .rejected(let why): return SignalingError(code: .invalidField, message: why, id: id)
        case .full(let why): return SignalingError(code: .roomFull, message: why, id: id)
        case .limitExceeded(let why): return SignalingError(code: .limitExceeded, message: why, id: id)
        }
    }
}
