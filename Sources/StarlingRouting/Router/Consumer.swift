import StarlingTransport
import StarlingWire

/// One subscriber's copy of one producer: a single continuous outgoing stream under its own SSRC.
///
/// State: the `LayerSelection` (target and current simulcast layer, temporal layer), the
/// `RTPStreamRewriter` (sequence numbers without gaps of our making, timestamps monotonic across
/// switches and pauses), the `VP8PictureIDRewriter` (continuous picture ID, TL0PICIDX, KEYIDX), a
/// ring of what was sent under each outgoing sequence number (to answer NACKs from the producer's
/// cache, RFC 4585 §6.2.1, over RTX when negotiated, RFC 4588), the SR counters (RFC 3550 §6.4.1) and
/// what the subscriber reports about the stream. The outgoing header is rebuilt for the subscriber:
/// its payload type, its extension ids, our abs-send-time and transport-wide sequence number.
/// Memory: about 20 KB for the history ring; nothing allocates per packet.
public final class Consumer {
    public let id: ConsumerID
    public let transport: TransportID
    /// The subscriber transport's state (it owns this consumer; unowned to break the cycle).
    unowned let transportState: TransportState
    public let producer: Producer
    public let parameters: ConsumerParameters
    public internal(set) var layers: LayerSelection
    var rewriter: RTPStreamRewriter
    var vp8 = VP8PictureIDRewriter()
    var rtx: RTXEncoder?
    public internal(set) var sender: SenderStatistics
    public internal(set) var remote: RemoteReceptionStatistics
    let history: SentHistory?
    let midBytes: InlineArray<16, UInt8>
    let midLength: Int
    /// Which recent packet the next padding retransmission repeats.
    var paddingCursor: UInt16 = 0
    var retransmissionBudget: RetransmissionBudget

    public struct Counters: Hashable, Sendable {
        public var packetsSent = 0
        public var bytesSent = 0
        public var packetsDropped = 0
        public var retransmitted = 0
        public var retransmissionsMissing = 0
        /// NACKed packets not resent because the consumer's retransmission budget was spent.
        public var retransmissionsThrottled = 0
        public var nacksReceived = 0
        public var keyframeRequestsReceived = 0
        public var layerSwitches = 0
        /// RTX packets sent as padding for bandwidth probing.
        public var paddingPackets = 0
        public init() {}
    }
    public internal(set) var counters = Counters()
    var bitrate = BitrateWindow(window: .seconds(1), buckets: 10)

    init(
        id: ConsumerID, transport: TransportState, producer: Producer, parameters: ConsumerParameters,
        retransmissionsPerSecond: Int = 250
    ) {
        self.id = id
        retransmissionBudget = RetransmissionBudget(rate: retransmissionsPerSecond)
        self.transport = transport.id
        self.transportState = transport
        self.producer = producer
        self.parameters = parameters
        layers = LayerSelection(
            layerCount: producer.streams.count, preferredSpatial: parameters.preferredSpatialLayer,
            preferredTemporal: parameters.preferredTemporalLayer, paused: parameters.paused)
        // RFC 3550 §5.1: random initial sequence number and timestamp; derived from our SSRC so runs
        // stay deterministic.
        var mix = UInt64(parameters.ssrc) &* 0x9E37_79B9_7F4A_7C15
        mix ^= mix >> 29
        rewriter = RTPStreamRewriter(
            outgoingSSRC: parameters.ssrc, clockRate: producer.clockRate,
            firstSequenceNumber: UInt16(truncatingIfNeeded: mix >> 8) & 0x7FFF,
            firstTimestamp: UInt32(truncatingIfNeeded: mix >> 24))
        if let rtxSSRC = parameters.rtxSSRC, let pt = parameters.codec.rtxPayloadType {
            rtx = RTXEncoder(ssrc: rtxSSRC, payloadType: pt, initialSequenceNumber: UInt16(truncatingIfNeeded: mix >> 40))
        }
        sender = SenderStatistics(ssrc: parameters.ssrc, clockRate: producer.clockRate)
        remote = RemoteReceptionStatistics(ssrc: parameters.ssrc)
        history = parameters.nack && producer.parameters.kind == .video ? SentHistory() : nil
        var mid = InlineArray<16, UInt8>(repeating: 0)
        let utf8 = Array((parameters.mid ?? "").utf8.prefix(16))
        for (i, b) in utf8.enumerated() { mid[i] = b }
        midBytes = mid
        midLength = utf8.count
    }

