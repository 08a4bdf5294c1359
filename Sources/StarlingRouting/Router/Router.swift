import StarlingTransport
import StarlingWire

/// The forwarding core of one room: producers (published tracks), consumers (one per
/// subscriber and producer) and the transports they use, with the RTCP feedback loops between them.
/// Sans-IO: decrypted packets come in with `receiveRTP` / `receiveRTCP`, timers run in
/// `handleTimeout(now:)`, and everything to send goes synchronously to the `RouterOutput`.
///
/// Forwarding one packet allocates nothing: lookups are dictionary reads set up at publish/subscribe
/// time, each copy is written into one scratch buffer owned by the router, and the output protects and
/// queues it before the next copy is written. A router touches only its own producers and consumers,
/// so two rooms never see each other's packets.
public final class Router {
    public struct Configuration: Sendable {
        /// Unix time, in nanoseconds, of `Instant.zero` on the clock passed in: the SR wall clock
        /// (RFC 3550 §6.4.1 NTP timestamp).
        public var unixNanosecondsAtZero: Int64
        /// How often the bandwidth of each subscriber transport is shared out among its consumers.
        public var allocationInterval: Duration
        /// Seed for the RTCP report interval randomisation and our RTCP SSRCs.
        public var seed: UInt64
        /// Round-trip time assumed towards publishers (their RTCP gives us none) for upstream NACKs.
        public var publisherRTT: Duration
        /// CNAME of our RTCP (RFC 3550 §6.5.1).
        public var cname: String
        /// Packets each consumer may resend per second to answer NACKs (`RetransmissionBudget`).
        public var retransmissionsPerSecond: Int

        public init(
            unixNanosecondsAtZero: Int64 = 0, allocationInterval: Duration = .milliseconds(500), seed: UInt64 = 1,
            publisherRTT: Duration = .milliseconds(100), cname: String = "starling", retransmissionsPerSecond: Int = 250
        ) {
            self.unixNanosecondsAtZero = unixNanosecondsAtZero
            self.allocationInterval = allocationInterval
            self.seed = seed
            self.publisherRTT = publisherRTT
            self.cname = cname
            self.retransmissionsPerSecond = retransmissionsPerSecond
        }
    }

    public struct Counters: Hashable, Sendable {
        public var rtpIn = 0
        public var rtcpIn = 0
        public var rtpOut = 0
        public var rtcpOut = 0
        public var malformedRTP = 0
        public var malformedRTCP = 0
        public var unknownSSRC = 0
        public var unknownTransport = 0
        public var duplicates = 0
        public var nacksSent = 0
        public var keyframeRequestsSent = 0
        public init() {}
    }

    /// Bytes the output may append after a packet in the scratch buffer (SRTP/SRTCP tag, index, MKI).
    public static let trailerRoom = 64
    static let scratchSize = 1500 + 256

    public let configuration: Configuration
    public internal(set) var counters = Counters()
    private unowned let output: any RouterOutput

    var transports: [TransportID: TransportState] = [:]
    var producers: [ProducerID: Producer] = [:]
    var consumers: [ConsumerID: Consumer] = [:]
    private var nextID = 1
    private var events: [RouterEvent] = []
    private var lastAllocation = Instant(nanoseconds: -(1 << 60))

    private let scratch: UnsafeMutableRawBufferPointer
    private let rtxScratch: UnsafeMutableRawBufferPointer
    private let rtcpScratch: UnsafeMutableRawBufferPointer
    private var rtcpBytes: [UInt8] = []
    /// Reused by `allocate` and `sendReports` (taken out for the call, so appending does not copy): the
    /// periodic work allocates nothing once they have grown to the room's size.
    private var allocationScratch: [(consumer: Consumer, layer: Int, max: Int)] = []
    private var reportBlocksScratch: [ReportBlock] = []
    var speakers = ActiveSpeakerDetector<ProducerID>()
    /// The latest `now` seen, for control operations that take none.
    private var lastNow = Instant.zero

    public init(configuration: Configuration = Configuration(), output: any RouterOutput) {
        self.configuration = configuration
        self.output = output
        scratch = .allocate(byteCount: Self.scratchSize + Self.trailerRoom, alignment: 16)
        rtxScratch = .allocate(byteCount: Self.scratchSize + Self.trailerRoom, alignment: 16)
        rtcpScratch = .allocate(byteCount: 2048, alignment: 16)
        rtcpBytes.reserveCapacity(2048)
    }

    deinit {
        // A producer and its consumers refer to each other; break that before the router's state goes.
        for producer in producers.values { producer.consumers.removeAll() }
        scratch.deallocate()
        rtxScratch.deallocate()
        rtcpScratch.deallocate()
    }

    // MARK: - Setup (control plane)

    /// Registers a transport (a peer connection) of a participant of this room.
    public func addTransport(_ id: TransportID, now: Instant) {
        guard transports[id] == nil else { return }
        let seed = configuration.seed &+ UInt64(bitPattern: Int64(id.rawValue)) &* 0x9E37_79B9_7F4A_7C15
        transports[id] = TransportState(id: id, seed: seed, now: now)
    }

    /// Removes a transport with its producers and consumers; the rest of the room goes on.
    public func removeTransport(_ id: TransportID) {
        guard let t = transports[id] else { return }
        for c in t.consumers { removeConsumer(c.id) }
        for p in t.producers { removeProducer(p.id) }
        transports[id] = nil
    }

