/// The header of an RTP packet (RFC 3550 §5.1), read in place.
///
/// Parsing records field values and offsets into the caller's buffer; it never copies the payload and
/// never allocates. Extension elements (RFC 8285) are looked up lazily from the same buffer with
/// `headerExtension(id:in:)`.
public struct RTPHeader: Equatable, Sendable {
    public static let fixedLength = 12

    public var hasPadding: Bool
    public var marker: Bool
    public var payloadType: UInt8
    public var sequenceNumber: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    /// Number of CSRC identifiers (RFC 3550 §5.1 CC).
    public var csrcCount: Int
    /// The extension profile ("defined by profile" field), or nil when X is 0.
    public var extensionProfile: UInt16?
    /// Offset and length of the extension data (after the 4-byte extension header).
    public var extensionOffset: Int
    public var extensionLength: Int
    /// Offset and length of the payload (padding excluded).
    public var payloadOffset: Int
    public var payloadLength: Int
    /// Padding bytes at the end, including the count byte itself (0 without P).
    public var paddingLength: Int

    /// Header length in bytes: fixed header, CSRCs and extension.
    @inlinable public var headerLength: Int { payloadOffset }

    @inlinable
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        let count = bytes.count
        guard count >= RTPHeader.fixedLength else {
            throw WireError.truncated(.rtp, "fixed header", needed: RTPHeader.fixedLength, available: count)
        }
        let b0 = bytes[0]
        guard b0 >> 6 == 2 else { throw WireError.invalid(.rtp, "version", "\(b0 >> 6), expected 2") }
        hasPadding = b0 & 0x20 != 0
        let hasExtension = b0 & 0x10 != 0
        csrcCount = Int(b0 & 0x0F)
        let b1 = bytes[1]
        marker = b1 & 0x80 != 0
        payloadType = b1 & 0x7F
        sequenceNumber = bytes.loadBE16(at: 2)
        timestamp = bytes.loadBE32(at: 4)
        ssrc = bytes.loadBE32(at: 8)

        var offset = RTPHeader.fixedLength + csrcCount * 4
        guard offset <= count else { throw WireError.truncated(.rtp, "CSRC list", needed: offset, available: count) }
        if hasExtension {
            guard offset + 4 <= count else {
                throw WireError.truncated(.rtp, "header extension header", needed: offset + 4, available: count)
            }
            extensionProfile = bytes.loadBE16(at: offset)
            extensionLength = Int(bytes.loadBE16(at: offset + 2)) * 4
            extensionOffset = offset + 4
            offset = extensionOffset + extensionLength
            guard offset <= count else {
                throw WireError.truncated(.rtp, "header extension", needed: offset, available: count)
            }
        } else {
            extensionProfile = nil
            extensionOffset = offset
            extensionLength = 0
        }
        payloadOffset = offset
        if hasPadding {
            guard count > offset else { throw WireError.truncated(.rtp, "padding count", needed: offset + 1, available: count) }
            let padding = Int(bytes[count - 1])
            guard padding > 0, padding <= count - offset else {
                throw WireError.invalid(.rtp, "padding count", "\(padding) with \(count - offset) bytes after the header")
            }
            paddingLength = padding
        } else {
            paddingLength = 0
        }
        payloadLength = count - offset - paddingLength
    }

    /// The CSRC at `index` (0 ..< csrcCount) from the buffer this header was parsed from.
    @inlinable
    public func csrc(at index: Int, in bytes: UnsafeRawBufferPointer) -> UInt32? {
        guard index >= 0, index < csrcCount else { return nil }
        return bytes.loadBE32(at: RTPHeader.fixedLength + index * 4)
    }

    /// The payload (padding excluded) as a view of `bytes`.
    @inlinable
    public func payload(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[payloadOffset..<(payloadOffset + payloadLength)])
    }

    /// The extension block (after its 4-byte header) as a view of `bytes`.
    @inlinable
    public func extensionBlock(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[extensionOffset..<(extensionOffset + extensionLength)])
    }

    /// Which RFC 8285 form the extension block uses, if any.
    @inlinable
    public var extensionForm: RTPHeaderExtensionForm? {
        guard let profile = extensionProfile else { return nil }
        return RTPHeaderExtensionForm(profile: profile)
    }

    /// The value of the extension element with local identifier `id` (RFC 8285), as a view of
    /// `bytes`; nil when absent, when the block is not in an RFC 8285 form, or when the element is malformed.
    @inlinable
    public func headerExtension(id: UInt8, in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let form = extensionForm, id != 0 else { return nil }
        var found: UnsafeRawBufferPointer?
        RTPHeaderExtensionForm.forEachElement(form: form, in: extensionBlock(in: bytes)) { elementID, value in
            if elementID == id {
                found = value
                return false
            }
            return true
        }
        return found
    }

    /// Calls `body` with each extension element's id and value until it returns false.
    /// Stops silently at the first malformed element (RFC 8285 §4.2: ID 15 ends processing).
    @inlinable
    public func forEachHeaderExtension(
        in bytes: UnsafeRawBufferPointer, _ body: (UInt8, UnsafeRawBufferPointer) -> Bool
    ) {
        guard let form = extensionForm else { return }
        RTPHeaderExtensionForm.forEachElement(form: form, in: extensionBlock(in: bytes), body)
    }
}

extension RTPHeader {
    /// In-place rewriting of a packet in a mutable buffer (the forwarding path). The buffer must hold
    /// a packet whose header parsed; these never change its length.
    @inlinable
    public static func setSequenceNumber(_ value: UInt16, in bytes: UnsafeMutableRawBufferPointer) {
        bytes[2] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[3] = UInt8(truncatingIfNeeded: value)
    }

    @inlinable
    public static func setTimestamp(_ value: UInt32, in bytes: UnsafeMutableRawBufferPointer) {
        bytes[4] = UInt8(truncatingIfNeeded: value >> 24)
        bytes[5] = UInt8(truncatingIfNeeded: value >> 16)
        bytes[6] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: value)
    }

    @inlinable
    public static func setSSRC(_ value: UInt32, in bytes: UnsafeMutableRawBufferPointer) {
        bytes[8] = UInt8(truncatingIfNeeded: value >> 24)
        bytes[9] = UInt8(truncatingIfNeeded: value >> 16)
        bytes[10] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[11] = UInt8(truncatingIfNeeded: value)
    }

    @inlinable
    public static func setPayloadType(_ value: UInt8, in bytes: UnsafeMutableRawBufferPointer) {
        bytes[1] = (bytes[1] & 0x80) | (value & 0x7F)
    }

    @inlinable
    public static func setMarker(_ value: Bool, in bytes: UnsafeMutableRawBufferPointer) {
        bytes[1] = value ? bytes[1] | 0x80 : bytes[1] & 0x7F
    }

    /// Overwrites the value of extension element `id` with `value` of the same length; returns false
    /// when the element is absent or its length differs (e.g. rewriting transport-wide sequence numbers).
    @inlinable
    public func overwriteHeaderExtension(
        id: UInt8, with value: UnsafeRawBufferPointer, in bytes: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard let existing = headerExtension(id: id, in: UnsafeRawBufferPointer(bytes)),
            existing.count == value.count, let base = bytes.baseAddress, let src = existing.baseAddress
        else { return false }
        let offset = UnsafeRawPointer(src) - UnsafeRawPointer(base)
        UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<(offset + value.count)]).copyMemory(from: value)
        return true
    }
}
