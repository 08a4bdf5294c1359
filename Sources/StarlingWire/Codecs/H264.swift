/// A NAL unit type (H.264 Table 7-1; RFC 6184 §5.2 Table 1 for the packetization types 24-29).
public struct H264NALUnitType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    /// Keeps the low 5 bits.
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue & 0x1F }

    public static let codedSliceNonIDR = H264NALUnitType(rawValue: 1)
    public static let codedSliceIDR = H264NALUnitType(rawValue: 5)
    public static let sei = H264NALUnitType(rawValue: 6)
    public static let sps = H264NALUnitType(rawValue: 7)
    public static let pps = H264NALUnitType(rawValue: 8)
    public static let accessUnitDelimiter = H264NALUnitType(rawValue: 9)
    public static let stapA = H264NALUnitType(rawValue: 24)
    public static let stapB = H264NALUnitType(rawValue: 25)
    public static let mtap16 = H264NALUnitType(rawValue: 26)
    public static let mtap24 = H264NALUnitType(rawValue: 27)
    public static let fuA = H264NALUnitType(rawValue: 28)
    public static let fuB = H264NALUnitType(rawValue: 29)

    /// Types 1-23: a NAL unit that can travel in a single NAL unit packet (RFC 6184 §5.6).
    @inlinable public var isSingleNALUnitType: Bool { rawValue >= 1 && rawValue <= 23 }

    public var description: String { "\(rawValue)" }
}

/// The one-octet NAL unit header (H.264 §7.3.1, RFC 6184 §1.3), also the first octet of every H.264 RTP
/// payload (RFC 6184 §5.3):
///
///     +---------------+
///     |0|1|2|3|4|5|6|7|
///     +-+-+-+-+-+-+-+-+
///     |F|NRI|  Type   |
///     +---------------+
public struct H264NALUnitHeader: Hashable, Sendable {
    /// F, forbidden_zero_bit: 1 flags a unit that may contain bit errors (RFC 6184 §5.3).
    public var forbiddenZeroBit: Bool
    /// NRI, nal_ref_idc (2 bits): 0 means not used for reference.
    public var nalRefIdc: UInt8
    public var type: H264NALUnitType

    public init(forbiddenZeroBit: Bool = false, nalRefIdc: UInt8, type: H264NALUnitType) {
        self.forbiddenZeroBit = forbiddenZeroBit
        self.nalRefIdc = nalRefIdc & 0x03
        self.type = type
    }

    @inlinable
    public init(octet b: UInt8) {
        forbiddenZeroBit = b & 0x80 != 0
        nalRefIdc = (b >> 5) & 0x03
        type = H264NALUnitType(rawValue: b)
    }

    @inlinable
    public var octet: UInt8 { (forbiddenZeroBit ? 0x80 : 0) | (nalRefIdc & 0x03) << 5 | type.rawValue }
}

/// A set of NAL unit types (0-31) as one 32-bit mask, so collecting the types of a packet never allocates.
public struct H264NALUnitTypeSet: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ type: H264NALUnitType) { rawValue = 1 << UInt32(type.rawValue) }
    @inlinable public func contains(_ type: H264NALUnitType) -> Bool { rawValue & (1 << UInt32(type.rawValue)) != 0 }
    @inlinable public mutating func insert(_ type: H264NALUnitType) { formUnion(H264NALUnitTypeSet(type)) }
}

/// How an H.264 RTP payload carries its NAL units (RFC 6184 §5.4, non-interleaved mode: packetization
/// modes 0 and 1).
public enum H264Packetization: Hashable, Sendable {
    /// A single NAL unit packet (types 1-23, RFC 6184 §5.6).
    case singleNALUnit
    /// A single-time aggregation packet, STAP-A (type 24, RFC 6184 §5.7.1).
    case stapA
    /// A fragmentation unit, FU-A (type 28, RFC 6184 §5.8).
    case fuA
}

/// The FU indicator and FU header that start an FU-A payload (RFC 6184 §5.8):
///
///     +---------------+---------------+
///     |F|NRI|  Type=28|S|E|R|  Type   |
///     +---------------+---------------+
///       FU indicator     FU header
public struct H264FUAHeader: WireCodable, Hashable {
    /// F and NRI of the fragmented NAL unit (carried in the FU indicator).
    public var forbiddenZeroBit: Bool
    public var nalRefIdc: UInt8
    /// S: this fragment starts the NAL unit.
    public var isStart: Bool
    /// E: this fragment ends the NAL unit.
    public var isEnd: Bool
    /// The fragmented NAL unit's type (1-23).
    public var type: H264NALUnitType

