import StarlingAPI
import Foundation
import StarlingWire

/// The application control API (docs/API.md): one set of methods reached two ways, JSON-RPC 2.0
/// over the `/control` WebSocket (ControlSession) and `POST /api/<method>` with the params as the JSON body.
/// Callers present the configured API key; parameters are checked field by field, and every failure is a
/// `ControlError` naming the problem.
struct ControlAPI: Sendable {
    let media: MediaService
    /// Empty: the API is off and refuses every call.
    let apiKey: String
    /// The secret participants' tokens are signed with (nil: createToken is unavailable).
    let tokenSecret: [UInt8]?
    let maxMessageBytes: Int

    static let methods = [
        "createRoom", "listRooms", "getRoom", "closeRoom", "listParticipants", "removeParticipant", "muteTrack",
        "createToken", "getStats", "getServerStats", "sendData",
    ]

    /// Compares the presented key with the configured one in time independent of where they differ.
    func authorizes(_ presented: String?) -> Bool {
        guard !apiKey.isEmpty, let presented else { return false }
        return Self.constantTimeEqual(presented, apiKey)
    }

    /// Compares a presented secret with the expected one in time that depends only on the expected one's length.
    static func constantTimeEqual(_ presented: String, _ expected: String) -> Bool {
        let a = Array(expected.utf8)
        let b = Array(presented.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<a.count { difference |= a[i] ^ (i < b.count ? b[i] : 0) }
        return difference == 0
    }

    /// Why a call without a good key is refused.
    var unauthorized: ControlError {
        apiKey.isEmpty
            ? ControlError(.unauthorized, "the control API is off: set control.apiKey (STARLING_CONTROL_API_KEY)")
            : ControlError(.unauthorized, "a valid API key is required (Authorization: Bearer <key>)")
    }

    /// Runs one method.
    func call(_ method: String, params: JSONValue) async throws(ControlError) -> JSONValue {
        let p = try ControlParams(params)
        do {
            switch method {
            case "createRoom":
                let name = try p.roomName("room")
                // Options left out keep their value (the room's own, or the defaults for a new room).
                var options = await media.existingRoom(name)?.options ?? media.roomDefaults
                if let n = try p.optionalInt("maxParticipants", in: 0...100_000) { options.maxParticipants = n }
                if let s = try p.optionalDouble("emptyTimeoutSeconds", in: 1...86_400) {
                    options.emptyTimeout = .seconds(s)
                }
                let (room, created): (Room, Bool)
                do {
                    (room, created) = try await media.openRoom(name, options: options)
                } catch {
                    throw ControlError(.unavailable, error.description)
                }
                return ["room": await room.info(detailed: false), "created": .bool(created)]
            case "listRooms":
                var rooms: [JSONValue] = []
                for name in media.roomIDs.sorted() where !MediaService.isReserved(roomName: name) {
                    if let room = media.existingRoom(name) { rooms.append(await room.info(detailed: false)) }
                }
                return ["rooms": .array(rooms)]
            case "getRoom":
                return ["room": await try room(p).info(detailed: true)]
            case "closeRoom":
                let name = try p.roomName("room")
                guard await media.closeRoom(name, reason: "closed") else { throw ControlError(.notFound, "no room \(name)") }
                return ["closed": true]
            case "listParticipants":
                return ["participants": await try room(p).participantsInfo()]
            case "removeParticipant":
                let room = try room(p)
                let id = try p.optionalString("participantId", maxBytes: 128)
                let identity = try p.optionalString("identity", maxBytes: 128)
                guard (id == nil) != (identity == nil) else {
                    throw ControlError(.invalidParams, "give exactly one of 'participantId' and 'identity'")
                }
                let removed = try await room.removeParticipant(id: id, identity: identity, reason: "removed")
                return ["participantId": .string(removed)]
            case "muteTrack":
                let room = try room(p)
                let track = try p.string("trackId", maxBytes: 128)
                let muted = try p.bool("muted")
                try await room.muteTrack(track, muted: muted)
                return ["trackId": .string(track), "muted": .bool(muted)]
            case "createToken":
                return try createToken(p)
            case "getServerStats":
                return await media.serverStats()
            case "getStats":
                let room = try room(p)
                return try await room.stats(participant: try p.optionalString("participantId", maxBytes: 128))
            case "sendData":
                return try await sendData(p)
            default:
                throw ControlError(
                    .methodNotFound, "unknown method '\(method.prefix(64))'; known: \(Self.methods.joined(separator: ", "))")
            }
        } catch let error as ControlError {
            throw error
        } catch let error as Room.RoomError {
            switch error {
            case .notFound(let why): throw ControlError(.notFound, why)
            case .closed: throw ControlError(.notFound, "the room is closed")
            default: throw ControlError(.invalidParams, error.description)
            }
        } catch {
            throw ControlError(.internalError, "the call failed: \(error)")
        }
    }

    private func room(_ p: ControlParams) throws(ControlError) -> Room {
        let name = try p.roomName("room")
        guard let room = media.existingRoom(name) else {
            throw ControlError(.notFound, "no room \(name)")
        }
        return room
    }

    /// `sendData`: a message from the application to a room's participants that joined with data channels
    /// (docs/PROTOCOL.md section 9), all of them or the named identities, on the reliable or the lossy path.
    /// Its sender identity is empty, which participants show as the application. Returns how many participants
    /// it was queued for (a participant still connecting gets it once its channel opens).
    private func sendData(_ p: ControlParams) async throws -> JSONValue {
        let room = try room(p)
        let text = p.object["text"]
        let base64 = try p.optionalString("base64", maxBytes: 4 << 20)
        let payload: [UInt8]
        let isText: Bool
        switch (text, base64) {
        case (.string(let s)?, nil):
            payload = Array(s.utf8)
            isText = true
        case (nil, let b64?), (.null?, let b64?):
            guard let data = Data(base64Encoded: b64) else {
                throw ControlError(.invalidParams, "'base64' is not valid base64")
            }
            payload = Array(data)
            isText = false
        case (nil, nil), (.null?, nil):
            throw ControlError(.invalidParams, "give exactly one of 'text' and 'base64'")
        case (.string?, _?):
            throw ControlError(.invalidParams, "give exactly one of 'text' and 'base64'")
        default:
            throw ControlError(.invalidParams, "'text' must be a string")
        }
        let identities = try p.optionalStringArray("identities", maxCount: 1000, maxBytes: 128) ?? []
        let reliable = try p.optionalBool("reliable") ?? true
        let queued = try await room.sendData(
            payload: payload, isText: isText, to: identities, reliable: reliable, from: "")
        return ["queued": .int(queued)]
    }

    private func createToken(_ p: ControlParams) throws(ControlError) -> JSONValue {
        guard let tokenSecret else {
            throw ControlError(.unavailable, "no token secret is configured (auth.jwtSecret)")
        }
        let room = try p.roomName("room")
        let identity = try p.string("identity", maxBytes: 128)
        let name = try p.optionalString("name", maxBytes: 256)
        let ttl = try p.optionalInt("ttlSeconds", in: 10...(7 * 86_400)) ?? 6 * 3600
        var grants = JSONWebToken.Grants.all
        if let g = try p.optionalObject("grants") {
            grants = JSONWebToken.Grants(
                publish: try g.optionalBool("publish") ?? true, subscribe: try g.optionalBool("subscribe") ?? true,
                publishData: try g.optionalBool("publishData") ?? true)
        }
        let now = Int64(Date().timeIntervalSince1970)
        let claims = JSONWebToken.Claims(
            room: room, identity: identity, name: name, grants: grants, expiresAt: now + Int64(ttl), issuedAt: now)
        do throws(JWTError) {
            return ["token": .string(try JSONWebToken.sign(claims: claims, secret: tokenSecret)), "expiresAt": .int(Int(now) + ttl)]
        } catch {
            throw ControlError(.internalError, "could not sign a token: \(error)")
        }
    }
}

/// A control API failure: a stable code (docs/API.md), its JSON-RPC error number and HTTP status.
struct ControlError: Error, Equatable, Sendable, CustomStringConvertible {
    enum Code: String, Sendable, CaseIterable {
        case parseError = "parse_error"
        case invalidRequest = "invalid_request"
        case methodNotFound = "method_not_found"
        case invalidParams = "invalid_params"
        case unauthorized
        case notFound = "not_found"
        case tooLarge = "too_large"
        case rateLimited = "rate_limited"
        case unavailable
        case internalError = "internal"

