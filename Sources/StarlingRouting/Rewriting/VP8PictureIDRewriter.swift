import StarlingWire

/// Keeps the VP8 picture ID, TL0PICIDX and KEYIDX of a consumer's outgoing stream continuous across
/// source switches (RFC 7741 §4.2), rewriting the payload descriptor in place.
///
/// Each field is unwrapped per source in the modulus it arrives in (2^7 or 2^15 for the picture ID, 2^8
/// for TL0PICIDX, 2^5 for KEYIDX) and shifted by an offset chosen at the switch, so that the new source's
/// key frame carries the last sent value + 1. The outgoing picture ID is written modulo 2^15 into a
/// 15-bit field, or modulo 2^7 into a 7-bit one (continuous either way, since receivers compare modulo
/// the field size). Pictures the router drops on purpose (VP8 temporal layers above the wanted one) are
/// declared with `dropped(_:)` and closed up, so the receiver sees no missing picture: libwebrtc's VP8
/// reference finder holds back a frame while a lower picture ID of its layer or below is missing. Allocates
/// nothing.
public struct VP8PictureIDRewriter: Sendable {
    private var pictureID = Field(modulus: 1 << 15)
    private var tl0PicIdx = Field(modulus: 1 << 8)
    private var keyIndex = Field(modulus: 1 << 5)

    public init() {}

    /// The last outgoing picture ID (modulo 2^15), TL0PICIDX and KEYIDX, where sent.
    public var lastPictureID: UInt16? { pictureID.lastOut.map { UInt16(truncatingIfNeeded: $0 & 0x7FFF) } }
    public var lastTL0PicIdx: UInt8? { tl0PicIdx.lastOut.map { UInt8(truncatingIfNeeded: $0) } }
    public var lastKeyIndex: UInt8? { keyIndex.lastOut.map { UInt8(truncatingIfNeeded: $0 & 0x1F) } }

    /// Re-bases every field on `keyFrame`, the descriptor of the new source's key frame (its first packet,
    /// rewritten next with `rewrite`): each field it carries will go out as the last sent value + 1.
    public mutating func switchSource(keyFrame: VP8PayloadDescriptor) {
        if let id = keyFrame.pictureID {
            pictureID.switchSource(firstValue: Int64(id.value), modulus: id.isLong ? 1 << 15 : 1 << 7)
        } else {
            pictureID.reset()
        }
        if let t = keyFrame.tl0PicIdx { tl0PicIdx.switchSource(firstValue: Int64(t), modulus: 1 << 8) } else { tl0PicIdx.reset() }
        if let k = keyFrame.keyIndex { keyIndex.switchSource(firstValue: Int64(k), modulus: 1 << 5) } else { keyIndex.reset() }
    }

    /// Declares that the router drops the picture `descriptor` belongs to (any of its packets; counted once).
    /// Later pictures go out one lower, so the outgoing picture IDs stay continuous.
    public mutating func dropped(_ descriptor: VP8PayloadDescriptor) {
        guard let id = descriptor.pictureID else { return }
        pictureID.drop(Int64(id.value), modulus: id.isLong ? 1 << 15 : 1 << 7)
    }

    /// The fields as they went out (-1: absent), for the sent history.
    public struct Written: Hashable, Sendable {
        public var pictureID: Int32 = -1
        public var tl0PicIdx: Int16 = -1
        public var keyIndex: Int16 = -1
    }

    /// Rewrites the descriptor at the start of `payload` (a VP8 RTP payload of the current source) in place
    /// and returns the values written. Returns nil, writing nothing, when the descriptor is truncated.
    /// `descriptor`, when given, is the payload's descriptor already parsed (the router parses each packet
    /// once, then rewrites every copy).
    @discardableResult
    public mutating func rewrite(payload: UnsafeMutableRawBufferPointer, descriptor: VP8PayloadDescriptor? = nil) -> Written? {
        guard let d = descriptor ?? (try? VP8PayloadDescriptor(parsingPrefixOf: UnsafeRawBufferPointer(payload))) else {
            return nil
        }
        let id = d.pictureID.flatMap { pictureID.map(Int64($0.value), modulus: $0.isLong ? 1 << 15 : 1 << 7) }
        let t = d.tl0PicIdx.flatMap { tl0PicIdx.map(Int64($0), modulus: 1 << 8) }
        let k = d.keyIndex.flatMap { keyIndex.map(Int64($0), modulus: 1 << 5) }
        let written = Written(
            pictureID: id.map { Int32(truncatingIfNeeded: $0 & (d.pictureID!.isLong ? 0x7FFF : 0x7F)) }
                ?? d.pictureID.map { Int32($0.value) } ?? -1,
            tl0PicIdx: t.map { Int16(truncatingIfNeeded: $0 & 0xFF) } ?? d.tl0PicIdx.map { Int16($0) } ?? -1,
            keyIndex: k.map { Int16(truncatingIfNeeded: $0 & 0x1F) } ?? d.keyIndex.map { Int16($0) } ?? -1)
        do {
            try VP8PayloadDescriptor.rewrite(
                payload, pictureID: id.map { UInt16(truncatingIfNeeded: $0 & 0x7FFF) },
                tl0PicIdx: t.map { UInt8(truncatingIfNeeded: $0) },
                keyIndex: k.map { UInt8(truncatingIfNeeded: $0 & 0x1F) })
        } catch {
            return nil
        }
        return written
    }

