import COpenSSL
import StarlingWire

/// One DTLS 1.2 association for DTLS-SRTP (RFC 5764) with one peer transport, sans-IO.
///
/// OpenSSL runs over two memory BIOs: `handleDatagram` writes a datagram into the read BIO and
/// drives OpenSSL; whatever OpenSSL writes is cut into datagrams of at most `mtu` bytes for
/// `pollDatagram()`. Events (`connected`, `applicationData`, `closed`, `failed`) come out of
/// `pollEvent()`. After any input, `nextDeadline` says when `handleTimeout(now:)` is due.
///
/// **Roles.** `.server` answers `a=setup:passive` to an `actpass` offer and waits for the
/// ClientHello; `.client` (we are `active`) sends the ClientHello on `start(now:)` (RFC 5763 §5,
/// RFC 8842 §5).
///
/// **Authentication.** Both sides must present a certificate (SSL_VERIFY_PEER and
/// SSL_VERIFY_FAIL_IF_NO_PEER_CERT). Any certificate passes the chain check; the leaf must hash to
/// one of the fingerprints the peer signalled in SDP (RFC 8122 §5: one match is enough). The check
/// runs in OpenSSL's verify callback, so a mismatch aborts the handshake with a bad_certificate
/// alert, and runs again on the final peer certificate before keys are exported: on mismatch the
/// endpoint emits `.failed(.fingerprintMismatch)` and never `.connected`.
///
/// **Retransmission and time.** OpenSSL 3.0 keeps its retransmission timer on the wall clock
/// (`gettimeofday`) and offers no way to inject time. The endpoint maps it onto the injected clock:
/// after every call into OpenSSL it reads the time left (`DTLSv1_get_timeout`) and sets
/// `nextDeadline = now + left`; `handleTimeout(now:)` at or after that deadline calls
/// `DTLSv1_handle_timeout`, which retransmits the last flight. The timer durations come from our
/// `DTLS_set_timer_cb` callback: `initialRetransmissionTimeout` (RFC 6347 §4.2.4.1 suggests 1 s),
/// doubled on each retransmission up to `maximumRetransmissionTimeout`. When the injected clock
/// runs ahead of the wall clock (virtual time in tests), OpenSSL declines to retransmit before its
/// own timer expires; the endpoint then sets `nextDeadline = now + OpenSSL's time left` and
/// retransmits on a later call, so a retransmission is never early by the wall clock. The timer
/// cannot be forced through the public API: a timer that is always expired makes OpenSSL
/// retransmit on every read that finds no data, until its 12-retransmission limit fails the
/// handshake. OpenSSL also retransmits by itself when it reads a datagram after its timer expired,
/// which is what the RFC asks anyway.
///
/// **Bad input.** Every datagram's record framing is checked first (`DTLSRecords.check`): truncated
/// records and implausible plaintext (epoch 0) records are dropped and counted without reaching
/// OpenSSL, so garbage cannot drive OpenSSL into a fatal error; so are protected records too short
/// to hold the negotiated cipher's nonce and tag, on which OpenSSL 3.0 fails the association
/// (`shortProtectedDatagrams`). Protected records that fail authentication are dropped by OpenSSL (RFC 6347 §4.1.2.7) and counted here as
/// `discardedDatagrams`. A well-formed plaintext fatal alert still ends the handshake, as it would
/// from a legitimate peer.
///
/// **Records.** `SSL_set_mtu(mtu)` with `SSL_OP_NO_QUERY_MTU` keeps each record within `mtu`
/// (1200 by default); OpenSSL 3.0 has no datagram memory BIO, so the records of a flight come out
/// of the memory BIO concatenated and are packed, on record boundaries, into datagrams of at most
/// `mtu` bytes (RFC 6347 §4.1.1).
///
/// Not thread-safe: one owner (the transport's event loop or actor) drives it.
public final class DTLSEndpoint {
    public enum Role: Sendable, Hashable {
        /// DTLS client (`a=setup:active`): sends the ClientHello on `start(now:)`.
        case client
        /// DTLS server (`a=setup:passive`): waits for the ClientHello.
        case server
    }

    public enum State: Sendable, Hashable {
        /// Nothing sent or received yet.
        case new
        case handshaking
        /// Keys emitted; application data may flow.
        case connected
        /// close_notify sent or received, or `close(now:)` called.
        case closed
        case failed
    }

