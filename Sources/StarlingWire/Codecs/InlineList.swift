/// A list of at most `capacity` integers stored inline, so parsers can return variable-length fields
/// (reference differences, chain differences) without allocating.
public struct InlineList<let capacity: Int, Element: FixedWidthInteger & Sendable>:
    RandomAccessCollection, Hashable, Sendable, ExpressibleByArrayLiteral
{
    @usableFromInline var storage: InlineArray<capacity, Element>
    @usableFromInline var length: Int

    @inlinable
    public init() {
        storage = InlineArray(repeating: 0)
        length = 0
    }

    /// Keeps the first `capacity` values.
    @inlinable
    public init(_ values: some Sequence<Element>) {
        self.init()
        for v in values where !isFull { append(v) }
    }

    public init(arrayLiteral values: Element...) { self.init(values) }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { length }
    @inlinable public var isFull: Bool { length >= capacity }

    @inlinable
    public subscript(i: Int) -> Element {
        precondition(i >= 0 && i < length, "InlineList index out of range")
        return storage[i]
    }

    /// Appends `v`; returns false (leaving the list unchanged) when it is full.
    @inlinable @discardableResult
    public mutating func append(_ v: Element) -> Bool {
        guard length < capacity else { return false }
        storage[length] = v
        length += 1
        return true
    }

    @inlinable
    public static func == (a: Self, b: Self) -> Bool { a.elementsEqual(b) }

    public func hash(into h: inout Hasher) {
        h.combine(length)
        for v in self { h.combine(v) }
    }
}