        /// JSON-RPC 2.0 §5.1 numbers for the protocol's own errors, -32000...-32099 (server errors) for ours.
        var rpcCode: Int {
            switch self {
            case .parseError: -32700
            case .invalidRequest: -32600
            case .methodNotFound: -32601
            case .invalidParams: -32602
            case .internalError: -32603
            case .unauthorized: -32001
            case .notFound: -32004
            case .tooLarge: -32013
            case .rateLimited: -32029
            case .unavailable: -32003
            }
        }

        var httpStatus: Int {
            switch self {
            case .parseError, .invalidRequest, .invalidParams: 400
            case .unauthorized: 401
            case .methodNotFound, .notFound: 404
            case .tooLarge: 413
            case .rateLimited: 429
            case .unavailable: 503
            case .internalError: 500
            }
        }
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { "\(code.rawValue): \(message)" }

    /// `{"code": ..., "message": ...}` (the HTTP form).
    var json: JSONValue { ["code": .string(code.rawValue), "message": .string(message)] }

    /// The JSON-RPC error object: number, message, and our code in `data`.
    var rpc: JSONValue { ["code": .int(code.rpcCode), "message": .string(message), "data": ["code": .string(code.rawValue)]] }
}

/// A method's params, with typed access whose errors name the field.
struct ControlParams {
    let object: [String: JSONValue]