    public enum Event: Sendable, Hashable {
        /// The handshake completed, the peer's fingerprint matched and SRTP keys were exported.
        case connected(DTLSSRTPKeys)
        /// Application data from the peer (SCTP for data channels, RFC 8261).
        case applicationData([UInt8])
        /// The peer sent close_notify (RFC 5246 §7.2.1); we answered with ours.
        case closed
        /// The association failed; no keys were (or will be) emitted after this.
        case failed(DTLSError)
    }

    public struct Configuration: Sendable {
        public var certificate: DTLSCertificate
        public var role: Role
        /// The peer's `a=fingerprint` values; those with unsupported hash functions are ignored.
        public var remoteFingerprints: [SDP.Fingerprint]
        /// Largest datagram we send, in bytes (records included).
        public var mtu: Int
        /// SRTP profiles offered (client) or accepted (server), most preferred first.
        public var srtpProfiles: [SRTPProtectionProfile]
        /// The first retransmission timeout of a flight (RFC 6347 §4.2.4.1).
        public var initialRetransmissionTimeout: Duration
        /// The cap for the doubling retransmission timeout (RFC 6347 §4.2.4.1: at least 60 s).
        public var maximumRetransmissionTimeout: Duration

        public init(
            certificate: DTLSCertificate, role: Role, remoteFingerprints: [SDP.Fingerprint], mtu: Int = 1200,
            srtpProfiles: [SRTPProtectionProfile] = [.aeadAes128Gcm, .aes128CmHmacSha1_80],
            initialRetransmissionTimeout: Duration = .seconds(1), maximumRetransmissionTimeout: Duration = .seconds(60)
        ) {
            self.certificate = certificate
            self.role = role
            self.remoteFingerprints = remoteFingerprints
            self.mtu = mtu
            self.srtpProfiles = srtpProfiles
            self.initialRetransmissionTimeout = initialRetransmissionTimeout
            self.maximumRetransmissionTimeout = maximumRetransmissionTimeout
        }
    }

    /// What the endpoint saw and dropped. A datagram the endpoint drops lands in exactly one drop
    /// counter. Records OpenSSL itself discards during the handshake (forged protected records,
    /// duplicates) do not surface through its API and are not counted; after the handshake, an
    /// application data datagram that yields nothing is counted as `discardedDatagrams`.
    public struct Counters: Sendable, Hashable {
        public var datagramsReceived = 0
        public var datagramsSent = 0
        /// Dropped before OpenSSL: a record header or body ran past the end of the datagram.
        public var truncatedDatagrams = 0
        /// Dropped before OpenSSL: not DTLS 1.2 framing, or an implausible plaintext record.
        public var malformedDatagrams = 0
        /// Dropped before OpenSSL: a protected record shorter than the cipher's explicit nonce and tag
        /// (`DTLSRecords.protectedOverhead`), which cannot authenticate.
        public var shortProtectedDatagrams = 0
        /// Application data records OpenSSL dropped after the handshake: failed authentication or
        /// replayed (RFC 6347 §4.1.2.6, §4.1.2.7).
        public var discardedDatagrams = 0
        /// Arrived while the endpoint takes no input: a client before `start`, after close or failure.
        public var ignoredDatagrams = 0
        /// Flights retransmitted on a timeout.
        public var retransmissions = 0
        public var applicationDataReceived = 0
        public var applicationDataSent = 0
        public init() {}
    }

    public let configuration: Configuration
    public private(set) var state: State = .new
    public private(set) var counters = Counters()
    /// When `handleTimeout(now:)` is next due, or nil while no retransmission timer runs.
    public private(set) var nextDeadline: Instant?
    /// The keys emitted with `.connected`.
    public private(set) var keys: DTLSSRTPKeys?
    /// The SHA-256 fingerprint of the peer's certificate, once the handshake completed.
    public private(set) var remoteCertificateFingerprint: SDP.Fingerprint?

    /// `SSL*`; owns the two memory BIOs.
    private let ssl: OpaquePointer
    /// `BIO*` OpenSSL reads datagrams from.
    private let readBIO: OpaquePointer
    /// `BIO*` OpenSSL writes records to.
    private let writeBIO: OpaquePointer
    /// What OpenSSL's callbacks reach through `SSL_get_app_data`.
    private let callbackState: CallbackState
    private var handshakeComplete = false
    /// `protectedRecordMinimum` once the handshake fixed the cipher suite.
    private var negotiatedProtectedMinimum: Int?
    private var outgoing = PollQueue<[UInt8]>()
    private var events = PollQueue<Event>()
    private var readBuffer = [UInt8](repeating: 0, count: 1 << 14)

