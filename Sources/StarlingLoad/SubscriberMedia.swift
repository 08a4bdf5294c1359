import Dispatch
import NIOCore
import StarlingCodecs
import StarlingRouting
import StarlingTransport
import StarlingWire

/// One stream a subscriber receives (a video or an audio m-line), with what a real receiver does: NACK
/// generation (RFC 4585 §6.2.1) and RTX recovery (RFC 4588 §4), receiver statistics for RRs (RFC 3550
/// §6.4.2), a small reordering buffer in front of the VP8 depacketizer, decoding when `decodes` (libvpx /
/// libopus), PLI (RFC 4585 §6.3.1) when the depacketizer waits for a key frame, and the figures the run
/// reports: loss before and after recovery, frames, freezes, layer switches, first frame, added delay.
///
/// Confined to its peer's event loop, except its decoder, which runs on the run's decoding queue so that
/// decoding (2-3 ms for a 720p frame) never holds up the packets behind it, whose arrival times measure
/// the SFU's delay. Results come back to the loop.
final class ReceivedStream: @unchecked Sendable {
    enum Kind { case audio, video }

    let kind: Kind
    let ssrc: UInt32
    let rtxSSRC: UInt32?
    private let rtxDecoder: RTXDecoder?
    private(set) var nack = NACKGenerator()
    private(set) var statistics: ReceiveStatistics
    private var unwrapper = SequenceNumberUnwrapper()
    private var depacketizer = VP8Depacketizer()
    private var videoDecoder: VP8Decoder?
    private var audioDecoder: OpusDecoder?
    private let decoding: Decoding?
    /// Frames handed to the decoding queue and not back yet.
    private(set) var decodeBacklog = 0
    /// Packets held until the ones before them arrive (or are given up on).
    private var pending: [Int64: (marker: Bool, payload: [UInt8])] = [:]
    private var nextToDepacketize: Int64?
    private var gapSince: Instant?
    private var lastKeyframeRequest: Instant?
    private var lastFrameAt: Instant?
    private var frozenSince: Instant?
    private(set) var resolution: (width: Int, height: Int)?
    private(set) var firstFrameAt: Instant?

    struct Counters {
        /// Media packets on the stream's own SSRC (what the SFU forwarded, retransmissions and probes aside).
        var packets = 0
        /// Every RTP octet of the stream, RTX included.
        var bytes = 0
        var retransmissions = 0
        var lostBeforeRecovery = 0
        var recovered = 0
        var framesCompleted = 0
        var framesDecoded = 0
        var decoderErrors = 0
        var freezes = 0
        var frozenNanoseconds: Int64 = 0
        var layerSwitches = 0
        var keyframeRequests = 0
        var nacksSent = 0
        /// Video frames the depacketizer dropped (missing packets, or waiting for a key frame).
        var framesDropped = 0
        var lostAfterRecovery: Int { max(0, lostBeforeRecovery - recovered) }
    }
    private(set) var counters = Counters()

    /// No new frame for this long is a freeze (the 300 ms).
    static let freezeThreshold = Duration.milliseconds(300)
    /// How long a sequence gap may hold later packets back while NACK recovers it.
    static let reorderWait = Duration.milliseconds(250)

    /// Where decoding happens, and the loop results return to.
    struct Decoding {
        let queue: DispatchQueue
        let loop: any EventLoop
    }

    init(
        kind: Kind, ssrc: UInt32, rtxSSRC: UInt32?, payloadType: UInt8, rtxPayloadType: UInt8?, decoding: Decoding?
    ) throws {
        let decodes = decoding != nil
        self.decoding = decoding
        self.kind = kind
        self.ssrc = ssrc
        self.rtxSSRC = rtxSSRC
        statistics = ReceiveStatistics(ssrc: ssrc)
        if let rtxSSRC, let rtxPayloadType {
            rtxDecoder = RTXDecoder(rtxSSRC: rtxSSRC, originalSSRC: ssrc, associatedPayloadTypes: [rtxPayloadType: payloadType])
        } else {
            rtxDecoder = nil
        }
        if decodes {
            switch kind {
            case .video: videoDecoder = try VP8Decoder()
            case .audio: audioDecoder = try OpusDecoder(channels: 2)
            }
        }
    }

    /// An SRTP-decrypted RTP packet of this stream (its SSRC or RTX SSRC), received at `arrival`.
    func receive(_ packet: UnsafeMutableRawBufferPointer, header: RTPHeader, arrival: Instant, delays: DelayHistograms) {
        var header = header
        var packet = packet
        var recovered = false
        if header.ssrc == rtxSSRC {
            guard let decoder = rtxDecoder, let length = (try? decoder.decode(inPlace: packet)) ?? nil,
                let original = try? RTPHeader(parsing: UnsafeRawBufferPointer(rebasing: packet[0..<length]))
            else { return }  // padding-only (a bandwidth probe) or not for us
            packet = UnsafeMutableRawBufferPointer(rebasing: packet[0..<length])
            header = original
            recovered = true
            counters.retransmissions += 1
        }
        counters.bytes += packet.count
        if !recovered { counters.packets += 1 }
        switch nack.received(sequenceNumber: header.sequenceNumber, now: arrival) {
        case .afterGap(let missing): counters.lostBeforeRecovery += missing
        case .recovered: counters.recovered += 1
        case .inOrder, .late: break
        }
        var payload = header.payload(in: UnsafeRawBufferPointer(packet))
        if let sent = DelayStamp.read(payload) {
            payload = UnsafeRawBufferPointer(rebasing: payload[0..<(payload.count - DelayStamp.length)])
            if !recovered { delays.record(arrival - sent) }
        }
        if !recovered {
            statistics.record(
                sequenceNumber: header.sequenceNumber, rtpTimestamp: header.timestamp, clockRate: kind == .video ? 90_000 : 48_000,
                now: arrival)
        }
        switch kind {
        case .audio:
            guard !recovered else { return }
            if let audioDecoder { decode(Array(payload)) { (try? audioDecoder.decode($0)) != nil } }
            counters.framesCompleted += 1
            frameArrived(at: arrival)
        case .video:
            let extended = unwrapper.unwrap(header.sequenceNumber)
            if nextToDepacketize == nil { nextToDepacketize = extended }
            guard let next = nextToDepacketize, extended >= next, pending[extended] == nil else { return }
            pending[extended] = (header.marker, Array(payload))
            drain(now: arrival)
        }
    }

