/// Starling's participant tokens: a JWT (RFC 7519) signed with HS256 (`JWS`) whose claims name the room,
/// the participant's identity and display name, what it may do, and how long the token lasts.
///
/// ```json
/// {"sub":"alice","name":"Alice","room":"standup","grants":{"publish":true,"subscribe":true,"publishData":false},"exp":1767225600}
/// ```
public enum JSONWebToken {
    /// What a participant may do in the room. A token without a `grants` object, or without one of its
    /// members, grants nothing for what is missing: permissions are given explicitly, never by default.
    public struct Grants: Hashable, Sendable {
        public var publish: Bool
        public var subscribe: Bool
        public var publishData: Bool

        public init(publish: Bool = false, subscribe: Bool = false, publishData: Bool = false) {
            self.publish = publish
            self.subscribe = subscribe
            self.publishData = publishData
        }

        public static let none = Grants()
        public static let all = Grants(publish: true, subscribe: true, publishData: true)
    }

    /// The claims Starling reads. Unknown claims are ignored (RFC 7519 §4); `null` for an optional claim
    /// counts as absent.
    public struct Claims: Hashable, Sendable {
        /// `room`: the room the token admits to; not empty.
        public var room: String
        /// `sub` (RFC 7519 §4.1.2): the participant's identity, unique in the room; not empty.
        public var identity: String
        /// `name`: the display name.
        public var name: String?
        /// `grants`.
        public var grants: Grants
        /// `exp` (§4.1.4): NumericDate, required.
        public var expiresAt: Int64
        /// `nbf` (§4.1.5): NumericDate.
        public var notBefore: Int64?
        /// `iat` (§4.1.6): NumericDate, informational.
        public var issuedAt: Int64?
        /// `iss` (§4.1.1): informational.
        public var issuer: String?
        /// `aud` (§4.1.3): a string or an array of strings; when present the verifier must be configured
        /// with one of them. Empty means no `aud` claim.
        public var audience: [String]

        public init(
            room: String, identity: String, name: String? = nil, grants: Grants = .none, expiresAt: Int64,
            notBefore: Int64? = nil, issuedAt: Int64? = nil, issuer: String? = nil, audience: [String] = []
        ) {
            self.room = room
            self.identity = identity
            self.name = name
            self.grants = grants
            self.expiresAt = expiresAt
            self.notBefore = notBefore
            self.issuedAt = issuedAt
            self.issuer = issuer
            self.audience = audience
        }

        /// Reads the claims from a JWT claims set (the verified payload). Checks types and presence only;
        /// time, room and audience are the verifier's.
        public init(json: [UInt8]) throws(JWTError) {
            let members = try JWS.jsonObject(json, name: "payload")
            room = try Self.requiredString(members, "room")
            identity = try Self.requiredString(members, "sub")
            name = try Self.optionalString(members, "name")
            issuer = try Self.optionalString(members, "iss")
            guard let expiresAt = try Self.numericDate(members, "exp", rounding: .down) else {
                throw .invalidClaim(name: "exp", reason: "missing")
            }
            self.expiresAt = expiresAt
            notBefore = try Self.numericDate(members, "nbf", rounding: .up)
            issuedAt = try Self.numericDate(members, "iat", rounding: .down)
            switch members["grants"] {
            case nil, .null?: grants = .none
            case .object(let fields)?:
                grants = Grants(
                    publish: try Self.grant(fields, "publish"), subscribe: try Self.grant(fields, "subscribe"),
                    publishData: try Self.grant(fields, "publishData"))
            default: throw .invalidClaim(name: "grants", reason: "must be an object")
            }
            switch members["aud"] {
            case nil, .null?: audience = []
            case .string(let one)?: audience = [one]
            case .array(let many)?:
                var names: [String] = []
                for element in many {
                    guard case .string(let text) = element else {
                        throw .invalidClaim(name: "aud", reason: "must be a string or an array of strings")
                    }
                    names.append(text)
                }
                audience = names
            default: throw .invalidClaim(name: "aud", reason: "must be a string or an array of strings")
            }
        }

        /// The claims set as compact JSON, members in a fixed order; absent optionals are left out.
        public func json() -> [UInt8] {
            var writer = JWTJSONWriter()
            writer.beginObject()
            writer.member("sub", string: identity)
            if let name { writer.member("name", string: name) }
            writer.member("room", string: room)
            writer.beginObject("grants")
            writer.member("publish", bool: grants.publish)
            writer.member("subscribe", bool: grants.subscribe)
            writer.member("publishData", bool: grants.publishData)
            writer.endObject()
            if let issuer { writer.member("iss", string: issuer) }
            if audience.count == 1 {
                writer.member("aud", string: audience[0])
            } else if !audience.isEmpty {
                writer.member("aud", strings: audience)
            }
            if let issuedAt { writer.member("iat", integer: issuedAt) }
            if let notBefore { writer.member("nbf", integer: notBefore) }
            writer.member("exp", integer: expiresAt)
            writer.endObject()
            return writer.bytes
        }

