/// A STUN attribute type number (RFC 8489 §14, §18.3; ICE's in RFC 8445 §16.1).
///
/// Types 0x0000...0x7FFF are comprehension-required: a request carrying one the receiver does not
/// understand is answered with 420 (Unknown Attribute) listing it (RFC 8489 §6.3.1.1).
public struct STUNAttributeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    @inlinable
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// True for 0x0000...0x7FFF (RFC 8489 §14).
    @inlinable
    public var isComprehensionRequired: Bool { rawValue < 0x8000 }

    public static let mappedAddress = STUNAttributeType(rawValue: 0x0001)
    public static let username = STUNAttributeType(rawValue: 0x0006)
    public static let messageIntegrity = STUNAttributeType(rawValue: 0x0008)
    public static let errorCode = STUNAttributeType(rawValue: 0x0009)
    public static let unknownAttributes = STUNAttributeType(rawValue: 0x000A)
    public static let realm = STUNAttributeType(rawValue: 0x0014)
    public static let nonce = STUNAttributeType(rawValue: 0x0015)
    public static let messageIntegritySHA256 = STUNAttributeType(rawValue: 0x001C)
    public static let xorMappedAddress = STUNAttributeType(rawValue: 0x0020)
    public static let priority = STUNAttributeType(rawValue: 0x0024)
    public static let useCandidate = STUNAttributeType(rawValue: 0x0025)
    public static let software = STUNAttributeType(rawValue: 0x8022)
    public static let fingerprint = STUNAttributeType(rawValue: 0x8028)
    public static let iceControlled = STUNAttributeType(rawValue: 0x8029)
    public static let iceControlling = STUNAttributeType(rawValue: 0x802A)

    public var description: String {
        switch self {
        case .mappedAddress: "MAPPED-ADDRESS"
        case .username: "USERNAME"
        case .messageIntegrity: "MESSAGE-INTEGRITY"
        case .errorCode: "ERROR-CODE"
        case .unknownAttributes: "UNKNOWN-ATTRIBUTES"
        case .realm: "REALM"
        case .nonce: "NONCE"
        case .messageIntegritySHA256: "MESSAGE-INTEGRITY-SHA256"
        case .xorMappedAddress: "XOR-MAPPED-ADDRESS"
        case .priority: "PRIORITY"
        case .useCandidate: "USE-CANDIDATE"
        case .software: "SOFTWARE"
        case .fingerprint: "FINGERPRINT"
        case .iceControlled: "ICE-CONTROLLED"
        case .iceControlling: "ICE-CONTROLLING"
        default: "attribute(0x\(String(rawValue, radix: 16)))"
        }
    }
}

/// The value of an ERROR-CODE attribute (RFC 8489 §14.8): a code 300...699 and a reason phrase.
public struct STUNErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// class * 100 + number; the class (hundreds digit) is 3...6 and the number 0...99.
    public var code: UInt16
    /// UTF-8, fewer than 128 characters (at most 763 bytes).
    public var reason: String

    @inlinable
    public init(code: UInt16, reason: String) {
        self.code = code
        self.reason = reason
    }

    public static let tryAlternate: UInt16 = 300
    public static let badRequest: UInt16 = 400
    public static let unauthorized: UInt16 = 401
    public static let unknownAttribute: UInt16 = 420
    public static let staleNonce: UInt16 = 438
    /// Role Conflict (RFC 8445 §7.3.1.1).
    public static let roleConflict: UInt16 = 487
    public static let serverError: UInt16 = 500

    public var description: String { "\(code) \(reason)" }
}

