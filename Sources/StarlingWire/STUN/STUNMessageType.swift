/// A STUN method: the 12-bit operation a message belongs to (RFC 8489 §5, §18.2).
///
/// Only Binding matters to ICE; other registered methods (TURN's Allocate, Refresh, ...) are carried
/// as raw values so a message always round-trips.
public struct STUNMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The method number, 0x000...0xFFF.
    public let rawValue: UInt16

    /// Nil when `rawValue` does not fit in 12 bits.
    @inlinable
    public init?(rawValue: UInt16) {
        guard rawValue <= 0xFFF else { return nil }
        self.rawValue = rawValue
    }

    @usableFromInline
    init(uncheckedRawValue: UInt16) { rawValue = uncheckedRawValue }

    /// Binding (RFC 8489 §18.2): the only method STUN itself and ICE use.
    public static let binding = STUNMethod(uncheckedRawValue: 0x001)

    public var description: String {
        self == .binding ? "Binding" : "method(0x\(String(rawValue, radix: 16)))"
    }
}

/// The class of a STUN message (RFC 8489 §5): the two C bits of the message type.
public enum STUNMessageClass: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case request = 0b00
    case indication = 0b01
    case successResponse = 0b10
    case errorResponse = 0b11

    public var description: String {
        switch self {
        case .request: "request"
        case .indication: "indication"
        case .successResponse: "success response"
        case .errorResponse: "error response"
        }
    }
}

/// The 14-bit STUN message type: method and class interleaved (RFC 8489 §5, Figure 3).
///
/// ```
///  0                 1
///  2  3  4 5 6 7 8 9 0 1 2 3 4 5
/// +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
/// |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
/// |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
/// +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
public struct STUNMessageType: Hashable, Sendable, CustomStringConvertible {
    public var method: STUNMethod
    public var messageClass: STUNMessageClass

    @inlinable
    public init(method: STUNMethod, messageClass: STUNMessageClass) {
        self.method = method
        self.messageClass = messageClass
    }

    /// Decodes the first two bytes of a STUN header; nil when either of the two top bits is set.
    @inlinable
    public init?(rawValue: UInt16) {
        guard rawValue & 0xC000 == 0 else { return nil }
        let m = (rawValue & 0x000F) | ((rawValue & 0x00E0) >> 1) | ((rawValue & 0x3E00) >> 2)
        let c = ((rawValue & 0x0010) >> 4) | ((rawValue & 0x0100) >> 7)
        method = STUNMethod(uncheckedRawValue: m)
        messageClass = STUNMessageClass(rawValue: UInt8(truncatingIfNeeded: c)) ?? .request
    }

    /// The 16-bit field as sent (the top two bits are zero).
    @inlinable
    public var rawValue: UInt16 {
        let m = method.rawValue
        let c = UInt16(messageClass.rawValue)
        return (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
    }

    public static let bindingRequest = STUNMessageType(method: .binding, messageClass: .request)
    public static let bindingIndication = STUNMessageType(method: .binding, messageClass: .indication)
    public static let bindingSuccessResponse = STUNMessageType(method: .binding, messageClass: .successResponse)
    public static let bindingErrorResponse = STUNMessageType(method: .binding, messageClass: .errorResponse)

    public var description: String { "\(method) \(messageClass)" }
}

/// The 96-bit transaction ID of a STUN message (RFC 8489 §5), held as two integers so it can be
/// compared, hashed and used as a dictionary key without allocating.
public struct STUNTransactionID: Hashable, Sendable, CustomStringConvertible {
    /// Bytes 0...3 of the ID (header bytes 8...11).
    public var high: UInt32
    /// Bytes 4...11 of the ID (header bytes 12...19).
    public var low: UInt64

    @inlinable
    public init(high: UInt32, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Nil unless `bytes` holds exactly 12 bytes.
    @inlinable
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 12 else { return nil }
        var high: UInt32 = 0
        var low: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 4 { high = high << 8 | UInt32(b) } else { low = low << 8 | UInt64(b) }
        }
        self.init(high: high, low: low)
    }

    /// Reads 12 bytes at `offset`; the caller checks bounds.
    @inlinable
    init(unchecked bytes: UnsafeRawBufferPointer, at offset: Int) {
        high = bytes.loadBE32(at: offset)
        low = UInt64(bytes.loadBE32(at: offset + 4)) << 32 | UInt64(bytes.loadBE32(at: offset + 8))
    }

    /// A fresh random ID (RFC 8489 §5: "uniformly and randomly chosen from the interval 0 .. 2**96-1",
    /// so use a cryptographically strong generator, the default, outside tests).
    @inlinable
    public static func random() -> STUNTransactionID {
        var rng = SystemRandomNumberGenerator()
        return random(using: &rng)
    }

    @inlinable
    public static func random(using rng: inout some RandomNumberGenerator) -> STUNTransactionID {
        STUNTransactionID(high: UInt32.random(in: .min ... .max, using: &rng), low: rng.next())
    }

    /// The 12 bytes in wire order.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(12)
        append(to: &out)
        return out
    }

    @inlinable
    func append(to out: inout [UInt8]) {
        out.appendBE32(high)
        out.appendBE64(low)
    }

    /// 24 lowercase hex digits.
    public var description: String {
        let h = String(high, radix: 16)
        let l = String(low, radix: 16)
        return String(repeating: "0", count: 8 - h.count) + h + String(repeating: "0", count: 16 - l.count) + l
    }
}
