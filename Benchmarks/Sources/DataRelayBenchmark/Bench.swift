import StarlingRouting
import StarlingTransport
import StarlingWire

/// One participant's client: our own `PeerTransport` (controlling ICE, DTLS client) with data channels, in
/// memory. It answers DCEP, SACKs what it receives (usrsctp inside the transport does that as it reads), and
/// checks what it is delivered. Nothing a client does is measured as server work.
final class Client {
    let index: Int
    let address: STUNAddress
    let transport: PeerTransport
    var reliableStream: UInt16?
    var lossyStream: UInt16?
    /// Relayed messages received, in order, and their payload bytes.
    var messages = 0
    var payloadBytes = 0
    var nextSequence: UInt32 = 0
    /// Media packets decrypted (only while the media check delivers them).
    var rtpPackets = 0
    var rtpBytes = 0

    init(index: Int, transport: PeerTransport) {
        self.index = index
        self.transport = transport
        address = STUNAddress(ipv4: 10, 1, UInt8(index >> 8), UInt8(index & 0xFF), port: 50_000)
    }

    func handle(_ event: DataChannelEndpoint.Event) {
        switch event {
        case .opened(let channel):
            if channel.label == "starling.reliable" { reliableStream = channel.id }
            if channel.label == "starling.lossy" { lossyStream = channel.id }
        case .message(_, .binary(let bytes)):
            let message: DataEnvelope.Incoming
            do { message = try DataEnvelope.Incoming(parsing: bytes) } catch {
                preconditionFailure("client \(index): a relayed message that does not parse: \(error)")
            }
            precondition(message.sender == "sender", "client \(index): message from \(message.sender)")
            let p = message.payload
            let sequence = UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
            precondition(sequence == nextSequence, "client \(index): message \(sequence), expected \(nextSequence)")
            nextSequence += 1
            messages += 1
            payloadBytes += p.count
        case .ready:
            break
        case let other:
            preconditionFailure("client \(index): unexpected \(other)")
        }
    }
}

/// One room: the server (`ServerRoom`) and 1 + N clients over an in-memory network with no latency and a
/// virtual clock. Every exchange runs until nothing is in flight ("settle"): the server handles every datagram
/// queued for it (measured), then the clients handle theirs (not measured), and again.
final class Bench {
    static let serverCertificate = try! DTLSCertificate(generatingWithCommonName: "starling")
    static let clientCertificate = try! DTLSCertificate(generatingWithCommonName: "client")
    static let tickInterval: Duration = .milliseconds(10)

    let receivers: Int
    let dataChannels: Bool
    let clients: [Client]
    let room: ServerRoom
    var now = Instant(nanoseconds: 1_000_000_000)
    private var nextTick: Instant
    let toServer = DatagramQueue()
    private let serverBatch = DatagramQueue()
    private let clientBatch = DatagramQueue()
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    var meter = ServerMeter()
    /// Server CPU spent in the 10 ms ticks (also in `meter`).
    var tickNanoseconds = 0
    /// Deliver media packets to client 1 (the media check), else media to clients is dropped unread.
    var deliverMediaToFirstReceiver = false

    /// A room of 1 sender and `receivers` receivers. With `dataChannels`, every transport carries an SCTP
    /// association with both relay channels open (the data room); without, none does (the media room, which
    /// gets its `MediaRoom` per scenario).
    init(receivers: Int, dataChannels: Bool) throws {
        self.receivers = receivers
        self.dataChannels = dataChannels
        nextTick = now + Self.tickInterval
        var servers: [PeerTransport] = []
        var clients: [Client] = []
        for i in 0...receivers {
            let serverICE = ICECredentials.random()
            let clientICE = ICECredentials.random()
            let server = try PeerTransport(
                configuration: .init(
                    localCredentials: serverICE, remoteCredentials: clientICE, ice: .lite(.init()),
                    dtls: .init(
                        certificate: Self.serverCertificate, role: .server, remoteFingerprints: [Self.clientCertificate.fingerprint])),
                now: now)
            let client = try PeerTransport(
                configuration: .init(
                    localCredentials: clientICE, remoteCredentials: serverICE,
                    ice: .controlling(remoteCandidates: [ServerRoom.address], tieBreaker: UInt64(i + 1)),
                    dtls: .init(
                        certificate: Self.clientCertificate, role: .client, remoteFingerprints: [Self.serverCertificate.fingerprint])),
                now: now)
            // As `Room.enableDataChannels` after the answer: the browser's a=max-message-size (262144 in
            // Chrome and Firefox) and our data.maxMessageBytes (default 262144).
            var sctp = SCTPAssociation.Configuration()
            sctp.maxMessageSize = 262_144
            if dataChannels {
                try server.enableDataChannels(sctp, remoteMaxMessageSize: 262_144, now: now)
                try client.enableDataChannels(sctp, remoteMaxMessageSize: 262_144, now: now)
            }
            servers.append(server)
            clients.append(Client(index: i, transport: client))
        }
        self.clients = clients
        // The server's defaults (StarlingConfiguration.DataChannels).
        var limits = DataRelay.Limits()
        limits.maxMessageBytes = 262_144
        limits.reliableQueueBytes = 4 << 20
        limits.lossyQueueBytes = 256 << 10
        limits.messagesPerSecond = 1000
        limits.bytesPerSecond = 4 << 20
        room = ServerRoom(transports: servers, limits: limits, out: DatagramQueue())
        // As `Room.join` (the relay learns the participant) and `Room.enableDataChannels` (the data room drives
        // its endpoint).
        for i in 0...receivers where dataChannels {
            let id = "participant-\(i)"
            room.dataRoom.relay.add(participant: id, identity: i == 0 ? "sender" : "receiver-\(i)", canPublish: true, now: now)
            room.attachData(i, participantID: id, now: now)
        }
        try connect()
    }

