internal import CUsrsctp

#if canImport(Glibc)
import Glibc
#endif

/// An SCTP association over DTLS (RFC 8261) for WebRTC data channels, sans-IO: SCTP packets from the peer
/// (decrypted DTLS application data) go into `handlePacket`, packets to send (to encrypt as DTLS
/// application data) come out of `pollTransmit`, timers run from `handleTimeout` at `nextDeadline`, and what
/// happened comes out of `pollEvent`. The rest of Starling never sees the implementation: today usrsctp
/// (Debian `libusrsctp-dev`), driven without its threads or sockets.
///
/// usrsctp runs in its thread-less mode (`usrsctp_init_nothreads`), once per process. Each association is
/// an AF_CONN socket whose address is an opaque integer id (never an object pointer); usrsctp's output
/// callback finds the association by that id. Every usrsctp call is made under one process-wide recursive
/// lock, so associations on different event loops never run inside usrsctp at the same time, and the output
/// callback (which runs inside those calls, on the calling thread) finds the registry already locked.
/// usrsctp's timers are process-wide too: `handleTimeout` advances them by the time elapsed since any
/// association last did (`usrsctp_handle_timers`), so a timer advanced from one event loop may produce
/// packets of an association owned by another: the packets queue under the stack's lock, and
/// `pollTransmit` takes them out under it.
///
/// The socket is set up as RFC 8831 §6 asks: no Nagle, stream reset (RFC 6525) on, path-MTU discovery off
/// with a fixed MTU (1200 minus headers), `streams` streams each way (RFC 8831 §6.2: up to 65535), and both
/// sides connect (the INIT collision is resolved by SCTP, RFC 4960 §5.2.4). Messages are delivered whole:
/// usrsctp gives a large message in pieces until MSG_EOR, and they are put back together here up to
/// `maxMessageSize`; a larger one is dropped and reported (`Event.messageTooLarge`).
public final class SCTPAssociation {
    public struct Configuration: Hashable, Sendable {
        /// SCTP ports: 5000 both sides unless `a=sctp-port` says otherwise (RFC 8841 §5).
        public var localPort: UInt16 = 5000
        public var remotePort: UInt16 = 5000
        /// Streams each way (RFC 8831 §6.2).
        public var streams: UInt16 = 1024
        /// The largest message accepted from the peer (our `a=max-message-size`, RFC 8841 §6).
        public var maxMessageSize: Int = 262_144
        /// Path MTU for SCTP packets (DTLS and UDP headers come on top).
        public var mtu: UInt32 = 1200 - 28 - 13 - 16
        public init() {}
    }

    /// Partial reliability (RFC 3758, RFC 8831 §6.1).
    public enum Reliability: Hashable, Sendable {
        case reliable
        /// Abandoned after this many retransmissions.
        case maxRetransmits(UInt32)
        /// Abandoned when not delivered within this many milliseconds.
        case lifetime(milliseconds: UInt32)
    }

    public enum Event: Hashable, Sendable {
        /// The association is up (SCTP_COMM_UP).
        case connected
        /// A whole message on `stream` with its payload protocol identifier (RFC 8831 §8).
        case message(stream: UInt16, ppid: UInt32, data: [UInt8], unordered: Bool)
        /// A message from the peer over `maxMessageSize`, dropped.
        case messageTooLarge(stream: UInt16, size: Int)
        /// The peer reset these incoming streams of ours (it closed the channels, RFC 8831 §6.7).
        case incomingStreamsReset([UInt16])
        /// Our outgoing reset of these streams completed.
        case outgoingStreamsReset([UInt16])
        /// The association ended (lost, shut down, or could not start).
        case closed(reason: String)
    }

    public enum State: Hashable, Sendable { case new, connecting, connected, closed }

    public let configuration: Configuration
    public private(set) var state: State = .new
    let id: UInt
    private var socket: OpaquePointer?
    /// Filled by the output callback, on whatever thread made the usrsctp call: touched only under the
    /// stack's lock.
    private var transmits = Queue<[UInt8]>()
    private var events = Queue<Event>()
    /// Pieces of a message not yet ended by MSG_EOR, per stream.
    private var partial: [UInt16: [UInt8]] = [:]
    private var oversized: [UInt16: Int] = [:]
    private var receiveBuffer = [UInt8](repeating: 0, count: 65536)

