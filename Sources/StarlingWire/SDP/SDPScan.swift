/// Namespace for the SDP value types (RFC 8866, as JSEP RFC 8829 uses it). `SessionDescription`,
/// `MediaDescription` and `ICECandidate` live at the top level; the attribute types live here.
public enum SDP {}

/// Byte-level tokenizing shared by the SDP parsers. SDP separators are all ASCII and UTF-8 never
/// puts an ASCII byte inside a multi-byte sequence, so splitting bytes at them keeps every piece
/// valid UTF-8 and sidesteps grapheme clustering (`"\r\n"` and `" \u{301}"` are single `Character`s).
enum SDPScan {
    static let space = UInt8(ascii: " ")
    static let colon = UInt8(ascii: ":")
    static let slash = UInt8(ascii: "/")
    static let semicolon = UInt8(ascii: ";")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")

    typealias Bytes = ArraySlice<UInt8>

    static func bytes(_ s: String) -> Bytes { Array(s.utf8)[...] }

    static func string(_ b: Bytes) -> String { String(decoding: b, as: UTF8.self) }

    /// Splits at every `sep`, keeping empty pieces (so `"a  b"` yields an empty token we can reject).
    static func split(_ b: Bytes, _ sep: UInt8) -> [Bytes] {
        b.split(separator: sep, maxSplits: .max, omittingEmptySubsequences: false)
    }

    /// Splits at the first `sep`: `(before, after)`, or `(b, nil)` when there is none.
    static func splitOnce(_ b: Bytes, _ sep: UInt8) -> (Bytes, Bytes?) {
        guard let i = b.firstIndex(of: sep) else { return (b, nil) }
        return (b[b.startIndex..<i], b[(i + 1)...])
    }

    /// Space-separated tokens; an empty token (doubled, leading or trailing space) is an error.
    static func tokens(_ b: Bytes, _ field: String) throws(WireError) -> [Bytes] {
        let parts = split(b, space)
        for part in parts where part.isEmpty {
            throw WireError.invalid(.sdp, field, "empty field (stray space) in '\(quote(b))'")
        }
        return parts
    }

    /// An unsigned decimal of ASCII digits only (no sign, no spaces), or nil on overflow.
    static func decimal<T: FixedWidthInteger>(_ b: Bytes, as: T.Type = T.self) -> T? {
        guard !b.isEmpty, b.count <= 20 else { return nil }
        var v: T = 0
        for c in b {
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(T(c - 0x30))
            if o1 || o2 { return nil }
            v = s
        }
        return v
    }

    static func number<T: FixedWidthInteger>(
        _ b: Bytes, _ field: String, in range: ClosedRange<T> = T.min...T.max
    ) throws(WireError) -> T {
        guard let v: T = decimal(b), range.contains(v) else {
            throw WireError.invalid(.sdp, field, "'\(quote(b))' is not a decimal in \(range)")
        }
        return v
    }

    /// A non-empty token without spaces.
    static func token(_ b: Bytes, _ field: String) throws(WireError) -> String {
        guard !b.isEmpty else { throw WireError.invalid(.sdp, field, "empty") }
        guard !b.contains(space) else { throw WireError.invalid(.sdp, field, "contains a space: '\(quote(b))'") }
        return string(b)
    }

    static func trimSpaces(_ b: Bytes) -> Bytes {
        var s = b.startIndex
        var e = b.endIndex
        while s < e, b[s] == space { s += 1 }
        while e > s, b[e - 1] == space { e -= 1 }
        return b[s..<e]
    }

    /// The input shortened for an error message.
    static func quote(_ b: Bytes) -> String {
        b.count <= 48 ? string(b) : string(b.prefix(45)) + "..."
    }
}