    deinit { scratch.deallocate() }

    // MARK: - The network

    /// Runs exchanges until nothing is in flight.
    func settle() {
        while !toServer.isEmpty || !room.out.isEmpty {
            if !toServer.isEmpty {
                toServer.drain(into: serverBatch)
                meter.start()
                switch stage {
                case .outside: serverBatchOutsidePhases()
                case .running where dataChannels: serverBatchOfData()
                case .running: serverBatchOfMedia()
                }
                meter.stop()
                serverBatch.removeAll()
            }
            if !room.out.isEmpty {
                room.out.drain(into: clientBatch)
                for k in 0..<clientBatch.count {
                    let (buffer, link) = clientBatch.slot(k)
                    clientReceive(buffer, link: link)
                }
                clientBatch.removeAll()
            }
        }
    }

    /// The server's work on a batch of datagrams, under a name per stage so that an instruction-counting
    /// profiler (callgrind: inclusive cost of `serverBatchOfData` and `serverTickOfData`, etc.,
    /// scripts/bench-data-callgrind.py) can tell the server's work in the phases from the clients' work and from
    /// setup.
    @inline(__always)
    private func serverBatch_() {
        for k in 0..<serverBatch.count {
            let (buffer, link) = serverBatch.slot(k)
            room.receive(buffer, on: link, from: clients[link].address, now: now)
        }
    }
    // Each counts its calls in its own way: functions with identical bodies would be merged into one by the
    // optimizer, and the profiler could not tell them apart.
    @inline(never) private func serverBatchOutsidePhases() { serverBatch_() }
    @inline(never) private func serverBatchOfData() {
        serverBatch_()
        calls.dataBatches &+= 1
    }
    @inline(never) private func serverBatchOfMedia() {
        serverBatch_()
        calls.mediaBatches &+= 1
        calls.last = .mediaBatch
    }
    @inline(never) private func serverTickOutsidePhases() { room.tick(now: now) }
    @inline(never) private func serverTickOfData() {
        room.tick(now: now)
        calls.dataTicks &+= 2
    }
    @inline(never) private func serverTickOfMedia() {
        room.tick(now: now)
        calls.mediaTicks &+= 3
        calls.last = .mediaTick
    }
    private enum LastCall { case none, mediaBatch, mediaTick }
    private var calls: (dataBatches: Int, mediaBatches: Int, dataTicks: Int, mediaTicks: Int, last: LastCall) = (0, 0, 0, 0, .none)
    /// Batches of datagrams the server handled in the phases (read, so that the counting above stays).
    var serverBatchesInPhases: Int { calls.dataBatches + calls.mediaBatches + (calls.last == .none ? 0 : 1) }

    /// `.outside` while connecting and while draining at the end (not part of any phase), `.running` otherwise.
    enum Stage { case outside, running }
    private var stage = Stage.outside

    private func clientReceive(_ buffer: UnsafeMutableRawBufferPointer, link: Int) {
        // SRTP/SRTCP (RFC 7983: first byte 128-191) is read only by the media check's receiver.
        if buffer[0] >= 128 && buffer[0] <= 191 && !(deliverMediaToFirstReceiver && link == 1) { return }
        let client = clients[link]
        if case .rtp(let length) = client.transport.handleDatagram(buffer, from: ServerRoom.address, now: now) {
            client.rtpPackets += 1
            client.rtpBytes += length
        }
        flush(client)
    }

