/// The aggregation header at the start of every AV1 RTP payload (RTP Payload Format for AV1, §4.4):
///
///      0 1 2 3 4 5 6 7
///     +-+-+-+-+-+-+-+-+
///     |Z|Y| W |N|-|-|-|
///     +-+-+-+-+-+-+-+-+
///
/// Z: the first OBU element continues one from the previous packet; Y: the last one continues in the next
/// packet; W: how many OBU elements the packet holds (0: each has a length field); N: the packet is the
/// first of a coded video sequence, which starts with a key frame and its sequence header: where a
/// receiver can begin decoding. Never allocates.
public struct AV1AggregationHeader: Hashable, Sendable {
    public var continuesFirstElement: Bool
    public var lastElementContinues: Bool
    public var elementCount: UInt8
    public var startsCodedVideoSequence: Bool

    public init(continuesFirstElement: Bool, lastElementContinues: Bool, elementCount: UInt8, startsCodedVideoSequence: Bool) {
        self.continuesFirstElement = continuesFirstElement
        self.lastElementContinues = lastElementContinues
        self.elementCount = elementCount & 3
        self.startsCodedVideoSequence = startsCodedVideoSequence
    }

    /// Reads the header byte of `payload`. Throws for an empty payload, for the reserved bits set, and for
    /// N with Z (§4.4: a packet that starts a coded video sequence cannot continue an earlier OBU).
    public init(parsing payload: UnsafeRawBufferPointer) throws(WireError) {
        guard let byte = payload.first else {
            throw .truncated(.av1, "aggregation header", needed: 1, available: 0)
        }
        guard byte & 0x07 == 0 else { throw .invalid(.av1, "aggregation header", "reserved bits set") }
        continuesFirstElement = byte & 0x80 != 0
        lastElementContinues = byte & 0x40 != 0
        elementCount = byte >> 4 & 3
        startsCodedVideoSequence = byte & 0x08 != 0
        if startsCodedVideoSequence, continuesFirstElement {
            throw .invalid(.av1, "aggregation header", "N set on a packet that continues an OBU")
        }
    }

    /// The packet is the first of a key frame a decoder can start from.
    public var isKeyFrameStart: Bool { startsCodedVideoSequence && !continuesFirstElement }

    public var byte: UInt8 {
        (continuesFirstElement ? 0x80 : 0) | (lastElementContinues ? 0x40 : 0) | (elementCount & 3) << 4
            | (startsCodedVideoSequence ? 0x08 : 0)
    }
}
