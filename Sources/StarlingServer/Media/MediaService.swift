import Foundation
import StarlingAPI
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import CMallocTuning
import StarlingTransport

/// The media side of a Starling server: one `MediaLoop` per event loop, the DTLS certificate, and the
/// placement of new peers on loops. Runs under ServiceLifecycle: on shutdown it closes every socket.
public final class MediaService: Service, Sendable {
    public let certificate: DTLSCertificate
    let loops: [MediaLoop]
    let settings: StarlingConfiguration.Media
    /// Options of rooms a join creates.
    let roomDefaults: RoomOptions
    /// Room events for the control API's subscribers.
    let events = ControlEventHub()
    let logger: Logger
    /// What offers, participants, rooms and transports may claim (`limits.*`, `media.disconnectedTimeoutSeconds`).
    let roomLimits: RoomLimits
    /// The echo endpoint's own limits (`echo.*`).
    let echo: StarlingConfiguration.Echo
    private let nextLoop = NIOLockedValueBox(0)
    private let rooms = NIOLockedValueBox([String: Room]())
    /// Live echo sessions: room id -> the client address that opened it.
    private let echoSessions = NIOLockedValueBox([String: String]())
    private let draining = NIOLockedValueBox(false)
    /// Rooms closed so far: `releaseFreedMemory` trims after each change.
    private let closedRooms = NIOLockedValueBox(UInt64(0))
    /// `/rtc` sessions open now: shutdown waits (a little) for them to tell their clients and close.
    let signalingSessions = NIOLockedValueBox(0)
    /// What closes each open `/rtc` and `/control` WebSocket with 1001 (going away) at shutdown, by session.
    private let closers = NIOLockedValueBox((next: 0, all: [Int: @Sendable () async -> Void]()))

    /// Registers a session's close for shutdown; returns the key to `forgetCloser` with when it ends.
    func registerCloser(_ close: @escaping @Sendable () async -> Void) -> Int {
        closers.withLockedValue { c in
            c.next += 1
            c.all[c.next] = close
            return c.next
        }
    }

    func forgetCloser(_ key: Int) { closers.withLockedValue { _ = $0.all.removeValue(forKey: key) } }
    /// The HTTP front's connection table, for the counters in getStats.
    let httpConnectionsBox = NIOLockedValueBox<ConnectionTable?>(nil)

    /// Set when shutdown began: `/healthz` answers 503 and rooms close with `server_shutdown`.
    public var isDraining: Bool { draining.withLockedValue { $0 } }

    var httpConnections: ConnectionTable? {
        get { httpConnectionsBox.withLockedValue { $0 } }
        set { httpConnectionsBox.withLockedValue { $0 = newValue } }
    }

    /// Binds the media sockets (single-port mode) on `group`'s loops.
    public static func start(
        configuration: StarlingConfiguration, group: any EventLoopGroup, logger: Logger
    ) async throws -> MediaService {
        let certificate: DTLSCertificate
        if configuration.dtls.certificateFile.isEmpty {
            certificate = try DTLSCertificate(generatingWithCommonName: "starling")
        } else {
            let pem = try String(contentsOfFile: configuration.dtls.certificateFile, encoding: .utf8)
            let key = try String(contentsOfFile: configuration.dtls.privateKeyFile, encoding: .utf8)
            certificate = try DTLSCertificate(certificatePEM: pem, privateKeyPEM: key)
        }
        let count = configuration.media.eventLoops == 0 ? System.coreCount : configuration.media.eventLoops
        var eventLoops: [any EventLoop] = []
        var iterator = group.makeIterator()
        while eventLoops.count < count, let loop = iterator.next() { eventLoops.append(loop) }
        if eventLoops.isEmpty { eventLoops = [group.next()] }
        var loops: [MediaLoop] = []
        for (i, loop) in eventLoops.enumerated() {
            let mediaLoop = MediaLoop(eventLoop: loop, index: i, settings: configuration.media, logger: logger)
            try await mediaLoop.start()
            loops.append(mediaLoop)
        }
        let service = MediaService(
            certificate: certificate, loops: loops, settings: configuration.media,
            roomDefaults: RoomOptions(configuration.rooms, data: configuration.data), logger: logger,
            roomLimits: RoomLimits(configuration), echo: configuration.echo)
        let ports = await service.sharedPorts()
        let tcpPorts = await service.tcpPorts()
        logger.info(
            "media ready",
            metadata: [
                "mode": "\(configuration.media.portMode.rawValue)", "udpPorts": "\(ports)", "tcpPorts": "\(tcpPorts)",
                "candidates": "\(configuration.media.candidateAddresses)",
                "fingerprint": "\(certificate.fingerprint.sdpValue)",
            ])
        return service
    }

    init(
        certificate: DTLSCertificate, loops: [MediaLoop], settings: StarlingConfiguration.Media,
        roomDefaults: RoomOptions = RoomOptions(), logger: Logger, roomLimits: RoomLimits = RoomLimits(),
        echo: StarlingConfiguration.Echo = .init()
    ) {
        self.certificate = certificate
        self.loops = loops
        self.settings = settings
        self.roomDefaults = roomDefaults
        self.logger = logger
        self.roomLimits = roomLimits
        self.echo = echo
    }

