import Logging
import StarlingRouting
import StarlingTransport
import StarlingWire

/// One `/v1/echo` peer: every RTP packet it publishes on an m-line comes back to it on the same m-line
/// under our SSRC, re-encrypted. NACKs for the echoed streams are answered from a small cache of what
/// was sent; PLI and FIR for them become a PLI to the peer for its own stream (RFC 4585 §6.3.1), since
/// the peer is both the publisher and the receiver.
final class EchoSession: MediaPeer {
    let id: String
    let transport: PeerTransport
    let logger: Logger
    private(set) var tracks: [EchoAnswer.Track]
    private let midExtensionID: UInt8?
    /// Source SSRC (the peer's) -> index in `tracks`, learned from a=ssrc, the mid extension or the payload type.
    private var trackBySource: [UInt32: Int] = [:]
    private var sourceByTrack: [Int: UInt32] = [:]
    private let caches: [RetransmissionBuffer]
    private var scratch = [UInt8](repeating: 0, count: 2048)
    let createdAt: Instant
    private(set) var connectedAt: Instant?
    private(set) var ended = false

    struct Counters {
        var rtpEchoed = 0
        var unmatchedRTP = 0
        var nackedPacketsResent = 0
        var nackedPacketsMissing = 0
        var keyframeRequestsForwarded = 0
        var malformedRTCP = 0
        var protectFailures = 0
    }
    private(set) var counters = Counters()

    init(id: String, transport: PeerTransport, answer: EchoAnswer, now: Instant, logger: Logger) {
        self.id = id
        self.transport = transport
        self.tracks = answer.tracks
        self.midExtensionID = answer.midExtensionID
        self.caches = answer.tracks.map { _ in RetransmissionBuffer(slots: 512, maxAge: .seconds(2)) }
        self.createdAt = now
        self.logger = logger
        for (i, track) in answer.tracks.enumerated() {
            for ssrc in track.announcedSourceSSRCs where trackBySource[ssrc] == nil {
                trackBySource[ssrc] = i
                if sourceByTrack[i] == nil { sourceByTrack[i] = ssrc }
            }
        }
    }

    func handle(_ event: PeerTransport.Event, now: Instant, loop: isolated MediaLoop) {
        switch event {
        case .connected(let profile):
            connectedAt = now
            logger.info("echo session connected", metadata: ["session": "\(id)", "srtp": "\(profile)"])
        case .failed(let reason):
            logger.warning("echo session failed", metadata: ["session": "\(id)", "reason": "\(reason)"])
            ended = true
        case .closed:
            ended = true
        case .disconnected:
            logger.info("echo session lost consent", metadata: ["session": "\(id)"])
        case .selectedPairChanged, .reconnected, .applicationData, .iceRestarted:
            break
        }
    }

    func receive(_ received: PeerTransport.Received, buffer: UnsafeMutableRawBufferPointer, now: Instant, loop: isolated MediaLoop) {
        switch received {
        case .none: return
        case .rtp(let length): echoRTP(buffer, length: length, now: now, loop: loop)
        case .rtcp(let length): handleRTCP(UnsafeRawBufferPointer(rebasing: buffer[0..<length]), now: now, loop: loop)
        }
    }

    private func track(for header: RTPHeader, in bytes: UnsafeRawBufferPointer) -> Int? {
        if let i = trackBySource[header.ssrc] { return i }
        var found: Int?
        if let id = midExtensionID, let mid = header.mid(id: id, in: bytes) {
            found = tracks.firstIndex { $0.mid == mid }
        }
        if found == nil {
            // Without a mid: the first m-line with this payload type that has no source yet (RFC 8843 §9.2).
            found = tracks.indices.first { tracks[$0].payloadType == header.payloadType && sourceByTrack[$0] == nil }
        }
        guard let i = found else { return nil }
        trackBySource[header.ssrc] = i
        sourceByTrack[i] = header.ssrc
        return i
    }

