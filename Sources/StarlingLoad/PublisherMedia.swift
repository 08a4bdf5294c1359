import Foundation
import StarlingClient
import StarlingCodecs
import StarlingRouting
import StarlingTransport
import StarlingWire

/// Where a peer's plain packets go: protected (SRTP/SRTCP) in place and written to its socket.
protocol PacketSink: AnyObject {
    /// `buffer[0..<length]` holds a plain RTP or RTCP packet; `buffer` has room for the SRTP tag.
    func send(_ buffer: UnsafeMutableRawBufferPointer, length: Int, rtcp: Bool)
    func flush()
}

/// The send time a publisher puts in every media packet, read back by subscribers to measure the delay the
/// SFU adds. It rides at the end of the RTP payload, where an SFU that reads only the payload descriptor
/// (RFC 7741 §4.2) leaves it alone; RTP padding would not do, since SFUs that rebuild headers (Starling,
/// Janus) drop it. 8 octets of send time (nanoseconds on the load tool's monotonic clock), then the tag
/// "STL1". Subscribers strip it before depacketizing and decoding.
enum DelayStamp {
    static let length = 12
    static let tag: [UInt8] = [0x53, 0x54, 0x4C, 0x31]

    static func write(_ time: Instant, at offset: Int, in p: UnsafeMutableRawBufferPointer) {
        let value = UInt64(bitPattern: time.nanoseconds)
        for i in 0..<8 { p[offset + i] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(i))) }
        for i in 0..<4 { p[offset + 8 + i] = tag[i] }
    }

    /// The stamp at the end of an RTP payload, if it carries one.
    static func read(_ payload: UnsafeRawBufferPointer) -> Instant? {
        guard payload.count >= length else { return nil }
        let at = payload.count - length
        for i in 0..<4 where payload[at + 8 + i] != tag[i] { return nil }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(payload[at + i]) }
        return Instant(nanoseconds: Int64(bitPattern: value))
    }
}

/// Writes RTP packets the way the load tool's publishers send them: the fixed header, a one-byte header
/// extension block (RFC 8285 §4.2) with the mid (RFC 8843 §15) and the transport-wide sequence number, then
/// the payload followed by a `DelayStamp`.
enum RTPWriter {
    static let midID = UInt8(ClientPeer.midExtensionID)
    static let transportWideCCID = UInt8(ClientPeer.transportWideCCExtensionID)
    /// Header (12) + extension block (4 + 8) + stamp.
    static let overhead = 12 + 12 + DelayStamp.length

    static func write(
        into p: UnsafeMutableRawBufferPointer, marker: Bool, payloadType: UInt8, sequenceNumber: UInt16, timestamp: UInt32,
        ssrc: UInt32, mid: UInt8, transportSequence: UInt16, payload: UnsafeRawBufferPointer, sentAt: Instant
    ) -> Int {
        p[0] = 0x80 | 0x10  // V=2, X
        p[1] = (marker ? 0x80 : 0) | (payloadType & 0x7F)
        RTPHeader.setSequenceNumber(sequenceNumber, in: p)
        RTPHeader.setTimestamp(timestamp, in: p)
        RTPHeader.setSSRC(ssrc, in: p)
        p[12] = 0xBE
        p[13] = 0xDE
        p[14] = 0
        p[15] = 2  // two 32-bit words of elements
        p[16] = midID << 4  // length - 1 = 0: one octet
        p[17] = mid
        p[18] = transportWideCCID << 4 | 1
        p[19] = UInt8(truncatingIfNeeded: transportSequence >> 8)
        p[20] = UInt8(truncatingIfNeeded: transportSequence)
        p[21] = 0
        p[22] = 0
        p[23] = 0
        let payloadAt = 24
        UnsafeMutableRawBufferPointer(rebasing: p[payloadAt..<(payloadAt + payload.count)]).copyMemory(from: payload)
        DelayStamp.write(sentAt, at: payloadAt + payload.count, in: p)
        return payloadAt + payload.count + DelayStamp.length
    }
}

/// One publisher's media: the clips' simulcast layers on their own SSRCs (lowest first, with RTX SSRCs)
/// at 30 frames/s and Opus every 20 ms. Answers NACKs from a retransmission buffer over RTX (RFC 4588),
/// PLI/FIR by restarting the layer's clip at its key frame, and sends sender reports every second.
/// Made off the loop, then confined to its peer's event loop (hence unchecked).
final class PublisherMedia: @unchecked Sendable {
    static let videoPayloadType: UInt8 = 96
    static let rtxPayloadType: UInt8 = 97
    static let audioPayloadType: UInt8 = 111
    static let videoMid = "0"
    static let audioMid = "1"

    struct Layer {
        let clip: VideoClip
        let ssrc: UInt32
        let rtxSSRC: UInt32
        var sequenceNumber = UInt16.random(in: 0...UInt16.max)
        var frameIndex = 0
        var packetizer: VP8Packetizer
        var rtx: RTXEncoder
        let history = RetransmissionBuffer(slots: 1024, slotSize: 1500, maxAge: .seconds(2))
        var restartClip = false
        var packets: UInt32 = 0
        var octets: UInt32 = 0
    }

