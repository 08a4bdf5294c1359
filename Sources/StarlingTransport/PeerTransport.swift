public import StarlingWire

/// One peer's transport on one 5-tuple: ICE, DTLS and SRTP/SRTCP, with RTP and RTCP multiplexed on the
/// same port (RFC 5761) and every m-line bundled (RFC 8843). Sans-IO: the caller feeds datagrams and
/// timeouts with `now`, sends what `pollTransmit` returns, and reads `pollEvent`.
///
/// The media path works in place on the caller's buffer: `handleDatagram` decrypts RTP and RTCP where
/// they lie and says what the buffer now holds; `protectRTP`/`protectRTCP` encrypt in place before the
/// caller writes to `destination`. Neither allocates.
///
/// The same type serves both ends: Starling uses the ICE-lite agent (it is always controlled, RFC 8445
/// §2.5); our client (StarlingClient) uses the controlling agent.
public final class PeerTransport {
    public enum ICERole {
        /// Server side: answer checks (RFC 8445 §7.3), follow the peer's nomination.
        case lite(ICELiteAgent.Configuration)
        /// Client side: send checks to these candidates and nominate (RFC 8445 §7.2).
        case controlling(remoteCandidates: [STUNAddress], tieBreaker: UInt64)
    }

    public struct Configuration {
        public var localCredentials: ICECredentials
        /// The peer's ICE credentials, when known (a lite agent may learn them later).
        public var remoteCredentials: ICECredentials?
        public var ice: ICERole
        public var dtls: DTLSEndpoint.Configuration
        /// SSRCs the peer may send SRTP and SRTCP under at once (`InboundSSRCTable`).
        public var maxInboundSSRCs: Int

        public init(
            localCredentials: ICECredentials, remoteCredentials: ICECredentials?, ice: ICERole,
            dtls: DTLSEndpoint.Configuration, maxInboundSSRCs: Int = 64
        ) {
            self.localCredentials = localCredentials
            self.remoteCredentials = remoteCredentials
            self.ice = ice
            self.dtls = dtls
            self.maxInboundSSRCs = maxInboundSSRCs
        }
    }

    public enum State: Hashable, Sendable {
        case new, connecting, connected, disconnected, failed, closed
    }

    public enum Event: Hashable, Sendable {
        /// ICE selected (or moved to) this remote address.
        case selectedPairChanged(STUNAddress)
        /// DTLS finished and SRTP is keyed: media can flow.
        case connected(SRTPProtectionProfile)
        /// Consent was lost (RFC 7675): stop sending until it comes back.
        case disconnected
        /// Consent came back after a disconnection.
        case reconnected
        /// The transport failed for good (bad fingerprint, handshake failure, ICE failure).
        case failed(String)
        /// The peer closed DTLS (close_notify).
        case closed
        /// DTLS application data (SCTP, for data channels).
        case applicationData([UInt8])
        /// ICE restarted with new credentials.
        case iceRestarted
    }

    /// What a datagram turned out to be, after `handleDatagram`.
    public enum Received: Hashable, Sendable {
        /// Consumed by ICE or DTLS, or dropped (and counted).
        case none
        /// A decrypted RTP packet of `length` bytes now starts at the buffer's beginning.
        case rtp(length: Int)
        /// A decrypted compound RTCP packet of `length` bytes now starts at the buffer's beginning.
        case rtcp(length: Int)
    }

    /// A control-plane datagram to send (STUN, DTLS).
    public struct Transmit: Hashable, Sendable {
        public var bytes: [UInt8]
        public var destination: STUNAddress
    }

    public struct Counters: Hashable, Sendable {
        public var datagramsReceived = 0
        public var unknownDatagrams = 0
        /// RTP/RTCP that arrived before SRTP was keyed, or from an address ICE has not validated.
        public var mediaBeforeKeys = 0
        public var mediaFromUnvalidatedAddress = 0
        public var rtpReceived = 0
        public var rtcpReceived = 0
        /// Dropped before SRTP: a new SSRC while `maxInboundSSRCs` others are in use.
        public var ssrcLimitDrops = 0
        /// SSRCs whose SRTP stream was removed (silent too long, or replaced by a new one).
        public var ssrcsForgotten = 0
        public init() {}
    }