    /// Adds a published track received on `transport`. Throws for an unknown transport, an SSRC already
    /// used on it, or encodings that name neither SSRC nor RID where there are several.
    public func addProducer(on transport: TransportID, _ parameters: ProducerParameters, now: Instant) throws(RouterError)
        -> ProducerID
    {
        guard let t = transports[transport] else { throw .unknownTransport(transport) }
        if parameters.encodings.count > 1,
            parameters.encodings.contains(where: { $0.ssrc == nil && $0.rid == nil })
        {
            throw .invalidParameters("each simulcast encoding needs an SSRC or a RID")
        }
        for e in parameters.encodings {
            for s in [e.ssrc, e.rtxSSRC].compactMap({ $0 }) where t.streamsBySSRC[s] != nil { throw .duplicateSSRC(s) }
        }
        let id = ProducerID(allocateID())
        let producer = Producer(id: id, transport: transport, parameters: parameters, now: now)
        producers[id] = producer
        t.producers.append(producer)
        for stream in producer.streams {
            if let s = stream.ssrc { t.streamsBySSRC[s] = StreamRef(producer: producer, layer: stream.layer, isRTX: false) }
            if let r = stream.rtxSSRC { t.streamsBySSRC[r] = StreamRef(producer: producer, layer: stream.layer, isRTX: true) }
        }
        if let twcc = parameters.extensions.transportWideCC { t.enableFeedback(extensionID: twcc) }
        if parameters.remb { t.sendsREMB = true }
        if parameters.kind == .audio { speakers.addProducer(id) }
        for stream in producer.streams { registerKeyframes(t, producer, stream) }
        return id
    }

    /// Removes a producer and every consumer of it.
    public func removeProducer(_ id: ProducerID) {
        guard let producer = producers.removeValue(forKey: id) else { return }
        for c in producer.consumers { removeConsumer(c.id) }
        if let t = transports[producer.transport] {
            t.producers.removeAll { $0 === producer }
            t.streamsBySSRC = t.streamsBySSRC.filter { $0.value.producer !== producer }
        }
        if producer.kind == .audio {
            speakers.removeProducer(id, now: lastNow)
            drainSpeakerEvents()
        }
        if let t = transports[producer.transport] {
            for s in producer.streams { if let ssrc = s.ssrc { t.keyframes.removeStream(ssrc: ssrc) } }
        }
    }

    /// Subscribes `transport` to `producer`. The consumer starts by asking for a keyframe.
    public func addConsumer(
        on transport: TransportID, of producerID: ProducerID, _ parameters: ConsumerParameters, now: Instant
    ) throws(RouterError) -> ConsumerID {
        guard let t = transports[transport] else { throw .unknownTransport(transport) }
        guard let producer = producers[producerID] else { throw .unknownProducer(producerID) }
        guard parameters.codec.kind == producer.parameters.codec.kind,
            parameters.codec.clockRate == producer.parameters.codec.clockRate
        else {
            throw .codecMismatch("\(parameters.codec.kind)/\(parameters.codec.clockRate) for a \(producer.parameters.codec.kind)/\(producer.clockRate) producer")
        }
        for s in [parameters.ssrc, parameters.rtxSSRC].compactMap({ $0 }) where t.consumersBySSRC[s] != nil {
            throw .duplicateSSRC(s)
        }
        let id = ConsumerID(allocateID())
        let consumer = Consumer(
            id: id, transport: t, producer: producer, parameters: parameters,
            retransmissionsPerSecond: configuration.retransmissionsPerSecond)
        consumers[id] = consumer
        producer.consumers.append(consumer)
        t.consumers.append(consumer)
        t.consumersBySSRC[parameters.ssrc] = consumer
        if parameters.extensions.transportWideCC != nil { t.expectsFeedback = true }
        if let r = parameters.rtxSSRC { t.consumersBySSRC[r] = consumer }
        updateActiveLayers(consumer, now: now)
        if let bitrate = t.estimate { allocate(t, budget: bitrate, now: now) }
        requestKeyframeIfNeeded(consumer, now: now)
        return id
    }

    public func removeConsumer(_ id: ConsumerID) {
        guard let consumer = consumers.removeValue(forKey: id) else { return }
        consumer.producer.consumers.removeAll { $0 === consumer }
        if let t = transports[consumer.transport] {
            t.consumers.removeAll { $0 === consumer }
            t.consumersBySSRC = t.consumersBySSRC.filter { $0.value !== consumer }
        }
    }

    /// Sets a subscriber's preference: highest spatial / temporal layer (nil: all) and pause.
    public func setPreferences(
        _ id: ConsumerID, spatialLayer: Int?, temporalLayer: Int?, paused: Bool, now: Instant
    ) throws(RouterError) {
        guard let c = consumers[id] else { throw .unknownConsumer(id) }
        c.layers.preferredSpatial = spatialLayer
        c.layers.preferredTemporal = temporalLayer
        let wasPaused = c.layers.paused
        c.layers.paused = paused
        if paused, !wasPaused {
            c.layers.switched(to: nil)
            if c.producer.kind == .video { events.append(.layerChanged(id, spatial: nil)) }
        }
        requestKeyframeIfNeeded(c, now: now)
    }

