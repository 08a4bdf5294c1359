/// Typed values of the RTP header extensions Starling reads. Each decodes the value bytes of one
/// element (as returned by `RTPHeader.headerExtension(id:in:)`) and encodes it back.

/// An SDES item carried in a header extension: `sdes:mid` (RFC 8843 §15), `rtp-stream-id` and
/// `repaired-rtp-stream-id` (RFC 8852 §3). Values are 1...255 octets of token characters.
/// Decoding a value of up to 15 ASCII bytes yields a small inline String and does not allocate.
public enum SDESIdentifierExtension {
    @inlinable
    public static func decode(_ value: UnsafeRawBufferPointer) throws(WireError) -> String {
        guard !value.isEmpty else { throw WireError.invalid(.rtpHeaderExtension, "SDES identifier", "empty") }
        for byte in value where byte < 0x21 || byte > 0x7E {
            throw WireError.invalid(.rtpHeaderExtension, "SDES identifier", "byte \(byte) is not a token character")
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// Compares the value with `identifier` without creating a String.
    @inlinable
    public static func value(_ value: UnsafeRawBufferPointer, equals identifier: String) -> Bool {
        var identifier = identifier
        return identifier.withUTF8 { utf8 in
            utf8.count == value.count && zip(utf8, value).allSatisfy { $0 == $1 }
        }
    }

    public static func encode(_ identifier: String) -> [UInt8] { Array(identifier.utf8) }
}

/// abs-send-time: a 24-bit 6.18 fixed-point time in seconds (webrtc.org abs-send-time).
public struct AbsoluteSendTime: Equatable, Hashable, Sendable {
    public var rawValue: UInt32  // low 24 bits used

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue & 0xFF_FFFF }

    /// From a time in microseconds (wraps every 64 s, as the field does).
    @inlinable public init(microseconds: UInt64) {
        self.init(rawValue: UInt32(truncatingIfNeeded: (microseconds << 18) / 1_000_000))
    }

    @inlinable public var microseconds: UInt64 { (UInt64(rawValue) * 1_000_000) >> 18 }

    @inlinable
    public init(decoding value: UnsafeRawBufferPointer) throws(WireError) {
        guard value.count == 3 else {
            throw WireError.invalid(.rtpHeaderExtension, "abs-send-time", "length \(value.count), expected 3")
        }
        self.init(rawValue: value.loadBE24(at: 0))
    }

    public var encoded: [UInt8] { [UInt8(rawValue >> 16 & 0xFF), UInt8(rawValue >> 8 & 0xFF), UInt8(rawValue & 0xFF)] }
}

/// transport-wide-cc sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2): 16 bits.
/// A 4-byte value (the -02 form with a feedback request) is accepted; its first two bytes are the number.
public enum TransportWideSequenceNumber {
    @inlinable
    public static func decode(_ value: UnsafeRawBufferPointer) throws(WireError) -> UInt16 {
        guard value.count == 2 || value.count == 4 else {
            throw WireError.invalid(.rtpHeaderExtension, "transport-wide-cc", "length \(value.count), expected 2")
        }
        return value.loadBE16(at: 0)
    }

    public static func encode(_ number: UInt16) -> [UInt8] { [UInt8(number >> 8), UInt8(number & 0xFF)] }
}

/// Client-to-mixer audio level (RFC 6464 §3): a voice-activity flag and the level in -dBov (0...127).
public struct AudioLevel: Equatable, Hashable, Sendable {
    public var voiceActivity: Bool
    /// Level in -dBov: 0 is loudest, 127 is silence.
    public var level: UInt8

    @inlinable public init(voiceActivity: Bool, level: UInt8) {
        self.voiceActivity = voiceActivity
        self.level = level & 0x7F
    }

    /// RFC 6464 §3 sends one byte; some senders pad the element, so only the first byte is read.
    @inlinable
    public init(decoding value: UnsafeRawBufferPointer) throws(WireError) {
        guard let byte = value.first else { throw WireError.invalid(.rtpHeaderExtension, "audio level", "empty") }
        self.init(voiceActivity: byte & 0x80 != 0, level: byte & 0x7F)
    }

    public var encoded: [UInt8] { [(voiceActivity ? 0x80 : 0) | level] }
}

/// Coordination of video orientation (3GPP TS 26.114 §7.4.5): camera, flip and rotation bits.
public struct VideoOrientation: Equatable, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }
    /// Clockwise rotation in degrees.
    @inlinable public var rotationDegrees: Int { Int(rawValue & 0x03) * 90 }
    @inlinable public var flip: Bool { rawValue & 0x04 != 0 }
    @inlinable public var backCamera: Bool { rawValue & 0x08 != 0 }

    @inlinable
    public init(decoding value: UnsafeRawBufferPointer) throws(WireError) {
        guard let byte = value.first else { throw WireError.invalid(.rtpHeaderExtension, "video orientation", "empty") }
        self.init(rawValue: byte)
    }
}

extension RTPHeader {
    /// `sdes:mid` value of the element with local id `id`, if present and valid.
    @inlinable
    public func mid(id: UInt8, in bytes: UnsafeRawBufferPointer) -> String? {
        headerExtension(id: id, in: bytes).flatMap { try? SDESIdentifierExtension.decode($0) }
    }

    /// `rtp-stream-id` (RID) value, RFC 8852 §3.1.
    @inlinable
    public func rid(id: UInt8, in bytes: UnsafeRawBufferPointer) -> String? {
        headerExtension(id: id, in: bytes).flatMap { try? SDESIdentifierExtension.decode($0) }
    }

    /// `repaired-rtp-stream-id` value, RFC 8852 §3.2.
    @inlinable
    public func repairedRID(id: UInt8, in bytes: UnsafeRawBufferPointer) -> String? {
        headerExtension(id: id, in: bytes).flatMap { try? SDESIdentifierExtension.decode($0) }
    }

    @inlinable
    public func absoluteSendTime(id: UInt8, in bytes: UnsafeRawBufferPointer) -> AbsoluteSendTime? {
        headerExtension(id: id, in: bytes).flatMap { try? AbsoluteSendTime(decoding: $0) }
    }

    @inlinable
    public func transportWideSequenceNumber(id: UInt8, in bytes: UnsafeRawBufferPointer) -> UInt16? {
        headerExtension(id: id, in: bytes).flatMap { try? TransportWideSequenceNumber.decode($0) }
    }

    @inlinable
    public func audioLevel(id: UInt8, in bytes: UnsafeRawBufferPointer) -> AudioLevel? {
        headerExtension(id: id, in: bytes).flatMap { try? AudioLevel(decoding: $0) }
    }

    /// The raw AV1 dependency descriptor (parse it with `AV1DependencyDescriptor`).
    @inlinable
    public func dependencyDescriptor(id: UInt8, in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        headerExtension(id: id, in: bytes)
    }
}