    public let configuration: Configuration
    public private(set) var state: State = .new
    public private(set) var counters = Counters()

    private var ice: ICEDriver
    public let dtls: DTLSEndpoint
    private var inbound: SRTPSession?
    private var outbound: SRTPSession?
    private var transmits = Queue<Transmit>()
    private var events = Queue<Event>()
    private var dtlsStarted = false
    private var ssrcs: InboundSSRCTable
    private var nextSSRCSweep: Instant?
    /// The `now` of the latest input, for the SSRC table's times.
    private var lastNow = Instant.zero

    public init(configuration: Configuration, now: Instant) throws(DTLSError) {
        self.configuration = configuration
        switch configuration.ice {
        case .lite(let iceConfiguration):
            ice = .lite(
                ICELiteAgent(
                    local: configuration.localCredentials, remote: configuration.remoteCredentials,
                    configuration: iceConfiguration))
        case .controlling(let candidates, let tieBreaker):
            guard let remote = configuration.remoteCredentials else {
                throw DTLSError.invalidConfiguration("a controlling ICE agent needs the remote credentials")
            }
            var agent = ICEControllingAgent(
                configuration: .init(
                    local: configuration.localCredentials, remote: remote, remoteCandidates: candidates,
                    tieBreaker: tieBreaker))
            agent.start(now: now)
            ice = .controlling(agent)
        }
        dtls = try DTLSEndpoint(configuration: configuration.dtls)
        ssrcs = InboundSSRCTable(capacity: configuration.maxInboundSSRCs)
        state = .connecting
        drain(now: now)
    }

    /// SSRCs the peer currently sends under (each holds an SRTP stream).
    public var inboundSSRCCount: Int { ssrcs.count }

    /// Where media goes: the selected ICE pair while consent holds, else nil (RFC 7675 §5.1: stop sending).
    public var destination: STUNAddress? { ice.destination }

    /// Whether SRTP is keyed and the pair has consent.
    public var isConnected: Bool { state == .connected && outbound != nil && destination != nil }

    public var iceCounters: ICECountersSnapshot { ice.countersSnapshot }
    public var srtpInboundCounters: SRTPSession.Counters? { inbound?.counters }
    public var srtpOutboundCounters: SRTPSession.Counters? { outbound?.counters }

    /// Whether `address` passed an ICE connectivity check for this peer.
    public func isValidated(_ address: STUNAddress) -> Bool { ice.isValid(address) }

    /// The ICE credentials datagrams are matched against (both sets while a restart is pending).
    public var localUfrags: [String] { ice.localUfrags }

    /// The earliest timer of ICE, DTLS and SCTP (read by the loop's tick for every peer: built without an
    /// array, so that it allocates nothing).
    public var nextDeadline: Instant? {
        func earlier(_ a: Instant?, _ b: Instant?) -> Instant? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        return earlier(earlier(ice.nextDeadline, dtls.nextDeadline), sctpDeadline)
    }

    // MARK: - Data channels (RFC 8261: SCTP over this DTLS association)

    /// The data channels on this transport, once `enableDataChannels` was called.
    public private(set) var dataChannels: DataChannelEndpoint?
    private var sctpDeadline: Instant?

    /// Carries SCTP (data channels, RFC 8831) over the DTLS association: DTLS application data goes to the
    /// association instead of `Event.applicationData`, and the association connects when DTLS does. Our
    /// DTLS role picks the stream parity (RFC 8832 §6). `remoteMaxMessageSize` is the peer's
    /// `a=max-message-size` (RFC 8841 §6: 65536 when absent).
    public func enableDataChannels(
        _ sctp: SCTPAssociation.Configuration = .init(), remoteMaxMessageSize: Int = 65_536, now: Instant
    ) throws(SCTPError) {
        guard dataChannels == nil else { return }
        let association = try SCTPAssociation(configuration: sctp)
        dataChannels = DataChannelEndpoint(
            association: association, isDTLSClient: configuration.dtls.role == .client, remoteMaxMessageSize: remoteMaxMessageSize)
        if state == .connected { try association.connect(now: now) }
        sctpDeadline = association.nextDeadline(after: now)
        drain(now: now)
    }