    public func producer(_ id: ProducerID) -> Producer? { producers[id] }
    public func consumer(_ id: ConsumerID) -> Consumer? { consumers[id] }
    public var producerCount: Int { producers.count }
    public var consumerCount: Int { consumers.count }
    public var transportCount: Int { transports.count }

    /// The send-side bandwidth estimate of a subscriber transport, bits per second, when it has one.
    public func estimatedBitrate(of transport: TransportID) -> Int? { transports[transport]?.estimate }
    /// Smoothed round-trip time to a transport's peer from its receiver reports (RFC 3550 §6.4.1).
    public func roundTripTime(of transport: TransportID) -> Duration? { transports[transport]?.rtt }
    /// The consumers sending on a transport.
    public func consumers(on transport: TransportID) -> [Consumer] { transports[transport]?.consumers ?? [] }

    public func pollEvent() -> RouterEvent? { events.isEmpty ? nil : events.removeFirst() }

    private func allocateID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    // MARK: - RTP in

    /// Routes one decrypted RTP packet from `transport`: the first `length` bytes of `packet`, which the
    /// router may modify (RTX is unwrapped in place).
    public func receiveRTP(from transport: TransportID, packet: UnsafeMutableRawBufferPointer, length: Int, now: Instant) {
        counters.rtpIn += 1
        lastNow = now
        guard let t = transports[transport] else {
            counters.unknownTransport += 1
            return
        }
        guard length <= packet.count, let parsed = try? RTPHeader(parsing: UnsafeRawBufferPointer(rebasing: packet[0..<length]))
        else {
            counters.malformedRTP += 1
            return
        }
        var header = parsed
        var length = length
        let bytes = UnsafeRawBufferPointer(rebasing: packet[0..<length])
        t.recordIncoming(header: header, bytes: bytes, now: now)
        guard let ref = t.streamsBySSRC[header.ssrc] ?? bind(t, header: header, bytes: bytes, now: now) else {
            counters.unknownSSRC += 1
            return
        }
        let producer = ref.producer
        let stream = producer.streams[ref.layer]
        if ref.isRTX {
            guard let decoder = stream.rtx else { return }
            guard let recovered = try? decoder.decode(inPlace: UnsafeMutableRawBufferPointer(rebasing: packet[0..<length]))
            else { return }  // padding-only probe, or not RTX of this stream
            length = recovered
            guard let h = try? RTPHeader(parsing: UnsafeRawBufferPointer(rebasing: packet[0..<length])) else {
                counters.malformedRTP += 1
                return
            }
            header = h
            stream.retransmissionsReceived += 1
        }
        handleMedia(producer, stream, header: header, packet: packet, length: length, recovered: ref.isRTX, now: now)
    }

    /// Learns the SSRC of a stream that was not signalled, from the rid / repaired-rid / mid header
    /// extensions (RFC 8852 §3, RFC 8843 §15), or rebinds a stream whose SSRC changed.
    private func bind(_ t: TransportState, header: RTPHeader, bytes: UnsafeRawBufferPointer, now: Instant) -> StreamRef? {
        for producer in t.producers {
            let ext = producer.parameters.extensions
            if let id = ext.rid, let rid = header.rid(id: id, in: bytes),
                let stream = producer.streams.first(where: { $0.rid == rid })
            {
                rebind(t, producer, stream, ssrc: header.ssrc, now: now)
                return t.streamsBySSRC[header.ssrc]
            }
            if let id = ext.repairedRID, let rid = header.repairedRID(id: id, in: bytes),
                let stream = producer.streams.first(where: { $0.rid == rid })
            {
                return rebindRTX(t, producer, stream, ssrc: header.ssrc)
            }
            guard producer.streams.count == 1 else { continue }
            let midMatches: Bool
            if let id = ext.mid, let mid = header.mid(id: id, in: bytes) {
                midMatches = mid == producer.parameters.mid
            } else {
                // No mid: only a producer that still waits for its first SSRC can take the packet.
                midMatches = producer.streams[0].ssrc == nil && producer.streams[0].rtxSSRC == nil
            }
            guard midMatches else { continue }
            let stream = producer.streams[0]
            if header.payloadType == producer.parameters.codec.payloadType {
                rebind(t, producer, stream, ssrc: header.ssrc, now: now)
                return t.streamsBySSRC[header.ssrc]
            }
            if let rtxPT = producer.parameters.codec.rtxPayloadType, header.payloadType == rtxPT {
                return rebindRTX(t, producer, stream, ssrc: header.ssrc)
            }
        }
        return nil
    }

    private func rebindRTX(_ t: TransportState, _ producer: Producer, _ stream: ProducerStream, ssrc: UInt32) -> StreamRef {
        if let old = stream.rtxSSRC { t.streamsBySSRC[old] = nil }
        stream.bind(rtxSSRC: ssrc)
        let ref = StreamRef(producer: producer, layer: stream.layer, isRTX: true)
        t.streamsBySSRC[ssrc] = ref
        return ref
    }

    private func rebind(_ t: TransportState, _ producer: Producer, _ stream: ProducerStream, ssrc: UInt32, now: Instant) {
        let changed = stream.ssrc != nil && stream.ssrc != ssrc
        if let old = stream.ssrc {
            t.streamsBySSRC[old] = nil
            t.keyframes.removeStream(ssrc: old)
        }
        stream.bind(ssrc: ssrc)
        t.streamsBySSRC[ssrc] = StreamRef(producer: producer, layer: stream.layer, isRTX: false)
        registerKeyframes(t, producer, stream)
        guard changed else { return }
        events.append(.producerSSRCChanged(producer.id, layer: stream.layer))
        // Consumers on this layer restart at the new source's next keyframe.
        for c in producer.consumers where c.layers.current == stream.layer {
            c.layers.switched(to: nil)
            requestKeyframeIfNeeded(c, now: now)
        }
    }

