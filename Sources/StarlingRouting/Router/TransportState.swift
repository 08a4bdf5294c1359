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
    var probe = PaddingProbe()

    init(id: TransportID, seed: UInt64, now: Instant, cname: String = "starling") {
        self.id = id
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        localSSRC = UInt32(truncatingIfNeeded: z ^ (z >> 31)) | 1
        reports = ReportScheduler(interval: ReportScheduler.videoInterval, seed: seed, start: now)
        cnameChunk = SourceDescription(chunks: [.init(source: localSSRC, items: [.init(type: .cname, text: cname)])])
    }

    /// Set when a consumer on this transport negotiated transport-cc: the estimator's start value applies
    /// before the first feedback, so a new subscriber does not start with everything at once.
    var expectsFeedback = false

    /// The send-side estimate, bits per second, once the subscriber has given feedback (or will).
    var estimate: Int? { hasFeedback || expectsFeedback ? estimator.estimate : nil }

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
        if sendsREMB { rembGenerator.record(size: bytes.count, now: now) }
    }

    /// Appends the next transport-cc feedback packet to `out`; call until false.
    func pollTransportFeedback(now: Instant, into out: inout [UInt8]) -> Bool {
        guard let deadline = feedback?.nextDeadline, deadline <= now else { return false }
        let mediaSSRC = producers.first?.streams.first?.ssrc ?? 0
        return feedback?.poll(now: now, senderSSRC: localSSRC, mediaSSRC: mediaSSRC, into: &out) ?? false
    }

    func pollREMB(now: Instant) -> ReceiverEstimatedMaxBitrate? {
        guard sendsREMB, let deadline = rembGenerator.nextDeadline, deadline <= now else { return nil }
        var ssrcs: [UInt32] = []
        for p in producers { for s in p.streams { if let ssrc = s.ssrc { ssrcs.append(ssrc) } } }
        return rembGenerator.pollREMB(now: now, senderSSRC: localSSRC, ssrcs: ssrcs)
    }

    /// Ends a finished probe: raises the estimate when it succeeded.
    func pollProbe(now: Instant) {
        guard probe.isProbing,
            let outcome = probe.poll(now: now, ackedBitrate: estimator.ackedBitrate, overusing: estimator.usage == .overusing)
        else { return }
        if case .raise(let bitrate) = outcome { estimator.probeSucceeded(bitrate: bitrate) }
    }

    func receivedREMB(bitrate: UInt64, now: Instant) {
        hasFeedback = true
        estimator.onREMB(bitrate: bitrate, now: now)
    }

    func receivedTransportFeedback(_ fb: RTCPFeedbackView, now: Instant) throws(WireError) {
        hasFeedback = true
        if let rtt { estimator.roundTripTime = rtt }
        try estimator.onTransportFeedback(fci: fb.fci, sequencer: sequencer, now: now)
    }
}