    private func echoRTP(_ buffer: UnsafeMutableRawBufferPointer, length: Int, now: Instant, loop: isolated MediaLoop) {
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        guard let header = try? RTPHeader(parsing: bytes), let i = track(for: header, in: bytes) else {
            counters.unmatchedRTP += 1
            return
        }
        sourceByTrack[i] = header.ssrc
        let packet = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
        RTPHeader.setSSRC(tracks[i].echoSSRC, in: packet)
        caches[i].store(packet: UnsafeRawBufferPointer(packet), sequenceNumber: header.sequenceNumber, now: now)
        send(rtp: buffer, length: length, loop: loop)
        counters.rtpEchoed += 1
    }

    private func send(rtp buffer: UnsafeMutableRawBufferPointer, length: Int, loop: isolated MediaLoop) {
        guard let base = buffer.baseAddress,
            let protected = try? transport.protectRTP(base, length: length, capacity: buffer.count)
        else {
            counters.protectFailures += 1
            return
        }
        loop.sendToPeer(self, UnsafeRawBufferPointer(rebasing: buffer[0..<protected]))
    }

    private func handleRTCP(_ bytes: UnsafeRawBufferPointer, now: Instant, loop: isolated MediaLoop) {
        var iterator = RTCPPacketIterator(bytes)
        while true {
            let view: RTCPPacketView
            do throws(WireError) {
                guard let next = try iterator.next() else { return }
                view = next
            } catch {
                counters.malformedRTCP += 1
                return
            }
            switch view.kind {
            case .genericNACK:
                guard let fb = try? view.feedback(), let i = tracks.firstIndex(where: { $0.echoSSRC == fb.mediaSSRC }) else {
                    continue
                }
                try? GenericNACK.forEachLostSequenceNumber(fci: fb.fci) { seq in
                    resend(track: i, sequenceNumber: seq, now: now, loop: loop)
                }
            case .pictureLossIndication, .fullIntraRequest:
                guard let fb = try? view.feedback() else { continue }
                let target: Int?
                if view.kind == .pictureLossIndication {
                    target = tracks.firstIndex { $0.echoSSRC == fb.mediaSSRC }
                } else {
                    var ssrc: UInt32?
                    try? FullIntraRequest.forEachEntry(fci: fb.fci) { entry in ssrc = ssrc ?? entry.ssrc }
                    target = tracks.firstIndex { $0.echoSSRC == ssrc }
                }
                if let i = target, let source = sourceByTrack[i] { requestKeyframe(from: source, track: i, loop: loop) }
            default:
                continue
            }
        }
    }

    private func resend(track i: Int, sequenceNumber: UInt16, now: Instant, loop: isolated MediaLoop) {
        let length: Int? = scratch.withUnsafeMutableBytes { out in
            caches[i].withPacket(sequenceNumber: sequenceNumber, now: now) { cached in
                out.copyMemory(from: cached)
                return cached.count
            }
        }
        guard let length else {
            counters.nackedPacketsMissing += 1
            return
        }
        scratch.withUnsafeMutableBytes { send(rtp: $0, length: length, loop: loop) }
        counters.nackedPacketsResent += 1
    }

    /// PLI to the peer for its own stream (RFC 4585 §6.3.1), sent as reduced-size RTCP (RFC 5506).
    private func requestKeyframe(from source: UInt32, track i: Int, loop: isolated MediaLoop) {
        var packet: [UInt8] = []
        packet.reserveCapacity(64)
        PictureLossIndication(senderSSRC: tracks[i].echoSSRC, mediaSSRC: source).serialize(into: &packet)
        let length = packet.count
        packet.append(contentsOf: repeatElement(0, count: 32))
        packet.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress,
                let protected = try? transport.protectRTCP(base, length: length, capacity: raw.count)
            else {
                counters.protectFailures += 1
                return
            }
            loop.sendToPeer(self, UnsafeRawBufferPointer(rebasing: raw[0..<protected]))
        }
        counters.keyframeRequestsForwarded += 1
    }
}

extension EchoSession {
    /// Done when failed or closed, or when it never connected within 30 s of the answer.
    func isFinished(now: Instant) -> Bool {
        ended || (connectedAt == nil && now - createdAt > .seconds(30))
    }

    func end(now: Instant) {
        transport.close(now: now)
        ended = true
    }
}
