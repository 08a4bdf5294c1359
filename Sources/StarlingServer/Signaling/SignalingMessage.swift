import Foundation
import StarlingAPI

/// The participant signaling protocol on `/rtc` (docs/PROTOCOL.md): JSON text messages, each an
/// object with a `type`. A request carries an `id` (a string or an integer) and is answered by a
/// `response` with the same `id`, or by an `error` with the same `id` and `{code, message}`.
///
/// Decoding takes untrusted text: its size is capped before parsing, every field is checked for presence
/// and type, and each failure is a `SignalingError` whose message names the field.
enum SignalingRequest: Equatable, Sendable {
    /// The first message of a connection: the participant's JWT (never in the URL, so never in logs).
    /// `reconnect`: resume the participant of the same identity if it is still in the room. `room`: the room
    /// the client means to join; a token for another room is refused (`wrong_room`).
    /// `data`: offer data channels on the subscribing connection (docs/PROTOCOL.md, "Data channels").
    case join(token: String, reconnect: Bool, room: String? = nil, data: Bool = false, resumeToken: String? = nil)
    /// The publishing connection's offer (the client offers) and what its m-lines carry.
    case publish(sdp: String, tracks: [PublishedTrack])
    case unpublish(trackID: String)
    case mute(trackID: String, muted: Bool)
    /// The answer to the server's `subscriberOffer` of `revision`.
    case subscriberAnswer(sdp: String, revision: Int)
    case setSubscription(trackID: String, maxSpatialLayer: Int?, maxTemporalLayer: Int?, paused: Bool?)
    case leave
    case ping

    struct PublishedTrack: Equatable, Sendable {
        enum Source: String, Sendable, CaseIterable {
            case camera, microphone, screen, screenAudio = "screen_audio"
        }
        var mid: String
        var source: Source
        var name: String?
    }

    static let types = [
        "join", "publish", "unpublish", "mute", "subscriberAnswer", "setSubscription", "leave", "ping",
    ]
}

/// A request's `id`: a string or an integer, echoed back as it came.
enum SignalingRequestID: Hashable, Sendable, CustomStringConvertible {
    case string(String)
    case number(Int)

    var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .number(let n): "\(n)"
        }
    }

    var jsonValue: Any {
        switch self {
        case .string(let s): s
        case .number(let n): n
        }
    }
}

/// Why a message was refused; sent as `{"type": "error", "id": ..., "error": {"code": ..., "message": ...}}`.
struct SignalingError: Error, Equatable, Sendable, CustomStringConvertible {
    enum Code: String, Sendable, CaseIterable {
        case badJSON = "bad_json"
        case tooLarge = "too_large"
        case unknownType = "unknown_type"
        case invalidField = "invalid_field"
        case unauthenticated
        case tokenExpired = "token_expired"
        case wrongRoom = "wrong_room"
        case forbidden
        case badSDP = "bad_sdp"
        case noCodec = "no_codec"
        case notFound = "not_found"
        case rateLimited = "rate_limited"
        case roomFull = "room_full"
        case limitExceeded = "limit_exceeded"
        case joinTimeout = "join_timeout"
        case internalError = "internal"
    }

    var code: Code
    var message: String
    /// The request's id when it could be read.
    var id: SignalingRequestID?

    var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ field: String, _ why: String, id: SignalingRequestID?) -> SignalingError {
        SignalingError(code: .invalidField, message: "field '\(field)' \(why)", id: id)
    }
}

/// A decoded request with its id.
struct SignalingEnvelope: Equatable, Sendable {
    var id: SignalingRequestID
    var request: SignalingRequest
}

enum SignalingCodec {
    /// Default cap on one message (64 KiB unless configured).
    static let defaultMaxMessageBytes = 64 * 1024
    static let maxIDLength = 128
    static let maxSDPBytes = 60 * 1024

