import Dispatch
import Foundation
import NIOCore
import NIOPosix
import StarlingClient
import StarlingTransport

/// What to run: rooms of publishers (each optionally watching the others) and subscribers.
public struct LoadScenario: Sendable {
    public var name: String
    public var rooms: Int
    public var publishersPerRoom: Int
    /// Participants that only watch: each receives every publisher of its room.
    public var subscribersPerRoom: Int
    /// Whether each publisher also receives the other publishers of its room.
    public var publishersSubscribe: Bool
    /// Media time, warm-up included.
    public var duration: Duration
    /// Seconds at the start left out of the totals (the SFU's bandwidth estimates ramp up).
    public var warmup: Duration
    /// The share of received video (and audio) streams that are decoded, 0...1.
    public var decodeShare: Double
    /// The local address the load tool's sockets use (it talks only to the addresses it is given).
    public var bindHost: String
    /// The server's pid, to measure its CPU and memory from /proc.
    public var serverPID: Int32?
    /// How long every peer has to connect (ICE + DTLS) before the run fails.
    public var connectTimeout: Duration
    /// Prints a live progress line on stderr.
    public var progress: Bool

    public init(
        name: String = "custom", rooms: Int = 1, publishersPerRoom: Int = 2, subscribersPerRoom: Int = 2,
        publishersSubscribe: Bool = false, duration: Duration = .seconds(10), warmup: Duration = .zero,
        decodeShare: Double = 1, bindHost: String = "127.0.0.1", serverPID: Int32? = nil,
        connectTimeout: Duration = .seconds(15), progress: Bool = true
    ) {
        self.name = name
        self.rooms = rooms
        self.publishersPerRoom = publishersPerRoom
        self.subscribersPerRoom = subscribersPerRoom
        self.publishersSubscribe = publishersSubscribe
        self.duration = duration
        self.warmup = warmup
        self.decodeShare = decodeShare
        self.bindHost = bindHost
        self.serverPID = serverPID
        self.connectTimeout = connectTimeout
        self.progress = progress
    }

    func validate() throws {
        guard rooms >= 1, publishersPerRoom >= 1, subscribersPerRoom >= 0 else {
            throw LoadFailure("a scenario needs at least one room with one publisher")
        }
        guard subscribersPerRoom > 0 || (publishersSubscribe && publishersPerRoom > 1) else {
            throw LoadFailure("nobody receives: add subscribers, or let two or more publishers watch each other")
        }
        guard (0...1).contains(decodeShare) else { throw LoadFailure("the decoded share must be between 0 and 1") }
        guard duration > warmup, duration <= .seconds(3600) else {
            throw LoadFailure("the duration must be longer than the warm-up and at most an hour")
        }
    }
}

/// The run's shared state on the media loop: every peer, the delay histograms, whether publishers send.
final class LoadRunState: @unchecked Sendable {
    let delays = DelayHistograms()
    var peers: [LoadPeer] = []
    var sending = true
    private var decideCounters: [ReceivedStream.Kind: Int] = [:]
    let decodeShare: Double

    init(decodeShare: Double) { self.decodeShare = decodeShare }

    /// Where decoders run: one serial queue (one more thread beside the media loop).
    let decodeQueue = DispatchQueue(label: "starling-load.decode")

    /// Spreads decoding evenly: the n-th stream of a kind is decoded when it crosses a multiple of 1/share.
    func decides(_ kind: ReceivedStream.Kind, loop: any EventLoop) -> ReceivedStream.Decoding? {
        let n = decideCounters[kind, default: 0]
        decideCounters[kind] = n + 1
        let decodes = (Double(n + 1) * decodeShare).rounded(.down) > (Double(n) * decodeShare).rounded(.down)
        return decodes ? ReceivedStream.Decoding(queue: decodeQueue, loop: loop) : nil
    }

    func tick() {
        let now = LoadClock.now()
        for peer in peers { peer.tick(now: now, sending: sending) }
    }

    /// Everything counted so far, summed over peers.
    struct Totals {
        var packetsSent = 0, bytesSent = 0
        var packetsReceived = 0, bytesReceived = 0, retransmissions = 0
        var lostBefore = 0, lostAfter = 0
        var framesCompleted = 0, framesDecoded = 0, audioFramesDecoded = 0, decoderErrors = 0
        var freezes = 0, frozenNanoseconds: Int64 = 0, layerSwitches = 0, nacks = 0, keyframeRequests = 0
        var peers = 0, peersConnected = 0
        var heights: [String: Int] = [:]
        var failures: [String] = []
    }

