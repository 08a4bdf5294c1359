import StarlingRouting
import StarlingTransport
import StarlingWire

/// The server's side of one room, as `MediaLoop` and `Room` run it, without NIO or the actor: one
/// `PeerTransport` per participant (ICE-lite, DTLS server), the room's `DataRoom` (StarlingRouting: the same
/// object the server drives), and the media `Router` when a media scenario runs. Every method here is server
/// work and is called inside a `ServerMeter` bracket; the clients' work never is.
///
/// The glue around `DataRoom` mirrors `Room+Data.swift` as of commit 7163062 (`handleDataEvents`: the data
/// room's events, its notices, `flushData` to every touched receiver, `sendTransmits`; the tick's
/// `dataTick`), and the datagram path mirrors `MediaLoop` (`handleDatagram` in place, then
/// `afterTransportActivity`: transmits to the writer, events, `dataActivity` when the data channels have
/// events; the tick's `handleTimeout` per due transport). What is left out: turning notices into
/// `dataError`/`dataReceived` events (no refusals happen, and `publishDataEvent` returns at once when the room
/// has no control API subscribers, as here), logging, and the actor hops (none on this path anyway).
final class ServerRoom {
    /// `Room+Data.swift`'s `DataLink` (its error budget is not needed here).
    final class DataLink {
        let participantID: String
        init(participantID: String) { self.participantID = participantID }
    }

    static let address = STUNAddress(ipv4: 192, 0, 2, 1, port: 7881)

    let transports: [PeerTransport]
    let dataRoom: DataRoom
    /// By transport index (0 is the sender); the room keys them by `TransportID`.
    var dataLinks: [Int: DataLink] = [:]
    /// What the server sends (the `DatagramWriter`'s copy), for the clients.
    let out: DatagramQueue
    var media: MediaRoom?
    var routerDeadline: Instant?
    /// Transports whose DTLS connected (setup only).
    var connected = 0

    init(transports: [PeerTransport], limits: DataRelay.Limits, out: DatagramQueue) {
        self.transports = transports
        dataRoom = DataRoom(relay: DataRelay(limits: limits))
        self.out = out
    }

    // MARK: - MediaLoop

    /// A datagram from participant `index`'s address, decrypted in place (`MediaLoop.channelRead`).
    @inline(__always)
    func receive(_ buffer: UnsafeMutableRawBufferPointer, on index: Int, from source: STUNAddress, now: Instant) {
        let transport = transports[index]
        switch transport.handleDatagram(buffer, from: source, now: now) {
        case .none:
            break
        case .rtp(let length):
            media?.router.receiveRTP(from: TransportID(index), packet: buffer, length: length, now: now)
        case .rtcp(let length):
            media?.router.receiveRTCP(from: TransportID(index), packet: UnsafeRawBufferPointer(rebasing: buffer[0..<length]), now: now)
        }
        afterTransportActivity(index, now: now)
    }

    /// `MediaLoop.afterTransportActivity`.
    @inline(__always)
    func afterTransportActivity(_ index: Int, now: Instant) {
        let transport = transports[index]
        while let transmit = transport.pollTransmit() {
            transmit.bytes.withUnsafeBytes { out.push($0, link: index) }
        }
        while let event = transport.pollEvent() {
            if case .connected = event { connected += 1 }
        }
        if let channels = transport.dataChannels, channels.hasEvents {
            handleDataEvents(on: index, now: now)
        }
    }

    /// `MediaLoop.tick` then `Room.tick` (router timers and events, `dataTick`), every 10 ms.
    func tick(now: Instant) {
        for index in transports.indices {
            let transport = transports[index]
            if let deadline = transport.nextDeadline, deadline <= now { transport.handleTimeout(now: now) }
            afterTransportActivity(index, now: now)
        }
        if let router = media?.router {
            if routerDeadline.map({ $0 <= now + .milliseconds(2) }) ?? true {
                router.handleTimeout(now: now)
                routerDeadline = router.nextDeadline(now: now)
            }
            while router.pollEvent() != nil {}
        }
        dataTick(now: now)
    }

    // MARK: - Room+Data.swift

    /// `Room.enableDataChannels` once the transport's association exists.
    func attachData(_ index: Int, participantID: String, now: Instant) {
        guard let endpoint = transports[index].dataChannels else { preconditionFailure("no data channels on \(index)") }
        dataLinks[index] = DataLink(participantID: participantID)
        dataRoom.attach(participant: participantID, endpoint: endpoint)
        sendTransmits(of: index, now: now)
    }

    func handleDataEvents(on tid: Int, now: Instant) {
        guard let link = dataLinks[tid] else { return }
        dataRoom.handleEvents(of: link.participantID, now: now)
        handleDataNotices()
        flushData(now: now)
        sendTransmits(of: tid, now: now)
    }

    /// Every message is relayed (`.relayed`: `publishDataEvent` returns at once without control API
    /// subscribers); anything else would be a failure of the benchmark.
    private func handleDataNotices() {
        while let notice = dataRoom.pollNotice() {
            guard case .relayed = notice else { preconditionFailure("data notice \(notice)") }
        }
    }

    private func flushData(now: Instant) {
        let touched = dataRoom.takeSent()
        guard !touched.isEmpty else { return }
        for (tid, link) in dataLinks where touched.contains(link.participantID) {
            sendTransmits(of: tid, now: now)
        }
    }

    func sendTransmits(of tid: Int, now: Instant) {
        let transport = transports[tid]
        transport.flushDataChannels(now: now)
        while let transmit = transport.pollTransmit() {
            transmit.bytes.withUnsafeBytes { out.push($0, link: tid) }
        }
    }

    func dataTick(now: Instant) {
        guard !dataLinks.isEmpty else { return }
        dataRoom.pumpAll()
        flushData(now: now)
    }
}

/// `RoomOutput`: each copy the router sends is protected in place with the destination transport's outbound
/// SRTP session and copied to the writer.
final class ProtectingOutput: RouterOutput {
    unowned(unsafe) var room: ServerRoom!
    var rtpPackets = 0
    var rtpPayloadBytes = 0
    var rtcpPackets = 0
    var failures = 0

    func send(rtp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
        send(packet, length: length, to: transport, rtcp: false)
        rtpPackets &+= 1
    }

    func send(rtcp packet: UnsafeMutableRawBufferPointer, length: Int, to transport: TransportID) {
        send(packet, length: length, to: transport, rtcp: true)
        rtcpPackets &+= 1
    }

    @inline(__always)
    private func send(_ packet: UnsafeMutableRawBufferPointer, length: Int, to id: TransportID, rtcp: Bool) {
        let peer = room.transports[id.rawValue]
        guard peer.isConnected, let base = packet.baseAddress else {
            failures += 1
            return
        }
        let protected: Int
        do throws(SRTPError) {
            protected =
                rtcp
                ? try peer.protectRTCP(base, length: length, capacity: packet.count)
                : try peer.protectRTP(base, length: length, capacity: packet.count)
        } catch {
            failures += 1
            return
        }
        room.out.push(UnsafeRawBufferPointer(rebasing: packet[0..<protected]), link: id.rawValue)
    }
}