    public var isSimulcast: Bool { producer.streams.count > 1 }
    public var currentLayer: Int? { layers.current }
    public var targetLayer: Int? { layers.target }
    public func currentBitrate(now: Instant) -> Int { bitrate.bitrate(at: now) ?? 0 }

    // MARK: - Writing the outgoing packet

    /// Where `write` put things in the outgoing packet.
    struct Written {
        var length: Int
        var payloadOffset: Int
        /// Offset of the 2-byte transport-wide sequence number, to be filled by the transport.
        var transportSequenceOffset: Int?
        /// The abs-send-time value written, if any.
        var absSendTime: UInt32?
    }

    /// Writes the outgoing version of `src` (an RTP packet with `header`) into `dst`: the fixed header
    /// with our SSRC, `sequenceNumber`, `timestamp` and the subscriber's payload type; an RFC 8285 block
    /// with the extensions the subscriber negotiated (mid, abs-send-time and transport-wide-cc written
    /// by us, and those of `copied`, the publisher's values looked up once per packet); the payload
    /// without padding. CSRCs are not forwarded. `absSendTime` replaces the value taken from `now` (a
    /// retransmission that must repeat the original bytes). Returns nil when `dst` is too small.
    func write(
        _ src: UnsafeRawBufferPointer, header: RTPHeader, copied: CopiedExtensions, sequenceNumber: UInt16,
        timestamp: UInt32, into dst: UnsafeMutableRawBufferPointer, now: Instant, absSendTime: UInt32? = nil
    ) -> Written? {
        let ours = parameters.extensions
        let audioLevel = ours.audioLevel != nil ? copied.audioLevel : nil
        let orientation = ours.videoOrientation != nil ? copied.videoOrientation : nil
        let dependency = ours.dependencyDescriptor != nil ? copied.dependencyDescriptor : nil
        // RFC 8285 §4.2: the one-byte form holds ids 1-14 and values of 1-16 bytes; anything else
        // needs the two-byte form (§4.3: ids 1-255, values of 0-255 bytes).
        var twoByte = false
        func needs(_ id: UInt8?, _ count: Int) {
            if let id, id > 14 || count < 1 || count > 16 { twoByte = true }
        }
        if midLength > 0 { needs(ours.mid, midLength) }
        needs(ours.absSendTime, 3)
        needs(ours.transportWideCC, 2)
        if let a = audioLevel { needs(ours.audioLevel, a.count) }
        if let o = orientation { needs(ours.videoOrientation, o.count) }
        if let d = dependency { needs(ours.dependencyDescriptor, d.count) }
        let elementHeader = twoByte ? 2 : 1
        var extLength = 0
        if ours.mid != nil, midLength > 0 { extLength += elementHeader + midLength }
        if ours.absSendTime != nil { extLength += elementHeader + 3 }
        if ours.transportWideCC != nil { extLength += elementHeader + 2 }
        if let a = audioLevel { extLength += elementHeader + a.count }
        if let o = orientation { extLength += elementHeader + o.count }
        if let d = dependency { extLength += elementHeader + d.count }
        let extPadded = (extLength + 3) & ~3
        let headerLength = RTPHeader.fixedLength + (extLength > 0 ? 4 + extPadded : 0)
        let payload = header.payload(in: src)
        let total = headerLength + payload.count
        guard total <= dst.count, let out = dst.baseAddress else { return nil }

        dst[0] = 0x80 | (extLength > 0 ? 0x10 : 0)
        dst[1] = (header.marker ? 0x80 : 0) | (parameters.codec.payloadType & 0x7F)
        RTPHeader.setSequenceNumber(sequenceNumber, in: dst)
        RTPHeader.setTimestamp(timestamp, in: dst)
        RTPHeader.setSSRC(parameters.ssrc, in: dst)
        var transportOffset: Int?
        var absValue: UInt32?
        if extLength > 0 {
            let profile: UInt16 = twoByte ? 0x1000 : RTPHeaderExtensionForm.oneByteProfile
            dst[12] = UInt8(profile >> 8)
            dst[13] = UInt8(profile & 0xFF)
            let words = extPadded / 4
            dst[14] = UInt8(words >> 8)
            dst[15] = UInt8(words & 0xFF)
            var o = 16
            // `count` is 0...255 (a copied value has an 8-bit length) and, in the one-byte form, 1...16.
            func element(_ id: UInt8, _ count: Int) {
                if twoByte {
                    dst[o] = id
                    dst[o + 1] = UInt8(truncatingIfNeeded: count)
                    o += 2
                } else {
                    dst[o] = id << 4 | UInt8(truncatingIfNeeded: count &- 1) & 0x0F
                    o += 1
                }
            }
            func copy(_ id: UInt8, _ value: UnsafeRawBufferPointer) {
                element(id, value.count)
                if let base = value.baseAddress { (out + o).copyMemory(from: base, byteCount: value.count) }
                o += value.count
            }
            if let id = ours.mid, midLength > 0 {
                element(id, midLength)
                for i in 0..<midLength { dst[o + i] = midBytes[i] }
                o += midLength
            }
            if let id = ours.absSendTime {
                // abs-send-time: 6.18 fixed-point seconds, 24 bits (webrtc.org abs-send-time).
                let value =
                    absSendTime ?? AbsoluteSendTime(microseconds: UInt64(max(now.nanoseconds / 1000, 0))).rawValue
                absValue = value
                element(id, 3)
                dst[o] = UInt8(truncatingIfNeeded: value >> 16)
                dst[o + 1] = UInt8(truncatingIfNeeded: value >> 8)
                dst[o + 2] = UInt8(truncatingIfNeeded: value)
                o += 3
            }
            if let id = ours.transportWideCC {
                element(id, 2)
                transportOffset = o
                dst[o] = 0
                dst[o + 1] = 0
                o += 2
            }
            if let id = ours.audioLevel, let a = audioLevel { copy(id, a) }
            if let id = ours.videoOrientation, let v = orientation { copy(id, v) }
            if let id = ours.dependencyDescriptor, let d = dependency { copy(id, d) }
            while o < headerLength {
                dst[o] = 0
                o += 1
            }
        }
        if let base = payload.baseAddress { (out + headerLength).copyMemory(from: base, byteCount: payload.count) }
        return Written(
            length: total, payloadOffset: headerLength, transportSequenceOffset: transportOffset, absSendTime: absValue)
    }
}