    /// Sends a data channel message (see `DataChannelEndpoint.send`) and hands its SCTP packets to DTLS.
    public func sendData(_ message: DataChannelEndpoint.Message, on channel: UInt16, now: Instant) throws(DataChannelEndpoint.Failure) {
        guard let dataChannels else { throw .noSuchChannel(channel) }
        try dataChannels.send(message, on: channel)
        drain(now: now)
    }

    /// Hands to DTLS what direct calls on `dataChannels` (open, close) produced.
    public func flushDataChannels(now: Instant) { drain(now: now) }

    /// Moves SCTP packets into DTLS and the association's events to the data channels.
    private func drainSCTP(now: Instant) {
        guard let channels = dataChannels else { return }
        let association = channels.association
        channels.pumpAssociation()
        while let packet = association.pollTransmit() {
            try? dtls.send(applicationData: packet)
        }
    }

    /// Learns the peer's ICE credentials (from its SDP) after creation.
    public func setRemoteCredentials(_ remote: ICECredentials) {
        if case .lite(var agent) = ice {
            agent.setRemoteCredentials(remote)
            ice = .lite(agent)
        }
    }

    /// ICE restart (RFC 8445 §9): new local and remote credentials; media keeps flowing on the selected pair.
    public func restartICE(local: ICECredentials, remote: ICECredentials?, now: Instant) {
        switch ice {
        case .lite(var agent):
            agent.restart(local: local, remote: remote)
            ice = .lite(agent)
        case .controlling(var agent):
            if let remote {
                agent.restart(local: local, remote: remote, remoteCandidates: agent.configuration.remoteCandidates, now: now)
            }
            ice = .controlling(agent)
        }
        drain(now: now)
    }

    public func pollTransmit() -> Transmit? { transmits.pop() }
    public func pollEvent() -> Event? { events.pop() }

    /// Handles one datagram from `source` in `buffer` (RFC 7983 demultiplexing). RTP and RTCP are
    /// decrypted in place.
    public func handleDatagram(_ buffer: UnsafeMutableRawBufferPointer, from source: STUNAddress, now: Instant) -> Received {
        counters.datagramsReceived += 1
        lastNow = now
        let bytes = UnsafeRawBufferPointer(buffer)
        defer { drain(now: now) }
        switch DatagramKind(classifying: bytes) {
        case .stun:
            ice.handleSTUN(bytes, from: source, now: now, replies: &transmits)
            return .none
        case .dtls:
            // Only from an address that passed an ICE check (RFC 8445 §7.3: checks validate the pair).
            guard ice.isValid(source) else {
                counters.mediaFromUnvalidatedAddress += 1
                return .none
            }
            dtls.handleDatagram(bytes, now: now)
            return .none
        case .rtp:
            return unprotect(buffer, from: source, rtcp: false)
        case .rtcp:
            return unprotect(buffer, from: source, rtcp: true)
        case .zrtp, .turnChannel, .unknown:
            counters.unknownDatagrams += 1
            return .none
        }
    }

    /// SRTP/SRTCP in place, only from an ICE-validated address and once keyed; failures are counted by
    /// the session (auth, replay) or here.
    private func unprotect(_ buffer: UnsafeMutableRawBufferPointer, from source: STUNAddress, rtcp: Bool) -> Received {
        guard ice.isValid(source) else {
            counters.mediaFromUnvalidatedAddress += 1
            return .none
        }
        guard let inbound, let base = buffer.baseAddress else {
            counters.mediaBeforeKeys += 1
            return .none
        }
        // The SSRC libsrtp keys its stream on: RTP's (RFC 3550 §5.1), or the first RTCP packet's sender.
        let ssrcOffset = rtcp ? 4 : 8
        guard buffer.count >= ssrcOffset + 4 else { return .none }
        let ssrc = UInt32(buffer[ssrcOffset]) << 24 | UInt32(buffer[ssrcOffset + 1]) << 16
            | UInt32(buffer[ssrcOffset + 2]) << 8 | UInt32(buffer[ssrcOffset + 3])
        let now = lastNow
        let admission = ssrcs.admission(ssrc, now: now)
        guard admission != .refused else {
            counters.ssrcLimitDrops += 1
            return .none
        }
        let length: Int
        if rtcp {
            guard let n = try? inbound.unprotectRTCP(base, length: buffer.count) else { return .none }
            counters.rtcpReceived += 1
            length = n
        } else {
            guard let n = try? inbound.unprotectRTP(base, length: buffer.count) else { return .none }
            counters.rtpReceived += 1
            length = n
        }
        if case .replaced(let evicted) = admission { forget(ssrc: evicted) }
        ssrcs.record(ssrc, admission, now: now)
        return rtcp ? .rtcp(length: length) : .rtp(length: length)
    }