    /// The UDP port of each loop in single-port mode (empty in port-range mode).
    public func sharedPorts() async -> [Int] {
        var ports: [Int] = []
        for loop in loops { if let port = await loop.sharedPort { ports.append(port) } }
        return ports
    }

    /// The loops' ICE-TCP ports (empty when ICE-TCP is off).
    public func tcpPorts() async -> [Int] {
        var ports: [Int] = []
        for loop in loops { if let port = await loop.tcpPort { ports.append(port) } }
        return ports
    }

    /// Runs until shutdown begins; then drains: `/healthz` reports it, every room closes with
    /// `server_shutdown` (its participants and control subscribers are told before their sockets close),
    /// and the media sockets close. Runs before the HTTP front stops (`StarlingServer.run` orders them).
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.releaseFreedMemory() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        draining.withLockedValue { $0 = true }
        logger.info("draining", metadata: ["rooms": "\(roomIDs.count)"])
        for id in roomIDs { await closeRoom(id, reason: "server_shutdown") }
        // The sessions write roomClosed and close their WebSockets (1001); give them a moment, bounded.
        let deadline = ContinuousClock.now + .seconds(2)
        while signalingSessions.withLockedValue({ $0 }) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? await Task.sleep(for: .milliseconds(100))  // control subscribers' last events
        // Whatever WebSocket is still open (control connections, /rtc ones not in a room) goes away too.
        for close in closers.withLockedValue({ Array($0.all.values) }) { await close() }
        for loop in loops { await loop.stop() }
    }

    /// Gives what closed rooms freed back to the system (docs/OPERATIONS.md, "Memory"): glibc's malloc keeps
    /// free pages inside its arenas otherwise, and an idle server would stay at its busiest size. Looks every
    /// `interval`; trims on the two looks after a room closed (a room's memory goes when its last transport has).
    private func releaseFreedMemory(interval: Duration = .seconds(10)) async {
        var seen = closedRooms.withLockedValue { $0 }
        var pending = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let closed = closedRooms.withLockedValue { $0 }
            if closed != seen { (seen, pending) = (closed, 2) }
            guard pending > 0 else { continue }
            pending -= 1
            _ = starling_release_free_memory()
        }
    }

    private func pickLoop() -> (index: Int, loop: MediaLoop) {
        let i = nextLoop.withLockedValue { value in
            defer { value = (value + 1) % loops.count }
            return value
        }
        return (i, loops[i])
    }

    /// The room `id`, created on the next loop (round robin) with the default options if it does not exist.
    func room(_ id: String) async -> Room {
        await room(id, options: nil).room
    }

    /// A new room refused: the server holds its maximum of rooms (`limits.rooms`).
    struct RoomLimitReached: Error, CustomStringConvertible {
        var limit: Int
        var description: String { "the server holds its maximum of \(limit) rooms (limits.rooms)" }
    }

    /// The room `id`; `options` set on a new room or change an existing one (createRoom). A new room is
    /// refused while `limits.rooms` rooms (echo sessions apart) are open.
    func openRoom(_ id: String, options: RoomOptions? = nil) async throws(RoomLimitReached) -> (room: Room, created: Bool) {
        let limit = roomLimits.rooms
        let opened: (Bool, Room)? = rooms.withLockedValue { rooms -> (Bool, Room)? in
            if let room = rooms[id] { return (false, room) }
            guard rooms.keys.lazy.filter({ !Self.isReserved(roomName: $0) }).count < limit else { return nil }
            let room = Room(
                id: id, loop: pickLoop().loop, logger: logger, options: options ?? roomDefaults, hub: events, limits: roomLimits)
            rooms[id] = room
            return (true, room)
        }
        guard let (created, room) = opened else { throw RoomLimitReached(limit: limit) }
        return await finishOpening(room, id: id, created: created, options: options)
    }

    /// The room `id`, as `openRoom`, without the room limit (tests).
    func room(_ id: String, options: RoomOptions?) async -> (room: Room, created: Bool) {
        let (created, room) = rooms.withLockedValue { rooms -> (Bool, Room) in
            if let room = rooms[id] { return (false, room) }
            let room = Room(
                id: id, loop: pickLoop().loop, logger: logger, options: options ?? roomDefaults, hub: events, limits: roomLimits)
            rooms[id] = room
            return (true, room)
        }
        return await finishOpening(room, id: id, created: created, options: options)
    }

    private func finishOpening(_ room: Room, id: String, created: Bool, options: RoomOptions?) async -> (room: Room, created: Bool) {
        if created {
            await start(room)
            events.publish(room: id, type: "roomCreated", fields: [:])
            // A room made ahead of its participants closes if none comes.
            if options != nil { await room.scheduleEmptyCheck() }
        } else if let options {
            await room.setOptions(options)
        }
        return (room, created)
    }

    /// Starts a new room's timer; when it closes, the registry forgets it.
    private func start(_ room: Room) async {
        let registry = rooms
        let echoSessions = self.echoSessions
        let closedRooms = self.closedRooms
        await room.whenClosed { [weak room] id in
            closedRooms.withLockedValue { $0 &+= 1 }
            registry.withLockedValue { rooms in
                if let current = rooms[id], current === room { rooms[id] = nil }
            }
            echoSessions.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
        await room.start()
    }

    func existingRoom(_ id: String) -> Room? { rooms.withLockedValue { $0[id] } }

    /// Echo sessions are rooms named with this prefix; participants and the control API cannot use such names.
    static let echoPrefix = "echo-"
    static func isReserved(roomName: String) -> Bool { roomName.hasPrefix(echoPrefix) }

    var roomIDs: [String] { rooms.withLockedValue { Array($0.keys) } }

    /// Closes the room `id` and every transport in it; false when there is none.
    @discardableResult
    func closeRoom(_ id: String, reason: String = "closed") async -> Bool {
        guard let room = rooms.withLockedValue({ $0.removeValue(forKey: id) }) else { return false }
        await room.close(reason: reason)
        return true
    }

    /// An echo session refused by the endpoint's limits (HTTP 429).
    struct EchoRefusal: Error, CustomStringConvertible {
        var description: String
        var retryAfterSeconds: Int
    }

    /// Answers an echo offer (POST /v1/echo): a room of its own whose one transport receives back, on
    /// each sendrecv m-line, what it sends there, through the router (rewritten under our SSRC, NACK/RTX,
    /// keyframe requests, reports, bandwidth estimation). Returns the session (room) id and the answer.
    /// At most `echo.maxSessions` live at once, `echo.maxSessionsPerAddress` of them from `client`; each
    /// ends after `echo.sessionSeconds`.
    func createEchoSession(offer: String, client: String = "unknown") async throws -> (id: String, answer: String) {
        let id = "\(Self.echoPrefix)\(UInt64.random(in: 1...UInt64.max))"
        let limits = echo
        let retry = max(1, Int(limits.sessionSeconds.rounded(.up)))
        let refusal: String? = echoSessions.withLockedValue { sessions in
            guard sessions.count < limits.maxSessions else {
                return "too many echo sessions (echo.maxSessions \(limits.maxSessions))"
            }
            guard sessions.values.filter({ $0 == client }).count < limits.maxSessionsPerAddress else {
                return "too many echo sessions from \(client) (echo.maxSessionsPerAddress \(limits.maxSessionsPerAddress))"
            }
            sessions[id] = client
            return nil
        }
        if let refusal { throw EchoRefusal(description: refusal, retryAfterSeconds: retry) }
        let room = Room(id: id, loop: pickLoop().loop, logger: logger, limits: roomLimits)
        rooms.withLockedValue { $0[id] = room }
        await start(room)
        await room.closeWhenEmpty()
        do {
            let connection = try await room.connect(
                offer: offer, sources: [:], echo: true, certificate: certificate,
                candidateAddresses: settings.candidateAddresses)
            guard !connection.consumers.isEmpty else {
                throw Room.RoomError.badOffer("the offer has no sendrecv audio or video m-line to echo")
            }
            let lifetime = Duration.seconds(limits.sessionSeconds)
            Task { [weak self] in
                try? await Task.sleep(for: lifetime)
                await self?.closeRoom(id, reason: "echo_expired")
            }
            return (id, connection.answer)
        } catch {
            await closeRoom(id)
            throw error
        }
    }

    /// Echo sessions open now.
    var echoSessionCount: Int { echoSessions.withLockedValue { $0.count } }

    /// The whole server's holdings and counters (`getServerStats`): what an operator watches for leaks and
    /// abuse (docs/OPERATIONS.md).
    func serverStats() async -> JSONValue {
        var rooms = 0
        var participants = 0
        var transports = 0
        var producers = 0
        var consumers = 0
        for id in roomIDs {
            guard let room = existingRoom(id) else { continue }
            let h = await room.holdings
            rooms += 1
            participants += h.participants
            transports += h.transports
            producers += h.producers
            consumers += h.consumers
        }
        var loopStats: [JSONValue] = []
        for loop in loops { loopStats.append(await loop.stats) }
        var result: [String: JSONValue] = [
            "rooms": .int(rooms), "participants": .int(participants), "transports": .int(transports),
            "producers": .int(producers), "consumers": .int(consumers), "echoSessions": .int(echoSessionCount),
            "signalingSessions": .int(signalingSessions.withLockedValue { $0 }), "draining": .bool(isDraining),
            "mediaLoops": .array(loopStats),
        ]
        if let table = httpConnections {
            let c = table.counters
            result["httpConnections"] = [
                "open": .int(table.openConnections), "accepted": .int(c.accepted), "refusedTotal": .int(c.refusedTotal),
                "refusedPerAddress": .int(c.refusedPerAddress), "requestTimeouts": .int(c.requestTimeouts),
                "idleTimeouts": .int(c.idleTimeouts),
            ]
        }
        return .object(result)
    }

    /// Ends an echo session (DELETE /v1/echo/{id}); false when unknown.
    func endEchoSession(id: String) async -> Bool {
        guard Self.isReserved(roomName: id) else { return false }
        return await closeRoom(id)
    }
}
