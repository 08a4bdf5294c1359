/// What a UDP socket shared by many peers needs from a STUN packet before it knows the sender: the
/// message type, the transaction ID and where the USERNAME sits (ICE's "receiverUfrag:senderUfrag",
/// RFC 8445 §7.2.2), read in place without parsing or copying the rest.
public struct STUNPeek: Hashable, Sendable {
    public var type: STUNMessageType
    public var transactionID: STUNTransactionID
    /// Byte range, in the peeked buffer, of the first USERNAME value before any MESSAGE-INTEGRITY or
    /// MESSAGE-INTEGRITY-SHA256.
    public var usernameRange: Range<Int>?

    @inlinable
    public init(type: STUNMessageType, transactionID: STUNTransactionID, usernameRange: Range<Int>?) {
        self.type = type
        self.transactionID = transactionID
        self.usernameRange = usernameRange
    }

    /// The USERNAME value as a view into `bytes`, the buffer that was peeked.
    @inlinable
    public func username(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let range = usernameRange, range.upperBound <= bytes.count else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    /// The part of the USERNAME before the first ":" (the receiver's ufrag in an ICE connectivity check),
    /// as a view into `bytes`; the whole USERNAME when it has no colon.
    @inlinable
    public func usernameBeforeColon(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let username = username(in: bytes) else { return nil }
        let end = username.firstIndex(of: UInt8(ascii: ":")) ?? username.count
        return UnsafeRawBufferPointer(rebasing: username[..<end])
    }
}

extension STUNMessage {
    /// Reads header and USERNAME location without allocating. Nil unless `looksLikeSTUN(bytes)` and the
    /// attribute TLVs up to the USERNAME (or up to a MESSAGE-INTEGRITY(-SHA256) or the end when there is none) are
    /// well framed.
    @inlinable
    public static func peek(_ bytes: UnsafeRawBufferPointer) -> STUNPeek? {
        guard looksLikeSTUN(bytes), let type = STUNMessageType(rawValue: bytes.loadBE16(at: 0)) else { return nil }
        let transactionID = STUNTransactionID(unchecked: bytes, at: 8)
        var offset = headerLength
        while offset < bytes.count {
            guard offset + 4 <= bytes.count else { return nil }
            let attributeType = bytes.loadBE16(at: offset)
            let length = Int(bytes.loadBE16(at: offset + 2))
            guard offset + 4 + length <= bytes.count else { return nil }
            if attributeType == 0x0006 {  // USERNAME
                return STUNPeek(type: type, transactionID: transactionID, usernameRange: (offset + 4)..<(offset + 4 + length))
            }
            // After MESSAGE-INTEGRITY(-SHA256) a USERNAME does not count (§14.5, §14.6).
            if attributeType == 0x0008 || attributeType == 0x001C { break }
            offset += 4 + ((length + 3) & ~3)
        }
        return STUNPeek(type: type, transactionID: transactionID, usernameRange: nil)
    }

    @inlinable
    public static func peek(_ bytes: [UInt8]) -> STUNPeek? {
        bytes.withUnsafeBytes { peek($0) }
    }
}
