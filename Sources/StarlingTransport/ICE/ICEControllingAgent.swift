import StarlingWire

/// The client side of ICE against a lite peer such as our SFU: a full agent in the controlling role
/// (RFC 8445 §6.1.1 makes the full agent control when the peer is lite), reduced to what that needs.
///
/// It knows the peer's candidates (host candidates from its SDP), checks each from our one socket and
/// nominates aggressively: every check carries USE-CANDIDATE, and the first candidate whose check
/// succeeds becomes the selected pair; checks still running to other candidates are cancelled.
/// It does not gather candidates or switch roles (a 487 just fails that check).
///
/// **Answering checks** (RFC 8445 §7.3): a lite peer need not send checks, but some do (libnice's lite
/// mode, in Janus, checks our candidate and only reports connected once its check succeeds). A Binding
/// request with USERNAME "ourUfrag:theirUfrag", a valid MESSAGE-INTEGRITY keyed with our password and a
/// valid FINGERPRINT gets a success response with XOR-MAPPED-ADDRESS (§7.3.1.4). A request claiming
/// ICE-CONTROLLING too gets 487 Role Conflict when our tie-breaker is not smaller (§7.3.1.1); otherwise
/// (we would have to give up control, which this agent does not do) it is dropped and counted.
///
/// Sans-IO: call `start(now:)`, then feed STUN datagrams to `handleSTUN(_:from:now:)` and call
/// `handleTimeout(now:)` at `nextDeadline`; after each call drain `pollTransmit()` and `pollEvent()`.
///
/// **Checks** (RFC 8445 §7.2.4): Binding requests with USERNAME "theirUfrag:ourUfrag", PRIORITY,
/// ICE-CONTROLLING with our tie-breaker, USE-CANDIDATE, MESSAGE-INTEGRITY keyed with their password
/// and FINGERPRINT. First transmissions to successive candidates are paced `pacing` (Ta, §14.2) apart.
/// Each is retransmitted on RFC 8489 §6.2.1's schedule: after `initialRTO` (500 ms), then doubling, for
/// `maxRequests` (Rc = 7) transmissions in all, and given up `lastWaitFactor` (Rm = 16) RTOs after the
/// last: sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s, failure at 39.5 s.
///
/// **Responses** (§7.2.5) count only when they match an outstanding transaction, come from the address
/// the request went to (§7.2.5.2.1), carry a valid MESSAGE-INTEGRITY keyed with their password and, if
/// present, a valid FINGERPRINT. Anything else is dropped and counted, so unauthenticated error
/// responses cannot end a check.
///
/// **Consent** (RFC 7675 §5.1): once connected, a check goes to the selected pair every
/// `consentInterval` randomised to 0.8-1.2 times (4-6 s), retransmitted as above until the next one
/// replaces it. These keep USE-CANDIDATE so a lite peer that saw several of our checks settles on our
/// selected pair. With no valid response for `consentTimeout` (30 s) the agent is disconnected and media
/// must stop; consent checks go on, and a valid response revives the pair.
///
/// **ICE restart** (RFC 8445 §9): `restart(local:remote:remoteCandidates:now:)` switches to new
/// credentials and checks the candidates again, keeping the selected pair (and media) until a check
/// with the new credentials succeeds, which reports `.restarted`.
public struct ICEControllingAgent: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var local: ICECredentials
        public var remote: ICECredentials
        /// The peer's candidates, in the order to check them (highest priority first).
        public var remoteCandidates: [STUNAddress]
        /// ICE-CONTROLLING's tie-breaker (RFC 8445 §7.1.3); random by default.
        public var tieBreaker: UInt64
        /// The PRIORITY attribute (RFC 8445 §7.1.1): the priority a peer-reflexive candidate learnt
        /// from our checks would get.
        public var priority: UInt32 = Configuration.peerReflexivePriority
        /// Ta (RFC 8445 §14.2) between the first checks of successive candidates.
        public var pacing: Duration = .milliseconds(50)
        /// RTO (RFC 8489 §6.2.1).
        public var initialRTO: Duration = .milliseconds(500)
        /// Rc (RFC 8489 §6.2.1): transmissions of one request, the first included.
        public var maxRequests: Int = 7
        /// Rm (RFC 8489 §6.2.1): RTOs to wait after the last transmission.
        public var lastWaitFactor: Int = 16
        /// Consent check period before jitter (RFC 7675 §5.1).
        public var consentInterval: Duration = .seconds(5)
        /// No valid response for this long means consent is lost (RFC 7675 §5.1).
        public var consentTimeout: Duration = .seconds(30)

        /// RFC 8445 §5.1.2.1 with type preference 110 (peer-reflexive), local preference 65535 and
        /// component 1.
        public static let peerReflexivePriority: UInt32 = 110 << 24 | 65535 << 8 | (256 - 1)

        public init(
            local: ICECredentials, remote: ICECredentials, remoteCandidates: [STUNAddress],
            tieBreaker: UInt64 = UInt64.random(in: .min ... .max)
        ) {
            self.local = local
            self.remote = remote
            self.remoteCandidates = remoteCandidates
            self.tieBreaker = tieBreaker
        }
    }

    /// What happened to every datagram and transaction, for metrics.
    public struct Counters: Hashable, Sendable {
        /// Requests sent for the first time.
        public var requestsSent = 0
        public var retransmissions = 0
        /// Transactions given up after their last retransmission without a valid response.
        public var transactionTimeouts = 0
        /// Valid success responses.
        public var successResponses = 0
        /// Valid (integrity-checked) error responses; each fails its check.
        public var errorResponses = 0
        /// Dropped: not a well-formed STUN message.
        public var malformed = 0
        /// Dropped: a response to no outstanding transaction (late, cancelled, or forged).
        public var unmatchedResponses = 0
        /// Dropped: a response from an address other than the request's destination.
        public var asymmetricResponses = 0
        /// Dropped: FINGERPRINT present and wrong.
        public var badFingerprint = 0
        /// Dropped: a response without MESSAGE-INTEGRITY.
        public var missingIntegrity = 0
        /// Dropped: MESSAGE-INTEGRITY does not verify with the peer's password.
        public var badIntegrity = 0
        /// Requests dropped: not Binding, no or bad FINGERPRINT, unknown USERNAME or bad MESSAGE-INTEGRITY,
        /// or a role conflict we would lose.
        public var ignoredRequests = 0
        /// Checks from the peer answered with a success response.
        public var checksAnswered = 0
        /// Checks from a peer that also claimed control, answered with 487 (RFC 8445 §7.3.1.1).
        public var roleConflictResponses = 0
        public var ignoredIndications = 0
        /// Times the selected pair lost consent.
        public var consentExpirations = 0

        public init() {}
    }

    /// A datagram to send from our socket.
    public struct Transmit: Hashable, Sendable {
        public var bytes: [UInt8]
        public var destination: STUNAddress
    }

    struct Transaction: Sendable {
        enum Kind: Sendable { case check, consent }
        var id: STUNTransactionID
        var kind: Kind
        var destination: STUNAddress
        var bytes: [UInt8]
        var transmissions = 0
        var rto: Duration
        /// The next transmission, or the timeout once all `maxRequests` are sent.
        var due: Instant
    }

    public private(set) var configuration: Configuration
    public private(set) var state: ICEState = .new
    /// The peer's address on the selected pair; kept while consent is lost.
    public private(set) var selectedRemote: STUNAddress?
    /// Our address as the peer saw it, from the last valid XOR-MAPPED-ADDRESS.
    public private(set) var mappedAddress: STUNAddress?
    public private(set) var counters = Counters()

    var key: [UInt8]
    var transactions: [Transaction] = []
    var transmits: [Transmit] = []
    var events: [ICEEvent] = []
    /// The last valid response on the selected pair.
    var lastConsent: Instant?
    var nextConsentCheck: Instant?
    /// A restart's checks run while a pair from before it is kept.
    var restarting = false

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.key = iceKey(configuration.remote.pwd)
    }

    /// Where to send media: the selected pair's remote address while it has consent, else nil.
    public var destination: STUNAddress? { state == .connected ? selectedRemote : nil }

    /// Begins the checks. Does nothing unless the agent is new.
    public mutating func start(now: Instant) {
        guard state == .new else { return }
        state = .checking
        scheduleChecks(now: now)
        handleTimeout(now: now)
    }

    /// Restarts ICE (RFC 8445 §9) with new credentials, and new candidates when given; see the type's
    /// documentation. An agent that never started just takes the new configuration.
    public mutating func restart(
        local: ICECredentials, remote: ICECredentials, remoteCandidates: [STUNAddress]? = nil, now: Instant
    ) {
        configuration.local = local
        configuration.remote = remote
        if let remoteCandidates { configuration.remoteCandidates = remoteCandidates }
        key = iceKey(remote.pwd)
        // Requests signed with the old password are abandoned; their responses become unmatched.
        transactions.removeAll()
        switch state {
        case .new:
            return
        case .checking, .failed:
            state = .checking
            restarting = false
        case .connected, .disconnected:
            restarting = true
        }
        scheduleChecks(now: now)
        handleTimeout(now: now)
    }

    /// The next datagram to send, in order.
    public mutating func pollTransmit() -> Transmit? {
        transmits.isEmpty ? nil : transmits.removeFirst()
    }

    /// The next event, in the order they happened.
    public mutating func pollEvent() -> ICEEvent? {
        events.isEmpty ? nil : events.removeFirst()
    }

    /// When `handleTimeout(now:)` must run next.
    public var nextDeadline: Instant? {
        var deadline = transactions.lazy.map(\.due).min()
        func consider(_ instant: Instant?) {
            guard let instant else { return }
            deadline = deadline.map { min($0, instant) } ?? instant
        }
        consider(nextConsentCheck)
        if state == .connected, let last = lastConsent { consider(last + configuration.consentTimeout) }
        return deadline
    }

    /// Sends due (re)transmissions and consent checks, expires transactions and consent.
    public mutating func handleTimeout(now: Instant) {
        if state == .connected, let last = lastConsent, now >= last + configuration.consentTimeout {
            state = .disconnected
            counters.consentExpirations += 1
            events.append(.disconnected)
        }
        if let next = nextConsentCheck, now >= next, let remote = selectedRemote {
            transactions.removeAll { $0.kind == .consent }
            transactions.append(makeTransaction(.consent, to: remote, due: now))
            let jitter = Double.random(in: 0.8...1.2)
            nextConsentCheck = now + configuration.consentInterval * jitter
        }
        var index = 0
        while index < transactions.count {
            guard transactions[index].due <= now else {
                index += 1
                continue
            }
            if transactions[index].transmissions >= max(configuration.maxRequests, 1) {
                counters.transactionTimeouts += 1
                transactions.remove(at: index)
                continue
            }
            transmits.append(Transmit(bytes: transactions[index].bytes, destination: transactions[index].destination))
            if transactions[index].transmissions == 0 {
                counters.requestsSent += 1
            } else {
                counters.retransmissions += 1
            }
            transactions[index].transmissions += 1
            if transactions[index].transmissions < configuration.maxRequests {
                transactions[index].due = now + transactions[index].rto
                transactions[index].rto = transactions[index].rto * 2
            } else {
                transactions[index].due = now + configuration.initialRTO * configuration.lastWaitFactor
            }
            index += 1
        }
        failIfChecksExhausted()
    }

    public mutating func handleSTUN(_ bytes: [UInt8], from source: STUNAddress, now: Instant) {
        bytes.withUnsafeBytes { handleSTUN($0, from: source, now: now) }
    }

    /// Processes one STUN datagram from `source`. Never traps on any input; every drop is counted.
    public mutating func handleSTUN(_ bytes: UnsafeRawBufferPointer, from source: STUNAddress, now: Instant) {
        let message: STUNMessage
        do {
            message = try STUNMessage(parsing: bytes)
        } catch {
            counters.malformed += 1
            return
        }
        switch message.type.messageClass {
        case .request:
            answerCheck(message, bytes, from: source)
            return
        case .indication:
            counters.ignoredIndications += 1
            return
        case .successResponse, .errorResponse:
            break
        }
        guard message.type.method == .binding,
              let index = transactions.firstIndex(where: { $0.id == message.transactionID })
        else {
            counters.unmatchedResponses += 1
            return
        }
        guard transactions[index].destination == source else {
            counters.asymmetricResponses += 1
            return
        }
        if message.fingerprint != nil, !STUNMessage.verifyFingerprint(bytes) {
            counters.badFingerprint += 1
            return
        }
        guard message.messageIntegrity != nil else {
            counters.missingIntegrity += 1
            return
        }
        guard STUNMessage.verifyIntegrity(bytes, key: key) else {
            counters.badIntegrity += 1
            return
        }
        let transaction = transactions.remove(at: index)
        guard message.type.messageClass == .successResponse else {
            counters.errorResponses += 1
            failIfChecksExhausted()
            return
        }
        counters.successResponses += 1
        if let mapped = message.xorMappedAddress { mappedAddress = mapped }
        succeeded(transaction, now: now)
    }

    // MARK: - Internals

    /// RFC 8445 §7.3: authenticates a check with our credentials and answers it (see the type's documentation).
    mutating func answerCheck(_ message: STUNMessage, _ bytes: UnsafeRawBufferPointer, from source: STUNAddress) {
        let expected = configuration.local.ufrag + ":" + configuration.remote.ufrag
        guard message.type.method == .binding, message.fingerprint != nil, STUNMessage.verifyFingerprint(bytes),
            message.username == expected, message.messageIntegrity != nil
        else {
            counters.ignoredRequests += 1
            return
        }
        let localKey = iceKey(configuration.local.pwd)
        guard STUNMessage.verifyIntegrity(bytes, key: localKey) else {
            counters.ignoredRequests += 1
            return
        }
        if let theirs = message.iceControlling {
            guard configuration.tieBreaker >= theirs else {
                counters.ignoredRequests += 1
                return
            }
            counters.roleConflictResponses += 1
            transmits.append(
                Transmit(
                    bytes: STUNMessage.errorResponse(to: message, code: STUNErrorCode.roleConflict, reason: "Role Conflict")
                        .serialize(integrityKey: localKey, fingerprint: true),
                    destination: source))
            return
        }
        counters.checksAnswered += 1
        transmits.append(
            Transmit(
                bytes: STUNMessage.successResponse(to: message, mappedAddress: source).serialize(integrityKey: localKey, fingerprint: true),
                destination: source))
    }

    mutating func scheduleChecks(now: Instant) {
        for (i, candidate) in configuration.remoteCandidates.enumerated() {
            transactions.append(makeTransaction(.check, to: candidate, due: now + configuration.pacing * i))
        }
    }

    func makeTransaction(_ kind: Transaction.Kind, to destination: STUNAddress, due: Instant) -> Transaction {
        let id = STUNTransactionID.random()
        let request = STUNMessage(
            type: .bindingRequest, transactionID: id,
            attributes: [
                .username(configuration.remote.ufrag + ":" + configuration.local.ufrag),
                .priority(configuration.priority),
                .iceControlling(configuration.tieBreaker),
                .useCandidate,
            ])
        return Transaction(
            id: id, kind: kind, destination: destination,
            bytes: request.serialize(integrityKey: key, fingerprint: true),
            rto: configuration.initialRTO, due: due)
    }

    /// A valid success response: the pair is valid and, nominated aggressively, selected (§7.2.5.3.4).
    mutating func succeeded(_ transaction: Transaction, now: Instant) {
        let remote = transaction.destination
        if transaction.kind == .check || restarting {
            // The first success ends the checking (or the restart): cancel the other checks.
            transactions.removeAll { $0.kind == .check }
            if selectedRemote != remote {
                selectedRemote = remote
                transactions.removeAll { $0.kind == .consent && $0.destination != remote }
                events.append(.selectedPairChanged(remote: remote))
            }
            if restarting {
                restarting = false
                events.append(.restarted)
            }
        }
        guard remote == selectedRemote else { return }
        lastConsent = now
        if nextConsentCheck == nil {
            nextConsentCheck = now + configuration.consentInterval * Double.random(in: 0.8...1.2)
        }
        if state != .connected {
            state = .connected
            events.append(.connected)
        }
    }

    /// Reports `.failed` when no check of the initial checking or of a restart is left.
    mutating func failIfChecksExhausted() {
        guard state == .checking || restarting, !transactions.contains(where: { $0.kind == .check }) else { return }
        if state == .checking { state = .failed }
        restarting = false
        events.append(.failed)
    }
}
