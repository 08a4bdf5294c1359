import Dispatch
import NIOCore
import NIOPosix
import StarlingClient
import StarlingCodecs
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingLoad

/// The load tool's media pieces without an SFU in between: a publisher's packets go straight to a receiving
/// stream on a virtual clock, so what it counts (frames, loss before and after NACK, delay, freezes) can be
/// checked exactly.
@Suite struct LoadMediaTests {
    /// Collects what a publisher sends (plain packets; SRTP is the peer's business).
    final class Capture: PacketSink {
        var packets: [[UInt8]] = []
        func send(_ buffer: UnsafeMutableRawBufferPointer, length: Int, rtcp: Bool) {
            packets.append(Array(buffer[0..<length]))
        }
        func flush() {}
    }

    static let layers = [
        MediaClips.Layer(width: 160, height: 90, bitrate: 100_000),
        MediaClips.Layer(width: 320, height: 180, bitrate: 250_000),
    ]

    @Test func delayStampRoundTrips() {
        var bytes = [UInt8](repeating: 7, count: 40)
        let time = Instant(nanoseconds: 123_456_789_012)
        bytes.withUnsafeMutableBytes { DelayStamp.write(time, at: 40 - DelayStamp.length, in: $0) }
        #expect(bytes.withUnsafeBytes { DelayStamp.read($0) } == time)
        bytes[bytes.count - 1] ^= 0xFF  // the tag no longer matches
        #expect(bytes.withUnsafeBytes { DelayStamp.read($0) } == nil)
        #expect([UInt8](repeating: 0, count: 5).withUnsafeBytes { DelayStamp.read($0) } == nil)
    }

    @Test func histogramQuantiles() {
        let h = DelayHistograms()
        for _ in 0..<99 { h.record(.microseconds(1_000)) }
        h.record(.milliseconds(50))
        h.record(.seconds(-1))  // clock skew: counted in the first bucket, not a trap
        #expect(DelayHistograms.quantile(0.5, of: h.run, count: h.runCount) == 1.01)
        #expect(DelayHistograms.quantile(1, of: h.run, count: h.runCount) == 50.01)
        h.resetSecond()
        #expect(h.secondCount == 0 && h.runCount == 101)
        #expect(DelayHistograms.quantile(0.5, of: h.second, count: h.secondCount) == nil)
        h.resetRun()
        #expect(h.runCount == 0)
    }

    @Test func decodingIsSpreadEvenly() {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        for (share, expected) in [(0.1, 5), (1.0, 50), (0.0, 0), (0.5, 25)] {
            let state = LoadRunState(decodeShare: share)
            let decoded = (0..<50).filter { _ in state.decides(.video, loop: group.next()) != nil }.count
            #expect(decoded == expected, "share \(share)")
        }
    }

    @Test func scenariosAreValidated() {
        #expect(throws: LoadFailure.self) { try LoadScenario(publishersPerRoom: 0).validate() }
        #expect(throws: LoadFailure.self) { try LoadScenario(publishersPerRoom: 1, subscribersPerRoom: 0).validate() }
        #expect(throws: LoadFailure.self) { try LoadScenario(decodeShare: 2).validate() }
        #expect(throws: LoadFailure.self) { try LoadScenario(duration: .seconds(2), warmup: .seconds(3)).validate() }
        #expect(throws: Never.self) { try LoadScenario(publishersPerRoom: 3, subscribersPerRoom: 0, publishersSubscribe: true).validate() }
    }

    @Test func processStatsReadProc() throws {
        let own = try #require(ProcessStats.read(pid: ProcessStats.ownPID))
        #expect(own.cpuSeconds >= 0 && own.rssKiB > 0 && own.peakRSSKiB >= own.rssKiB)
        #expect(ProcessStats.read(pid: Int32.max) == nil)
    }

    @Test func clientPeerOffersItsHostCandidate() throws {
        let peer = ClientPeer(tracks: [], certificate: try DTLSCertificate(generatingWithCommonName: "t"))
        peer.addTrack(ClientPeer.Track(kind: .audio, mid: "0", ssrc: 5, payloadType: 111))
        #expect(!peer.makeOffer().contains("a=candidate"))
        peer.localCandidates = [ClientPeer.hostCandidate(address: "10.99.0.1", port: 40_000)]
        let offer = peer.makeOffer()
        #expect(offer.contains("a=candidate:1 1 udp 2130706431 10.99.0.1 40000 typ host\r\n"))
        #expect(offer.contains("a=end-of-candidates\r\n"))
        #expect(throws: Never.self) { try SessionDescription(parsing: offer) }
    }