    /// What the forwarding decision needs from the codec payload, read once per packet.
    struct FrameInfo {
        var isKeyframe = false
        var isStartOfFrame = true
        var temporalLayer: Int?
        var layerSync = false
        var vp8 = false
        var vp8Descriptor: VP8PayloadDescriptor?
        /// A switch may happen here: not on a late (retransmitted or reordered) packet, whose frame's
        /// later packets have already gone by.
        var isNewest = true
        /// The generation of the packet's copy in its stream's cache (0: not cached).
        var cacheGeneration: UInt32 = 0
    }

    private func handleMedia(
        _ producer: Producer, _ stream: ProducerStream, header: RTPHeader, packet: UnsafeMutableRawBufferPointer,
        length: Int, recovered: Bool, now: Instant
    ) {
        let bytes = UnsafeRawBufferPointer(rebasing: packet[0..<length])
        let arrival = stream.nack.received(sequenceNumber: header.sequenceNumber, now: now)
        if arrival == .late {
            counters.duplicates += 1
            return
        }
        if !recovered {
            stream.statistics?.record(
                sequenceNumber: header.sequenceNumber, rtpTimestamp: header.timestamp, clockRate: producer.clockRate,
                now: now)
        }
        stream.lastPacketAt = now
        stream.packetsReceived += 1
        stream.bitrate.add(bytes: length, at: now)
        var info = FrameInfo()
        if producer.parameters.nack {
            info.cacheGeneration = stream.cache.store(packet: bytes, sequenceNumber: header.sequenceNumber, now: now) ?? 0
        }
        info.isNewest = arrival != .recovered
        let payload = header.payload(in: bytes)
        switch producer.parameters.codec.kind {
        case .vp8:
            if let vp8 = try? VP8Payload(parsing: payload) {
                info.vp8 = true
                info.vp8Descriptor = vp8.descriptor
                info.isKeyframe = vp8.isKeyFrame
                info.isStartOfFrame = vp8.descriptor.isStartOfPartition && vp8.descriptor.partitionIndex == 0
                if let tl = vp8.descriptor.temporalLayer {
                    info.temporalLayer = Int(tl.id)
                    info.layerSync = tl.isLayerSync
                }
            }
        case .vp9:
            if let vp9 = try? VP9Payload(parsing: payload) { info.isKeyframe = vp9.isKeyFrame }
        case .h264:
            if let h264 = try? H264Payload(parsing: payload) { info.isKeyframe = h264.isKeyFrame }
        case .opus, .other:
            info.isKeyframe = producer.kind == .audio
        case .av1:
            // A subscriber starts at the first packet of a coded video sequence (aggregation header N).
            if let av1 = try? AV1AggregationHeader(parsing: payload) {
                info.isKeyframe = av1.isKeyFrameStart
                info.isStartOfFrame = !av1.continuesFirstElement
            }
        }
        if info.isKeyframe, producer.kind == .video {
            stream.lastKeyframeAt = now
            stream.keyframesReceived += 1
            keyframeArrived(producer, stream, now: now)
        }
        let copied = CopiedExtensions(header: header, bytes: bytes, ids: producer.parameters.extensions)
        if producer.kind == .audio, let value = copied.audioLevel, let level = try? AudioLevel(decoding: value) {
            producer.lastAudioLevel = level.level
            speakers.record(producer: producer.id, level: level.level, voiceActivity: level.voiceActivity, now: now)
        }
        for consumer in producer.consumers {
            forward(consumer, stream, header: header, bytes: bytes, copied: copied, info: info, now: now)
        }
    }

    // MARK: - Forwarding

