import StarlingRouting
import StarlingTransport
import StarlingWire

/// A subscriber on the simulated network receiving one VP8 consumer stream: it recovers losses with
/// NACK (a `NACKGenerator`) and RTX, sends RRs (RFC 3550) and transport-cc feedback, reassembles
/// frames, and records what a decoder would need checked: sequence continuity, keyframes at layer
/// switches, monotonic timestamps, and which layer it got when.
final class SimSubscriber {
    struct Frame {
        var timestamp: Int64
        var firstSequence: Int64?
        var lastSequence: Int64?
        var packets: Set<Int64> = []
        var keyframe = false
        var layer = -1
        var frameIndex: UInt32 = 0
        var pictureID: UInt16?
        var firstArrival: Instant
        var completedAt: Instant?
        var isComplete: Bool {
            guard let f = firstSequence, let l = lastSequence, l >= f else { return false }
            return packets.count == Int(l - f + 1)
        }
    }

    static let ownSSRC: UInt32 = 0xABCD_0000

    let node: Int
    let transport: TransportID
    let ssrc: UInt32
    let rtxSSRC: UInt32
    let useTransportCC: Bool
    var nack = NACKGenerator()
    var statistics: ReceiveStatistics
    let rtxDecoder: RTXDecoder
    var sequence = SequenceNumberUnwrapper()
    var timestamps = TimestampUnwrapper()
    var received = Set<Int64>()
    var frames: [Int64: Frame] = [:]
    var feedback = TransportFeedbackGenerator()
    var nextReportAt = Instant.zero + .milliseconds(500)
    var packets = 0
    var retransmissions = 0
    var paddingPackets = 0
    var senderReports: [SenderReport] = []
    var lastSenderReportArrival: Instant?
    var foreignPackets = 0

    init(node: Int, transport: TransportID, ssrc: UInt32, rtxSSRC: UInt32, useTransportCC: Bool = true) {
        self.node = node
        self.transport = transport
        self.ssrc = ssrc
        self.rtxSSRC = rtxSSRC
        self.useTransportCC = useTransportCC
        statistics = ReceiveStatistics(ssrc: ssrc)
        rtxDecoder = RTXDecoder(rtxSSRC: rtxSSRC, originalSSRC: ssrc, associatedPayloadTypes: [97: 96])
    }

    func consumerParameters(preferredSpatialLayer: Int? = nil) -> ConsumerParameters {
        ConsumerParameters(
            ssrc: ssrc, rtxSSRC: rtxSSRC,
            codec: RTPCodec(kind: .vp8, payloadType: 96, clockRate: 90_000, rtxPayloadType: 97),
            extensions: HeaderExtensionIDs(mid: 1, absSendTime: 2, transportWideCC: useTransportCC ? 3 : nil), mid: "v0",
            preferredSpatialLayer: preferredSpatialLayer)
    }

    func receive(_ bytes: [UInt8], now: Instant) {
        var bytes = bytes
        if bytes.count >= 2, (192...223).contains(bytes[1]) {  // RFC 5761 §4
            receiveRTCP(bytes, now: now)
            return
        }
        guard var header = bytes.withUnsafeBytes({ try? RTPHeader(parsing: $0) }) else { return }
        if useTransportCC, let twcc = bytes.withUnsafeBytes({ raw in
            header.headerExtension(id: 3, in: raw).flatMap { try? TransportWideSequenceNumber.decode($0) }
        }) {
            feedback.record(transportSequenceNumber: twcc, arrival: now)
        }
        var recovered = false
        if header.ssrc == rtxSSRC {
            guard
                let length = bytes.withUnsafeMutableBytes({ raw in (try? rtxDecoder.decode(inPlace: raw)) ?? nil })
            else {
                paddingPackets += 1
                return
            }
            bytes.removeLast(bytes.count - length)
            guard let h = bytes.withUnsafeBytes({ try? RTPHeader(parsing: $0) }) else { return }
            header = h
            recovered = true
            retransmissions += 1
        }
        guard header.ssrc == ssrc else {
            foreignPackets += 1
            return
        }
        packets += 1
        let ext = sequence.unwrap(header.sequenceNumber)
        _ = nack.received(sequenceNumber: header.sequenceNumber, now: now)
        if !recovered {
            statistics.record(sequenceNumber: header.sequenceNumber, rtpTimestamp: header.timestamp, clockRate: 90_000, now: now)
        }
        guard received.insert(ext).inserted else { return }
        let ts = timestamps.unwrap(header.timestamp)
        var frame = frames[ts] ?? Frame(timestamp: ts, firstArrival: now)
        frame.packets.insert(ext)
        if header.marker { frame.lastSequence = ext }
        bytes.withUnsafeBytes { raw in
            let payload = header.payload(in: raw)
            guard let d = try? VP8PayloadDescriptor(parsingPrefixOf: payload) else { return }
            frame.pictureID = d.pictureID?.value
            guard d.isStartOfPartition, d.partitionIndex == 0 else { return }
            frame.firstSequence = ext
            let at = d.encodedLength
            guard payload.count > at + 3 else { return }
            frame.keyframe = payload[at] & 0x01 == 0
            let sig = at + (frame.keyframe ? 10 : 3)
            guard payload.count >= sig + 5 else { return }
            frame.layer = Int(payload[sig])
            frame.frameIndex = UInt32(payload[sig + 1]) << 24 | UInt32(payload[sig + 2]) << 16
                | UInt32(payload[sig + 3]) << 8 | UInt32(payload[sig + 4])
        }
        if frame.completedAt == nil, frame.isComplete { frame.completedAt = now }
        frames[ts] = frame
    }