/// The publisher's header extension values that consumers copy into their packets (RFC 8285): looked
/// up in one walk of the extension block per incoming packet, not once per consumer. Views into the
/// packet's bytes, valid while it is.
struct CopiedExtensions {
    var audioLevel: UnsafeRawBufferPointer?
    var videoOrientation: UnsafeRawBufferPointer?
    var dependencyDescriptor: UnsafeRawBufferPointer?

    init(header: RTPHeader, bytes: UnsafeRawBufferPointer, ids: HeaderExtensionIDs) {
        guard ids.audioLevel != nil || ids.videoOrientation != nil || ids.dependencyDescriptor != nil else { return }
        var level: UnsafeRawBufferPointer?
        var orientation: UnsafeRawBufferPointer?
        var dependency: UnsafeRawBufferPointer?
        header.forEachHeaderExtension(in: bytes) { id, value in
            // The first element with an id wins, as with `RTPHeader.headerExtension(id:in:)`.
            if id == ids.audioLevel, level == nil {
                level = value
            } else if id == ids.videoOrientation, orientation == nil {
                orientation = value
            } else if id == ids.dependencyDescriptor, dependency == nil {
                dependency = value
            }
            return true
        }
        // Values of a length their definition does not allow are not forwarded: the audio level and
        // the coordination of video orientation are one byte (RFC 6464 §3, 3GPP TS 26.114 §7.4.5), a
        // dependency descriptor at least its 3-byte mandatory fields.
        audioLevel = level?.count == 1 ? level : nil
        videoOrientation = orientation?.count == 1 ? orientation : nil
        dependencyDescriptor = (dependency?.count ?? 0) >= 3 ? dependency : nil
    }
}