    func totals() -> Totals {
        var t = Totals()
        for peer in peers {
            t.peers += 1
            if peer.isConnected { t.peersConnected += 1 }
            if let failure = peer.failure { t.failures.append(failure) }
            if let publisher = peer.publisher {
                t.packetsSent += publisher.counters.packets
                t.bytesSent += publisher.counters.bytes
            }
            for stream in peer.streams {
                let c = stream.counters
                t.packetsReceived += c.packets
                t.bytesReceived += c.bytes
                t.retransmissions += c.retransmissions
                t.lostBefore += c.lostBeforeRecovery
                t.lostAfter += c.lostAfterRecovery
                t.decoderErrors += c.decoderErrors
                t.freezes += c.freezes
                t.frozenNanoseconds += c.frozenNanoseconds
                t.layerSwitches += c.layerSwitches
                t.nacks += c.nacksSent
                t.keyframeRequests += c.keyframeRequests
                switch stream.kind {
                case .video:
                    t.framesCompleted += c.framesCompleted
                    t.framesDecoded += c.framesDecoded
                    if let r = stream.resolution { t.heights["\(r.height)", default: 0] += 1 }
                case .audio:
                    t.audioFramesDecoded += c.framesDecoded
                }
            }
        }
        return t
    }
}

/// Runs a scenario against an SFU and reports what subscribers got.
public final class LoadRun: @unchecked Sendable {
    public let scenario: LoadScenario
    public let adapter: any SFUAdapter
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var loop: any EventLoop { group.next() }
    private let state: LoadRunState
    private var sessions: [any SFUSession] = []
    /// The server once every publisher is connected, before any subscriber joins.
    private var serverWithPublishers: ProcessStats?

    public init(scenario: LoadScenario, adapter: any SFUAdapter) throws {
        try scenario.validate()
        self.scenario = scenario
        self.adapter = adapter
        state = LoadRunState(decodeShare: scenario.decodeShare)
    }

    private func log(_ text: String) {
        guard scenario.progress else { return }
        FileHandle.standardError.write(Data("starling-load: \(text)\n".utf8))
    }