    /// A client's datagrams onto the network, and its events read.
    private func flush(_ client: Client) {
        while let transmit = client.transport.pollTransmit() {
            transmit.bytes.withUnsafeBytes { toServer.push($0, link: client.index) }
        }
        while client.transport.pollEvent() != nil {}
        if let channels = client.transport.dataChannels {
            while let event = channels.pollEvent() { client.handle(event) }
        }
    }

    /// Moves the clock to `target`, running the 10 ms ticks on the way: the server's (measured), then the
    /// clients' timers (not measured).
    func advance(to target: Instant) {
        while nextTick <= target {
            now = nextTick
            let before = meter.nanoseconds
            meter.start()
            switch stage {
            case .outside: serverTickOutsidePhases()
            case .running where dataChannels: serverTickOfData()
            case .running: serverTickOfMedia()
            }
            meter.stop()
            tickNanoseconds += meter.nanoseconds - before
            for client in clients {
                if let deadline = client.transport.nextDeadline, deadline <= now { client.transport.handleTimeout(now: now) }
                flush(client)
            }
            settle()
            nextTick = nextTick + Self.tickInterval
        }
        now = target
    }

    /// Lets `duration` of virtual time pass with nothing sent (what is still in flight arrives), outside the
    /// phases.
    func drain(for duration: Duration) {
        stage = .outside
        advance(to: now + duration)
        stage = .running
    }

    /// ICE, DTLS, SCTP and both relay channels of every participant, as in a room (not measured).
    private func connect() throws {
        for client in clients { flush(client) }
        let deadline = now + .seconds(20)
        while now < deadline {
            settle()
            let channelsOpen = !dataChannels || clients.allSatisfy { $0.reliableStream != nil && $0.lossyStream != nil }
            if channelsOpen && room.connected == clients.count { break }
            advance(to: now + .milliseconds(5))
        }
        precondition(room.connected == clients.count, "\(room.connected) of \(clients.count) transports connected")
        precondition(!dataChannels || clients.allSatisfy { $0.reliableStream != nil }, "relay channels did not open")
        // The DCEP ACKs reach the server, and any delayed SACKs go out.
        advance(to: now + .milliseconds(300))
        settle()
        for client in clients where dataChannels && client.transport.dataChannels?.association.state != .connected {
            preconditionFailure("client \(client.index): association \(String(describing: client.transport.dataChannels?.association.state))")
        }
        stage = .running
    }

    // MARK: - What the sender does

    /// The sender sends `count` data messages of `payloadBytes` on its reliable channel, one every `interval`
    /// of virtual time; each is relayed to every receiver before the next.
    func sendData(count: Int, payloadBytes: Int, interval: Duration) throws {
        let sender = clients[0]
        guard let stream = sender.reliableStream else { preconditionFailure("no reliable channel") }
        for _ in 0..<count {
            advance(to: now + interval)
            let sequence = dataSequence
            dataSequence += 1
            // DataEnvelope.Outgoing: version, flags (binary), no targets, then the payload (its first 4 bytes
            // number the message).
            var message = [UInt8](repeating: 0, count: 3 + payloadBytes)
            message[0] = DataEnvelope.version
            message[3] = UInt8(truncatingIfNeeded: sequence >> 24)
            message[4] = UInt8(truncatingIfNeeded: sequence >> 16)
            message[5] = UInt8(truncatingIfNeeded: sequence >> 8)
            message[6] = UInt8(truncatingIfNeeded: sequence)
            for k in 7..<message.count { message[k] = UInt8(truncatingIfNeeded: k &* 31 &+ Int(sequence)) }
            try sender.transport.sendData(.binary(message), on: stream, now: now)
            flush(sender)
            settle()
        }
    }

    private var dataSequence: UInt32 = 0
    var dataMessagesSent: Int { Int(dataSequence) }

    /// The sender sends `count` media messages (one RTP packet, or one frame of packets), one every `interval`.
    func sendMedia(count: Int, interval: Duration, publisher: inout RTPPublisher) throws {
        let sender = clients[0]
        for _ in 0..<count {
            advance(to: now + interval)
            try publisher.writeMessage(sendTime: now, scratch: scratch) { packet, length in
                let protected = try sender.transport.protectRTP(packet.baseAddress!, length: length, capacity: packet.count)
                toServer.push(UnsafeRawBufferPointer(rebasing: packet[0..<protected]), link: 0)
            }
            settle()
        }
    }
}