    public init(forbiddenZeroBit: Bool = false, nalRefIdc: UInt8, isStart: Bool, isEnd: Bool, type: H264NALUnitType) {
        self.forbiddenZeroBit = forbiddenZeroBit
        self.nalRefIdc = nalRefIdc & 0x03
        self.isStart = isStart
        self.isEnd = isEnd
        self.type = type
    }

    /// The header of the NAL unit being fragmented, as it is rebuilt on reassembly.
    public var nalUnitHeader: H264NALUnitHeader {
        H264NALUnitHeader(forbiddenZeroBit: forbiddenZeroBit, nalRefIdc: nalRefIdc, type: type)
    }

    /// Parses exactly the two header octets (`H264Payload` parses a whole FU-A payload).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(prefixOf: bytes)
        if bytes.count != 2 {
            throw WireError.invalid(.h264, "FU header", "\(bytes.count - 2) octets after the FU header")
        }
    }

    @usableFromInline
    init(prefixOf bytes: UnsafeRawBufferPointer) throws(WireError) {
        var r = ByteReader(bytes, proto: .h264)
        let indicator = H264NALUnitHeader(octet: try r.u8("FU indicator"))
        guard indicator.type == .fuA else {
            throw WireError.invalid(.h264, "FU indicator", "type \(indicator.type.rawValue) is not FU-A (28)")
        }
        let fu = try r.u8("FU header")
        forbiddenZeroBit = indicator.forbiddenZeroBit
        nalRefIdc = indicator.nalRefIdc
        isStart = fu & 0x80 != 0
        isEnd = fu & 0x40 != 0
        type = H264NALUnitType(rawValue: fu)
        if isStart && isEnd {
            throw WireError.invalid(.h264, "FU header", "S and E both set (RFC 6184 §5.8)")
        }
        if !type.isSingleNALUnitType {
            throw WireError.invalid(.h264, "FU header", "fragmented NAL unit type \(type.rawValue) is not 1-23")
        }
    }

    public func serialize(into out: inout [UInt8]) {
        out.append(H264NALUnitHeader(forbiddenZeroBit: forbiddenZeroBit, nalRefIdc: nalRefIdc, type: .fuA).octet)
        out.append((isStart ? 0x80 : 0) | (isEnd ? 0x40 : 0) | type.rawValue)
    }
}

/// What the forwarding path reads from an H.264 RTP payload (RFC 6184 §5.6-5.8), without allocating.
///
/// Key frames: a packet counts as the start of a key frame when it starts an SPS (type 7) or an IDR slice
/// (type 5): as a single NAL unit, inside a STAP-A, or as an FU-A with S = 1. libwebrtc's
/// depacketizer marks both SPS and IDR packets as key, mediasoup looks for the SPS: encoders send the
/// SPS and PPS right before each IDR picture, so switching a subscriber at the SPS gives its decoder the
/// parameter sets it needs; matching the IDR as well catches senders that send the parameter sets out of
/// band. Use `nalUnitTypes` for a stricter rule.
public struct H264Payload: Hashable, Sendable {
    public var packetization: H264Packetization
    /// The payload's first octet: the NAL unit header, or the STAP-A / FU indicator.
    public var header: H264NALUnitHeader
    /// For an FU-A, the FU indicator and header.
    public var fuHeader: H264FUAHeader?
    /// The types of the NAL units carried (for an FU-A, the fragmented unit's type).
    public var nalUnitTypes: H264NALUnitTypeSet
    /// How many NAL units the packet carries (an FU-A counts as one).
    public var nalUnitCount: Int
    /// Octets before the NAL unit data: 0 for a single NAL unit, 1 for a STAP-A (its units each follow a
    /// 16-bit size), 2 for an FU-A.
    public var headerLength: Int
    /// The packet starts a NAL unit (always, except an FU-A with S = 0).
    public var isStartOfNALUnit: Bool
    /// The packet ends a NAL unit (always, except an FU-A with E = 0).
    public var isEndOfNALUnit: Bool
    /// See the type's description for the rule.
    public var isKeyFrame: Bool