    /// Decodes one text message.
    static func decode(_ text: String, maxBytes: Int = defaultMaxMessageBytes) -> Result<SignalingEnvelope, SignalingError> {
        let bytes = text.utf8.count
        guard bytes <= maxBytes else {
            return .failure(SignalingError(code: .tooLarge, message: "the message is \(bytes) bytes, the limit is \(maxBytes)"))
        }
        let object: [String: Any]
        do {
            guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8), options: []) as? [String: Any] else {
                return .failure(SignalingError(code: .badJSON, message: "a message must be a JSON object"))
            }
            object = o
        } catch {
            return .failure(SignalingError(code: .badJSON, message: "the message is not valid JSON"))
        }
        // The id first, so that every later error can carry it.
        let id: SignalingRequestID
        switch object["id"] {
        case let s as String where !s.isEmpty && s.utf8.count <= maxIDLength:
            id = .string(s)
        case let n as NSNumber where !n.isJSONBoolean && n.doubleValue == n.doubleValue.rounded() && abs(n.doubleValue) < 9e15:
            id = .number(n.intValue)
        case nil:
            return .failure(.invalid("id", "is missing (every request carries one)", id: nil))
        default:
            return .failure(.invalid("id", "must be a non-empty string (at most \(maxIDLength) bytes) or an integer", id: nil))
        }
        guard let type = object["type"] as? String else {
            return .failure(.invalid("type", object["type"] == nil ? "is missing" : "must be a string", id: id))
        }
        let fields = Fields(object: object, id: id)
        do throws(SignalingError) {
            let request: SignalingRequest
            switch type {
            case "join":
                request = .join(
                    token: try fields.string("token", maxBytes: 8192), reconnect: try fields.optionalBool("reconnect") ?? false,
                    room: try fields.optionalString("room", maxBytes: 128), data: try fields.optionalBool("data") ?? false,
                    resumeToken: try fields.optionalString("resumeToken", maxBytes: 128))
            case "publish":
                let sdp = try fields.string("sdp", maxBytes: maxSDPBytes)
                var tracks: [SignalingRequest.PublishedTrack] = []
                for (i, value) in try fields.array("tracks").enumerated() {
                    tracks.append(try fields.track(value, at: "tracks[\(i)]"))
                }
                request = .publish(sdp: sdp, tracks: tracks)
            case "unpublish":
                request = .unpublish(trackID: try fields.string("trackId", maxBytes: 128))
            case "mute":
                request = .mute(trackID: try fields.string("trackId", maxBytes: 128), muted: try fields.bool("muted"))
            case "subscriberAnswer":
                request = .subscriberAnswer(
                    sdp: try fields.string("sdp", maxBytes: maxSDPBytes), revision: try fields.integer("revision", in: 1...Int(Int32.max)))
            case "setSubscription":
                request = .setSubscription(
                    trackID: try fields.string("trackId", maxBytes: 128),
                    maxSpatialLayer: try fields.optionalInteger("maxSpatialLayer", in: 0...2),
                    maxTemporalLayer: try fields.optionalInteger("maxTemporalLayer", in: 0...3),
                    paused: try fields.optionalBool("paused"))
            case "leave":
                request = .leave
            case "ping":
                request = .ping
            default:
                return .failure(
                    SignalingError(
                        code: .unknownType,
                        message: "unknown type '\(type.prefix(64))'; known: \(SignalingRequest.types.joined(separator: ", "))", id: id))
            }
            return .success(SignalingEnvelope(id: id, request: request))
        } catch {
            return .failure(error)
        }
    }

    /// `{"type": "response", "id": ..., "result": {...}}`.
    static func response(id: SignalingRequestID, result: [String: Any]) -> String {
        encode(["type": "response", "id": id.jsonValue, "result": result])
    }

    /// `{"type": "error", "id": ..., "error": {"code": ..., "message": ...}}` (no id when none was readable).
    static func error(_ error: SignalingError) -> String {
        var object: [String: Any] = ["type": "error", "error": ["code": error.code.rawValue, "message": error.message]]
        if let id = error.id { object["id"] = id.jsonValue }
        return encode(object)
    }

    /// A server event: `{"type": <type>, ...fields}`.
    static func event(_ type: String, _ fields: [String: Any] = [:]) -> String {
        var object = fields
        object["type"] = type
        return encode(object)
    }

    private static func encode(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return #"{"type":"error","error":{"code":"internal","message":"could not encode a message"}}"#
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Typed field access with errors naming the field.
    private struct Fields {
        let object: [String: Any]
        let id: SignalingRequestID

        func string(_ name: String, maxBytes: Int) throws(SignalingError) -> String {
            guard let value = object[name] else { throw .invalid(name, "is missing", id: id) }
            guard let s = value as? String else { throw .invalid(name, "must be a string", id: id) }
            guard !s.isEmpty else { throw .invalid(name, "must not be empty", id: id) }
            guard s.utf8.count <= maxBytes else { throw .invalid(name, "is longer than \(maxBytes) bytes", id: id) }
            return s
        }

        func optionalString(_ name: String, maxBytes: Int) throws(SignalingError) -> String? {
            guard let value = object[name], !(value is NSNull) else { return nil }
            return try string(name, maxBytes: maxBytes)
        }

        func bool(_ name: String) throws(SignalingError) -> Bool {
            guard let value = object[name] else { throw .invalid(name, "is missing", id: id) }
            guard let n = value as? NSNumber, n.isJSONBoolean else { throw .invalid(name, "must be true or false", id: id) }
            return n.boolValue
        }

        func optionalBool(_ name: String) throws(SignalingError) -> Bool? {
            guard let value = object[name], !(value is NSNull) else { return nil }
            guard let n = value as? NSNumber, n.isJSONBoolean else { throw .invalid(name, "must be true or false", id: id) }
            return n.boolValue
        }

        func integer(_ name: String, in range: ClosedRange<Int>) throws(SignalingError) -> Int {
            guard object[name] != nil else { throw .invalid(name, "is missing", id: id) }
            guard let n = try optionalInteger(name, in: range) else { throw .invalid(name, "must be an integer", id: id) }
            return n
        }

        func optionalInteger(_ name: String, in range: ClosedRange<Int>) throws(SignalingError) -> Int? {
            guard let value = object[name], !(value is NSNull) else { return nil }
            guard let n = value as? NSNumber, !n.isJSONBoolean, n.doubleValue == n.doubleValue.rounded(),
                n.doubleValue >= Double(range.lowerBound), n.doubleValue <= Double(range.upperBound)
            else { throw .invalid(name, "must be an integer in \(range.lowerBound)...\(range.upperBound)", id: id) }
            return n.intValue
        }

        func array(_ name: String) throws(SignalingError) -> [Any] {
            guard let value = object[name] else { throw .invalid(name, "is missing", id: id) }
            guard let a = value as? [Any] else { throw .invalid(name, "must be an array", id: id) }
            guard a.count <= 16 else { throw .invalid(name, "has more than 16 entries", id: id) }
            return a
        }

        func track(_ value: Any, at path: String) throws(SignalingError) -> SignalingRequest.PublishedTrack {
            guard let o = value as? [String: Any] else { throw .invalid(path, "must be an object", id: id) }
            let inner = Fields(object: o, id: id)
            let mid: String
            let sourceName: String
            do throws(SignalingError) {
                mid = try inner.string("mid", maxBytes: 32)
                sourceName = try inner.string("source", maxBytes: 32)
            } catch {
                throw SignalingError(code: error.code, message: error.message.replacingOccurrences(of: "field '", with: "field '\(path)."), id: id)
            }
            guard let source = SignalingRequest.PublishedTrack.Source(rawValue: sourceName) else {
                let known = SignalingRequest.PublishedTrack.Source.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalid("\(path).source", "must be one of \(known)", id: id)
            }
            var name: String?
            if let n = o["name"], !(n is NSNull) {
                guard let s = n as? String, s.utf8.count <= 256 else {
                    throw .invalid("\(path).name", "must be a string of at most 256 bytes", id: id)
                }
                name = s
            }
            return .init(mid: mid, source: source, name: name)
        }
    }
}
