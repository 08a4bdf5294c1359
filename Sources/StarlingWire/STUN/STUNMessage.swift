/// A STUN message (RFC 8489 §5, §14): a 20-byte header and a list of attribute TLVs.
///
/// ```
///  0                   1                   2                   3
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |0 0|     STUN Message Type     |         Message Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Magic Cookie                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Transaction ID (96 bits)                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Parsing keeps every attribute in order (unknown ones raw) so `serialize(parse(b)) == b` whenever the
/// padding bytes of `b` are zero (or all equal the `padding` byte passed to the serializer) and its
/// reserved bits (ERROR-CODE, the address attributes' first byte) are zero.
/// MESSAGE-INTEGRITY and FINGERPRINT are checked against the raw bytes with `verifyIntegrity` and
/// `verifyFingerprint`, and produced by `serialize(integrityKey:fingerprint:)`.
public struct STUNMessage: WireCodable, Hashable, CustomStringConvertible {
    /// The fixed value in every RFC 5389/8489 header (§5).
    public static let magicCookie: UInt32 = 0x2112_A442
    public static let headerLength = 20
    /// XORed into the CRC-32 to form FINGERPRINT (§14.7): "STUN" in ASCII.
    public static let fingerprintXOR: UInt32 = 0x5354_554E

    public var type: STUNMessageType
    public var transactionID: STUNTransactionID
    public var attributes: [STUNAttribute]

    @inlinable
    public init(type: STUNMessageType, transactionID: STUNTransactionID, attributes: [STUNAttribute] = []) {
        self.type = type
        self.transactionID = transactionID
        self.attributes = attributes
    }

    /// A success response to `request` (same method and transaction ID, RFC 8489 §6.3.1.1) reporting
    /// the request's source in XOR-MAPPED-ADDRESS (§14.2; RFC 8445 §7.3.1.4 for ICE).
    public static func successResponse(to request: STUNMessage, mappedAddress: STUNAddress) -> STUNMessage {
        STUNMessage(
            type: STUNMessageType(method: request.type.method, messageClass: .successResponse),
            transactionID: request.transactionID,
            attributes: [.xorMappedAddress(mappedAddress)])
    }

    /// An error response to `request` (RFC 8489 §6.3.1.1) with ERROR-CODE and, for 420, the
    /// UNKNOWN-ATTRIBUTES list (§14.9).
    public static func errorResponse(
        to request: STUNMessage, code: UInt16, reason: String, unknownAttributes: [UInt16] = []
    ) -> STUNMessage {
        var attributes: [STUNAttribute] = [.errorCode(STUNErrorCode(code: code, reason: reason))]
        if !unknownAttributes.isEmpty { attributes.append(.unknownAttributes(unknownAttributes)) }
        return STUNMessage(
            type: STUNMessageType(method: request.type.method, messageClass: .errorResponse),
            transactionID: request.transactionID,
            attributes: attributes)
    }

    // MARK: Parsing

    /// Parses one whole message: the header's length must account for exactly the bytes after it.
    /// Attributes after FINGERPRINT are rejected (§14.7: it is the last attribute).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        let count = bytes.count
        guard count >= Self.headerLength else {
            throw WireError.truncated(.stun, "header", needed: Self.headerLength, available: count)
        }
        let rawType = bytes.loadBE16(at: 0)
        guard let type = STUNMessageType(rawValue: rawType) else {
            throw WireError.invalid(.stun, "message type", "the two most significant bits must be zero")
        }
        let cookie = bytes.loadBE32(at: 4)
        guard cookie == Self.magicCookie else {
            throw WireError.invalid(.stun, "magic cookie", "0x\(String(cookie, radix: 16)), expected 0x2112a442")
        }
        let length = Int(bytes.loadBE16(at: 2))
        guard length % 4 == 0 else {
            throw WireError.invalid(.stun, "message length", "\(length) is not a multiple of 4")
        }
        guard Self.headerLength + length <= count else {
            throw WireError.truncated(.stun, "attributes", needed: Self.headerLength + length, available: count)
        }
        guard Self.headerLength + length == count else {
            throw WireError.invalid(
                .stun, "message length", "\(length) but \(count - Self.headerLength) bytes follow the header")
        }
        let transactionID = STUNTransactionID(unchecked: bytes, at: 8)