        /// The rules `init(json:)` enforces that the type system does not: `room` and `sub` not empty.
        func validate() throws(JWTError) {
            guard !room.isEmpty else { throw .invalidClaim(name: "room", reason: "must not be empty") }
            guard !identity.isEmpty else { throw .invalidClaim(name: "sub", reason: "must not be empty") }
        }

        private static func requiredString(_ members: [String: JWTJSON], _ name: String) throws(JWTError) -> String {
            switch members[name] {
            case .string(let text)?:
                guard !text.isEmpty else { throw .invalidClaim(name: name, reason: "must not be empty") }
                return text
            case nil, .null?: throw .invalidClaim(name: name, reason: "missing")
            default: throw .invalidClaim(name: name, reason: "must be a string")
            }
        }

        private static func optionalString(_ members: [String: JWTJSON], _ name: String) throws(JWTError) -> String? {
            switch members[name] {
            case .string(let text)?: return text
            case nil, .null?: return nil
            default: throw .invalidClaim(name: name, reason: "must be a string")
            }
        }

        private static func grant(_ fields: [String: JWTJSON], _ name: String) throws(JWTError) -> Bool {
            switch fields[name] {
            case .bool(let value)?: return value
            case nil, .null?: return false
            default: throw .invalidClaim(name: "grants.\(name)", reason: "must be a boolean")
            }
        }

        /// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional. Fractions are rounded
        /// toward the stricter side (`exp` down, `nbf` up); values outside ±2^53 are refused.
        private static func numericDate(
            _ members: [String: JWTJSON], _ name: String, rounding: FloatingPointRoundingRule
        ) throws(JWTError) -> Int64? {
            let literal: String
            switch members[name] {
            case .number(let text)?: literal = text
            case nil, .null?: return nil
            default: throw .invalidClaim(name: name, reason: "must be a number (NumericDate)")
            }
            let limit: Int64 = 1 << 53
            let outOfRange = JWTError.invalidClaim(name: name, reason: "out of range")
            if let integer = Int64(literal) {
                guard integer.magnitude <= limit.magnitude else { throw outOfRange }
                return integer
            }
            guard literal.utf8.count <= 64, let value = Double(literal), value.isFinite,
                value.magnitude <= Double(limit)
            else { throw outOfRange }
            return Int64(value.rounded(rounding))
        }
    }

    /// Checks tokens against one secret; made once from configuration, which is when a short secret is
    /// refused.
    public struct Verifier: Sendable, CustomStringConvertible, CustomReflectable {
        private let secret: [UInt8]
        /// Seconds of leeway on `exp` and `nbf` for clocks that disagree (RFC 7519 §4.1.4).
        public let clockSkew: Int64
        /// This server's audience name: a token with an `aud` claim is accepted only if it lists it
        /// (RFC 7519 §4.1.3); with nil, any token carrying `aud` is refused.
        public let audience: String?

        public init(secret: [UInt8], clockSkew: Int64 = 30, audience: String? = nil) throws(JWTError) {
            guard secret.count >= JWS.minimumSecretLength else { throw .secretTooShort(length: secret.count) }
            self.secret = secret
            self.clockSkew = max(0, clockSkew)
            self.audience = audience
        }

        /// The claims of `token` if its signature verifies, it has not expired and is already valid at
        /// `now` (Unix seconds, give or take `clockSkew`), it is for `expectedRoom` when one is given, and its
        /// audience, if any, includes ours.
        public func verify(_ token: String, now: Int64, expectedRoom: String? = nil) throws(JWTError) -> Claims {
            let claims = try Claims(json: try JWS.verify(token, secret: secret))
            // RFC 7519 §4.1.4: now must be before exp; §4.1.5: on or after nbf.
            let (deadline, late) = claims.expiresAt.addingReportingOverflow(clockSkew)
            if !late, now >= deadline { throw .expired(at: claims.expiresAt) }
            if let notBefore = claims.notBefore {
                let (start, early) = notBefore.subtractingReportingOverflow(clockSkew)
                if !early, now < start { throw .notYetValid(until: notBefore) }
            }
            if let expectedRoom, claims.room != expectedRoom {
                throw .wrongRoom(expected: expectedRoom, got: claims.room)
            }
            if !claims.audience.isEmpty {
                guard let audience, claims.audience.contains(audience) else {
                    throw .invalidClaim(name: "aud", reason: "this server is not among the token's audiences")
                }
            }
            return claims
        }

        public var description: String { "JSONWebToken.Verifier(HS256, clockSkew: \(clockSkew) s)" }
        public var customMirror: Mirror { Mirror(self, children: ["clockSkew": clockSkew, "audience": audience as Any]) }
    }

    /// A signed token for `claims` (the control API's createToken, the development token endpoint).
    public static func sign(claims: Claims, secret: [UInt8]) throws(JWTError) -> String {
        try claims.validate()
        return try JWS.sign(payload: claims.json(), secret: secret)
    }

    /// One-off verification; servers make a `Verifier` once and reuse it.
    public static func verify(
        _ token: String, secret: [UInt8], now: Int64, clockSkew: Int64 = 30, expectedRoom: String? = nil
    ) throws(JWTError) -> Claims {
        try Verifier(secret: secret, clockSkew: clockSkew).verify(token, now: now, expectedRoom: expectedRoom)
    }
}