/// One STUN attribute (RFC 8489 §14; ICE attributes of RFC 8445 §16.1), typed where Starling reads it.
///
/// Attributes this enum does not model are kept as `.unknown(type:value:)` so a message round-trips;
/// `STUNMessage.unknownComprehensionRequiredAttributes` lists those an ICE agent must answer 420 for.
/// Text values are validated UTF-8 kept byte for byte; note that Swift's `String ==` compares by
/// canonical equivalence, so compare `.utf8` when bytes matter (ICE ufrags are ASCII anyway).
public enum STUNAttribute: Hashable, Sendable {
    /// MAPPED-ADDRESS (§14.1), the pre-XOR form kept for RFC 3489 compatibility.
    case mappedAddress(STUNAddress)
    /// XOR-MAPPED-ADDRESS (§14.2); the value here is the real address, the XOR happens on the wire.
    case xorMappedAddress(STUNAddress)
    /// USERNAME (§14.3): UTF-8, at most 763 bytes accepted. ICE uses "remoteUfrag:localUfrag".
    case username(String)
    /// MESSAGE-INTEGRITY (§14.5): the 20-byte HMAC-SHA1 as found or as computed by the serializer.
    case messageIntegrity([UInt8])
    /// MESSAGE-INTEGRITY-SHA256 (§14.6): 16...32 bytes, a multiple of 4, kept as sent.
    case messageIntegritySHA256([UInt8])
    /// FINGERPRINT (§14.7): CRC-32 of the message before it, XOR 0x5354554E. Always the last attribute.
    case fingerprint(UInt32)
    /// ERROR-CODE (§14.8).
    case errorCode(STUNErrorCode)
    /// UNKNOWN-ATTRIBUTES (§14.9): the comprehension-required types a 420 response names.
    case unknownAttributes([UInt16])
    /// REALM (§14.9): UTF-8, at most 763 bytes accepted.
    case realm(String)
    /// NONCE (§14.10): UTF-8, at most 763 bytes accepted.
    case nonce(String)
    /// SOFTWARE (§14.14): UTF-8, at most 763 bytes accepted.
    case software(String)
    /// PRIORITY (RFC 8445 §7.1.1, §16.1): the priority a peer-reflexive candidate would get.
    case priority(UInt32)
    /// USE-CANDIDATE (RFC 8445 §7.1.2, §16.1): the controlling agent nominates this pair. Empty value.
    case useCandidate
    /// ICE-CONTROLLED (RFC 8445 §7.1.3, §16.1): the sender's 64-bit tie-breaker.
    case iceControlled(UInt64)
    /// ICE-CONTROLLING (RFC 8445 §7.1.3, §16.1): the sender's 64-bit tie-breaker.
    case iceControlling(UInt64)
    /// Any other attribute, kept raw. Use only for types not modelled above, or the value will
    /// come back typed after a round-trip.
    case unknown(type: UInt16, value: [UInt8])

    /// The type number written on the wire.
    @inlinable
    public var type: STUNAttributeType {
        switch self {
        case .mappedAddress: .mappedAddress
        case .xorMappedAddress: .xorMappedAddress
        case .username: .username
        case .messageIntegrity: .messageIntegrity
        case .messageIntegritySHA256: .messageIntegritySHA256
        case .fingerprint: .fingerprint
        case .errorCode: .errorCode
        case .unknownAttributes: .unknownAttributes
        case .realm: .realm
        case .nonce: .nonce
        case .software: .software
        case .priority: .priority
        case .useCandidate: .useCandidate
        case .iceControlled: .iceControlled
        case .iceControlling: .iceControlling
        case .unknown(let type, _): STUNAttributeType(rawValue: type)
        }
    }
}

// MARK: - Wire form

extension STUNAttribute {
    /// The longest text value accepted (RFC 8489 §14.3, §14.8-14.10, §14.14: fewer than 128 characters,
    /// "as long as 763 bytes when decoding them").
    public static let maxTextLength = 763

