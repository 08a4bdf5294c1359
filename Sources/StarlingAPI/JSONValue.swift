public import Foundation

/// A JSON value that crosses actors (`Sendable`): the control API's params, results and events, and what
/// the Swift clients (StarlingClient) read and write.
public enum JSONValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, b in b }))
    }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }

    public init(_ value: String?) { self = value.map { .string($0) } ?? .null }
    public init(_ value: Int?) { self = value.map { .int($0) } ?? .null }
    /// Rounded to three decimals (rates, milliseconds).
    public init(_ value: Double) { self = .double((value * 1000).rounded() / 1000) }

    /// What JSONSerialization takes.
    public var foundation: Any {
        switch self {
        case .null: NSNull()
        case .bool(let b): b
        case .int(let i): i
        case .double(let d): d.isFinite ? d : 0
        case .string(let s): s
        case .array(let a): a.map(\.foundation)
        case .object(let o): o.mapValues(\.foundation)
        }
    }

    /// From what JSONSerialization gives (numbers that are integers become `.int`).
    public init(foundation value: Any) {
        switch value {
        case let s as String: self = .string(s)
        case let n as NSNumber:
            if n.isJSONBoolean {
                self = .bool(n.boolValue)
            } else if n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 9e15 {
                self = .int(n.intValue)
            } else {
                self = .double(n.doubleValue)
            }
        case let a as [Any]: self = .array(a.map { JSONValue(foundation: $0) })
        case let o as [String: Any]: self = .object(o.mapValues { JSONValue(foundation: $0) })
        default: self = .null
        }
    }

    /// Compact JSON text with sorted keys.
    public var text: String {
        guard let data = try? JSONSerialization.data(withJSONObject: foundation, options: [.sortedKeys, .fragmentsAllowed])
        else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

extension NSNumber {
    /// Whether JSONSerialization made this number from `true` or `false`.
    public var isJSONBoolean: Bool {
        #if canImport(Darwin)
            return CFGetTypeID(self) == CFBooleanGetTypeID()
        #else
            return String(cString: objCType) == "c"
        #endif
    }
}

extension JSONValue {
    /// Parses JSON text (nil when it is not JSON).
    public init?(parsing text: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else { return nil }
        self.init(foundation: object)
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var int: Int? { if case .int(let n) = self { n } else { nil } }
    public var double: Double? {
        switch self {
        case .int(let n): Double(n)
        case .double(let d): d
        default: nil
        }
    }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
}