    private func receiveRTCP(_ bytes: [UInt8], now: Instant) {
        bytes.withUnsafeBytes { raw in
            var iterator = RTCPPacketIterator(raw)
            while let view = try? iterator.next() {
                if view.kind == .senderReport, let sr = try? SenderReport(view: view), sr.ssrc == ssrc {
                    senderReports.append(sr)
                    lastSenderReportArrival = now
                    statistics.recordSenderReport(sr, now: now)
                }
            }
        }
    }

    func tick(now: Instant, send: ([UInt8]) -> Void) {
        if let deadline = nack.nextDeadline, deadline <= now {
            let lost = nack.pollNACK(now: now)
            if !lost.isEmpty {
                var bytes: [UInt8] = []
                GenericNACK(senderSSRC: Self.ownSSRC, mediaSSRC: ssrc, lostSequenceNumbers: lost).serialize(into: &bytes)
                send(bytes)
            }
        }
        if useTransportCC, let fb = feedback.poll(now: now, senderSSRC: Self.ownSSRC, mediaSSRC: ssrc) {
            var bytes: [UInt8] = []
            fb.serialize(into: &bytes)
            send(bytes)
        }
        if now >= nextReportAt, statistics.hasReceived {
            nextReportAt = now + .seconds(1)
            var bytes: [UInt8] = []
            ReceiverReport(ssrc: Self.ownSSRC, reportBlocks: [statistics.makeReportBlock(now: now)]).serialize(into: &bytes)
            send(bytes)
        }
    }

    // MARK: - What the checks read

    var orderedFrames: [Frame] { frames.values.sorted { $0.timestamp < $1.timestamp } }

    /// Frames that started arriving after `from` and whose completeness can be judged (received at least
    /// one packet); with the fraction complete.
    func completeness(after from: Instant) -> (frames: Int, complete: Int) {
        let judged = frames.values.filter { $0.firstArrival >= from }
        return (judged.count, judged.filter(\.isComplete).count)
    }

    /// Layer changes that did not land on a keyframe: between consecutive frames whose layer is known
    /// (their first packet arrived), the first frame of the new layer must be a keyframe.
    var switchesNotOnKeyframe: Int {
        var previous: Int?
        var bad = 0
        var previousPictureID: UInt16?
        for f in orderedFrames {
            // A frame whose first packet never arrived hides where a switch happened: judge again from the
            // next frame whose predecessor is known (picture IDs are continuous across switches).
            guard f.layer >= 0, let id = f.pictureID else {
                previous = nil
                continue
            }
            let adjacent = previousPictureID.map { id == ($0 &+ 1) & 0x7FFF } ?? false
            if let p = previous, adjacent, p != f.layer, !f.keyframe { bad += 1 }
            previous = f.layer
            previousPictureID = id
        }
        return bad
    }

    /// Complete consecutive frames whose sequence ranges are not back to back (a gap of our making), or
    /// whose picture IDs do not follow each other.
    var discontinuities: Int {
        var bad = 0
        var previous: Frame?
        for f in orderedFrames {
            defer { previous = f }
            guard let p = previous, p.isComplete, f.isComplete, let pl = p.lastSequence, let ff = f.firstSequence else {
                continue
            }
            if ff != pl + 1 { bad += 1 }
        }
        return bad
    }

    /// The layer of the complete frames that started arriving in `window`.
    func layers(in window: Range<Instant>) -> Set<Int> {
        Set(frames.values.filter { window.contains($0.firstArrival) && $0.isComplete }.map(\.layer))
    }
}