    private func forward(
        _ consumer: Consumer, _ stream: ProducerStream, header: RTPHeader, bytes: UnsafeRawBufferPointer,
        copied: CopiedExtensions, info: FrameInfo, now: Instant
    ) {
        if consumer.layers.paused { return }
        if stream.layer != consumer.layers.current {
            guard info.isKeyframe, info.isStartOfFrame, info.isNewest, consumer.layers.acceptsSwitch(to: stream.layer)
            else { return }
            consumer.rewriter.switchSource(to: header, arrival: now)
            if let d = info.vp8Descriptor { consumer.vp8.switchSource(keyFrame: d) }
            consumer.layers.switched(to: stream.layer)
            consumer.counters.layerSwitches += 1
            // Layers are a video notion: an audio consumer's start is no layer change (PROTOCOL.md §5).
            if consumer.producer.kind == .video { events.append(.layerChanged(consumer.id, spatial: stream.layer)) }
        }
        if let tid = info.temporalLayer {
            if info.isStartOfFrame { consumer.layers.frameStarted(temporalLayer: tid, layerSync: info.layerSync) }
            if !consumer.layers.forwards(temporalLayer: tid) {
                consumer.rewriter.dropped(sequenceNumber: header.sequenceNumber)
                if let d = info.vp8Descriptor { consumer.vp8.dropped(d) }
                consumer.counters.packetsDropped += 1
                return
            }
        }
        guard let out = consumer.rewriter.outgoing(header: header, arrival: now),
            let written = consumer.write(
                bytes, header: header, copied: copied, sequenceNumber: out.sequenceNumber, timestamp: out.timestamp,
                into: scratch, now: now)
        else { return }
        var entry = SentHistory.Entry()
        if info.vp8 {
            let payload = UnsafeMutableRawBufferPointer(rebasing: scratch[written.payloadOffset..<written.length])
            if let w = consumer.vp8.rewrite(payload: payload, descriptor: info.vp8Descriptor) {
                entry.pictureID = w.pictureID
                entry.tl0PicIdx = w.tl0PicIdx
                entry.keyIndex = w.keyIndex
            }
        }
        let payloadBytes = written.length - written.payloadOffset
        consumer.sender.recordSent(rtpTimestamp: out.timestamp, payloadBytes: payloadBytes, capturedAt: now)
        consumer.counters.packetsSent += 1
        consumer.counters.bytesSent += written.length
        consumer.bitrate.add(bytes: written.length, at: now)
        let transportSequence = sendRTP(scratch, written, to: consumer.transportState, now: now)
        if let history = consumer.history {
            entry.valid = true
            entry.outSequence = out.sequenceNumber
            entry.layer = UInt8(truncatingIfNeeded: stream.layer)
            entry.inSequence = header.sequenceNumber
            entry.timestamp = out.timestamp
            entry.cacheGeneration = info.cacheGeneration
            entry.absSendTime = written.absSendTime ?? 0
            entry.hasAbsSendTime = written.absSendTime != nil
            entry.transportSequence = transportSequence ?? 0
            entry.hasTransportSequence = transportSequence != nil
            history.record(entry)
        }
    }

    /// Fills the transport-wide sequence number (the next one, or `repeating` an earlier one for a
    /// retransmission that repeats its packet byte for byte) and hands the packet to the output.
    /// Returns the transport-wide sequence number written, if any.
    @discardableResult
    private func sendRTP(
        _ buffer: UnsafeMutableRawBufferPointer, _ written: Consumer.Written, to t: TransportState, now: Instant,
        repeating: UInt16? = nil
    ) -> UInt16? {
        var seq: UInt16?
        if let offset = written.transportSequenceOffset {
            let value = repeating ?? t.sequencer.next(size: written.length, now: now)
            buffer[offset] = UInt8(truncatingIfNeeded: value >> 8)
            buffer[offset + 1] = UInt8(truncatingIfNeeded: value)
            seq = value
        }
        counters.rtpOut += 1
        output.send(rtp: buffer, length: written.length, to: t.id)
        return seq
    }

    // MARK: - Retransmission (RFC 4585 §6.2.1, RFC 4588)

    @discardableResult
    private func retransmit(_ consumer: Consumer, sequenceNumber: UInt16, now: Instant, padding: Bool = false) -> Int {
        guard let history = consumer.history, let entry = history.entry(sequenceNumber),
            Int(entry.layer) < consumer.producer.streams.count
        else {
            if !padding { consumer.counters.retransmissionsMissing += 1 }
            return 0
        }
        let interval = max(consumer.remote.rtt.smoothed ?? .milliseconds(50), .milliseconds(20))
        if !padding, now - entry.lastResent < interval { return 0 }
        if !padding, !consumer.retransmissionBudget.take(now: now) {
            consumer.counters.retransmissionsThrottled += 1
            return 0
        }
        var sentBytes = 0
        let stream = consumer.producer.streams[Int(entry.layer)]
        let done: Bool? = stream.cache.withPacket(sequenceNumber: entry.inSequence, now: now) { src, generation in
            // Without RTX the packet goes out again under the same SSRC and sequence number, so under the
            // same SRTP packet index: it must be the same bytes, or the AES-GCM nonce (AES-CM keystream)
            // would cover two different plaintexts (RFC 7714 §14, RFC 3711 §9.1). So it is rebuilt from
            // the very copy it was first written from, with the abs-send-time and transport-wide sequence
            // number it carried; when that copy is gone, it is not resent.
            let repeatsIndex = consumer.rtx == nil
            if repeatsIndex {
                guard !padding, entry.cacheGeneration != 0, generation == entry.cacheGeneration else { return false }
            }
            guard let header = try? RTPHeader(parsing: src),
                var written = consumer.write(
                    src, header: header,
                    copied: CopiedExtensions(header: header, bytes: src, ids: consumer.producer.parameters.extensions),
                    sequenceNumber: sequenceNumber, timestamp: entry.timestamp, into: scratch, now: now,
                    absSendTime: repeatsIndex && entry.hasAbsSendTime ? entry.absSendTime : nil)
            else { return false }
            if entry.pictureID >= 0 || entry.tl0PicIdx >= 0 || entry.keyIndex >= 0 {
                _ = try? VP8PayloadDescriptor.rewrite(
                    UnsafeMutableRawBufferPointer(rebasing: scratch[written.payloadOffset..<written.length]),
                    pictureID: entry.pictureID >= 0 ? UInt16(truncatingIfNeeded: entry.pictureID) : nil,
                    tl0PicIdx: entry.tl0PicIdx >= 0 ? UInt8(truncatingIfNeeded: entry.tl0PicIdx) : nil,
                    keyIndex: entry.keyIndex >= 0 ? UInt8(truncatingIfNeeded: entry.keyIndex) : nil)
            }
            if var rtx = consumer.rtx {
                guard let length = try? rtx.encode(UnsafeRawBufferPointer(rebasing: scratch[0..<written.length]), into: rtxScratch)
                else { return false }
                consumer.rtx = rtx
                written.length = length
                sendRTP(rtxScratch, written, to: consumer.transportState, now: now)
            } else {
                if written.transportSequenceOffset != nil, !entry.hasTransportSequence { return false }
                sendRTP(
                    scratch, written, to: consumer.transportState, now: now,
                    repeating: entry.hasTransportSequence ? entry.transportSequence : nil)
            }
            sentBytes = written.length
            return true
        }
        if padding {
            if done == true { consumer.counters.paddingPackets += 1 }
            return sentBytes
        }
        if done == true {
            history.markResent(sequenceNumber, at: now)
            consumer.counters.retransmitted += 1
        } else {
            consumer.counters.retransmissionsMissing += 1
        }
        return sentBytes
    }

