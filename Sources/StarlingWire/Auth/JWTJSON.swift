/// The JSON (RFC 8259) a JOSE header or a JWT claims set is made of, parsed strictly from untrusted bytes.
///
/// A small parser of our own rather than Foundation's: RFC 7515 §4 and RFC 7519 §4 require duplicate member
/// names to be rejected (or the last one used), and `JSONDecoder` silently keeps the first. It also keeps
/// Foundation out of StarlingWire. Numbers are kept as their literal text; the claim layer converts the
/// ones it reads, so huge or long numbers in ignored members cost nothing.
enum JWTJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's literal text, as validated by the RFC 8259 §6 grammar.
    case number(String)
    case string(String)
    case array([JWTJSON])
    case object([String: JWTJSON])

    /// Containers nested deeper than this are rejected (claims are two levels deep); the parser recurses.
    static let maxDepth = 16

    /// Parses one JSON text: a value with optional whitespace around it and nothing else (RFC 8259 §2).
    /// The error is a reason fit for a message (an offset, never the input).
    static func parse(_ bytes: [UInt8]) throws(ParseError) -> JWTJSON {
        var parser = Parser(bytes: bytes)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw ParseError("unexpected data after the JSON value at offset \(parser.index)") }
        return value
    }

    struct ParseError: Error, Equatable {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(ParseError) -> JWTJSON {
            skipWhitespace()
            guard index < bytes.count else { throw ParseError("unexpected end of JSON") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw ParseError("unexpected character at offset \(index)")
            }
        }

        mutating func literal(_ word: StaticString) throws(ParseError) {
            let count = word.utf8CodeUnitCount
            let matches = word.withUTF8Buffer { expected in
                index + count <= bytes.count && (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
            }
            guard matches else { throw ParseError("invalid literal at offset \(index)") }
            index += count
        }

        mutating func object(depth: Int) throws(ParseError) -> JWTJSON {
            guard depth <= JWTJSON.maxDepth else { throw ParseError("nested deeper than \(JWTJSON.maxDepth) levels") }
            index += 1  // "{"
            var members: [String: JWTJSON] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw ParseError("expected a member name at offset \(index)")
                }
                let nameOffset = index
                let name = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw ParseError("expected ':' at offset \(index)") }
                index += 1
                let member = try value(depth: depth)
                // RFC 7515 §4, RFC 7519 §4: duplicate member names are rejected.
                guard members.updateValue(member, forKey: name) == nil else {
                    throw ParseError("duplicate member name at offset \(nameOffset)")
                }
                skipWhitespace()
                guard index < bytes.count else { throw ParseError("unexpected end of JSON") }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return .object(members)
                default: throw ParseError("expected ',' or '}' at offset \(index)")
                }
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> JWTJSON {
            guard depth <= JWTJSON.maxDepth else { throw ParseError("nested deeper than \(JWTJSON.maxDepth) levels") }
            index += 1  // "["
            var elements: [JWTJSON] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(depth: depth))
                skipWhitespace()
                guard index < bytes.count else { throw ParseError("unexpected end of JSON") }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return .array(elements)
                default: throw ParseError("expected ',' or ']' at offset \(index)")
                }
            }
        }

        /// RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
        mutating func number() throws(ParseError) -> String {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw ParseError("invalid number at offset \(start)") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                skipDigits()
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw ParseError("invalid number at offset \(start)") }
                skipDigits()
            }
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw ParseError("invalid number at offset \(start)") }
                skipDigits()
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        private mutating func skipDigits() {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }

        /// A string (RFC 8259 §7): no raw control characters, the escapes of §7, surrogate pairs joined and
        /// lone surrogates rejected, the whole well-formed UTF-8 (§8.1).
        mutating func string() throws(ParseError) -> String {
            let start = index
            index += 1  // opening quote
            var utf8: [UInt8] = []
            while true {
                guard index < bytes.count else { throw ParseError("unterminated string at offset \(start)") }
                let c = bytes[index]
                index += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: utf8, as: UTF8.self) else {
                        throw ParseError("string at offset \(start) is not valid UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    try escape(into: &utf8)
                case 0x00..<0x20:
                    throw ParseError("control character in string at offset \(index - 1)")
                default:
                    utf8.append(c)
                }
            }
        }

        private mutating func escape(into utf8: inout [UInt8]) throws(ParseError) {
            guard index < bytes.count else { throw ParseError("unexpected end of JSON") }
            let c = bytes[index]
            index += 1
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(c)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                let escapeOffset = index - 2
                var scalar = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw ParseError("unpaired surrogate escape at offset \(escapeOffset)")
                    }
                    index += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw ParseError("unpaired surrogate escape at offset \(escapeOffset)") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw ParseError("unpaired surrogate escape at offset \(escapeOffset)") }
                utf8.append(contentsOf: unicode.utf8)
            default:
                throw ParseError("invalid escape at offset \(index - 2)")
            }
        }

        private mutating func hex4() throws(ParseError) -> UInt16 {
            guard index + 4 <= bytes.count else { throw ParseError("unexpected end of JSON") }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let digit: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
                default: throw ParseError("invalid \\u escape at offset \(index)")
                }
                value = value << 4 | UInt16(digit)
                index += 1
            }
            return value
        }
    }
}

/// Writing the JSON the signer emits: members in a fixed order, strings escaped per RFC 8259 §7.
struct JWTJSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    mutating func beginObject(_ name: String? = nil) {
        if let name { key(name) }
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func member(_ name: String, string value: String) {
        key(name)
        Self.quote(value, into: &bytes)
        needsComma = true
    }

    mutating func member(_ name: String, bool value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    mutating func member(_ name: String, integer value: Int64) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    mutating func member(_ name: String, strings values: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.quote(value, into: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    private mutating func key(_ name: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        Self.quote(name, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// `"`, `\` and the control characters escaped; everything else as its UTF-8.
    static func quote(_ text: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0x0F)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
