import StarlingRouting
import StarlingTransport
import StarlingWire

/// A publisher on the simulated network: synthetic VP8 in `layers.count` simulcast encodings (SSRCs
/// signalled), 30 frames/s with three temporal layers (TID pattern 0 2 1 2), a keyframe every
/// `keyframeInterval` and whenever one is asked for (PLI or FIR on that SSRC). Every packet carries a
/// valid VP8 payload descriptor (15-bit picture ID, TL0PICIDX, TID) and a transport-wide sequence
/// number; the first packet of a frame carries the VP8 frame tag (keyframes: start code and
/// dimensions) and a signature (layer, frame index) that subscribers check. NACKs are answered over
/// RTX from a history of sent packets. SRs every second.
final class SimPublisher {
    struct Layer {
        var ssrc: UInt32
        var rtxSSRC: UInt32
        var width: UInt16
        var height: UInt16
        var bitrate: Int
        var sequenceNumber: UInt16 = 1000
        var pictureID: UInt16 = 100
        var tl0PicIdx: UInt8 = 7
        var keyframeRequested = false
        var packetCount: UInt32 = 0
        var octetCount: UInt32 = 0
        var active = true
    }

    static let payloadType: UInt8 = 96
    static let rtxPayloadType: UInt8 = 97
    static let twccID: UInt8 = 3
    static let midID: UInt8 = 1
    static let fps = 30
    static let clockRate: UInt32 = 90_000

    let node: Int
    let transport: TransportID
    var layers: [Layer]
    var keyframeInterval: Duration = .seconds(3)
    var frameIndex: UInt32 = 0
    var nextFrameAt = Instant.zero
    var lastKeyframeAt: Instant?
    var transportSequence: UInt16 = 0
    var rtx: [RTXEncoder]
    var history: [UInt32: [UInt16: [UInt8]]] = [:]
    var nextReportAt = Instant.zero + .seconds(1)
    var running = true
    var timestampBase: UInt32 = 12345

    var plisReceived = 0
    var firsReceived = 0
    var nacksReceived = 0
    var retransmitted = 0
    var keyframesSent = 0
    var twccFeedbackReceived = 0
    var receiverReports: [ReportBlock] = []

    init(node: Int, transport: TransportID, ssrcBase: UInt32, bitrates: [Int] = [150_000, 500_000, 1_500_000]) {
        self.node = node
        self.transport = transport
        layers = bitrates.enumerated().map { i, bitrate in
            let scale = UInt16(1 << (bitrates.count - 1 - i))
            return Layer(
                ssrc: ssrcBase + UInt32(i) * 2, rtxSSRC: ssrcBase + UInt32(i) * 2 + 1, width: 1280 / scale,
                height: 720 / scale, bitrate: bitrate)
        }
        rtx = layers.map { RTXEncoder(ssrc: $0.rtxSSRC, payloadType: Self.rtxPayloadType, initialSequenceNumber: 500) }
    }

    var parameters: ProducerParameters {
        ProducerParameters(
            kind: .video,
            codec: RTPCodec(kind: .vp8, payloadType: Self.payloadType, clockRate: Self.clockRate, rtxPayloadType: Self.rtxPayloadType),
            encodings: layers.map { .init(ssrc: $0.ssrc, rtxSSRC: $0.rtxSSRC) },
            extensions: HeaderExtensionIDs(mid: Self.midID, transportWideCC: Self.twccID), mid: "0")
    }

    func tick(now: Instant, send: ([UInt8]) -> Void) {
        guard running else { return }
        if now >= nextFrameAt {
            sendFrame(now: now, send: send)
            nextFrameAt = nextFrameAt + .nanoseconds(1_000_000_000 / Int64(Self.fps))
        }
        if now >= nextReportAt {
            nextReportAt = now + .seconds(1)
            var bytes: [UInt8] = []
            let ntp = NTPTimestamp(unixNanoseconds: 1_700_000_000_000_000_000 + now.nanoseconds)
            for layer in layers where layer.packetCount > 0 {
                SenderReport(
                    ssrc: layer.ssrc, ntpTimestamp: ntp.rawValue, rtpTimestamp: timestamp(at: now),
                    packetCount: layer.packetCount, octetCount: layer.octetCount
                ).serialize(into: &bytes)
            }
            if !bytes.isEmpty { send(bytes) }
        }
    }

    func timestamp(at now: Instant) -> UInt32 {
        timestampBase &+ UInt32(truncatingIfNeeded: now.nanoseconds / 1_000_000 * 90)
    }