    // MARK: - RTCP in

    /// Handles one decrypted RTCP (compound) packet from `transport`.
    public func receiveRTCP(from transport: TransportID, packet: UnsafeRawBufferPointer, now: Instant) {
        counters.rtcpIn += 1
        guard let t = transports[transport] else {
            counters.unknownTransport += 1
            return
        }
        var iterator = RTCPPacketIterator(packet)
        while true {
            let view: RTCPPacketView
            do throws(WireError) {
                guard let next = try iterator.next() else { return }
                view = next
            } catch {
                counters.malformedRTCP += 1
                return
            }
            do throws(WireError) {
                try handleRTCP(view, t, now: now)
            } catch {
                counters.malformedRTCP += 1
            }
        }
    }

    private func handleRTCP(_ view: RTCPPacketView, _ t: TransportState, now: Instant) throws(WireError) {
        switch view.kind {
        case .senderReport:
            let sr = try SenderReport(view: view) { block in self.reportBlock(block, t, now: now) }
            if let ref = t.streamsBySSRC[sr.ssrc], !ref.isRTX {
                ref.producer.streams[ref.layer].statistics?.recordSenderReport(sr, now: now)
            }
        case .receiverReport:
            _ = try ReceiverReport(view: view) { block in self.reportBlock(block, t, now: now) }
        case .genericNACK:
            let fb = try view.feedback()
            guard let consumer = t.consumersBySSRC[fb.mediaSSRC] else { return }
            consumer.counters.nacksReceived += 1
            try GenericNACK.forEachLostSequenceNumber(fci: fb.fci) { seq in
                self.retransmit(consumer, sequenceNumber: seq, now: now)
            }
        case .pictureLossIndication:
            let fb = try view.feedback()
            if let consumer = t.consumersBySSRC[fb.mediaSSRC] { keyframeRequested(by: consumer, now: now) }
        case .fullIntraRequest:
            let fb = try view.feedback()
            try FullIntraRequest.forEachEntry(fci: fb.fci) { entry in
                if let consumer = t.consumersBySSRC[entry.ssrc] { self.keyframeRequested(by: consumer, now: now) }
            }
        case .receiverEstimatedMaxBitrate:
            let fb = try view.feedback()
            let bitrate = try ReceiverEstimatedMaxBitrate.forEachSSRC(fci: fb.fci) { _ in }
            t.receivedREMB(bitrate: bitrate, now: now)
        case .transportFeedback:
            try t.receivedTransportFeedback(try view.feedback(), now: now)
        case .sourceDescription, .goodbye, .applicationDefined, .unknown:
            return
        }
    }

    /// A report block about one of our consumer streams (RFC 3550 §6.4.1): loss and RTT.
    private func reportBlock(_ block: ReportBlock, _ t: TransportState, now: Instant) {
        guard let consumer = t.consumersBySSRC[block.ssrc], consumer.parameters.ssrc == block.ssrc else { return }
        _ = consumer.remote.receive(block, now: now, arrival: wallClock(now))
        if let rtt = consumer.remote.rtt.smoothed { t.rtt = rtt }
    }

    /// Asks for a keyframe for every video consumer on `transport`, as if its subscriber had sent a PLI
    /// for each (RFC 4585 §6.3.1): for a transport that just became able to receive, which may have
    /// missed the keyframe its consumers started on.
    public func requestKeyframes(forConsumersOn transport: TransportID, now: Instant) {
        guard let t = transports[transport] else { return }
        for c in t.consumers where c.producer.kind == .video { keyframeRequested(by: c, now: now) }
    }

    private func keyframeRequested(by consumer: Consumer, now: Instant) {
        consumer.counters.keyframeRequestsReceived += 1
        guard let layer = consumer.layers.current ?? consumer.layers.target else { return }
        requestKeyframe(consumer.producer, layer: layer, now: now)
    }

    // MARK: - Timers

    /// When `handleTimeout` should next run: every 10 ms while there is anything to do.
    public func nextDeadline(now: Instant) -> Instant? {
        transports.isEmpty ? nil : now + .milliseconds(10)
    }

