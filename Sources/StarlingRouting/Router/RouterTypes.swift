import StarlingTransport
import StarlingWire

/// A transport (one ICE/DTLS peer connection) the router sends to and receives from. Chosen by the caller.
public struct TransportID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public var description: String { "transport-\(rawValue)" }
}

/// A published track inside one router. Assigned by the router.
public struct ProducerID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public var description: String { "producer-\(rawValue)" }
}

/// One subscriber's copy of one producer. Assigned by the router.
public struct ConsumerID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public var description: String { "consumer-\(rawValue)" }
}

public enum MediaKind: String, Hashable, Sendable {
    case audio, video
}

/// The codecs the router looks inside. Others are forwarded as opaque payloads (one layer, no
/// keyframe detection beyond what the caller declares).
public enum CodecKind: String, Hashable, Sendable {
    case opus, vp8, vp9, h264, av1, other
}

/// A negotiated RTP codec on one side (publisher or subscriber): payload types are per peer connection.
public struct RTPCodec: Hashable, Sendable {
    public var kind: CodecKind
    public var payloadType: UInt8
    public var clockRate: UInt32
    /// The RTX payload type associated with `payloadType` (RFC 4588 §8.6 `apt`), when RTX is negotiated.
    public var rtxPayloadType: UInt8?

    public init(kind: CodecKind, payloadType: UInt8, clockRate: UInt32, rtxPayloadType: UInt8? = nil) {
        self.kind = kind
        self.payloadType = payloadType
        self.clockRate = clockRate
        self.rtxPayloadType = rtxPayloadType
    }
}

/// The RFC 8285 local identifiers negotiated on one side for the extensions the router reads or writes.
/// Zero or nil: not negotiated.
public struct HeaderExtensionIDs: Hashable, Sendable {
    public var mid: UInt8?
    public var rid: UInt8?
    public var repairedRID: UInt8?
    public var absSendTime: UInt8?
    public var transportWideCC: UInt8?
    public var audioLevel: UInt8?
    public var videoOrientation: UInt8?
    public var dependencyDescriptor: UInt8?

    public init(
        mid: UInt8? = nil, rid: UInt8? = nil, repairedRID: UInt8? = nil, absSendTime: UInt8? = nil,
        transportWideCC: UInt8? = nil, audioLevel: UInt8? = nil, videoOrientation: UInt8? = nil,
        dependencyDescriptor: UInt8? = nil
    ) {
        self.mid = mid
        self.rid = rid
        self.repairedRID = repairedRID
        self.absSendTime = absSendTime
        self.transportWideCC = transportWideCC
        self.audioLevel = audioLevel
        self.videoOrientation = videoOrientation
        self.dependencyDescriptor = dependencyDescriptor
    }

    /// From `a=extmap` lines: URI -> local id. Unknown URIs are ignored.
    public init(uris: [String: UInt8]) {
        self.init(
            mid: uris[RTPHeaderExtensionURI.sdesMid], rid: uris[RTPHeaderExtensionURI.rtpStreamID],
            repairedRID: uris[RTPHeaderExtensionURI.repairedRTPStreamID],
            absSendTime: uris[RTPHeaderExtensionURI.absSendTime],
            transportWideCC: uris[RTPHeaderExtensionURI.transportWideCC],
            audioLevel: uris[RTPHeaderExtensionURI.audioLevel],
            videoOrientation: uris[RTPHeaderExtensionURI.videoOrientation],
            dependencyDescriptor: uris[RTPHeaderExtensionURI.dependencyDescriptor])
    }
}

/// How a publisher wants keyframes asked for (RFC 4585 §6.3.1 PLI, RFC 5104 §3.5.1 FIR).
public enum KeyframeRequestKind: Hashable, Sendable {
    case pli, fir
}

/// What a publisher sends on one track, from its SDP (or our own client).
public struct ProducerParameters: Hashable, Sendable {
    /// One simulcast encoding (RFC 8853), or the only one. Identified by SSRC (`a=ssrc-group:SIM`, or
    /// a single `a=ssrc`) or by RID (`a=rid`, read from the rid header extension).
    public struct Encoding: Hashable, Sendable {
        public var ssrc: UInt32?
        public var rid: String?
        public var rtxSSRC: UInt32?
        public init(ssrc: UInt32? = nil, rid: String? = nil, rtxSSRC: UInt32? = nil) {
            self.ssrc = ssrc
            self.rid = rid
            self.rtxSSRC = rtxSSRC
        }
    }