    /// Removes an SSRC's SRTP stream (its memory, replay window and rollover counter).
    private func forget(ssrc: UInt32) {
        inbound?.removeStream(ssrc: ssrc)
        counters.ssrcsForgotten += 1
    }

    public func handleTimeout(now: Instant) {
        lastNow = now
        if nextSSRCSweep.map({ now >= $0 }) ?? true {
            nextSSRCSweep = now + .seconds(5)
            for ssrc in ssrcs.sweep(now: now) { forget(ssrc: ssrc) }
        }
        ice.handleTimeout(now: now)
        dtls.handleTimeout(now: now)
        if let association = dataChannels?.association, let deadline = sctpDeadline, deadline <= now {
            association.handleTimeout(now: now)
            sctpDeadline = association.nextDeadline(after: now)
        }
        drain(now: now)
    }

    /// Encrypts an RTP packet of `length` bytes in place; `capacity` must leave room for the tag (16 bytes
    /// covers both profiles). Returns the protected length. Throws `wrongDirection` before SRTP is keyed.
    public func protectRTP(_ buffer: UnsafeMutableRawPointer, length: Int, capacity: Int) throws(SRTPError) -> Int {
        guard let outbound else { throw SRTPError.wrongDirection }
        return try outbound.protectRTP(buffer, length: length, capacity: capacity)
    }

    public func protectRTCP(_ buffer: UnsafeMutableRawPointer, length: Int, capacity: Int) throws(SRTPError) -> Int {
        guard let outbound else { throw SRTPError.wrongDirection }
        return try outbound.protectRTCP(buffer, length: length, capacity: capacity)
    }

    /// Sends DTLS application data (SCTP for data channels).
    public func sendApplicationData(_ bytes: [UInt8], now: Instant) throws(DTLSError) {
        try dtls.send(applicationData: bytes)
        drain(now: now)
    }

    /// Closes DTLS (close_notify) and stops.
    public func close(now: Instant) {
        dtls.close(now: now)
        drain(now: now)
        state = .closed
    }

    // MARK: - Plumbing between the cores

    /// Moves outputs and events between the cores until nothing changes.
    private func drain(now: Instant) {
        // ICE transmits (controlling side) and events.
        ice.pollTransmits(into: &transmits)
        while let event = ice.pollEvent() {
            switch event {
            case .selectedPairChanged(let remote):
                events.push(.selectedPairChanged(remote))
            case .connected:
                if state == .disconnected {
                    state = outbound != nil ? .connected : .connecting
                    events.push(.reconnected)
                }
            case .disconnected:
                if state == .connected || state == .connecting {
                    state = .disconnected
                    events.push(.disconnected)
                }
            case .restarted:
                events.push(.iceRestarted)
            case .failed:
                fail("ICE failed: no response to connectivity checks")
            }
        }
        // The DTLS client starts once ICE has a pair to send to.
        if !dtlsStarted, configuration.dtls.role == .client, ice.destination != nil {
            dtlsStarted = true
            dtls.start(now: now)
        }
        while let event = dtls.pollEvent() {
            switch event {
            case .connected(let keys):
                do {
                    inbound = try SRTPSession(
                        profile: keys.profile, masterKey: keys.remoteKey, masterSalt: keys.remoteSalt, direction: .inbound)
                    outbound = try SRTPSession(
                        profile: keys.profile, masterKey: keys.localKey, masterSalt: keys.localSalt, direction: .outbound)
                    if state == .connecting { state = .connected }
                    events.push(.connected(keys.profile))
                    if let association = dataChannels?.association { try? association.connect(now: now) }
                } catch {
                    fail("SRTP setup failed: \(error)")
                }
            case .applicationData(let data):
                if let association = dataChannels?.association {
                    association.handlePacket(data, now: now)
                } else {
                    events.push(.applicationData(data))
                }
            case .closed:
                state = .closed
                events.push(.closed)
            case .failed(let error):
                fail("DTLS failed: \(error)")
            }
        }
        drainSCTP(now: now)
        if let destination = ice.destination ?? ice.selectedRemote {
            while let datagram = dtls.pollDatagram() {
                transmits.push(Transmit(bytes: datagram, destination: destination))
            }
        }
    }

