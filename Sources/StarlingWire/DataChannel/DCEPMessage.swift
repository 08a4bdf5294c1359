/// The Data Channel Establishment Protocol (RFC 8832): the two messages that open a WebRTC data channel,
/// carried on the channel's own SCTP stream with PPID 50 (`DataChannelPPID.dcep`).
///
/// DATA_CHANNEL_OPEN (§5.1): message type 0x03, channel type, priority (16 bits), reliability parameter
/// (32 bits), label length and protocol length (16 bits each), then the label and the protocol (UTF-8).
/// DATA_CHANNEL_ACK (§5.2): message type 0x02 alone.
public enum DCEPMessage: WireCodable, Hashable {
    case open(DataChannelOpen)
    case ack

    public static let openType: UInt8 = 0x03
    public static let ackType: UInt8 = 0x02

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        var reader = ByteReader(bytes, proto: .dcep)
        switch try reader.u8("message type") {
        case Self.ackType:
            // §5.2: the ACK is one byte; anything after it is not an ACK we understand.
            guard reader.rest().isEmpty else { throw .invalid(.dcep, "ack", "\(bytes.count) bytes, expected 1") }
            self = .ack
        case Self.openType:
            self = .open(try DataChannelOpen(afterType: &reader))
        case let other:
            throw .unsupported(.dcep, "message type", "0x\(String(other, radix: 16))")
        }
    }

    public func serialize(into out: inout [UInt8]) {
        switch self {
        case .ack:
            out.append(Self.ackType)
        case .open(let open):
            open.serialize(into: &out)
        }
    }
}

/// The fields of DATA_CHANNEL_OPEN (RFC 8832 §5.1).
public struct DataChannelOpen: Hashable, Sendable {
    /// Channel types (§5.1, §8.2.2): reliability and ordering in one byte; the 0x80 bit means unordered.
    public enum ChannelType: UInt8, Hashable, Sendable, CaseIterable {
        case reliable = 0x00
        case partialReliableRexmit = 0x01
        case partialReliableTimed = 0x02
        case reliableUnordered = 0x80
        case partialReliableRexmitUnordered = 0x81
        case partialReliableTimedUnordered = 0x82

        public var isOrdered: Bool { rawValue & 0x80 == 0 }
    }

    public var channelType: ChannelType
    /// §6.4 of RFC 8831's priorities: 128 below normal, 256 normal, 512 high, 1024 extra high.
    public var priority: UInt16
    /// Retransmissions (rexmit types) or lifetime in milliseconds (timed types); ignored for reliable ones.
    public var reliabilityParameter: UInt32
    public var label: String
    public var `protocol`: String

    public init(
        channelType: ChannelType = .reliable, priority: UInt16 = 256, reliabilityParameter: UInt32 = 0, label: String,
        protocol: String = ""
    ) {
        self.channelType = channelType
        self.priority = priority
        self.reliabilityParameter = reliabilityParameter
        self.label = label
        self.protocol = `protocol`
    }

    init(afterType reader: inout ByteReader) throws(WireError) {
        let type = try reader.u8("channel type")
        guard let channelType = ChannelType(rawValue: type) else {
            throw .unsupported(.dcep, "channel type", "0x\(String(type, radix: 16))")
        }
        self.channelType = channelType
        priority = try reader.u16("priority")
        reliabilityParameter = try reader.u32("reliability parameter")
        let labelLength = Int(try reader.u16("label length"))
        let protocolLength = Int(try reader.u16("protocol length"))
        let labelBytes = try reader.slice(labelLength, "label")
        let protocolBytes = try reader.slice(protocolLength, "protocol")
        guard reader.rest().isEmpty else { throw .invalid(.dcep, "open", "bytes after the protocol field") }
        // §5.1: label and protocol are UTF-8 (RFC 3629); refuse what does not decode rather than replace it.
        guard let label = String(validating: labelBytes, as: UTF8.self) else { throw .invalid(.dcep, "label", "not UTF-8") }
        guard let proto = String(validating: protocolBytes, as: UTF8.self) else {
            throw .invalid(.dcep, "protocol", "not UTF-8")
        }
        self.label = label
        self.protocol = proto
    }

    func serialize(into out: inout [UInt8]) {
        let label = Array(self.label.utf8.prefix(Int(UInt16.max)))
        let proto = Array(self.protocol.utf8.prefix(Int(UInt16.max)))
        out.append(DCEPMessage.openType)
        out.append(channelType.rawValue)
        out.appendBE16(priority)
        out.appendBE32(reliabilityParameter)
        out.appendBE16(UInt16(label.count))
        out.appendBE16(UInt16(proto.count))
        out += label
        out += proto
    }
}

/// SCTP payload protocol identifiers of WebRTC data channels (RFC 8831 §8, RFC 8832 §8.1).
public enum DataChannelPPID {
    /// DCEP messages.
    public static let dcep: UInt32 = 50
    public static let string: UInt32 = 51
    public static let binary: UInt32 = 53
    /// An empty string or binary message travels as one byte with these (RFC 8831 §6.6).
    public static let stringEmpty: UInt32 = 56
    public static let binaryEmpty: UInt32 = 57
}