    /// One wrapping counter: input unwrapped in the source's modulus, output = extended input + offset -
    /// the dropped inputs below it.
    struct Field: Sendable {
        let outModulus: Int64
        var inModulus: Int64
        var lastIn: Int64?  // highest extended input of the current source
        var offset: Int64 = 0
        var lastOut: Int64?  // highest extended output
        /// Inputs declared dropped since the switch, and the most recent of them (ascending) so that an
        /// older input arriving late (reordered, recovered) is placed where it was the first time.
        var drops: Int64 = 0
        var recentDrops = DropRing()

        /// The last 16 dropped inputs (a ring allocated once; filled in place).
        struct DropRing: Sendable {
            var values = [Int64](repeating: 0, count: 16)
            var count = 0
            var next = 0

            mutating func append(_ value: Int64) {
                values[next] = value
                next = (next + 1) % values.count
                count = min(count + 1, values.count)
            }

            /// How many remembered drops are above `value`; nil when `value` is older than every remembered
            /// drop while more were dropped than remembered (it cannot be placed exactly).
            func countAbove(_ value: Int64, totalDrops: Int64) -> Int64? {
                var above: Int64 = 0
                for i in 0..<count where values[i] > value { above += 1 }
                if above == count, totalDrops > Int64(count) { return nil }
                return above
            }

            mutating func removeAll() {
                count = 0
                next = 0
            }
        }

        init(modulus: Int64) {
            outModulus = modulus
            inModulus = modulus
        }

        /// Forgets the current source (a key frame without this field): the next value that arrives starts
        /// a new base.
        mutating func reset() { lastIn = nil }

        mutating func switchSource(firstValue: Int64, modulus: Int64) {
            inModulus = modulus
            lastIn = firstValue
            offset = lastOut.map { $0 + 1 - firstValue } ?? 0
            drops = 0
            recentDrops.removeAll()
        }

        /// Unwraps raw input `value` against the highest input so far (advancing it).
        private mutating func extend(_ value: Int64) -> Int64? {
            guard let last = lastIn else { return nil }
            let half = inModulus / 2
            var delta = (value - last) % inModulus
            if delta < 0 { delta += inModulus }
            if delta >= half { delta -= inModulus }
            let ext = last + delta
            if ext > last { lastIn = ext }
            return ext
        }

        /// A dropped input: counted once, when it is new (later than every input seen).
        mutating func drop(_ value: Int64, modulus: Int64) {
            guard lastIn != nil, modulus == inModulus, let previous = lastIn, let ext = extend(value), ext > previous
            else { return }
            drops += 1
            recentDrops.append(ext)
        }

        /// The extended output value for raw input `value`, or nil when the source changed its field size
        /// (the value cannot be placed; it is left as it is).
        mutating func map(_ value: Int64, modulus: Int64) -> Int64? {
            if lastIn == nil || modulus != inModulus {
                // A field appearing without a switch: continue from the last output.
                switchSource(firstValue: value, modulus: modulus)
            }
            guard let previous = lastIn, let ext = extend(value) else { return nil }
            var dropsBelow = drops
            if ext < previous, drops > 0 {
                guard let above = recentDrops.countAbove(ext, totalDrops: drops) else { return nil }
                dropsBelow -= above
            }
            let out = ext + offset - dropsBelow
            if lastOut.map({ out > $0 }) ?? true { lastOut = out }
            return out
        }
    }
}