    /// Parses and validates the whole payload: every STAP-A unit is walked and bounds-checked.
    /// STAP-B, MTAPs and FU-B (interleaved mode) are reported as `.unsupported`; types 0, 30 and 31 as invalid.
    public init(parsing payload: UnsafeRawBufferPointer) throws(WireError) {
        var r = ByteReader(payload, proto: .h264)
        header = H264NALUnitHeader(octet: try r.u8("NAL unit header"))
        fuHeader = nil
        switch header.type.rawValue {
        case 1...23:
            packetization = .singleNALUnit
            nalUnitTypes = H264NALUnitTypeSet(header.type)
            nalUnitCount = 1
            headerLength = 0
            isStartOfNALUnit = true
            isEndOfNALUnit = true
        case 24:
            packetization = .stapA
            var types = H264NALUnitTypeSet()
            var count = 0
            try H264Payload.walkSTAPA(payload) { (unit) throws(WireError) in
                types.insert(H264NALUnitType(rawValue: unit[0]))
                count += 1
            }
            nalUnitTypes = types
            nalUnitCount = count
            headerLength = 1
            isStartOfNALUnit = true
            isEndOfNALUnit = true
        case 28:
            let fu = try H264FUAHeader(prefixOf: payload)
            try r.skip(1, "FU header")
            try r.require(1, "FU payload")
            packetization = .fuA
            fuHeader = fu
            nalUnitTypes = H264NALUnitTypeSet(fu.type)
            nalUnitCount = 1
            headerLength = 2
            isStartOfNALUnit = fu.isStart
            isEndOfNALUnit = fu.isEnd
        case 25, 26, 27, 29:
            throw WireError.unsupported(
                .h264, "NAL unit header", "type \(header.type.rawValue) needs the interleaved packetization mode")
        default:
            throw WireError.invalid(.h264, "NAL unit header", "type \(header.type.rawValue) is reserved")
        }
        isKeyFrame = isStartOfNALUnit && (nalUnitTypes.contains(.sps) || nalUnitTypes.contains(.codedSliceIDR))
    }

    /// Calls `body` with each complete NAL unit (header octet included) of `payload`: the whole payload of
    /// a single NAL unit packet, each unit of a STAP-A, none for an FU-A (it carries a fragment). Never
    /// allocates; throws on a malformed payload (before or between calls).
    public static func forEachNALUnit(
        in payload: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws(WireError) -> Void
    ) throws(WireError) {
        var r = ByteReader(payload, proto: .h264)
        let type = H264NALUnitHeader(octet: try r.u8("NAL unit header")).type
        switch type.rawValue {
        case 1...23: try body(payload)
        case 24: try walkSTAPA(payload, body)
        case 28: _ = try H264FUAHeader(prefixOf: payload)
        case 25, 26, 27, 29:
            throw WireError.unsupported(.h264, "NAL unit header", "type \(type.rawValue) needs the interleaved packetization mode")
        default:
            throw WireError.invalid(.h264, "NAL unit header", "type \(type.rawValue) is reserved")
        }
    }

    /// STAP-A (RFC 6184 §5.7.1): the STAP-A NAL header, then one or more units, each a 16-bit size and the
    /// unit. Units must be single NAL unit types (1-23) and not empty.
    static func walkSTAPA(
        _ payload: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws(WireError) -> Void
    ) throws(WireError) {
        var r = ByteReader(payload, proto: .h264, offset: 1)
        if r.isAtEnd { throw WireError.truncated(.h264, "STAP-A NALU size", needed: 2, available: 0) }
        while !r.isAtEnd {
            let size = Int(try r.u16("STAP-A NALU size"))
            if size == 0 { throw WireError.invalid(.h264, "STAP-A NALU size", "0") }
            let unit = try r.slice(size, "STAP-A NAL unit")
            let type = H264NALUnitType(rawValue: unit[0])
            if !type.isSingleNALUnitType {
                throw WireError.invalid(.h264, "STAP-A NAL unit", "type \(type.rawValue) cannot be aggregated")
            }
            try body(unit)
        }
    }

    /// Appends a STAP-A carrying `nalUnits` (each with its header octet). Its F bit is the OR of the units'
    /// and its NRI their maximum (RFC 6184 §5.7). Throws for an empty list, an empty or oversized (> 65535
    /// octets) unit, or a unit type outside 1-23; `out` is then unchanged.
    public static func serializeSTAPA(_ nalUnits: [[UInt8]], into out: inout [UInt8]) throws(WireError) {
        if nalUnits.isEmpty { throw WireError.invalid(.h264, "STAP-A", "no NAL units") }
        var f = false
        var nri: UInt8 = 0
        for unit in nalUnits {
            guard let first = unit.first, unit.count <= 0xFFFF else {
                throw WireError.invalid(.h264, "STAP-A NALU size", "\(unit.count)")
            }
            let h = H264NALUnitHeader(octet: first)
            if !h.type.isSingleNALUnitType {
                throw WireError.invalid(.h264, "STAP-A NAL unit", "type \(h.type.rawValue) cannot be aggregated")
            }
            f = f || h.forbiddenZeroBit
            nri = max(nri, h.nalRefIdc)
        }
        out.append(H264NALUnitHeader(forbiddenZeroBit: f, nalRefIdc: nri, type: .stapA).octet)
        for unit in nalUnits {
            out.appendBE16(UInt16(unit.count))
            out.append(contentsOf: unit)
        }
    }
}