    public init(configuration: Configuration = Configuration()) throws(SCTPError) {
        self.configuration = configuration
        SCTPStack.shared.start()
        id = SCTPStack.shared.nextID()
        let made: OpaquePointer? = SCTPStack.shared.locked {
            starling_sctp_socket(UInt(id), configuration.localPort, configuration.streams, configuration.mtu)
        }
        guard let made else { throw .setup("usrsctp_socket failed: errno \(errno)") }
        socket = made
        SCTPStack.shared.register(id: id) { [weak self] bytes in self?.transmits.push(bytes) }
    }

    deinit { close() }

    /// Starts the association (sends INIT). Call once the DTLS handshake is done.
    public func connect(now: Instant) throws(SCTPError) {
        guard state == .new, let socket else { return }
        let result = SCTPStack.shared.locked {
            starling_sctp_connect(socket, UInt(id), configuration.remotePort)
        }
        guard result == 0 else { throw .setup("usrsctp_connect failed: errno \(result)") }
        state = .connecting
        SCTPStack.shared.advanceTimers(now: now)
    }

    /// An SCTP packet from the peer (DTLS application data).
    public func handlePacket(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        guard socket != nil, let base = bytes.baseAddress, bytes.count > 0 else { return }
        SCTPStack.shared.locked {
            usrsctp_conninput(UnsafeMutableRawPointer(bitPattern: id), base, bytes.count, 0)
            receive()
        }
    }

    public func handlePacket(_ bytes: [UInt8], now: Instant) {
        bytes.withUnsafeBytes { handlePacket($0, now: now) }
    }

    /// Every 10 ms while the association exists (usrsctp's timer granularity).
    public func nextDeadline(after now: Instant) -> Instant? {
        socket == nil ? nil : now + .milliseconds(10)
    }

    /// Advances usrsctp's timers (process-wide) and reads what they produced.
    public func handleTimeout(now: Instant) {
        guard socket != nil else { return }
        SCTPStack.shared.advanceTimers(now: now)
        SCTPStack.shared.locked { receive() }
    }

    /// Sends one message. `data` may be empty only if the caller maps empty messages to a PPID with one
    /// byte (RFC 8831 §6.6); SCTP itself carries no empty user messages.
    public func send(
        _ data: [UInt8], stream: UInt16, ppid: UInt32, unordered: Bool = false, reliability: Reliability = .reliable
    ) throws(SCTPError) {
        guard state == .connected, let socket else { throw .notConnected }
        guard !data.isEmpty else { throw .emptyMessage }
        let (policy, value): (Int32, UInt32) =
            switch reliability {
            case .reliable: (0, 0)
            case .lifetime(let ms): (1, ms)
            case .maxRetransmits(let n): (2, n)
            }
        let sent = SCTPStack.shared.locked {
            data.withUnsafeBytes { raw in
                starling_sctp_send(
                    socket, raw.baseAddress, raw.count, stream, ppid, unordered ? 1 : 0, policy, value)
            }
        }
        if sent < 0 {
            let code = Int32(-sent)
            throw code == EWOULDBLOCK || code == EAGAIN ? .bufferFull : .send("usrsctp_sendv failed: errno \(code)")
        }
    }

    /// Resets our outgoing side of `streams` (RFC 6525; how a data channel is closed, RFC 8831 §6.7).
    public func resetStreams(_ streams: [UInt16]) throws(SCTPError) {
        guard state == .connected, let socket, !streams.isEmpty else { return }
        let result = SCTPStack.shared.locked {
            streams.withUnsafeBufferPointer { starling_sctp_reset_streams(socket, $0.baseAddress, UInt16(streams.count)) }
        }
        guard result == 0 else { throw .send("stream reset failed: errno \(result)") }
    }

    /// The next SCTP packet to send (as DTLS application data).
    public func pollTransmit() -> [UInt8]? { SCTPStack.shared.locked { transmits.pop() } }

    public func pollEvent() -> Event? { events.pop() }

    /// Aborts the association (SO_LINGER 0: an ABORT goes out) and frees it.
    public func close() {
        guard let socket else { return }
        SCTPStack.shared.locked { starling_sctp_close(socket, UInt(id)) }
        self.socket = nil
        SCTPStack.shared.unregister(id: id)
        if state != .closed {
            state = .closed
            events.push(.closed(reason: "closed locally"))
        }
    }