    struct Counters {
        var packets = 0
        var bytes = 0
        var nacks = 0
        var retransmissions = 0
        var keyframeRequests = 0
    }

    private(set) var layers: [Layer]
    let clips: MediaClips
    let audioSSRC: UInt32
    private var audioSequence = UInt16.random(in: 0...UInt16.max)
    private var audioIndex = 0
    private var audioPackets: UInt32 = 0
    private var audioOctets: UInt32 = 0
    private var transportSequence: UInt16 = 0
    private let videoTimestampBase = UInt32.random(in: 0...UInt32.max)
    private let audioTimestampBase = UInt32.random(in: 0...UInt32.max)
    private var startedAt: Instant?
    private var nextVideoAt = Instant.zero
    private var nextAudioAt = Instant.zero
    private var nextReportAt = Instant.zero
    private(set) var counters = Counters()
    private var scratch = [UInt8](repeating: 0, count: 1600)
    private let clock: () -> Instant

    init(clips: MediaClips, ssrcBase: UInt32, clock: @escaping () -> Instant) throws {
        self.clips = clips
        self.clock = clock
        layers = try clips.video.enumerated().map { i, clip in
            let ssrc = ssrcBase + UInt32(i) * 2
            return Layer(
                clip: clip, ssrc: ssrc, rtxSSRC: ssrc + 1,
                packetizer: try VP8Packetizer(maxPayloadSize: 1200 - RTPWriter.overhead, pictureID: UInt16.random(in: 0...0x7FFF)),
                rtx: RTXEncoder(ssrc: ssrc + 1, payloadType: Self.rtxPayloadType, initialSequenceNumber: UInt16.random(in: 0...UInt16.max)))
        }
        audioSSRC = ssrcBase + UInt32(clips.video.count) * 2
    }

    /// The tracks to offer: video in simulcast with RTX, and audio.
    var tracks: [ClientPeer.Track] {
        [
            .init(
                kind: .video, mid: Self.videoMid, ssrcs: layers.map(\.ssrc), rtxSSRCs: layers.map(\.rtxSSRC),
                payloadType: Self.videoPayloadType, rtxPayloadType: Self.rtxPayloadType, direction: .send),
            .init(kind: .audio, mid: Self.audioMid, ssrcs: [audioSSRC], payloadType: Self.audioPayloadType, direction: .send),
        ]
    }

    /// Sends what is due at `now`: a frame of every layer each 1/30 s, an audio packet each 20 ms, SRs each second.
    func tick(now: Instant, sink: any PacketSink) {
        if startedAt == nil {
            startedAt = now
            nextVideoAt = now
            nextAudioAt = now
            nextReportAt = now + .seconds(1)
        }
        // After a stall (the loop was busy), skip ahead rather than burst.
        if now - nextVideoAt > .milliseconds(200) { nextVideoAt = now }
        if now - nextAudioAt > .milliseconds(200) { nextAudioAt = now }
        while nextVideoAt <= now {
            let timestamp = videoTimestampBase &+ rtpTime(nextVideoAt, clockRate: 90_000)
            for i in layers.indices { sendFrame(layer: i, timestamp: timestamp, sink: sink) }
            nextVideoAt += .nanoseconds(1_000_000_000 / Int64(MediaClips.frameRate))
        }
        while nextAudioAt <= now {
            sendAudio(timestamp: audioTimestampBase &+ rtpTime(nextAudioAt, clockRate: 48_000), sink: sink)
            nextAudioAt += .milliseconds(20)
        }
        if now >= nextReportAt {
            nextReportAt = now + .seconds(1)
            sendReports(now: now, sink: sink)
        }
    }