    /// Hands the depacketizer every packet that is next in sequence.
    private func drain(now: Instant) {
        while let next = nextToDepacketize, let packet = pending.removeValue(forKey: next) {
            nextToDepacketize = next + 1
            let output = depacketizer.push(
                sequenceNumber: UInt16(truncatingIfNeeded: next), marker: packet.marker, payload: packet.payload)
            counters.framesDropped += output.dropped.count
            if let frame = output.frame { completed(frame, now: now) }
        }
        gapSince = pending.isEmpty ? nil : (gapSince ?? now)
    }

    private func completed(_ frame: VP8AssembledFrame, now: Instant) {
        counters.framesCompleted += 1
        if frame.isKeyframe, let size = Self.keyframeSize(frame.bytes) {
            if let resolution, resolution != size { counters.layerSwitches += 1 }
            resolution = size
        }
        if let videoDecoder { decode(frame.bytes) { (try? videoDecoder.decode($0)) != nil } }
        frameArrived(at: now)
    }

    /// Runs `body` on the decoding queue (in order, one frame at a time) and counts its verdict on the loop.
    private func decode(_ bytes: [UInt8], _ body: @escaping ([UInt8]) -> Bool) {
        guard let decoding else { return }
        decodeBacklog += 1
        let work = UncheckedBox(body)
        decoding.queue.async {
            let decoded = work.value(bytes)
            decoding.loop.execute {
                self.decodeBacklog -= 1
                if decoded { self.counters.framesDecoded += 1 } else { self.counters.decoderErrors += 1 }
            }
        }
    }

    private func frameArrived(at now: Instant) {
        if firstFrameAt == nil { firstFrameAt = now }
        if let since = frozenSince {
            counters.frozenNanoseconds += (now - since).nanosecondsClamped
            frozenSince = nil
        }
        lastFrameAt = now
    }

    /// The width and height of a VP8 key frame (RFC 6386 §9.1: 14 bits each, little-endian, after the start code).
    static func keyframeSize(_ frame: [UInt8]) -> (width: Int, height: Int)? {
        guard frame.count >= 10, frame[0] & 0x01 == 0, frame[3] == 0x9D, frame[4] == 0x01, frame[5] == 0x2A else { return nil }
        return (Int(frame[6]) | Int(frame[7] & 0x3F) << 8, Int(frame[8]) | Int(frame[9] & 0x3F) << 8)
    }

    /// Timers: a gap held too long is skipped; a freeze starts (when `judgesFreezes`: not once publishers
    /// stopped); NACK and PLI go into `feedback`.
    func tick(now: Instant, ownSSRC: UInt32, judgesFreezes: Bool, feedback: inout [UInt8]) {
        if let since = gapSince, now - since > Self.reorderWait, let resume = pending.keys.min() {
            nextToDepacketize = resume
            drain(now: now)
        }
        if judgesFreezes, let last = lastFrameAt, frozenSince == nil, now - last > Self.freezeThreshold {
            counters.freezes += 1
            frozenSince = last
        }
        guard kind == .video else { return }
        if let deadline = nack.nextDeadline, deadline <= now {
            let lost = nack.pollNACK(now: now)
            if !lost.isEmpty {
                counters.nacksSent += 1
                GenericNACK(senderSSRC: ownSSRC, mediaSSRC: ssrc, lostSequenceNumbers: lost).serialize(into: &feedback)
            }
        }
        if depacketizer.needsKeyframe, counters.packets > 0,
            lastKeyframeRequest.map({ now - $0 > .milliseconds(500) }) ?? true
        {
            lastKeyframeRequest = now
            counters.keyframeRequests += 1
            PictureLossIndication(senderSSRC: ownSSRC, mediaSSRC: ssrc).serialize(into: &feedback)
        }
    }

    var decodes: Bool { decoding != nil }
    var hasReceived: Bool { statistics.hasReceived }
    func makeReportBlock(now: Instant) -> ReportBlock { statistics.makeReportBlock(now: now) }
    func recordSenderReport(_ report: SenderReport, now: Instant) { statistics.recordSenderReport(report, now: now) }

    /// Whether the stream is frozen now (it had frames, and none for the freeze threshold).
    var isFrozen: Bool { frozenSince != nil }
}

/// Hands a value that is only ever used on one queue at a time across an isolation boundary.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