    /// While true, nothing is read from usrsctp: what arrives stays in its receive buffer, and the window
    /// this side advertises shrinks and closes (a_rwnd, RFC 4960 §6.2), as when an application stops reading.
    /// Setting it back to false reads what waited and opens the window again.
    public var pausesReading = false {
        didSet {
            if oldValue && !pausesReading { SCTPStack.shared.locked { receive() } }
        }
    }

    // MARK: - Reading (called with the stack locked)

    private func receive() {
        guard let socket, !pausesReading else { return }
        while true {
            let r = receiveBuffer.withUnsafeMutableBytes {
                starling_sctp_recv(socket, $0.baseAddress, $0.count)
            }
            if r.length < 0 { return }  // EWOULDBLOCK (nothing waiting) or an error
            let count = Int(r.length)
            if r.notification != 0 {
                receiveBuffer.withUnsafeBytes { handleNotification($0.baseAddress!, count) }
                continue
            }
            if count == 0 && r.endOfRecord == 0 { return }
            deliver(count: count, stream: r.stream, ppid: r.ppid, unordered: r.unordered != 0, end: r.endOfRecord != 0)
        }
    }

    private func deliver(count: Int, stream: UInt16, ppid: UInt32, unordered: Bool, end: Bool) {
        if let size = oversized[stream] {
            // Still discarding a message that went over the limit.
            if end {
                oversized[stream] = nil
                events.push(.messageTooLarge(stream: stream, size: size + count))
            } else {
                oversized[stream] = size + count
            }
            return
        }
        var message = partial.removeValue(forKey: stream) ?? []
        guard message.count + count <= configuration.maxMessageSize else {
            if end {
                events.push(.messageTooLarge(stream: stream, size: message.count + count))
            } else {
                oversized[stream] = message.count + count
            }
            return
        }
        message.append(contentsOf: receiveBuffer[0..<count])
        if end {
            events.push(.message(stream: stream, ppid: ppid, data: message, unordered: unordered))
        } else {
            partial[stream] = message
        }
    }

    private func handleNotification(_ raw: UnsafeRawPointer, _ count: Int) {
        let n = starling_sctp_parse_notification(raw, count)
        switch Int32(n.type) {
        case Int32(SCTP_ASSOC_CHANGE):
            switch Int32(n.state) {
            case Int32(SCTP_COMM_UP):
                if state != .connected {
                    state = .connected
                    events.push(.connected)
                }
            case Int32(SCTP_COMM_LOST), Int32(SCTP_SHUTDOWN_COMP), Int32(SCTP_CANT_STR_ASSOC):
                if state != .closed {
                    state = .closed
                    events.push(.closed(reason: Int32(n.state) == Int32(SCTP_COMM_LOST) ? "association lost" : "association ended"))
                }
            default:
                break
            }
        case Int32(SCTP_STREAM_RESET_EVENT):
            let ids = n.streams.map { Array(UnsafeBufferPointer(start: $0, count: Int(n.streamCount))) } ?? []
            let flags = Int32(n.resetFlags)
            guard flags & Int32(SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED) == 0 else { return }
            if flags & Int32(SCTP_STREAM_RESET_INCOMING_SSN) != 0 {
                for id in ids { partial[id] = nil }
                events.push(.incomingStreamsReset(ids))
            }
            if flags & Int32(SCTP_STREAM_RESET_OUTGOING_SSN) != 0 { events.push(.outgoingStreamsReset(ids)) }
        default:
            break
        }
    }
}

/// Errors of `SCTPAssociation`.
public enum SCTPError: Error, Hashable, Sendable, CustomStringConvertible {
    case setup(String)
    case notConnected
    case emptyMessage
    /// usrsctp's send buffer is full: try again after the peer acknowledged data.
    case bufferFull
    case send(String)

    public var description: String {
        switch self {
        case .setup(let why): "SCTP setup: \(why)"
        case .notConnected: "the SCTP association is not connected"
        case .emptyMessage: "SCTP cannot carry an empty message"
        case .bufferFull: "the SCTP send buffer is full"
        case .send(let why): "SCTP send: \(why)"
        }
    }
}