    private func rtpTime(_ t: Instant, clockRate: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: (t - (startedAt ?? t)).nanosecondsClamped * clockRate / 1_000_000_000)
    }

    private func sendFrame(layer i: Int, timestamp: UInt32, sink: any PacketSink) {
        if layers[i].restartClip {
            layers[i].restartClip = false
            layers[i].frameIndex = 0
        }
        let frames = layers[i].clip.frames
        let frame = frames[layers[i].frameIndex % frames.count]
        layers[i].frameIndex = (layers[i].frameIndex + 1) % frames.count
        let payloads = layers[i].packetizer.packetize(frame)
        let mid = Self.videoMid.utf8.first ?? 0x30
        scratch.withUnsafeMutableBytes { p in
            for (n, payload) in payloads.enumerated() {
                transportSequence &+= 1
                let length = payload.withUnsafeBytes { bytes in
                    RTPWriter.write(
                        into: p, marker: n == payloads.count - 1, payloadType: Self.videoPayloadType,
                        sequenceNumber: layers[i].sequenceNumber, timestamp: timestamp, ssrc: layers[i].ssrc, mid: mid,
                        transportSequence: transportSequence, payload: bytes, sentAt: clock())
                }
                _ = layers[i].history.store(
                    packet: UnsafeRawBufferPointer(rebasing: p[0..<length]), sequenceNumber: layers[i].sequenceNumber, now: clock())
                layers[i].sequenceNumber &+= 1
                layers[i].packets &+= 1
                layers[i].octets &+= UInt32(payload.count)
                counters.packets += 1
                counters.bytes += length
                sink.send(p, length: length, rtcp: false)
            }
        }
        sink.flush()
    }

    private func sendAudio(timestamp: UInt32, sink: any PacketSink) {
        let packet = clips.audio[audioIndex % clips.audio.count]
        audioIndex += 1
        let mid = Self.audioMid.utf8.first ?? 0x31
        transportSequence &+= 1
        scratch.withUnsafeMutableBytes { p in
            let length = packet.withUnsafeBytes { bytes in
                RTPWriter.write(
                    into: p, marker: false, payloadType: Self.audioPayloadType, sequenceNumber: audioSequence, timestamp: timestamp,
                    ssrc: audioSSRC, mid: mid, transportSequence: transportSequence, payload: bytes, sentAt: clock())
            }
            audioSequence &+= 1
            audioPackets &+= 1
            audioOctets &+= UInt32(packet.count)
            counters.packets += 1
            counters.bytes += length
            sink.send(p, length: length, rtcp: false)
        }
        sink.flush()
    }

    /// RFC 3550 §6.4.1 sender reports for every stream that has sent.
    private func sendReports(now: Instant, sink: any PacketSink) {
        var bytes: [UInt8] = []
        let ntp = NTPTimestamp(unixNanoseconds: Int64(Date().timeIntervalSince1970 * 1e9))
        for layer in layers where layer.packets > 0 {
            SenderReport(
                ssrc: layer.ssrc, ntpTimestamp: ntp.rawValue, rtpTimestamp: videoTimestampBase &+ rtpTime(now, clockRate: 90_000),
                packetCount: layer.packets, octetCount: layer.octets
            ).serialize(into: &bytes)
        }
        if audioPackets > 0 {
            SenderReport(
                ssrc: audioSSRC, ntpTimestamp: ntp.rawValue, rtpTimestamp: audioTimestampBase &+ rtpTime(now, clockRate: 48_000),
                packetCount: audioPackets, octetCount: audioOctets
            ).serialize(into: &bytes)
        }
        guard !bytes.isEmpty, bytes.count <= 1400 else { return }
        send(rtcp: bytes, sink: sink)
    }

    private func send(rtcp bytes: [UInt8], sink: any PacketSink) {
        scratch.withUnsafeMutableBytes { p in
            p.copyBytes(from: bytes)
            sink.send(p, length: bytes.count, rtcp: true)
        }
        sink.flush()
    }

    /// Feedback from the SFU (RFC 4585 §6): NACKs are answered over RTX, PLI (§6.3.1) and FIR (RFC 5104
    /// §4.3.1) restart the layer's clip at its key frame. Receiver reports and congestion feedback are read
    /// and ignored: the load is fixed.
    func receiveRTCP(_ packet: UnsafeRawBufferPointer, now: Instant, sink: any PacketSink) {
        var iterator = RTCPPacketIterator(packet)
        while let view = try? iterator.next() {
            switch view.kind {
            case .pictureLossIndication:
                guard let fb = try? view.feedback(), let i = layers.firstIndex(where: { $0.ssrc == fb.mediaSSRC }) else { continue }
                counters.keyframeRequests += 1
                layers[i].restartClip = true
            case .fullIntraRequest:
                guard let fb = try? view.feedback() else { continue }
                try? FullIntraRequest.forEachEntry(fci: fb.fci) { entry in
                    guard let i = layers.firstIndex(where: { $0.ssrc == entry.ssrc }) else { return }
                    counters.keyframeRequests += 1
                    layers[i].restartClip = true
                }
            case .genericNACK:
                guard let fb = try? view.feedback(), let i = layers.firstIndex(where: { $0.ssrc == fb.mediaSSRC }) else { continue }
                counters.nacks += 1
                try? GenericNACK.forEachLostSequenceNumber(fci: fb.fci) { seq in retransmit(layer: i, sequenceNumber: seq, now: now, sink: sink) }
                sink.flush()
            default:
                continue
            }
        }
    }

    private func retransmit(layer i: Int, sequenceNumber: UInt16, now: Instant, sink: any PacketSink) {
        let history = layers[i].history
        var rtx = layers[i].rtx
        defer { layers[i].rtx = rtx }
        scratch.withUnsafeMutableBytes { out in
            let length: Int? = history.withPacket(sequenceNumber: sequenceNumber, now: now) { original in
                try? rtx.encode(original, into: out)
            } ?? nil
            guard let length, length > 0 else { return }
            counters.retransmissions += 1
            sink.send(out, length: length, rtcp: false)
        }
    }
}