    public var kind: MediaKind
    public var codec: RTPCodec
    /// Ordered from the lowest spatial layer to the highest.
    public var encodings: [Encoding]
    public var extensions: HeaderExtensionIDs
    /// The m-line's mid, used to bind SSRCs that were not signalled.
    public var mid: String?
    /// Whether the publisher accepts NACK (RFC 4585 `nack`).
    public var nack: Bool
    public var keyframeRequest: KeyframeRequestKind
    /// Whether the publisher reads REMB (`goog-remb`); transport-cc is taken from `extensions`.
    public var remb: Bool

    public init(
        kind: MediaKind, codec: RTPCodec, encodings: [Encoding], extensions: HeaderExtensionIDs = .init(),
        mid: String? = nil, nack: Bool = true, keyframeRequest: KeyframeRequestKind = .pli, remb: Bool = false
    ) {
        self.kind = kind
        self.codec = codec
        self.encodings = encodings.isEmpty ? [Encoding()] : encodings
        self.extensions = extensions
        self.mid = mid
        self.nack = nack
        self.keyframeRequest = keyframeRequest
        self.remb = remb
    }
}

/// What a subscriber receives for one producer: our SSRCs and its payload types and extension ids.
public struct ConsumerParameters: Hashable, Sendable {
    public var ssrc: UInt32
    /// Set when the subscriber negotiated RTX (RFC 4588) for this stream.
    public var rtxSSRC: UInt32?
    /// The codec as negotiated with the subscriber (its payload types); the same codec kind as the producer's.
    public var codec: RTPCodec
    public var extensions: HeaderExtensionIDs
    /// The subscriber's m-line mid, written into the mid extension when negotiated.
    public var mid: String?
    /// Whether the subscriber sends NACKs for this stream (enables the sent-history ring).
    public var nack: Bool
    /// Highest spatial layer wanted (nil: the highest the producer has).
    public var preferredSpatialLayer: Int?
    /// Highest VP8 temporal layer wanted (nil: all).
    public var preferredTemporalLayer: Int?
    public var paused: Bool

    public init(
        ssrc: UInt32, rtxSSRC: UInt32? = nil, codec: RTPCodec, extensions: HeaderExtensionIDs = .init(),
        mid: String? = nil, nack: Bool = true, preferredSpatialLayer: Int? = nil, preferredTemporalLayer: Int? = nil,
        paused: Bool = false
    ) {
        self.ssrc = ssrc
        self.rtxSSRC = rtxSSRC
        self.codec = codec
        self.extensions = extensions
        self.mid = mid
        self.nack = nack
        self.preferredSpatialLayer = preferredSpatialLayer
        self.preferredTemporalLayer = preferredTemporalLayer
        self.paused = paused
    }
}

/// Where the router's packets go: the room protects them and writes them to the transport's socket.
///
/// `packet` is a scratch buffer owned by the router: the first `length` bytes are a plain RTP or RTCP
/// packet and the whole buffer may be written (so SRTP can protect in place: at least
/// `Router.trailerRoom` bytes follow the packet). It is valid only during the call.
public protocol RouterOutput: AnyObject {
    func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID)
    func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID)
}

/// What the router tells the control plane; polled with `Router.pollEvent()`.
public enum RouterEvent: Hashable, Sendable {
    /// The dominant speaker of the room changed (nil: nobody speaks).
    case activeSpeaker(ProducerID?)
    /// A video consumer now forwards another spatial layer (or none).
    case layerChanged(ConsumerID, spatial: Int?)
    /// A producer's stream started arriving from a new SSRC (e.g. the publisher restarted its encoder).
    case producerSSRCChanged(ProducerID, layer: Int)
}

public enum RouterError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownTransport(TransportID)
    case unknownProducer(ProducerID)
    case unknownConsumer(ConsumerID)
    case duplicateSSRC(UInt32)
    case codecMismatch(String)
    case invalidParameters(String)

    public var description: String {
        switch self {
        case .unknownTransport(let t): "unknown \(t)"
        case .unknownProducer(let p): "unknown \(p)"
        case .unknownConsumer(let c): "unknown \(c)"
        case .duplicateSSRC(let s): "SSRC \(s) is already used on this transport"
        case .codecMismatch(let s): "codec mismatch: \(s)"
        case .invalidParameters(let s): "invalid parameters: \(s)"
        }
    }
}