    private func sendFrame(now: Instant, send: ([UInt8]) -> Void) {
        let periodic = lastKeyframeAt.map { now - $0 >= keyframeInterval } ?? true
        if periodic { lastKeyframeAt = now }
        let tid: UInt8 = [0, 2, 1, 2][Int(frameIndex % 4)]
        let timestamp = self.timestamp(at: now)
        for i in layers.indices where layers[i].active {
            let key = periodic || layers[i].keyframeRequested
            layers[i].keyframeRequested = false
            let frameTID: UInt8 = key ? 0 : tid
            if frameTID == 0 { layers[i].tl0PicIdx &+= 1 }
            layers[i].pictureID = (layers[i].pictureID &+ 1) & 0x7FFF
            var size = layers[i].bitrate / 8 / Self.fps
            if key {
                size *= 2
                keyframesSent += 1
            }
            var data: [UInt8] = []
            data.reserveCapacity(size)
            // VP8 frame tag (RFC 6386 §9.1): P bit 0 for keyframes; then start code and dimensions.
            data.append(key ? 0x10 : 0x11)
            data.append(0)
            data.append(0)
            if key {
                data += [0x9D, 0x01, 0x2A]
                data += [UInt8(layers[i].width & 0xFF), UInt8(layers[i].width >> 8)]
                data += [UInt8(layers[i].height & 0xFF), UInt8(layers[i].height >> 8)]
            }
            data.append(UInt8(i))
            data += withUnsafeBytes(of: frameIndex.bigEndian, Array.init)
            while data.count < max(size, 16) { data.append(UInt8(truncatingIfNeeded: data.count)) }
            let chunks = stride(from: 0, to: data.count, by: 1100).map { Array(data[$0..<min($0 + 1100, data.count)]) }
            for (c, chunk) in chunks.enumerated() {
                let descriptor = VP8PayloadDescriptor(
                    isNonReference: frameTID == 2, isStartOfPartition: c == 0, partitionIndex: 0,
                    pictureID: PictureID(layers[i].pictureID, isLong: true), tl0PicIdx: layers[i].tl0PicIdx,
                    temporalLayer: VP8TemporalLayer(id: frameTID, isLayerSync: false))
                var payload: [UInt8] = []
                descriptor.serialize(into: &payload)
                payload += chunk
                transportSequence &+= 1
                let packet = RTPPacket(
                    marker: c == chunks.count - 1, payloadType: Self.payloadType, sequenceNumber: layers[i].sequenceNumber,
                    timestamp: timestamp, ssrc: layers[i].ssrc,
                    headerExtension: .elements(
                        .oneByte,
                        [
                            RTPHeaderExtensionElement(id: Self.midID, value: Array("0".utf8)),
                            RTPHeaderExtensionElement(id: Self.twccID, value: TransportWideSequenceNumber.encode(transportSequence)),
                        ]),
                    payload: payload)
                var bytes: [UInt8] = []
                packet.serialize(into: &bytes)
                history[layers[i].ssrc, default: [:]][layers[i].sequenceNumber] = bytes
                history[layers[i].ssrc]?[layers[i].sequenceNumber &- 2048] = nil
                layers[i].sequenceNumber &+= 1
                layers[i].packetCount &+= 1
                layers[i].octetCount &+= UInt32(payload.count)
                send(bytes)
            }
        }
        frameIndex += 1
    }

    func receiveRTCP(_ bytes: [UInt8], now: Instant, send: ([UInt8]) -> Void) {
        bytes.withUnsafeBytes { raw in
            var iterator = RTCPPacketIterator(raw)
            while let view = try? iterator.next() {
                switch view.kind {
                case .pictureLossIndication:
                    plisReceived += 1
                    if let fb = try? view.feedback(), let i = layers.firstIndex(where: { $0.ssrc == fb.mediaSSRC }) {
                        layers[i].keyframeRequested = true
                    }
                case .fullIntraRequest:
                    firsReceived += 1
                    if let fb = try? view.feedback() {
                        try? FullIntraRequest.forEachEntry(fci: fb.fci) { entry in
                            if let i = layers.firstIndex(where: { $0.ssrc == entry.ssrc }) { layers[i].keyframeRequested = true }
                        }
                    }
                case .genericNACK:
                    nacksReceived += 1
                    guard let fb = try? view.feedback(), let i = layers.firstIndex(where: { $0.ssrc == fb.mediaSSRC }) else {
                        continue
                    }
                    try? GenericNACK.forEachLostSequenceNumber(fci: fb.fci) { seq in
                        guard let original = history[fb.mediaSSRC]?[seq] else { return }
                        var out = [UInt8](repeating: 0, count: original.count + 2)
                        let length = original.withUnsafeBytes { src in
                            out.withUnsafeMutableBytes { dst in (try? rtx[i].encode(src, into: dst)) ?? 0 }
                        }
                        guard length > 0 else { return }
                        retransmitted += 1
                        send(Array(out[0..<length]))
                    }
                case .receiverReport:
                    if let rr = try? ReceiverReport(view: view) { receiverReports += rr.reportBlocks }
                case .transportFeedback:
                    twccFeedbackReceived += 1
                default:
                    continue
                }
            }
        }
    }
}