/// What a consumer sent under each of its last 512 sequence numbers: enough to rebuild the packet
/// byte for byte from the producer's cache (the input layer, sequence number and cache generation,
/// the outgoing timestamp, VP8 fields, abs-send-time and transport-wide sequence number) and to
/// throttle retransmissions. Allocated by the first packet forwarded.
///
/// "Last" counts sequence numbers, not packets: after a jump forward, entries 512 or more behind the
/// newest number are gone even if no packet overwrote them. That keeps every resend without RTX inside
/// the SRTP replay window (1024) that our sender and the receiver hold (RFC 3711 §3.3.2): an older index
/// is refused by both.
final class SentHistory {
    /// 512 forwarded packets: 2 s of a 720p layer at 2.5 Mbit/s, as long as the producer's cache keeps them.
    static let size = 512
    struct Entry {
        var valid = false
        var outSequence: UInt16 = 0
        var layer: UInt8 = 0
        var inSequence: UInt16 = 0
        var timestamp: UInt32 = 0
        var pictureID: Int32 = -1
        var tl0PicIdx: Int16 = -1
        var keyIndex: Int16 = -1
        /// The generation of the cached source copy it was written from (0: not cached).
        var cacheGeneration: UInt32 = 0
        var absSendTime: UInt32 = 0
        var hasAbsSendTime = false
        var transportSequence: UInt16 = 0
        var hasTransportSequence = false
        var lastResent = Instant(nanoseconds: -(1 << 60))
    }
    /// Allocated by the first `record`: a consumer that never forwards holds no ring.
    private var entries: UnsafeMutableBufferPointer<Entry>?
    /// The newest sequence number recorded (RFC 3550 §A.1 serial order).
    private var newest: UInt16 = 0

    init() {}

    deinit { entries?.deallocate() }

    func record(_ entry: Entry) {
        let ring: UnsafeMutableBufferPointer<Entry>
        if let entries {
            ring = entries
        } else {
            ring = .allocate(capacity: Self.size)
            ring.initialize(repeating: Entry())
            entries = ring
            newest = entry.outSequence
        }
        if Int16(bitPattern: entry.outSequence &- newest) > 0 { newest = entry.outSequence }
        ring[Int(entry.outSequence) & (Self.size - 1)] = entry
    }

    func entry(_ sequenceNumber: UInt16) -> Entry? {
        guard Int(newest &- sequenceNumber) < Self.size, let e = entries?[Int(sequenceNumber) & (Self.size - 1)] else {
            return nil
        }
        return e.valid && e.outSequence == sequenceNumber ? e : nil
    }

    func markResent(_ sequenceNumber: UInt16, at now: Instant) {
        let i = Int(sequenceNumber) & (Self.size - 1)
        guard let entries, entries[i].valid, entries[i].outSequence == sequenceNumber else { return }
        entries[i].lastResent = now
    }

    func removeAll() {
        guard let entries else { return }
        for i in 0..<Self.size { entries[i].valid = false }
    }
}