    public init(configuration: Configuration) throws(DTLSError) {
        let c = configuration
        guard (256...16_384).contains(c.mtu) else { throw .invalidConfiguration("mtu \(c.mtu) is outside 256...16384") }
        guard !c.srtpProfiles.isEmpty else { throw .invalidConfiguration("no SRTP protection profile") }
        guard Set(c.srtpProfiles).count == c.srtpProfiles.count else {
            throw .invalidConfiguration("SRTP protection profiles listed twice")
        }
        let usable = c.remoteFingerprints.filter { OpenSSLSupport.digest(named: $0.hashFunction) != nil }
        guard !usable.isEmpty else { throw .noUsableRemoteFingerprint(c.remoteFingerprints.map(\.hashFunction)) }
        let initial = c.initialRetransmissionTimeout.nanosecondsClamped / 1000
        let maximum = c.maximumRetransmissionTimeout.nanosecondsClamped / 1000
        guard initial >= 1000, maximum >= initial, maximum <= Int64(UInt32.max / 2) else {
            throw .invalidConfiguration("retransmission timeouts must satisfy 1 ms <= initial <= maximum <= 35 min")
        }
        let callbackState = CallbackState(
            expected: usable, initialMicroseconds: UInt32(initial), maximumMicroseconds: UInt32(maximum))

        ERR_clear_error()
        guard let ssl = SSL_new(c.certificate.context) else {
            throw .invalidConfiguration(OpenSSLSupport.drainErrors(fallback: "SSL_new failed"))
        }
        guard let readBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw .invalidConfiguration("BIO_new failed")
        }
        guard let writeBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(readBIO)
            SSL_free(ssl)
            throw .invalidConfiguration("BIO_new failed")
        }
        // An empty memory BIO reports "retry" rather than end of file.
        _ = starling_BIO_set_mem_eof_return(readBIO, -1)
        _ = starling_BIO_set_mem_eof_return(writeBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)
        let profiles = c.srtpProfiles.map(\.name).joined(separator: ":")
        // SSL_set_tlsext_use_srtp returns 0 on success; SSL_set_mtu the MTU, or 0 below OpenSSL's minimum.
        guard SSL_set_tlsext_use_srtp(ssl, profiles) == 0, starling_SSL_set_mtu(ssl, c.mtu) == c.mtu else {
            let why = OpenSSLSupport.drainErrors(fallback: "use_srtp or mtu rejected")
            SSL_free(ssl)
            throw .invalidConfiguration(why)
        }
        _ = starling_SSL_set_app_data(ssl, Unmanaged.passUnretained(callbackState).toOpaque())
        DTLS_set_timer_cb(ssl) { ssl, previous in
            guard let ssl, let raw = starling_SSL_get_app_data(ssl) else { return 1_000_000 }
            return Unmanaged<CallbackState>.fromOpaque(raw).takeUnretainedValue().timeout(after: previous)
        }
        switch c.role {
        case .client: SSL_set_connect_state(ssl)
        case .server: SSL_set_accept_state(ssl)
        }
        self.configuration = c
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.callbackState = callbackState
    }

    deinit {
        SSL_free(ssl)  // frees both BIOs; callbackState outlives it as a stored property
    }

    // MARK: Inputs

    /// Starts the association. A client sends its ClientHello; a server waits for one (it also
    /// accepts a ClientHello that arrives before `start`).
    public func start(now: Instant) {
        guard state == .new else { return }
        state = .handshaking
        if configuration.role == .client { advance(now: now) }
    }

    /// Takes one received datagram classified as DTLS (RFC 7983 §7).
    public func handleDatagram(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        counters.datagramsReceived += 1
        switch state {
        case .closed, .failed:
            counters.ignoredDatagrams += 1
            return
        case .new where configuration.role == .client:
            counters.ignoredDatagrams += 1
            return
        case .new, .handshaking, .connected:
            break
        }
        let carriesApplicationData: Bool
        switch DTLSRecords.check(
            bytes, fromServer: configuration.role == .client, minimumProtectedLength: protectedRecordMinimum)
        {
        case .truncated:
            counters.truncatedDatagrams += 1
            return
        case .malformed:
            counters.malformedDatagrams += 1
            return
        case .shortProtected:
            counters.shortProtectedDatagrams += 1
            return
        case .wellFormed(let applicationData):
            carriesApplicationData = applicationData
        }
        // A UDP payload is at most 65535 bytes; anything larger is not from the network.
        guard bytes.count <= 65_535, let base = bytes.baseAddress,
            BIO_write(readBIO, base, Int32(bytes.count)) == Int32(bytes.count)
        else {
            counters.malformedDatagrams += 1
            return
        }
        if state == .new { state = .handshaking }
        let receivedBefore = counters.applicationDataReceived
        let wasConnected = state == .connected
        advance(now: now)
        if wasConnected, carriesApplicationData, state == .connected, counters.applicationDataReceived == receivedBefore {
            counters.discardedDatagrams += 1
        }
        // OpenSSL consumes whole datagrams; never let a remnant merge with the next one.
        if starling_BIO_pending(readBIO) > 0 { _ = starling_BIO_reset(readBIO) }
    }

    /// Retransmits the last flight if `now` reached `nextDeadline` (RFC 6347 §4.2.4).
    public func handleTimeout(now: Instant) {
        guard let deadline = nextDeadline, now >= deadline, state == .handshaking || state == .connected else { return }
        ERR_clear_error()
        let result = starling_DTLSv1_handle_timeout(ssl)
        if result > 0 {
            counters.retransmissions += 1
        } else if result < 0 {
            fail(.handshakeFailed(OpenSSLSupport.drainErrors(fallback: "retransmission limit reached")))
        }
        // result == 0: OpenSSL's wall-clock timer has not expired yet; refreshDeadline re-arms.
        flushOutput()
        refreshDeadline(now: now)
    }

    /// Sends close_notify (RFC 5246 §7.2.1) if connected, and stops. During the handshake OpenSSL
    /// cannot send close_notify; the endpoint just stops.
    public func close(now: Instant) {
        switch state {
        case .connected:
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            flushOutput()
        case .new, .handshaking:
            break
        case .closed, .failed:
            return
        }
        state = .closed
        nextDeadline = nil
    }

    /// Sends one message as one application data record (SCTP packets, RFC 8261 §5). The message
    /// must fit in one record within the MTU: see `maximumApplicationDataSize`.
    public func send(applicationData bytes: UnsafeRawBufferPointer) throws(DTLSError) {
        guard state == .connected else { throw .notConnected }
        let limit = maximumApplicationDataSize
        guard bytes.count <= limit else { throw .applicationDataTooLarge(size: bytes.count, limit: limit) }
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        ERR_clear_error()
        let written = SSL_write(ssl, base, Int32(bytes.count))
        guard written == Int32(bytes.count) else {
            let error = DTLSError.connectionFailed(OpenSSLSupport.drainErrors(fallback: "SSL_write failed"))
            fail(error)
            flushOutput()
            throw error
        }
        counters.applicationDataSent += 1
        flushOutput()
    }

    /// Sends one message as one application data record.
    public func send(applicationData bytes: [UInt8]) throws(DTLSError) {
        let result: Result<Void, DTLSError> = bytes.withUnsafeBytes { raw in
            do throws(DTLSError) {
                try send(applicationData: raw)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// The largest message `send(applicationData:)` takes: the MTU less the record overhead of the
    /// negotiated cipher (`DTLS_get_data_mtu`); 0 before the handshake completed.
    public var maximumApplicationDataSize: Int {
        state == .connected ? Int(DTLS_get_data_mtu(ssl)) : 0
    }

    /// The shortest protected record the negotiated (or, during the handshake, pending) cipher suite
    /// can authenticate; the largest overhead of our suites while none is chosen.
    private var protectedRecordMinimum: Int {
        if let cached = negotiatedProtectedMinimum { return cached }
        guard let cipher = SSL_get_pending_cipher(ssl) ?? SSL_get_current_cipher(ssl) else {
            return DTLSRecords.largestProtectedOverhead
        }
        let overhead =
            DTLSRecords.protectedOverhead(cipherSuite: SSL_CIPHER_get_protocol_id(cipher))
            ?? DTLSRecords.largestProtectedOverhead
        if handshakeComplete { negotiatedProtectedMinimum = overhead }
        return overhead
    }

    // MARK: Outputs

    /// The next datagram to send to the peer, or nil.
    public func pollDatagram() -> [UInt8]? { outgoing.pop() }

    /// The next event, or nil.
    public func pollEvent() -> Event? { events.pop() }

    // MARK: Driving OpenSSL

    private func advance(now: Instant) {
        ERR_clear_error()
        if !handshakeComplete {
            let result = SSL_do_handshake(ssl)
            if result == 1 {
                handshakeComplete = true
                completeHandshake()
            } else {
                let error = SSL_get_error(ssl, result)
                if error == SSL_ERROR_ZERO_RETURN {
                    // close_notify during the handshake: the peer gave up.
                    state = .closed
                    nextDeadline = nil
                    events.push(.closed)
                } else if error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE {
                    fail(
                        callbackState.mismatch
                            ?? .handshakeFailed(OpenSSLSupport.drainErrors(fallback: "SSL_do_handshake error \(error)")))
                }
            }
        }
        if state == .connected { readApplicationData() }
        flushOutput()
        refreshDeadline(now: now)
    }

    private func completeHandshake() {
        // Checked in the verify callback already; checked again on the certificate OpenSSL kept.
        guard let peer = SSL_get0_peer_certificate(ssl) else { return failAfterHandshake(.noPeerCertificate) }
        if let mismatch = callbackState.check(peer) { return failAfterHandshake(mismatch) }
        remoteCertificateFingerprint = OpenSSLSupport.fingerprint(of: peer, hashFunction: "sha-256")
        guard let selected = SSL_get_selected_srtp_profile(ssl) else { return failAfterHandshake(.noSRTPProfileNegotiated) }
        guard let profile = SRTPProtectionProfile(rawValue: UInt16(truncatingIfNeeded: selected.pointee.id)) else {
            return failAfterHandshake(.keyExportFailed("unknown SRTP profile id \(selected.pointee.id)"))
        }
        // RFC 5764 §4.2: the exporter with this label, no context, 2 * (key + salt) bytes.
        let label = "EXTRACTOR-dtls_srtp"
        var material = [UInt8](repeating: 0, count: DTLSSRTPKeys.keyingMaterialLength(for: profile))
        let exported = material.withUnsafeMutableBufferPointer {
            SSL_export_keying_material(ssl, $0.baseAddress, $0.count, label, label.utf8.count, nil, 0, 0)
        }
        guard exported == 1,
            let keys = DTLSSRTPKeys(profile: profile, keyingMaterial: material, isClient: configuration.role == .client)
        else {
            return failAfterHandshake(.keyExportFailed(OpenSSLSupport.drainErrors(fallback: "SSL_export_keying_material failed")))
        }
        self.keys = keys
        state = .connected
        events.push(.connected(keys))
    }

    /// The handshake completed but must not be used: tell the peer with close_notify and fail.
    private func failAfterHandshake(_ error: DTLSError) {
        _ = SSL_shutdown(ssl)
        fail(error)
    }

    private func readApplicationData() {
        while state == .connected {
            let count = readBuffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 {
                counters.applicationDataReceived += 1
                events.push(.applicationData(Array(readBuffer[0..<Int(count)])))
                continue
            }
            let error = SSL_get_error(ssl, count)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return
            case SSL_ERROR_ZERO_RETURN:
                // close_notify from the peer: answer with ours (RFC 5246 §7.2.1).
                _ = SSL_shutdown(ssl)
                state = .closed
                nextDeadline = nil
                events.push(.closed)
            default:
                fail(.connectionFailed(OpenSSLSupport.drainErrors(fallback: "SSL_read error \(error)")))
            }
        }
    }

    private func fail(_ error: DTLSError) {
        guard state != .failed, state != .closed else { return }
        state = .failed
        nextDeadline = nil
        events.push(.failed(error))
    }

    /// Moves what OpenSSL wrote (a flight, an alert, application data) into datagrams.
    private func flushOutput() {
        let pending = starling_BIO_pending(writeBIO)
        guard pending > 0 else { return }
        var bytes = [UInt8](repeating: 0, count: Int(pending))
        let read = bytes.withUnsafeMutableBytes { BIO_read(writeBIO, $0.baseAddress, Int32($0.count)) }
        guard read > 0 else { return }
        if Int(read) < bytes.count { bytes.removeLast(bytes.count - Int(read)) }
        for datagram in DTLSRecords.datagrams(from: bytes, mtu: configuration.mtu) {
            counters.datagramsSent += 1
            outgoing.push(datagram)
        }
    }

    /// Maps OpenSSL's wall-clock time left onto the injected clock.
    private func refreshDeadline(now: Instant) {
        guard state == .handshaking || state == .connected else {
            nextDeadline = nil
            return
        }
        var left = timeval()
        if starling_DTLSv1_get_timeout(ssl, &left) == 1 {
            nextDeadline = now + .seconds(Int64(left.tv_sec)) + .microseconds(Int64(left.tv_usec))
        } else {
            nextDeadline = nil
        }
    }

    // MARK: OpenSSL callbacks

    /// Per-endpoint state OpenSSL's C callbacks reach through `SSL_get_app_data`.
    final class CallbackState {
        let expected: [SDP.Fingerprint]
        let initialMicroseconds: UInt32
        let maximumMicroseconds: UInt32
        /// Set by the verify callback when the peer's certificate matched no signalled fingerprint.
        var mismatch: DTLSError?

        init(expected: [SDP.Fingerprint], initialMicroseconds: UInt32, maximumMicroseconds: UInt32) {
            self.expected = expected
            self.initialMicroseconds = initialMicroseconds
            self.maximumMicroseconds = maximumMicroseconds
        }

        /// nil if `certificate` (`X509*`) hashes to one of the expected fingerprints (RFC 8122 §5).
        func check(_ certificate: OpaquePointer) -> DTLSError? {
            var actual: [SDP.Fingerprint] = []
            for fingerprint in expected {
                guard let digest = OpenSSLSupport.fingerprint(of: certificate, hashFunction: fingerprint.hashFunction) else {
                    continue
                }
                if digest.bytes == fingerprint.bytes { return nil }
                if !actual.contains(digest) { actual.append(digest) }
            }
            return .fingerprintMismatch(expected: expected, actual: actual)
        }

        /// The DTLS_set_timer_cb schedule: `previous` is 0 when a flight's timer starts.
        func timeout(after previous: UInt32) -> UInt32 {
            previous == 0 ? initialMicroseconds : min(maximumMicroseconds, previous.multipliedReportingOverflow(by: 2).partialValue)
        }
    }

    /// The SSL_CTX verify callback (installed by `DTLSCertificate`): accepts any chain, and checks
    /// the leaf against the fingerprints its endpoint expects.
    static func verifyPeerCertificate(_ store: OpaquePointer?) -> Int32 {
        guard let store else { return 0 }
        guard X509_STORE_CTX_get_error_depth(store) == 0 else { return 1 }
        guard let sslPointer = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
            let raw = starling_SSL_get_app_data(OpaquePointer(sslPointer)),
            let certificate = X509_STORE_CTX_get_current_cert(store)
        else { return 0 }
        let state = Unmanaged<CallbackState>.fromOpaque(raw).takeUnretainedValue()
        if let mismatch = state.check(certificate) {
            state.mismatch = mismatch
            // Makes OpenSSL send bad_certificate (RFC 5246 §7.2.2) rather than unknown_ca.
            X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED)
            return 0
        }
        return 1
    }
}

extension DTLSEndpoint.Role {
    /// Our role and `a=setup` value when answering an offer whose `a=setup` is `offered`
    /// (RFC 8842 §5.2, RFC 4145 §4.1): to `actpass` we answer `passive` and act as the DTLS server;
    /// to `active` we are `passive`; to `passive` we are `active`, the DTLS client. nil for
    /// `holdconn`, which WebRTC does not use.
    public static func answering(_ offered: SDP.Setup) -> (role: DTLSEndpoint.Role, setup: SDP.Setup)? {
        switch offered {
        case .actpass, .active: (.server, .passive)
        case .passive: (.client, .active)
        case .holdconn: nil
        }
    }
}

/// A FIFO that hands elements out in order and frees its storage once drained.
struct PollQueue<Element> {
    private var items: [Element?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func push(_ item: Element) { items.append(item) }

    mutating func pop() -> Element? {
        guard head < items.count else { return nil }
        let item = items[head].take()
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: items.count <= 64)
            head = 0
        }
        return item
    }
}