    public func run() async throws -> LoadReport {
        do {
            let report = try await encodeAndRun()
            try? await group.shutdownGracefully()
            return report
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func encodeAndRun() async throws -> LoadReport {
        let clips = try MediaClips.encode()
        log(
            "encoded the media once in \(String(format: "%.2f", clips.encodeSeconds)) s: "
                + clips.video.map { "\($0.width)x\($0.height) \($0.measuredBitrate(frameRate: MediaClips.frameRate) / 1000) kb/s" }
                .joined(separator: ", ") + ", Opus \(MediaClips.audioBitrate / 1000) kb/s")
        let serverBefore = scenario.serverPID.flatMap(ProcessStats.read)
        let rooms = (0..<scenario.rooms).map { "load-\(scenario.name)-\($0)" }
        try await adapter.prepare(rooms: rooms)
        do {
            let report = try await runMedia(clips: clips, rooms: rooms, serverBefore: serverBefore)
            await teardown(rooms: rooms)
            return report
        } catch {
            await teardown(rooms: rooms)
            throw error
        }
    }

    private func teardown(rooms: [String]) async {
        let state = self.state
        try? await loop.submit {
            state.sending = false
            for peer in state.peers { peer.close() }
        }.get()
        for session in sessions { await session.leave() }
        await adapter.finish(rooms: rooms)
    }

    private func makePeer(
        label: String, tracks: [ClientPeer.Track], certificate: DTLSCertificate, joinedAt: Instant = LoadClock.now()
    ) async throws -> LoadPeer {
        let state = self.state
        let peer = LoadPeer(
            loop: loop, client: ClientPeer(tracks: tracks, certificate: certificate), label: label, joinedAt: joinedAt,
            decides: { [loop] in state.decides($0, loop: loop) })
        try await peer.bind(host: scenario.bindHost)
        try await loop.submit {
            peer.run = state
            state.peers.append(peer)
        }.get()
        return peer
    }

    /// Joins everybody (publishers first, so subscribers find their media), waits for every connection,
    /// then samples each second until the duration is over.
    private func runMedia(clips: MediaClips, rooms: [String], serverBefore: ProcessStats?) async throws -> LoadReport {
        let certificate = try DTLSCertificate(generatingWithCommonName: "starling-load")
        let loop = self.loop
        let state = self.state
        let ticker = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(5)) { _ in state.tick() }
        defer { ticker.cancel() }
        var ssrcBase: UInt32 = 0x1000_0000
        // Every room's publishers first: Janus lists a feed only once its connection is up, and the server's
        // memory between the two phases tells what subscribers cost.
        var roomPublishers: [[(identity: String, session: any SFUSession)]] = []
        for room in rooms {
            var publishers: [(identity: String, session: any SFUSession)] = []
            var publisherPeers: [LoadPeer] = []
            for p in 0..<scenario.publishersPerRoom {
                let identity = "pub-\(p)"
                let session = try await adapter.join(room: room, identity: identity)
                sessions.append(session)
                let media = try PublisherMedia(clips: clips, ssrcBase: ssrcBase, clock: LoadClock.now)
                ssrcBase += 0x100
                let peer = try await makePeer(label: "\(room)/\(identity)", tracks: media.tracks, certificate: certificate)
                let offer = try await loop.submit {
                    peer.publisher = media
                    return peer.client.makeOffer()
                }.get()
                let answer = try await session.publish(offer: offer)
                try await loop.submit { try peer.applyAnswer(answer) }.get()
                publishers.append((identity, session))
                publisherPeers.append(peer)
            }
            try await waitUntilConnected(publisherPeers)
            roomPublishers.append(publishers)
        }
        try await Task.sleep(for: .milliseconds(500))
        serverWithPublishers = scenario.serverPID.flatMap(ProcessStats.read)
        for (room, publishers) in zip(rooms, roomPublishers) {
            let identities = publishers.map(\.identity)
            if scenario.publishersSubscribe {
                for (identity, session) in publishers {
                    try await subscribe(
                        session, label: "\(room)/\(identity)/in", to: identities.filter { $0 != identity }, certificate: certificate,
                        joinedAt: LoadClock.now())
                }
            }
            for s in 0..<scenario.subscribersPerRoom {
                let identity = "sub-\(s)"
                let joinedAt = LoadClock.now()
                let session = try await adapter.join(room: room, identity: identity)
                sessions.append(session)
                try await subscribe(session, label: "\(room)/\(identity)", to: identities, certificate: certificate, joinedAt: joinedAt)
            }
        }
        let signalled = try await loop.submit { state.peers.count }.get()
        log("\(signalled) peer connections signalled; waiting for ICE and DTLS")
        try await waitForConnections()
        return try await measure(serverBefore: serverBefore)
    }

    /// A receiving peer connection for `session`; first-frame times count from `joinedAt`.
    private func subscribe(
        _ session: any SFUSession, label: String, to publishers: [String], certificate: DTLSCertificate, joinedAt: Instant
    ) async throws {
        let peer = try await makePeer(label: label, tracks: [], certificate: certificate, joinedAt: joinedAt)
        let loop = self.loop
        try await session.subscribe(to: publishers) { offer in
            try await loop.submit { try peer.answer(offer: offer) }.get()
        }
    }

    private func waitUntilConnected(_ peers: [LoadPeer]) async throws {
        let deadline = LoadClock.now() + scenario.connectTimeout
        while true {
            let (connected, failure) = try await loop.submit {
                (peers.allSatisfy(\.isConnected), peers.compactMap(\.failure).first)
            }.get()
            if let failure { throw LoadFailure("a publisher's connection failed: \(failure)") }
            if connected { return }
            if LoadClock.now() > deadline {
                let states = try await loop.submit { peers.map { "\($0.label): \($0.connectionState)" } }.get()
                throw LoadFailure("publishers did not connect within \(scenario.connectTimeout): \(states.joined(separator: "; "))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func waitForConnections() async throws {
        let deadline = LoadClock.now() + scenario.connectTimeout
        let state = self.state
        while true {
            let totals = try await loop.submit { state.totals() }.get()
            if let failure = totals.failures.first { throw LoadFailure("a connection failed: \(failure)") }
            let expectedStreams = scenario.rooms * expectedStreamsPerRoom
            let streams = try await loop.submit { state.peers.reduce(0) { $0 + $1.streams.count } }.get()
            if totals.peersConnected == totals.peers, streams >= expectedStreams { return }
            if LoadClock.now() > deadline {
                throw LoadFailure(
                    "only \(totals.peersConnected) of \(totals.peers) peer connections connected and \(streams) of "
                        + "\(expectedStreams) streams were offered within \(scenario.connectTimeout)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Streams subscribers receive per room: two (video, audio) per publisher watched.
    private var expectedStreamsPerRoom: Int {
        let p = scenario.publishersPerRoom
        return 2 * (scenario.subscribersPerRoom * p + (scenario.publishersSubscribe ? p * (p - 1) : 0))
    }

    private func measure(serverBefore: ProcessStats?) async throws -> LoadReport {
        let loop = self.loop
        let state = self.state
        let started = LoadClock.now()
        var samples: [LoadSample] = []
        var previous = try await loop.submit { state.totals() }.get()
        var previousAt = started
        var toolCPU = ProcessStats.read(pid: ProcessStats.ownPID)?.cpuSeconds ?? 0
        var serverCPU = scenario.serverPID.flatMap(ProcessStats.read)?.cpuSeconds
        var measureStart: (totals: LoadRunState.Totals, tool: Double, server: ProcessStats?, at: Instant)?
        let end = started + scenario.duration
        var next = started + .seconds(1)
        while true {
            try await Task.sleep(for: max(.zero, next - LoadClock.now()))
            let now = LoadClock.now()
            let finishing = now >= end
            if finishing {
                // Stop sending, and give what is in flight (and its recovery) half a second to arrive.
                try await loop.submit { state.sending = false }.get()
                try await Task.sleep(for: .milliseconds(500))
            }
            let (totals, p50, p99, delaySamples) = try await loop.submit {
                let d = state.delays
                defer { d.resetSecond() }
                return (
                    state.totals(), DelayHistograms.quantile(0.5, of: d.second, count: d.secondCount),
                    DelayHistograms.quantile(0.99, of: d.second, count: d.secondCount), d.secondCount
                )
            }.get()
            let tool = ProcessStats.read(pid: ProcessStats.ownPID)?.cpuSeconds ?? toolCPU
            let server = scenario.serverPID.flatMap(ProcessStats.read)
            let seconds = max(1e-3, (LoadClock.now() - previousAt).inSeconds)
            var sample = Self.difference(totals, previous, seconds: seconds)
            sample.second = (now - started).inSeconds
            sample.delayP50Milliseconds = p50
            sample.delayP99Milliseconds = p99
            sample.delaySamples = delaySamples
            sample.loadToolCPU = (tool - toolCPU) / seconds
            if let server, let serverCPU { sample.serverCPU = (server.cpuSeconds - serverCPU) / seconds }
            samples.append(sample)
            if scenario.progress { progressLine(sample) }
            if !totals.failures.isEmpty { throw LoadFailure("a connection failed: \(totals.failures[0])") }
            if measureStart == nil, now - started >= scenario.warmup {
                measureStart = (totals, tool, server, now)
                try await loop.submit { state.delays.resetRun() }.get()
            }
            previous = totals
            previousAt = LoadClock.now()
            toolCPU = tool
            serverCPU = server?.cpuSeconds
            if finishing { break }
            next = next + .seconds(1)
        }
        if scenario.progress, Self.stderrIsTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
        return try await report(samples: samples, measureStart: measureStart, serverBefore: serverBefore)
    }

    private func report(
        samples: [LoadSample], measureStart: (totals: LoadRunState.Totals, tool: Double, server: ProcessStats?, at: Instant)?,
        serverBefore: ProcessStats?
    ) async throws -> LoadReport {
        let loop = self.loop
        let state = self.state
        let endAt = LoadClock.now()
        let (final, p50, p99, delayCount, firstFrames, withoutFrames, streams) = try await loop.submit {
            let d = state.delays
            var firstFrames: [Double] = []
            var withoutFrames = 0
            var streams = 0
            for peer in state.peers {
                for stream in peer.streams {
                    streams += 1
                    guard stream.kind == .video else { continue }
                    if let first = stream.firstFrameAt {
                        firstFrames.append((first - peer.joinedAt).inSeconds * 1000)
                    } else {
                        withoutFrames += 1
                    }
                }
            }
            return (
                state.totals(), DelayHistograms.quantile(0.5, of: d.run, count: d.runCount),
                DelayHistograms.quantile(0.99, of: d.run, count: d.runCount), d.runCount, firstFrames.sorted(), withoutFrames,
                streams
            )
        }.get()
        let start = measureStart ?? (LoadRunState.Totals(), 0, serverBefore, endAt)
        let seconds = max(1e-3, (endAt - start.at).inSeconds)
        var total = Self.difference(final, start.totals, seconds: seconds)
        total.second = seconds
        total.delayP50Milliseconds = p50
        total.delayP99Milliseconds = p99
        total.delaySamples = delayCount
        let toolSeconds = (ProcessStats.read(pid: ProcessStats.ownPID)?.cpuSeconds ?? start.tool) - start.tool
        total.loadToolCPU = toolSeconds / seconds
        var server = LoadReport.Server(kind: adapter.kind, pid: scenario.serverPID)
        if let pid = scenario.serverPID, let after = ProcessStats.read(pid: pid) {
            if let before = start.server {
                let cpu = after.cpuSeconds - before.cpuSeconds
                server.cpuSeconds = cpu
                total.serverCPU = cpu / seconds
                if total.packetsReceived > 0 { server.cpuSecondsPer1000Packets = cpu / Double(total.packetsReceived) * 1000 }
            }
            server.peakRSSKiB = after.peakRSSKiB
            server.rssKiB = after.rssKiB
            server.rssBeforeKiB = serverBefore?.rssKiB
            server.rssWithPublishersKiB = serverWithPublishers?.rssKiB
            if let before = serverWithPublishers, streams > 0 {
                server.kibPerSubscriberStream = Double(after.rssKiB - before.rssKiB) / Double(streams)
            }
        }
        return LoadReport(
            scenario: scenario.name, server: server, rooms: scenario.rooms, publishersPerRoom: scenario.publishersPerRoom,
            subscribersPerRoom: scenario.subscribersPerRoom, subscriberStreams: streams, decodedShare: scenario.decodeShare,
            media: "replayed: VP8 (libvpx) and Opus (libopus) encoded once at start, sent with fresh RTP sequence numbers and timestamps",
            durationSeconds: seconds, firstFrameMillisecondsP50: firstFrames.isEmpty ? nil : firstFrames[firstFrames.count / 2],
            firstFrameMillisecondsMax: firstFrames.last, streamsWithoutFrames: withoutFrames, loadToolCPUSeconds: toolSeconds,
            total: total, samples: samples, failures: final.failures)
    }

    static func difference(_ a: LoadRunState.Totals, _ b: LoadRunState.Totals, seconds: Double) -> LoadSample {
        var s = LoadSample()
        s.participantsConnected = a.peersConnected
        s.peerConnections = a.peers
        s.peersConnected = a.peersConnected
        s.mbpsOut = Double(a.bytesSent - b.bytesSent) * 8 / seconds / 1e6
        s.mbpsIn = Double(a.bytesReceived - b.bytesReceived) * 8 / seconds / 1e6
        s.packetsSent = a.packetsSent - b.packetsSent
        s.packetsReceived = a.packetsReceived - b.packetsReceived
        s.retransmissionsReceived = a.retransmissions - b.retransmissions
        s.lostBeforeRecovery = a.lostBefore - b.lostBefore
        // Packets recovered later lower the count; an interval reports only what it added.
        s.lostAfterRecovery = max(0, a.lostAfter - b.lostAfter)
        s.framesCompleted = a.framesCompleted - b.framesCompleted
        s.framesDecoded = a.framesDecoded - b.framesDecoded
        s.audioFramesDecoded = a.audioFramesDecoded - b.audioFramesDecoded
        s.decoderErrors = a.decoderErrors - b.decoderErrors
        s.freezes = a.freezes - b.freezes
        s.frozenSeconds = Double(a.frozenNanoseconds - b.frozenNanoseconds) / 1e9
        s.layerSwitches = a.layerSwitches - b.layerSwitches
        s.nacksSent = a.nacks - b.nacks
        s.keyframeRequestsSent = a.keyframeRequests - b.keyframeRequests
        s.videoStreamsByHeight = a.heights
        return s
    }

    static let stderrIsTerminal = isatty(2) == 1

    private func progressLine(_ s: LoadSample) {
        let delay = s.delayP50Milliseconds.map { String(format: "%.2f/%.2f ms", $0, s.delayP99Milliseconds ?? 0) } ?? "-"
        let line = String(
            format: "%@%5.0fs peers %d/%d  out %6.1f in %6.1f Mb/s  rx %6d pkt  lost %d/%d  frames %5d dec %5d  freezes %d  switches %d  delay %@  cpu %.2f%@   %@",
            Self.stderrIsTerminal ? "\r" : "", s.second, s.peersConnected, s.peerConnections, s.mbpsOut, s.mbpsIn, s.packetsReceived, s.lostBeforeRecovery,
            s.lostAfterRecovery, s.framesCompleted, s.framesDecoded, s.freezes, s.layerSwitches, delay, s.loadToolCPU,
            s.serverCPU.map { String(format: " server %.2f", $0) } ?? "", Self.stderrIsTerminal ? "" : "\n")
        FileHandle.standardError.write(Data(line.utf8))
    }
}
