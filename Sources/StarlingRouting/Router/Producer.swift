import StarlingTransport
import StarlingWire

/// One published track: its encodings (simulcast layers, lowest first), each with its reception
/// statistics, upstream NACK state, packet cache and bitrate, and the consumers that forward it.
///
/// State per encoding (`ProducerStream`): the SSRC (signalled, or learned from the rid / mid header
/// extensions on the first packet), the RTX SSRC and decoder, `ReceiveStatistics` for our RRs
/// (RFC 3550 §6.4.2), a `NACKGenerator` for losses on the publisher's leg (RFC 4585 §6.2.1), a
/// `RetransmissionBuffer` of the original packets keyed by their sequence number (consumers answer
/// their subscribers' NACKs from it, RFC 4588), a `BitrateMeter`, and when the last keyframe arrived.
public final class Producer {
    public let id: ProducerID
    public let transport: TransportID
    public let parameters: ProducerParameters
    public internal(set) var streams: [ProducerStream]
    var consumers: [Consumer] = []
    /// Most recent RFC 6464 audio level (audio producers with the extension).
    public internal(set) var lastAudioLevel: UInt8?

    init(id: ProducerID, transport: TransportID, parameters: ProducerParameters, now: Instant) {
        self.id = id
        self.transport = transport
        self.parameters = parameters
        let video = parameters.kind == .video
        // The retransmission cache (1500-byte slots, packets kept 2 s) is the largest per-publisher cost:
        // 512 slots hold 2 s of a 720p layer at 2.5 Mbit/s (~250 packets/s); audio at 50 packets/s needs 128.
        streams = parameters.encodings.enumerated().map { index, encoding in
            ProducerStream(
                layer: index, encoding: encoding, parameters: parameters,
                cacheSlots: video ? 512 : 128, now: now)
        }
    }

    public var kind: MediaKind { parameters.kind }
    public var clockRate: UInt32 { parameters.codec.clockRate }
    public var consumerIDs: [ConsumerID] { consumers.map(\.id) }
}

/// One encoding of a producer (a simulcast layer, or the only stream).
public final class ProducerStream {
    public let layer: Int
    public let rid: String?
    public internal(set) var ssrc: UInt32?
    public internal(set) var rtxSSRC: UInt32?
    public internal(set) var statistics: ReceiveStatistics?
    var nack: NACKGenerator
    let cache: RetransmissionBuffer
    var rtx: RTXDecoder?
    var bitrate = BitrateWindow(window: .seconds(1), buckets: 10)
    public internal(set) var lastPacketAt: Instant?
    public internal(set) var lastKeyframeAt: Instant?
    public internal(set) var packetsReceived = 0
    public internal(set) var keyframesReceived = 0
    public internal(set) var retransmissionsReceived = 0
    let nackEnabled: Bool
    private let rtxPayloadType: UInt8?
    private let payloadType: UInt8

    init(layer: Int, encoding: ProducerParameters.Encoding, parameters: ProducerParameters, cacheSlots: Int, now: Instant) {
        self.layer = layer
        rid = encoding.rid
        nackEnabled = parameters.nack
        payloadType = parameters.codec.payloadType
        rtxPayloadType = parameters.codec.rtxPayloadType
        nack = NACKGenerator()
        cache = RetransmissionBuffer(slots: cacheSlots, slotSize: 1500, maxAge: .seconds(2))
        if let s = encoding.ssrc { bind(ssrc: s) }
        if let r = encoding.rtxSSRC { bind(rtxSSRC: r) }
    }

    /// Binds (or rebinds) the media SSRC, forgetting everything learnt from the old one.
    func bind(ssrc: UInt32) {
        self.ssrc = ssrc
        statistics = ReceiveStatistics(ssrc: ssrc)
        nack.reset()
        cache.removeAll()
        if let r = rtxSSRC { bind(rtxSSRC: r) }
    }

    func bind(rtxSSRC: UInt32) {
        self.rtxSSRC = rtxSSRC
        guard let ssrc, let rtxPT = rtxPayloadType else { return }
        rtx = RTXDecoder(rtxSSRC: rtxSSRC, originalSSRC: ssrc, associatedPayloadTypes: [rtxPT: payloadType])
    }

    /// Whether packets arrived within the last `window` (an encoding the publisher stopped sending, e.g.
    /// because its own uplink estimate dropped, is not a layer to switch to).
    public func isActive(now: Instant, window: Duration = .seconds(1)) -> Bool {
        guard let last = lastPacketAt else { return false }
        return now - last <= window
    }

    public func currentBitrate(now: Instant) -> Int { bitrate.bitrate(at: now) ?? 0 }
}