    /// One second of the publisher's top layer straight into a receiving stream, with the 10th packet lost on
    /// the way: the stream NACKs it, the publisher answers over RTX, and the stream recovers it; every frame
    /// completes and decodes, the delay is the 2 ms we add, nothing freezes. Then the publisher stops and a
    /// freeze is counted.
    @Test func publisherToStreamWithOneLossRecovered() async throws {
        let clips = try MediaClips.encode(layers: Self.layers, seconds: 1)
        #expect(clips.video.map(\.frames.count) == [30, 30] && clips.audio.count == 50)
        #expect(clips.video.allSatisfy { $0.frames.first?.isKeyframe == true && $0.frames.dropFirst().allSatisfy { !$0.isKeyframe } })
        #expect(ReceivedStream.keyframeSize(clips.video[1].frames[0].bytes)! == (320, 180))
        #expect(ReceivedStream.keyframeSize(clips.video[1].frames[1].bytes) == nil)

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let queue = DispatchQueue(label: "test.decode")
        let result = try await loop.submit { () throws -> (ReceivedStream, PublisherMedia, Int, Double?) in
            var now = Instant(nanoseconds: 1_000_000_000)
            let publisher = try PublisherMedia(clips: clips, ssrcBase: 0x100, clock: { now })
            let top = publisher.layers[1]
            let stream = try ReceivedStream(
                kind: .video, ssrc: top.ssrc, rtxSSRC: top.rtxSSRC, payloadType: PublisherMedia.videoPayloadType,
                rtxPayloadType: PublisherMedia.rtxPayloadType, decoding: .init(queue: queue, loop: loop))
            let delays = DelayHistograms()
            let capture = Capture()
            var topPackets = 0
            func deliver(_ packets: [[UInt8]]) {
                for var packet in packets where !(192...223).contains(packet[1]) {  // RTCP aside (RFC 5761 §4)
                    guard let header = packet.withUnsafeBytes({ try? RTPHeader(parsing: $0) }),
                        header.ssrc == top.ssrc || header.ssrc == top.rtxSSRC
                    else { continue }
                    if header.ssrc == top.ssrc {
                        topPackets += 1
                        if topPackets == 10 { continue }  // lost
                    }
                    packet.withUnsafeMutableBytes {
                        stream.receive($0, header: header, arrival: now + .milliseconds(2), delays: delays)
                    }
                }
            }
            for step in 0..<300 {  // 1.5 s in 5 ms steps; the publisher sends for the first second
                now = Instant(nanoseconds: 1_000_000_000) + .milliseconds(5 * step)
                capture.packets.removeAll()
                if step < 200 { publisher.tick(now: now, sink: capture) }
                deliver(capture.packets)
                var feedback: [UInt8] = []
                stream.tick(now: now + .milliseconds(2), ownSSRC: 9, judgesFreezes: true, feedback: &feedback)
                if !feedback.isEmpty {
                    capture.packets.removeAll()
                    feedback.withUnsafeBytes { publisher.receiveRTCP($0, now: now, sink: capture) }
                    deliver(capture.packets)
                }
            }
            return (stream, publisher, delays.runCount, DelayHistograms.quantile(0.5, of: delays.run, count: delays.runCount))
        }.get()
        // Let the decoding queue finish and its results reach the loop.
        try await Task.sleep(for: .milliseconds(500))
        let (stream, publisher, delaySamples, delayMedian) = result
        let counters = try await loop.submit { stream.counters }.get()
        #expect(counters.lostBeforeRecovery == 1 && counters.recovered == 1 && counters.lostAfterRecovery == 0)
        #expect(counters.nacksSent >= 1 && counters.retransmissions == 1 && publisher.counters.retransmissions == 1)
        #expect(counters.framesCompleted == 30 && counters.framesDropped == 0)
        #expect(counters.framesDecoded == 30 && counters.decoderErrors == 0)
        #expect(counters.freezes == 1)  // the publisher stopped after a second
        #expect(delaySamples == counters.packets)
        #expect(delayMedian == 2.01)
        #expect(try await loop.submit { stream.resolution.map { [$0.width, $0.height] } }.get() == [320, 180])
    }
}