        var reader = ByteReader(bytes, proto: .stun, offset: Self.headerLength)
        var attributes: [STUNAttribute] = []
        var sawFingerprint = false
        while !reader.isAtEnd {
            guard !sawFingerprint else {
                throw WireError.invalid(.stun, "FINGERPRINT", "an attribute follows it; it must be the last")
            }
            let attributeType = try reader.u16("attribute type")
            let attributeLength = Int(try reader.u16("attribute length"))
            let value = try reader.slice(attributeLength, "attribute value")
            try reader.skip((4 - attributeLength % 4) % 4, "attribute padding")
            attributes.append(try STUNAttribute.parse(type: attributeType, value: value, transactionID: transactionID))
            sawFingerprint = attributeType == STUNAttributeType.fingerprint.rawValue
        }
        self.init(type: type, transactionID: transactionID, attributes: attributes)
    }

    /// The cheap test a demultiplexer needs (RFC 7983 §7, RFC 8489 §5): at least a header, the two top
    /// bits zero, the magic cookie, and a length that is a multiple of 4 and matches the datagram.
    @inlinable
    public static func looksLikeSTUN(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= headerLength, bytes[0] & 0xC0 == 0 else { return false }
        let length = Int(bytes.loadBE16(at: 2))
        return length % 4 == 0 && length + headerLength == bytes.count && bytes.loadBE32(at: 4) == magicCookie
    }

    @inlinable
    public static func looksLikeSTUN(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { looksLikeSTUN($0) }
    }

    // MARK: Serialization

    /// Writes the attributes exactly as they are (stored MESSAGE-INTEGRITY and FINGERPRINT values
    /// included, not recomputed), with zero padding.
    public func serialize(into out: inout [UInt8]) {
        serialize(into: &out, padding: 0)
    }

    /// As `serialize(into:)`, with `padding` as the value of every padding byte. RFC 8489 §14 lets the
    /// sender choose it; the RFC 5769 vectors of §2.1-2.3 use 0x20, so this reproduces them exactly.
    public func serialize(into out: inout [UInt8], padding: UInt8) {
        let start = beginSerialization(into: &out)
        for attribute in attributes {
            Self.append(attribute, to: &out, transactionID: transactionID, padding: padding)
        }
        Self.setLength(of: &out, messageStart: start)
    }

    /// Writes the header with a zero length and returns where it starts.
    func beginSerialization(into out: inout [UInt8]) -> Int {
        let start = out.count
        out.reserveCapacity(start + Self.headerLength + attributes.count * 16)
        out.appendBE16(type.rawValue)
        out.appendBE16(0)
        out.appendBE32(Self.magicCookie)
        transactionID.append(to: &out)
        return start
    }

    /// Patches the header length to cover everything after the header.
    static func setLength(of out: inout [UInt8], messageStart start: Int) {
        out.setBE16(UInt16(truncatingIfNeeded: out.count - start - headerLength), at: start + 2)
    }

    /// One TLV with its padding. A value longer than 65535 bytes (only possible for hand-built values
    /// that ignore the RFC limits) is cut so the encoding stays well formed.
    static func append(_ attribute: STUNAttribute, to out: inout [UInt8], transactionID: STUNTransactionID, padding: UInt8) {
        let at = out.count
        out.appendBE16(attribute.type.rawValue)
        out.appendBE16(0)
        attribute.serializeValue(into: &out, transactionID: transactionID)
        var length = out.count - at - 4
        if length > 0xFFFF {
            out.removeLast(length - 0xFFFF)
            length = 0xFFFF
        }
        out.setBE16(UInt16(length), at: at + 2)
        while (out.count - at) % 4 != 0 { out.append(padding) }
    }

    // MARK: Reading attributes

    /// The first attribute of `type` that counts. Per RFC 8489 §14.5 and §14.6 an agent ignores what
    /// follows MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, and what follows
    /// MESSAGE-INTEGRITY-SHA256 except FINGERPRINT; such attributes are kept in `attributes` (for
    /// round-trips) but never returned here.
    public func attribute(_ type: STUNAttributeType) -> STUNAttribute? {
        var filter = CountedFilter()
        for attribute in attributes where filter.admits(attribute.type) && attribute.type == type {
            return attribute
        }
        return nil
    }

    /// The attributes in order, without those §14.5/§14.6 tell an agent to ignore.
    public var countedAttributes: [STUNAttribute] {
        var filter = CountedFilter()
        return attributes.filter { filter.admits($0.type) }
    }

    /// Walks attribute types in order and says which count (RFC 8489 §14.5, §14.6).
    struct CountedFilter {
        var afterIntegrity = false
        var afterIntegritySHA256 = false

        mutating func admits(_ type: STUNAttributeType) -> Bool {
            if afterIntegritySHA256 { return type == .fingerprint }
            if afterIntegrity, type != .fingerprint, type != .messageIntegritySHA256 { return false }
            if type == .messageIntegrity { afterIntegrity = true }
            if type == .messageIntegritySHA256 { afterIntegritySHA256 = true }
            return true
        }
    }

    public var username: String? {
        if case .username(let v)? = attribute(.username) { return v }
        return nil
    }

    public var realm: String? {
        if case .realm(let v)? = attribute(.realm) { return v }
        return nil
    }

    public var nonce: String? {
        if case .nonce(let v)? = attribute(.nonce) { return v }
        return nil
    }

    public var software: String? {
        if case .software(let v)? = attribute(.software) { return v }
        return nil
    }

    public var xorMappedAddress: STUNAddress? {
        if case .xorMappedAddress(let v)? = attribute(.xorMappedAddress) { return v }
        return nil
    }

    public var mappedAddress: STUNAddress? {
        if case .mappedAddress(let v)? = attribute(.mappedAddress) { return v }
        return nil
    }

    public var errorCode: STUNErrorCode? {
        if case .errorCode(let v)? = attribute(.errorCode) { return v }
        return nil
    }

    public var unknownAttributes: [UInt16]? {
        if case .unknownAttributes(let v)? = attribute(.unknownAttributes) { return v }
        return nil
    }

    public var priority: UInt32? {
        if case .priority(let v)? = attribute(.priority) { return v }
        return nil
    }

    public var useCandidate: Bool { attribute(.useCandidate) != nil }

    public var iceControlling: UInt64? {
        if case .iceControlling(let v)? = attribute(.iceControlling) { return v }
        return nil
    }

    public var iceControlled: UInt64? {
        if case .iceControlled(let v)? = attribute(.iceControlled) { return v }
        return nil
    }

    public var messageIntegrity: [UInt8]? {
        if case .messageIntegrity(let v)? = attribute(.messageIntegrity) { return v }
        return nil
    }

    public var fingerprint: UInt32? {
        if case .fingerprint(let v)? = attribute(.fingerprint) { return v }
        return nil
    }

    /// Types of counted attributes this implementation does not understand in the comprehension-required
    /// range 0x0000...0x7FFF, without repeats: a request carrying any gets a 420 response listing them in
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1). At most `maxUnknownAttributesListed` are listed (linear in the
    /// message however many it carries).
    public var unknownComprehensionRequiredAttributes: [UInt16] {
        var result: [UInt16] = []
        var seen: Set<UInt16> = []
        for case .unknown(let type, _) in countedAttributes where type < 0x8000 {
            guard result.count < Self.maxUnknownAttributesListed else { break }
            if seen.insert(type).inserted { result.append(type) }
        }
        return result
    }

    /// The most unknown attribute types a 420 response lists.
    public static let maxUnknownAttributesListed = 32

    public var description: String {
        "STUN \(type) \(transactionID) [" + attributes.map { $0.type.description }.joined(separator: ", ") + "]"
    }
}