    private func fail(_ reason: String) {
        guard state != .failed, state != .closed else { return }
        state = .failed
        inbound = nil
        outbound = nil
        events.push(.failed(reason))
    }
}

/// The ICE agent of either role behind one interface.
enum ICEDriver {
    case lite(ICELiteAgent)
    case controlling(ICEControllingAgent)

    var destination: STUNAddress? {
        switch self {
        case .lite(let a): a.destination
        case .controlling(let a): a.destination
        }
    }

    var selectedRemote: STUNAddress? {
        switch self {
        case .lite(let a): a.selectedRemote
        case .controlling(let a): a.selectedRemote
        }
    }

    var nextDeadline: Instant? {
        switch self {
        case .lite(let a): a.nextDeadline
        case .controlling(let a): a.nextDeadline
        }
    }

    var localUfrags: [String] {
        switch self {
        case .lite(let a): [a.localCredentials.ufrag] + (a.pendingLocalCredentials.map { [$0.ufrag] } ?? [])
        case .controlling(let a): [a.configuration.local.ufrag]
        }
    }

    /// Whether `address` passed a connectivity check (media and DTLS are accepted only from such addresses).
    func isValid(_ address: STUNAddress) -> Bool {
        switch self {
        case .lite(let a): a.pairs.contains { $0.remote == address }
        case .controlling(let a): a.selectedRemote == address
        }
    }

    var countersSnapshot: ICECountersSnapshot {
        switch self {
        case .lite(let a): .lite(a.counters)
        case .controlling(let a): .controlling(a.counters)
        }
    }

    mutating func handleSTUN(
        _ bytes: UnsafeRawBufferPointer, from source: STUNAddress, now: Instant, replies: inout Queue<PeerTransport.Transmit>
    ) {
        switch self {
        case .lite(var a):
            if let reply = a.handleSTUN(bytes, from: source, now: now) {
                replies.push(PeerTransport.Transmit(bytes: reply, destination: source))
            }
            self = .lite(a)
        case .controlling(var a):
            a.handleSTUN(bytes, from: source, now: now)
            self = .controlling(a)
        }
    }

    mutating func handleTimeout(now: Instant) {
        switch self {
        case .lite(var a):
            a.handleTimeout(now: now)
            self = .lite(a)
        case .controlling(var a):
            a.handleTimeout(now: now)
            self = .controlling(a)
        }
    }

    mutating func pollTransmits(into queue: inout Queue<PeerTransport.Transmit>) {
        guard case .controlling(var a) = self else { return }
        while let t = a.pollTransmit() { queue.push(PeerTransport.Transmit(bytes: t.bytes, destination: t.destination)) }
        self = .controlling(a)
    }

    mutating func pollEvent() -> ICEEvent? {
        switch self {
        case .lite(var a):
            let e = a.pollEvent()
            self = .lite(a)
            return e
        case .controlling(var a):
            let e = a.pollEvent()
            self = .controlling(a)
            return e
        }
    }
}

/// ICE counters of whichever agent the transport runs.
public enum ICECountersSnapshot: Hashable, Sendable {
    case lite(ICELiteAgent.Counters)
    case controlling(ICEControllingAgent.Counters)
}

/// A FIFO that reuses its storage.
struct Queue<Element> {
    private var items: [Element] = []
    private var head = 0

    var isEmpty: Bool { head >= items.count }

    mutating func push(_ element: Element) { items.append(element) }

    mutating func pop() -> Element? {
        guard head < items.count else { return nil }
        let element = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return element
    }
}
