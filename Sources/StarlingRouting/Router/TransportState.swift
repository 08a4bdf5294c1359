import StarlingTransport
import StarlingWire

/// What the router keeps per transport (peer connection): the SSRC tables, RTCP report schedule and
/// our RTCP SSRC, and the bandwidth feedback in both directions.
///
/// - Receiving (a publisher's transport): a `TransportFeedbackGenerator` for the transport-wide
///   sequence numbers of everything arriving (draft-holmer-rmcat-transport-wide-cc-extensions-01),
///   and the incoming bitrate for REMB (draft-alvestrand-rmcat-remb).
/// - Sending (a subscriber's transport): a `TransportSequencer` numbering every packet we send, and a
///   `SendSideBandwidthEstimator` fed by the subscriber's transport-cc feedback or REMB.
final class TransportState {
    let id: TransportID
    let localSSRC: UInt32
    var producers: [Producer] = []
    var consumers: [Consumer] = []
    var streamsBySSRC: [UInt32: StreamRef] = [:]
    var consumersBySSRC: [UInt32: Consumer] = [:]
    var reports: ReportScheduler
    let cnameChunk: SourceDescription
    var keyframes = KeyframeRequestManager()
    /// Smoothed RTT to this peer from its RRs (RFC 3550 §6.4.1), when known.
    var rtt: Duration?

    // Receive side.
    private var feedbackExtensionID: UInt8?
    private var feedback: TransportFeedbackGenerator?
    var sendsREMB = false
    private var rembGenerator = REMBGenerator()

    // Send side.
    var sequencer = TransportSequencer()
    private var estimator = SendSideBandwidthEstimator()
    private var hasFeedback = false

    init(id: TransportID, seed: UInt64, now: Instant, cname: String = "starling") {
        self.id = id
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        localSSRC = UInt32(truncatingIfNeeded: z ^ (z >> 31)) | 1
        reports = ReportScheduler(interval: ReportScheduler.videoInterval, seed: seed, start: now)
        cnameChunk = SourceDescription(chunks: [.init(source: localSSRC, items: [.init(type: .cname, text: cname)])])
    }

    /// The send-side estimate, bits per second, once the subscriber has given feedback.
    var estimate: Int? { hasFeedback ? estimator.estimate : nil }

    func enableFeedback(extensionID: UInt8) {
        guard feedbackExtensionID == nil else { return }
        feedbackExtensionID = extensionID
        feedback = TransportFeedbackGenerator()
    }

    /// Every RTP packet arriving on the transport (media or RTX): transport-wide sequence and bitrate.
    func recordIncoming(header: RTPHeader, bytes: UnsafeRawBufferPointer, now: Instant) {
        if let id = feedbackExtensionID, let value = header.headerExtension(id: id, in: bytes),
            let sequence = try? TransportWideSequenceNumber.decode(value)
        {
            feedback?.record(transportSequenceNumber: sequence, arrival: now)
        }
        if sendsREMB { rembGenerator.record(bytes: bytes.count, now: now) }
    }

    func pollTransportFeedback(now: Instant) -> [TransportFeedback]? {
        guard var generator = feedback else { return nil }
        defer { feedback = generator }
        guard let fb = generator.poll(now: now, senderSSRC: localSSRC, mediaSSRC: streamsBySSRC.keys.first ?? 0) else {
            return nil
        }
        return [fb]
    }

    func pollREMB(now: Instant, maxBitrate: Int) -> ReceiverEstimatedMaxBitrate? {
        guard sendsREMB else { return nil }
        guard let bitrate = rembGenerator.poll(now: now) else { return nil }
        var ssrcs: [UInt32] = []
        for p in producers { for s in p.streams { if let ssrc = s.ssrc { ssrcs.append(ssrc) } } }
        return ReceiverEstimatedMaxBitrate(senderSSRC: localSSRC, bitrate: UInt64(bitrate), ssrcs: ssrcs)
    }

    func receivedREMB(bitrate: UInt64, now: Instant) {
        hasFeedback = true
        estimator.onREMB(bitrate: Int(clamping: bitrate), now: now)
    }

    func receivedTransportFeedback(_ view: RTCPPacketView, now: Instant) {
        guard let fb = try? TransportFeedback(view: view) else { return }
        hasFeedback = true
        estimator.onTransportFeedback(fb, sequencer: sequencer, now: now)
    }
}