    /// Runs the periodic work: upstream NACKs and keyframe requests, transport-cc feedback and REMB to
    /// publishers, RTCP reports both ways, bandwidth allocation, active speaker.
    public func handleTimeout(now: Instant) {
        lastNow = now
        for t in transports.values {
            for producer in t.producers { upstreamFeedback(producer, t, now: now) }
            sendKeyframeRequests(t, now: now)
            while t.pollTransportFeedback(now: now, into: &rtcpBytes) { flushRTCP(to: t.id) }
            if let remb = t.pollREMB(now: now) { sendRTCP(remb, to: t.id) }
            if t.reports.poll(now: now) { sendReports(t, now: now) }
        }
        let allocating = now - lastAllocation >= configuration.allocationInterval
        if allocating { lastAllocation = now }
        for t in transports.values where !t.consumers.isEmpty {
            if allocating {
                for c in t.consumers { updateActiveLayers(c, now: now) }
                allocate(t, budget: t.estimate, now: now)
                for c in t.consumers { requestKeyframeIfNeeded(c, now: now) }
            }
            sendPadding(t, now: now)
            t.pollProbe(now: now)
        }
        if let deadline = speakers.nextDeadline, deadline <= now { speakers.handleTimeout(now: now) }
        drainSpeakerEvents()
    }

    private func drainSpeakerEvents() {
        while let event = speakers.pollEvent() { events.append(.activeSpeaker(event.producer)) }
    }

    private func upstreamFeedback(_ producer: Producer, _ t: TransportState, now: Instant) {
        guard producer.parameters.nack, producer.kind == .video else { return }
        for stream in producer.streams {
            guard let ssrc = stream.ssrc else { continue }
            stream.nack.rtt = configuration.publisherRTT
            if stream.nack.takeGaveUp() > 0 { requestKeyframe(producer, layer: stream.layer, now: now) }
            guard let deadline = stream.nack.nextDeadline, deadline <= now else { continue }
            let lost = stream.nack.pollNACK(now: now)
            guard !lost.isEmpty else { continue }
            rtcpBytes.removeAll(keepingCapacity: true)
            GenericNACK(senderSSRC: t.localSSRC, mediaSSRC: ssrc, lostSequenceNumbers: lost).serialize(into: &rtcpBytes)
            counters.nacksSent += 1
            flushRTCP(to: t.id)
        }
    }

    private func sendReports(_ t: TransportState, now: Instant) {
        let ntp = wallClock(now)
        rtcpBytes.removeAll(keepingCapacity: true)
        // SRs for what we send on this transport (RFC 3550 §6.4.1) ...
        for c in t.consumers where c.sender.hasSent {
            if rtcpBytes.count > 1000 { appendSDESAndFlush(t) }
            c.sender.makeSenderReport(now: now, wallClock: ntp)?.serialize(into: &rtcpBytes)
        }
        // ... and an RR for what we receive on it (§6.4.2), at most 31 blocks per packet.
        var blocks = reportBlocksScratch
        reportBlocksScratch = []
        defer {
            blocks.removeAll(keepingCapacity: true)
            reportBlocksScratch = blocks
        }
        for p in t.producers {
            for s in p.streams {
                guard var stats = s.statistics, stats.hasReceived else { continue }
                blocks.append(stats.makeReportBlock(now: now))
                s.statistics = stats
            }
        }
        var start = 0
        repeat {
            let end = min(start + 31, blocks.count)
            if rtcpBytes.count > 700 { appendSDESAndFlush(t) }
            ReceiverReport(ssrc: t.localSSRC, reportBlocks: Array(blocks[start..<end])).serialize(into: &rtcpBytes)
            start = end
        } while start < blocks.count
        appendSDESAndFlush(t)
    }

    /// Ends a compound packet with our SDES CNAME (RFC 3550 §6.1) and sends it.
    private func appendSDESAndFlush(_ t: TransportState) {
        guard !rtcpBytes.isEmpty else { return }
        t.cnameChunk.serialize(into: &rtcpBytes)
        flushRTCP(to: t.id)
    }

    private func sendRTCP(_ packet: some WireCodable, to transport: TransportID) {
        rtcpBytes.removeAll(keepingCapacity: true)
        packet.serialize(into: &rtcpBytes)
        flushRTCP(to: transport)
    }

    private func flushRTCP(to transport: TransportID) {
        let length = rtcpBytes.count
        guard length > 0, length + Self.trailerRoom <= rtcpScratch.count else {
            rtcpBytes.removeAll(keepingCapacity: true)
            return
        }
        rtcpBytes.withUnsafeBytes { rtcpScratch.copyMemory(from: $0) }
        rtcpBytes.removeAll(keepingCapacity: true)
        counters.rtcpOut += 1
        output.send(rtcp: rtcpScratch, length: length, to: transport)
    }

    func wallClock(_ now: Instant) -> NTPTimestamp {
        NTPTimestamp(unixNanoseconds: configuration.unixNanosecondsAtZero &+ now.nanoseconds)
    }

    // MARK: - Keyframes

    private func requestKeyframeIfNeeded(_ consumer: Consumer, now: Instant) {
        guard consumer.producer.kind == .video, consumer.layers.needsSwitch, let target = consumer.layers.target else {
            return
        }
        requestKeyframe(consumer.producer, layer: target, now: now)
    }

    private func requestKeyframe(_ producer: Producer, layer: Int, now: Instant) {
        guard producer.kind == .video, layer < producer.streams.count, let ssrc = producer.streams[layer].ssrc,
            let t = transports[producer.transport]
        else { return }
        t.keyframes.request(ssrc: ssrc, now: now)
    }

