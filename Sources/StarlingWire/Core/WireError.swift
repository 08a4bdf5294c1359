/// The protocol a parse or serialization error belongs to; used for per-protocol error counters.
public enum WireProtocol: String, Sendable, Hashable, CaseIterable {
    case rtp, rtpHeaderExtension, rtcp, stun, sdp, vp8, vp9, h264, av1, av1DependencyDescriptor, demux, dcep
}

/// A typed error naming the protocol, the offending field and why it was rejected.
///
/// Every parser in StarlingWire takes untrusted bytes and reports failures only through this type:
/// it never traps, whatever the input.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The input ended before the field: `needed` bytes were required from its start, `available` remained.
        case truncated(needed: Int, available: Int)
        /// The field holds a value the protocol does not allow.
        case invalidValue(String)
        /// The field is well formed but describes something this implementation does not handle.
        case unsupported(String)
    }

    public var proto: WireProtocol
    public var field: String
    public var reason: Reason

    public init(_ proto: WireProtocol, field: String, _ reason: Reason) {
        self.proto = proto
        self.field = field
        self.reason = reason
    }

    public static func truncated(_ proto: WireProtocol, _ field: String, needed: Int, available: Int) -> WireError {
        WireError(proto, field: field, .truncated(needed: needed, available: available))
    }

    public static func invalid(_ proto: WireProtocol, _ field: String, _ why: String) -> WireError {
        WireError(proto, field: field, .invalidValue(why))
    }

    public static func unsupported(_ proto: WireProtocol, _ field: String, _ why: String) -> WireError {
        WireError(proto, field: field, .unsupported(why))
    }

    public var description: String {
        switch reason {
        case .truncated(let needed, let available):
            return "\(proto.rawValue): \(field): truncated (needed \(needed) bytes, \(available) available)"
        case .invalidValue(let why):
            return "\(proto.rawValue): \(field): invalid: \(why)"
        case .unsupported(let why):
            return "\(proto.rawValue): \(field): unsupported: \(why)"
        }
    }
}

/// Runs `body` over the bytes of `array`, carrying a typed `WireError` out (Array's own
/// `withUnsafeBytes` only rethrows untyped errors).
@inlinable @inline(__always)
public func withWireBytes<T>(
    _ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> T
) throws(WireError) -> T {
    let result: Result<T, WireError> = array.withUnsafeBytes { bytes in
        Result { () throws(WireError) -> T in try body(bytes) }
    }
    return try result.get()
}
