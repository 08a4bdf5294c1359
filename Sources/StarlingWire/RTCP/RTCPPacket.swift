/// One RTCP packet, decoded (RFC 3550 §6, RFC 4585 §6, RFC 5104 §4.3).
///
/// Packet types and feedback formats StarlingWire does not model (XR, NACK variants, SLI, RPSI, TMMBR,
/// other application layer feedback, ...) are kept as `unknown` with their body, and written back as they
/// came. Padding is not kept: a value holds the body without it.
///
/// Serializing writes RTCP padding only where a body is not a multiple of four bytes. Counts a header
/// field cannot hold are clamped (see each type); a packet must fit the 16-bit length field (256 KiB),
/// and serializing a larger one is a programming error that traps.
public enum RTCPPacket: WireCodable {
    case senderReport(SenderReport)
    case receiverReport(ReceiverReport)
    case sourceDescription(SourceDescription)
    case goodbye(Goodbye)
    case applicationDefined(ApplicationDefined)
    case genericNACK(GenericNACK)
    case transportFeedback(TransportFeedback)
    case pictureLossIndication(PictureLossIndication)
    case fullIntraRequest(FullIntraRequest)
    case receiverEstimatedMaxBitrate(ReceiverEstimatedMaxBitrate)
    /// A packet type or FMT not modelled: the 5-bit count/FMT field and the body after the header, padding
    /// removed. Serialized with RTCP padding when the body is not a multiple of four bytes.
    case unknown(packetType: RTCPPacketType, count: UInt8, body: [UInt8])

    /// Parses exactly one packet.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed packet according to its kind.
    public init(view: RTCPPacketView) throws(WireError) {
        switch view.kind {
        case .senderReport: self = .senderReport(try SenderReport(view: view))
        case .receiverReport: self = .receiverReport(try ReceiverReport(view: view))
        case .sourceDescription: self = .sourceDescription(try SourceDescription(view: view))
        case .goodbye: self = .goodbye(try Goodbye(view: view))
        case .applicationDefined: self = .applicationDefined(try ApplicationDefined(view: view))
        case .genericNACK: self = .genericNACK(try GenericNACK(view: view))
        case .transportFeedback: self = .transportFeedback(try TransportFeedback(view: view))
        case .pictureLossIndication: self = .pictureLossIndication(try PictureLossIndication(view: view))
        case .fullIntraRequest: self = .fullIntraRequest(try FullIntraRequest(view: view))
        case .receiverEstimatedMaxBitrate: self = .receiverEstimatedMaxBitrate(try ReceiverEstimatedMaxBitrate(view: view))
        case .unknown: self = .unknown(packetType: view.packetType, count: view.count, body: Array(view.body))
        }
    }

    /// The packet type this value is written with.
    public var packetType: RTCPPacketType {
        switch self {
        case .senderReport: return .senderReport
        case .receiverReport: return .receiverReport
        case .sourceDescription: return .sourceDescription
        case .goodbye: return .goodbye
        case .applicationDefined: return .applicationDefined
        case .genericNACK, .transportFeedback: return .transportLayerFeedback
        case .pictureLossIndication, .fullIntraRequest, .receiverEstimatedMaxBitrate: return .payloadSpecificFeedback
        case .unknown(let packetType, _, _): return packetType
        }
    }

    public func serialize(into out: inout [UInt8]) {
        switch self {
        case .senderReport(let p): p.serialize(into: &out)
        case .receiverReport(let p): p.serialize(into: &out)
        case .sourceDescription(let p): p.serialize(into: &out)
        case .goodbye(let p): p.serialize(into: &out)
        case .applicationDefined(let p): p.serialize(into: &out)
        case .genericNACK(let p): p.serialize(into: &out)
        case .transportFeedback(let p): p.serialize(into: &out)
        case .pictureLossIndication(let p): p.serialize(into: &out)
        case .fullIntraRequest(let p): p.serialize(into: &out)
        case .receiverEstimatedMaxBitrate(let p): p.serialize(into: &out)
        case .unknown(let packetType, let count, let body):
            RTCPHeader.writePacket(packetType, count: count, into: &out) { $0.append(contentsOf: body) }
        }
    }
}