    init(_ value: JSONValue) throws(ControlError) {
        switch value {
        case .object(let o): object = o
        case .null: object = [:]
        default: throw ControlError(.invalidParams, "params must be an object")
        }
    }

    func string(_ name: String, maxBytes: Int) throws(ControlError) -> String {
        guard let s = try optionalString(name, maxBytes: maxBytes) else {
            throw ControlError(.invalidParams, "'\(name)' is missing")
        }
        return s
    }

    func optionalString(_ name: String, maxBytes: Int) throws(ControlError) -> String? {
        switch object[name] {
        case nil, .null?: return nil
        case .string(let s)?:
            guard !s.isEmpty else { throw ControlError(.invalidParams, "'\(name)' must not be empty") }
            guard s.utf8.count <= maxBytes else { throw ControlError(.invalidParams, "'\(name)' is longer than \(maxBytes) bytes") }
            return s
        default: throw ControlError(.invalidParams, "'\(name)' must be a string")
        }
    }

    /// A room name: 1-128 bytes, no control characters.
    func roomName(_ name: String) throws(ControlError) -> String {
        let s = try string(name, maxBytes: 128)
        guard !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ControlError(.invalidParams, "'\(name)' must not contain control characters")
        }
        guard !MediaService.isReserved(roomName: s) else {
            throw ControlError(.invalidParams, "room names starting with '\(MediaService.echoPrefix)' are reserved")
        }
        return s
    }

    func bool(_ name: String) throws(ControlError) -> Bool {
        guard let b = try optionalBool(name) else { throw ControlError(.invalidParams, "'\(name)' is missing") }
        return b
    }

    func optionalBool(_ name: String) throws(ControlError) -> Bool? {
        switch object[name] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        default: throw ControlError(.invalidParams, "'\(name)' must be true or false")
        }
    }

    func optionalInt(_ name: String, in range: ClosedRange<Int>) throws(ControlError) -> Int? {
        switch object[name] {
        case nil, .null?: return nil
        case .int(let n)? where range.contains(n): return n
        default: throw ControlError(.invalidParams, "'\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
    }

    func optionalDouble(_ name: String, in range: ClosedRange<Double>) throws(ControlError) -> Double? {
        let value: Double
        switch object[name] {
        case nil, .null?: return nil
        case .int(let n)?: value = Double(n)
        case .double(let d)?: value = d
        default: throw ControlError(.invalidParams, "'\(name)' must be a number in \(range.lowerBound)...\(range.upperBound)")
        }
        guard range.contains(value) else {
            throw ControlError(.invalidParams, "'\(name)' must be a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// An array of non-empty strings of at most `maxBytes` each, at most `maxCount` of them.
    func optionalStringArray(_ name: String, maxCount: Int, maxBytes: Int) throws(ControlError) -> [String]? {
        switch object[name] {
        case nil, .null?: return nil
        case .array(let items)?:
            guard items.count <= maxCount else {
                throw ControlError(.invalidParams, "'\(name)' has more than \(maxCount) entries")
            }
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item, !s.isEmpty, s.utf8.count <= maxBytes else {
                    throw ControlError(.invalidParams, "'\(name)' must hold strings of 1-\(maxBytes) bytes")
                }
                out.append(s)
            }
            return out
        default: throw ControlError(.invalidParams, "'\(name)' must be an array of strings")
        }
    }

    func optionalObject(_ name: String) throws(ControlError) -> ControlParams? {
        switch object[name] {
        case nil, .null?: return nil
        case .object(let o)?: return try ControlParams(.object(o))
        default: throw ControlError(.invalidParams, "'\(name)' must be an object")
        }
    }
}