    /// Parses one attribute value. XOR-MAPPED-ADDRESS needs the message's transaction ID.
    static func parse(
        type rawType: UInt16, value: UnsafeRawBufferPointer, transactionID: STUNTransactionID
    ) throws(WireError) -> STUNAttribute {
        let type = STUNAttributeType(rawValue: rawType)
        switch type {
        case .mappedAddress:
            return .mappedAddress(try parseAddress(value, field: "MAPPED-ADDRESS", xor: nil))
        case .xorMappedAddress:
            return .xorMappedAddress(try parseAddress(value, field: "XOR-MAPPED-ADDRESS", xor: transactionID))
        case .username:
            return .username(try parseText(value, field: "USERNAME"))
        case .realm:
            return .realm(try parseText(value, field: "REALM"))
        case .nonce:
            return .nonce(try parseText(value, field: "NONCE"))
        case .software:
            return .software(try parseText(value, field: "SOFTWARE"))
        case .messageIntegrity:
            guard value.count == 20 else {
                throw WireError.invalid(.stun, "MESSAGE-INTEGRITY", "length \(value.count), expected 20")
            }
            return .messageIntegrity(Array(value))
        case .messageIntegritySHA256:
            guard value.count >= 16, value.count <= 32, value.count % 4 == 0 else {
                throw WireError.invalid(
                    .stun, "MESSAGE-INTEGRITY-SHA256", "length \(value.count), expected 16...32 and a multiple of 4")
            }
            return .messageIntegritySHA256(Array(value))
        case .fingerprint:
            return .fingerprint(try parseU32(value, field: "FINGERPRINT"))
        case .priority:
            return .priority(try parseU32(value, field: "PRIORITY"))
        case .iceControlled:
            return .iceControlled(try parseU64(value, field: "ICE-CONTROLLED"))
        case .iceControlling:
            return .iceControlling(try parseU64(value, field: "ICE-CONTROLLING"))
        case .useCandidate:
            guard value.isEmpty else {
                throw WireError.invalid(.stun, "USE-CANDIDATE", "length \(value.count), expected 0")
            }
            return .useCandidate
        case .errorCode:
            guard value.count >= 4 else {
                throw WireError.truncated(.stun, "ERROR-CODE", needed: 4, available: value.count)
            }
            // 21 reserved bits (ignored on receipt), 3-bit class, 8-bit number.
            let errorClass = UInt16(value[2] & 0x07)
            let number = UInt16(value[3])
            guard (3...6).contains(errorClass) else {
                throw WireError.invalid(.stun, "ERROR-CODE class", "\(errorClass), expected 3...6")
            }
            guard number < 100 else {
                throw WireError.invalid(.stun, "ERROR-CODE number", "\(number), expected 0...99")
            }
            let reason = try parseText(UnsafeRawBufferPointer(rebasing: value[4...]), field: "ERROR-CODE reason phrase")
            return .errorCode(STUNErrorCode(code: errorClass * 100 + number, reason: reason))
        case .unknownAttributes:
            guard value.count % 2 == 0 else {
                throw WireError.invalid(.stun, "UNKNOWN-ATTRIBUTES", "odd length \(value.count)")
            }
            var types: [UInt16] = []
            types.reserveCapacity(value.count / 2)
            for i in stride(from: 0, to: value.count, by: 2) { types.append(value.loadBE16(at: i)) }
            return .unknownAttributes(types)
        default:
            return .unknown(type: rawType, value: Array(value))
        }
    }

    /// Appends the value (without header or padding) to `out`.
    func serializeValue(into out: inout [UInt8], transactionID: STUNTransactionID) {
        switch self {
        case .mappedAddress(let address):
            Self.serializeAddress(address, xor: nil, into: &out)
        case .xorMappedAddress(let address):
            Self.serializeAddress(address, xor: transactionID, into: &out)
        case .username(let text), .realm(let text), .nonce(let text), .software(let text):
            out.append(contentsOf: text.utf8)
        case .messageIntegrity(let bytes), .messageIntegritySHA256(let bytes), .unknown(_, let bytes):
            out.append(contentsOf: bytes)
        case .fingerprint(let v), .priority(let v):
            out.appendBE32(v)
        case .iceControlled(let v), .iceControlling(let v):
            out.appendBE64(v)
        case .useCandidate:
            break
        case .errorCode(let error):
            out.appendBE16(0)
            out.append(UInt8(truncatingIfNeeded: error.code / 100) & 0x07)
            out.append(UInt8(truncatingIfNeeded: error.code % 100))
            out.append(contentsOf: error.reason.utf8)
        case .unknownAttributes(let types):
            for t in types { out.appendBE16(t) }
        }
    }