    private func keyframeArrived(_ producer: Producer, _ stream: ProducerStream, now: Instant) {
        guard let ssrc = stream.ssrc, let t = transports[producer.transport] else { return }
        t.keyframes.keyframeReceived(ssrc: ssrc, now: now)
    }

    private func sendKeyframeRequests(_ t: TransportState, now: Instant) {
        if let rtt = t.rtt { t.keyframes.rtt = rtt }
        guard let deadline = t.keyframes.nextDeadline, deadline <= now else { return }
        while let request = t.keyframes.poll(now: now) {
            counters.keyframeRequestsSent += 1
            if let pli = request.pictureLossIndication(senderSSRC: t.localSSRC) {
                sendRTCP(pli, to: t.id)
            } else if let entry = request.firEntry {
                sendRTCP(FullIntraRequest(senderSSRC: t.localSSRC, entries: [entry]), to: t.id)
            }
        }
    }

    private func registerKeyframes(_ t: TransportState, _ producer: Producer, _ stream: ProducerStream) {
        guard producer.kind == .video, let ssrc = stream.ssrc else { return }
        t.keyframes.addStream(ssrc: ssrc, prefersFIR: producer.parameters.keyframeRequest == .fir)
    }

    // MARK: - Bandwidth allocation

    private func updateActiveLayers(_ c: Consumer, now: Instant) {
        var mask: UInt32 = 0
        for s in c.producer.streams where s.isActive(now: now) && s.layer < 32 { mask |= 1 << UInt32(s.layer) }
        // Before anything arrived, every layer counts as active: the first keyframe decides.
        c.layers.activeLayers = mask == 0 ? LayerSelection.allLayers(c.producer.streams.count) : mask
    }

    /// Shares a subscriber transport's estimate among its consumers ("picks the highest layers
    /// that fit"): audio first, then every video consumer at its lowest wanted layer, then upgrades one
    /// layer at a time, round-robin, while the next layer's measured bitrate fits. No estimate: no limit.
    private func allocate(_ t: TransportState, budget: Int?, now: Instant) {
        guard let budget else {
            for c in t.consumers where c.producer.kind == .video { c.layers.allowedSpatial = nil }
            t.probe.update(desired: 0, sending: 0, estimate: nil, now: now)
            return
        }
        var desired = 0
        var sending = 0
        var remaining = budget
        var video = allocationScratch
        allocationScratch = []
        defer {
            video.removeAll(keepingCapacity: true)
            allocationScratch = video
        }
        for c in t.consumers {
            if c.producer.kind == .audio {
                if !c.layers.paused { remaining -= c.producer.streams[0].currentBitrate(now: now) }
                continue
            }
            if c.layers.paused { continue }
            var top = c.producer.streams.count - 1
            if let p = c.layers.preferredSpatial { top = min(top, max(p, 0)) }
            if let best = (0...top).last(where: { c.producer.streams[$0].isActive(now: now) }) {
                desired += c.producer.streams[best].currentBitrate(now: now)
            }
            sending += c.currentBitrate(now: now)
            let lowest = c.producer.streams.firstIndex { $0.isActive(now: now) } ?? 0
            remaining -= c.producer.streams[min(lowest, top)].currentBitrate(now: now)
            video.append((c, min(lowest, top), top))
        }
        var upgraded = true
        while upgraded {
            upgraded = false
            for i in video.indices where video[i].layer < video[i].max {
                let streams = video[i].consumer.producer.streams
                guard let next = ((video[i].layer + 1)...video[i].max).first(where: { streams[$0].isActive(now: now) }) else {
                    continue
                }
                let extra = streams[next].currentBitrate(now: now) - streams[video[i].layer].currentBitrate(now: now)
                // Hysteresis: the layer being forwarded is kept while it is within 25 % of fitting, so an
                // estimate wobbling around a layer's rate (e.g. after a probe) does not flip it back and forth.
                let slack = next <= (video[i].consumer.layers.current ?? -1) ? budget / 4 : 0
                if extra <= remaining + slack {
                    remaining -= extra
                    video[i].layer = next
                    upgraded = true
                }
            }
        }
        for v in video { v.consumer.layers.allowedSpatial = v.layer }
        t.probe.update(desired: desired, sending: sending, estimate: budget, now: now)
    }

    /// Probing (the estimate must be able to grow to the layers a subscriber wants): during a
    /// `PaddingProbe` the transport is padded with RTX retransmissions of recently sent packets (RFC 4588
    /// §4 leaves the use of the RTX stream to the sender; libwebrtc pads the same way).
    private func sendPadding(_ t: TransportState, now: Instant) {
        var budget = t.probe.paddingBytes(now: now)
        guard budget > 0 else { return }
        var sentAny = true
        while budget > 0, sentAny {
            sentAny = false
            for c in t.consumers where c.rtx != nil && budget > 0 {
                guard let history = c.history, let last = c.rewriter.lastSent?.sequenceNumber else { continue }
                c.paddingCursor = c.paddingCursor &+ 1
                if c.paddingCursor > 16 { c.paddingCursor = 0 }
                let seq = last &- c.paddingCursor
                guard history.entry(seq) != nil else { continue }
                let sentBytes = retransmit(c, sequenceNumber: seq, now: now, padding: true)
                if sentBytes > 0 {
                    budget -= sentBytes
                    sentAny = true
                }
            }
        }
    }
}

/// Where an incoming SSRC goes.
struct StreamRef {
    let producer: Producer
    let layer: Int
    let isRTX: Bool
}