    private static func parseText(_ value: UnsafeRawBufferPointer, field: String) throws(WireError) -> String {
        guard value.count <= maxTextLength else {
            throw WireError.invalid(.stun, field, "length \(value.count), at most \(maxTextLength) allowed")
        }
        guard let text = String(validating: value, as: UTF8.self) else {
            throw WireError.invalid(.stun, field, "not UTF-8")
        }
        return text
    }

    private static func parseU32(_ value: UnsafeRawBufferPointer, field: String) throws(WireError) -> UInt32 {
        guard value.count == 4 else { throw WireError.invalid(.stun, field, "length \(value.count), expected 4") }
        return value.loadBE32(at: 0)
    }

    private static func parseU64(_ value: UnsafeRawBufferPointer, field: String) throws(WireError) -> UInt64 {
        guard value.count == 8 else { throw WireError.invalid(.stun, field, "length \(value.count), expected 8") }
        return UInt64(value.loadBE32(at: 0)) << 32 | UInt64(value.loadBE32(at: 4))
    }

    /// MAPPED-ADDRESS / XOR-MAPPED-ADDRESS (§14.1, §14.2): reserved byte, family, port, address.
    /// With `xor`, the port is XORed with the top 16 bits of the magic cookie, an IPv4 address with the
    /// cookie, and an IPv6 address with the cookie followed by the transaction ID.
    private static func parseAddress(
        _ value: UnsafeRawBufferPointer, field: String, xor: STUNTransactionID?
    ) throws(WireError) -> STUNAddress {
        guard value.count >= 4 else { throw WireError.truncated(.stun, field, needed: 4, available: value.count) }
        let family = value[1]
        var port = value.loadBE16(at: 2)
        if xor != nil { port ^= UInt16(truncatingIfNeeded: STUNMessage.magicCookie >> 16) }
        switch family {
        case 0x01:
            guard value.count == 8 else { throw WireError.invalid(.stun, field, "IPv4 length \(value.count), expected 8") }
            var a = value.loadBE32(at: 4)
            if xor != nil { a ^= STUNMessage.magicCookie }
            return STUNAddress(ip: .v4(a), port: port)
        case 0x02:
            guard value.count == 20 else { throw WireError.invalid(.stun, field, "IPv6 length \(value.count), expected 20") }
            var high = UInt64(value.loadBE32(at: 4)) << 32 | UInt64(value.loadBE32(at: 8))
            var low = UInt64(value.loadBE32(at: 12)) << 32 | UInt64(value.loadBE32(at: 16))
            if let id = xor {
                high ^= UInt64(STUNMessage.magicCookie) << 32 | UInt64(id.high)
                low ^= id.low
            }
            return STUNAddress(ip: .v6(high: high, low: low), port: port)
        default:
            throw WireError.invalid(.stun, "\(field) family", "0x\(String(family, radix: 16)), expected 0x01 or 0x02")
        }
    }

    private static func serializeAddress(_ address: STUNAddress, xor: STUNTransactionID?, into out: inout [UInt8]) {
        out.append(0)
        out.append(address.ip.family)
        let portMask = xor == nil ? 0 : UInt16(truncatingIfNeeded: STUNMessage.magicCookie >> 16)
        out.appendBE16(address.port ^ portMask)
        switch address.ip {
        case .v4(let a):
            out.appendBE32(xor == nil ? a : a ^ STUNMessage.magicCookie)
        case .v6(var high, var low):
            if let id = xor {
                high ^= UInt64(STUNMessage.magicCookie) << 32 | UInt64(id.high)
                low ^= id.low
            }
            out.appendBE64(high)
            out.appendBE64(low)
        }
    }
}
