import StarlingWire

/// The server side of ICE: a lite implementation (RFC 8445 §2.5), always in the controlled role, that
/// only answers connectivity checks (§7.3) and never sends any.
///
/// Sans-IO: feed every STUN datagram to `handleSTUN(_:from:now:)` and send back what it returns to the
/// same address; call `handleTimeout(now:)` at `nextDeadline`; poll `pollEvent()` after each call; send
/// media to `destination` (nil while there is no pair with consent).
///
/// **Authentication** (RFC 8445 §7.3, RFC 8489 §9.1): a Binding request is answered only when it carries
/// a valid FINGERPRINT (required: RFC 8445 §7.2.4 makes it mandatory for checks), USERNAME
/// "ourUfrag:theirUfrag" and a MESSAGE-INTEGRITY keyed with our password. RFC 8489 §9.1.3 would answer
/// 400 or 401 to the failures; we send nothing (as the transport's design asks), so an agent without the
/// password learns nothing and cannot use us as a reflector. Each drop is counted. Before the remote
/// credentials are known, the part after the colon is not checked: the MESSAGE-INTEGRITY already proves
/// the sender knows our password, which it can only have from our SDP, and RFC 8445 §7.3 needs the
/// remote ufrag only to form usernames, which a lite agent never does. Once known it must match.
/// The remote password is never needed: responses are keyed with our own password (§7.3).
///
/// **Errors that are answered**, integrity-protected and fingerprinted as RFC 8489 §9.1.4 asks of every
/// response to an authenticated request: 420 listing unknown comprehension-required attributes
/// (RFC 8489 §6.3.1), and 487 when the peer claims ICE-CONTROLLED. A lite agent is always controlled
/// (RFC 8445 §6.1.1: the full agent must control) and cannot switch roles, so it keeps its role and
/// asks the peer to change, which §7.2.5.1 makes it do. Neither counts as a valid check.
///
/// **Selection** (RFC 8445 §7.3.2 for lite agents, §8.2): every valid check records or refreshes a
/// valid pair, identified by the remote address (with host candidates the IO layer sends from the
/// socket the request arrived on). The selected pair changes only after a valid check from the new
/// address, when
/// - the check carries USE-CANDIDATE: the latest nomination wins. Chromium, whose default
///   semi-aggressive nomination sends USE-CANDIDATE on every check of its selected pair when the peer
///   is lite, renominates this way after a network change; or
/// - no pair is selected yet: the first valid check selects its pair provisionally, so DTLS can answer
///   before nomination (Chromium starts DTLS once a pair is writable; aiortc nominates only after a
///   first successful check); or
/// - the selected pair had no valid check for `followAfterSilence`: the peer moved (a NAT rebinding)
///   and does not renominate; aiortc sends its consent checks without USE-CANDIDATE.
///
/// **Consent** (RFC 7675, seen from the receiving side): the selected pair is disconnected when it
/// has had no valid check for `consentTimeout` (30 s); a later valid check revives it.
///
/// **ICE restart** (RFC 8445 §9): `restart(local:remote:)` adds new credentials beside the old ones. The
/// old ones are answered until the first valid check with the new ones, which reports `.restarted`;
/// from then on only the new ones are accepted. The selected pair is kept, and usable, throughout: it
/// changes only by the rules above.
public struct ICELiteAgent: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// No valid check on the selected pair for this long means consent is lost (RFC 7675 §5.1).
        public var consentTimeout: Duration = .seconds(30)
        /// A valid check without USE-CANDIDATE from another address takes over the selection once the
        /// selected pair has been silent this long: longer than a consent period and its jitter
        /// (RFC 7675 §5.1: 4-6 s; Chromium pings its selected pair every 2.5 s at most), short enough to
        /// follow a NAT rebinding quickly.
        public var followAfterSilence: Duration = .seconds(8)
        /// Valid pairs remembered at most; the least recently checked unselected one is forgotten first.
        public var maxPairs: Int = 16

        public init() {}
    }

    /// What happened to every datagram, counted for metrics: each datagram given to `handleSTUN` adds one
    /// to exactly one of the fields from `successResponses` to `ignoredResponses`.
    public struct Counters: Hashable, Sendable {
        /// Valid checks, answered with a success response.
        public var successResponses = 0
        /// Authenticated requests answered 420 (unknown comprehension-required attributes).
        public var unknownAttributeResponses = 0
        /// Authenticated requests answered 487 (the peer claimed ICE-CONTROLLED).
        public var roleConflictResponses = 0
        /// Dropped: not a well-formed STUN message.
        public var malformed = 0
        /// Dropped: a request for a method other than Binding.
        public var unsupportedMethod = 0
        /// Dropped: a request without FINGERPRINT.
        public var missingFingerprint = 0
        /// Dropped: FINGERPRINT does not match.
        public var badFingerprint = 0
        /// Dropped: USERNAME or MESSAGE-INTEGRITY missing.
        public var missingCredentials = 0
        /// Dropped: USERNAME is not "ourUfrag:theirUfrag" for any ufrag of ours.
        public var unknownUfrag = 0
        /// Dropped: our ufrag, but the part after the colon is not the peer's known ufrag.
        public var remoteUfragMismatch = 0
        /// Dropped: MESSAGE-INTEGRITY does not verify with our password.
        public var badIntegrity = 0
        /// Ignored: indications (RFC 7675 leaves Binding indications as keepalives that need no answer).
        public var ignoredIndications = 0
        /// Ignored: responses (a lite agent sends no requests).
        public var ignoredResponses = 0

        /// Times the selected pair lost consent.
        public var consentExpirations = 0
        /// Times the selected pair changed (the first selection included).
        public var selectedPairChanges = 0

        public init() {}
    }

    /// A candidate pair that passed a check (RFC 8445 §7.3.2), named by its remote address.
    public struct ValidPair: Hashable, Sendable {
        public var remote: STUNAddress
        public var lastValidCheck: Instant
        /// A valid check with USE-CANDIDATE came on this pair.
        public var nominated: Bool
        /// The PRIORITY of the last valid check, if it had one.
        public var priority: UInt32?
    }

    struct CredentialSet: Sendable {
        var local: ICECredentials
        var key: [UInt8]
        var remote: ICECredentials?

        init(local: ICECredentials, remote: ICECredentials?) {
            self.local = local
            self.key = iceKey(local.pwd)
            self.remote = remote
        }
    }

    public let configuration: Configuration
    public private(set) var state: ICEState = .new
    /// The remote address of the selected pair, kept while consent is lost so it can revive.
    public private(set) var selectedRemote: STUNAddress?
    public private(set) var pairs: [ValidPair] = []
    public private(set) var counters = Counters()

    var active: CredentialSet
    var pending: CredentialSet?
    var events: [ICEEvent] = []

    /// - Parameters:
    ///   - local: our ufrag and password, as put in our SDP.
    ///   - remote: the peer's, from its SDP; may come later with `setRemoteCredentials(_:)`.
    public init(local: ICECredentials, remote: ICECredentials? = nil, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.active = CredentialSet(local: local, remote: remote)
    }

    /// The credentials in use.
    public var localCredentials: ICECredentials { active.local }
    public var remoteCredentials: ICECredentials? { active.remote }
    /// The credentials of a restart the peer has not used yet. Both these and `localCredentials` are
    /// accepted meanwhile (a shared-port IO layer routes both ufrags to this agent).
    public var pendingLocalCredentials: ICECredentials? { pending?.local }

    /// Where to send media: the selected pair's remote address while it has consent, else nil.
    public var destination: STUNAddress? { state == .connected ? selectedRemote : nil }

    /// Sets the peer's credentials when its SDP arrives after ours (those of a pending restart, if any).
    public mutating func setRemoteCredentials(_ remote: ICECredentials) {
        if pending != nil {
            pending?.remote = remote
        } else {
            active.remote = remote
        }
    }

    /// Starts an ICE restart (RFC 8445 §9) with new credentials; see the type's documentation. A second
    /// call before the peer used the first one's credentials replaces them.
    public mutating func restart(local: ICECredentials, remote: ICECredentials?) {
        pending = CredentialSet(local: local, remote: remote)
    }

    /// The next event, in the order they happened.
    public mutating func pollEvent() -> ICEEvent? {
        events.isEmpty ? nil : events.removeFirst()
    }

    /// When `handleTimeout(now:)` must run next: the selected pair's consent expiry while connected.
    public var nextDeadline: Instant? {
        guard state == .connected, let pair = selectedPair else { return nil }
        return pair.lastValidCheck + configuration.consentTimeout
    }

    /// Expires consent (RFC 7675 §5.1) and forgets pairs silent for longer than the consent timeout.
    public mutating func handleTimeout(now: Instant) {
        if state == .connected, let deadline = nextDeadline, now >= deadline {
            state = .disconnected
            counters.consentExpirations += 1
            events.append(.disconnected)
        }
        let selected = selectedRemote
        let timeout = configuration.consentTimeout
        pairs.removeAll { $0.remote != selected && now - $0.lastValidCheck >= timeout }
    }

    public mutating func handleSTUN(_ bytes: [UInt8], from source: STUNAddress, now: Instant) -> [UInt8]? {
        bytes.withUnsafeBytes { handleSTUN($0, from: source, now: now) }
    }

    /// Processes one STUN datagram from `source` and returns the response to send back to `source`, if
    /// any. Never traps on any input; every datagram not answered with a success is counted.
    public mutating func handleSTUN(_ bytes: UnsafeRawBufferPointer, from source: STUNAddress, now: Instant) -> [UInt8]? {
        let message: STUNMessage
        do {
            message = try STUNMessage(parsing: bytes)
        } catch {
            counters.malformed += 1
            return nil
        }
        switch message.type.messageClass {
        case .request:
            break
        case .indication:
            counters.ignoredIndications += 1
            return nil
        case .successResponse, .errorResponse:
            counters.ignoredResponses += 1
            return nil
        }
        guard message.type.method == .binding else {
            counters.unsupportedMethod += 1
            return nil
        }
        guard message.fingerprint != nil else {
            counters.missingFingerprint += 1
            return nil
        }
        guard STUNMessage.verifyFingerprint(bytes) else {
            counters.badFingerprint += 1
            return nil
        }
        guard let username = message.username, message.messageIntegrity != nil else {
            counters.missingCredentials += 1
            return nil
        }
        guard let usedPending = authenticate(bytes, username: username) else { return nil }
        let key = usedPending ? (pending?.key ?? active.key) : active.key

        // RFC 8489 §6.3.1: after authentication, unknown comprehension-required attributes get a 420.
        let unknown = message.unknownComprehensionRequiredAttributes
        if !unknown.isEmpty {
            counters.unknownAttributeResponses += 1
            return STUNMessage.errorResponse(
                to: message, code: STUNErrorCode.unknownAttribute, reason: "Unknown Attribute", unknownAttributes: unknown
            ).serialize(integrityKey: key, fingerprint: true)
        }
        // RFC 8445 §7.3.1.1: a peer that believes it is controlled is told to take control.
        if message.iceControlled != nil {
            counters.roleConflictResponses += 1
            return STUNMessage.errorResponse(to: message, code: STUNErrorCode.roleConflict, reason: "Role Conflict")
                .serialize(integrityKey: key, fingerprint: true)
        }

        if usedPending, let next = pending {
            // The peer uses the restart's credentials (RFC 8445 §9): the old ones are retired, and with
            // them every pair but the selected one, which carries media until a new one is chosen.
            active = next
            pending = nil
            let selected = selectedRemote
            pairs.removeAll { $0.remote != selected }
            events.append(.restarted)
        }
        counters.successResponses += 1
        recordValidCheck(from: source, nominated: message.useCandidate, priority: message.priority, now: now)
        return STUNMessage.successResponse(to: message, mappedAddress: source)
            .serialize(integrityKey: key, fingerprint: true)
    }

    // MARK: - Internals

    var selectedPair: ValidPair? {
        guard let selected = selectedRemote else { return nil }
        return pairs.first { $0.remote == selected }
    }

    /// Checks USERNAME and MESSAGE-INTEGRITY against the pending credentials, then the active ones.
    /// Returns whether the pending ones matched, or nil (after counting the drop) when neither did.
    mutating func authenticate(_ bytes: UnsafeRawBufferPointer, username: String) -> Bool? {
        let name = Array(username.utf8)
        guard let colon = name.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon + 1 < name.count else {
            counters.unknownUfrag += 1
            return nil
        }
        let ours = name[..<colon]
        let theirs = name[(colon + 1)...]
        var ufragMatched = false
        var integrityTried = false
        for (isPending, set) in [(true, pending), (false, active)] {
            guard let set, set.local.ufrag.utf8.elementsEqual(ours) else { continue }
            ufragMatched = true
            if let remote = set.remote, !remote.ufrag.utf8.elementsEqual(theirs) { continue }
            integrityTried = true
            if STUNMessage.verifyIntegrity(bytes, key: set.key) { return isPending }
        }
        if !ufragMatched {
            counters.unknownUfrag += 1
        } else if !integrityTried {
            counters.remoteUfragMismatch += 1
        } else {
            counters.badIntegrity += 1
        }
        return nil
    }

    /// Records a valid check (RFC 8445 §7.3.2) and applies the selection rules of the type's documentation.
    mutating func recordValidCheck(from source: STUNAddress, nominated: Bool, priority: UInt32?, now: Instant) {
        // Whether the selection may move, judged before this check refreshes anything.
        let selectedSilent: Bool
        if let pair = selectedPair {
            selectedSilent = now - pair.lastValidCheck >= configuration.followAfterSilence
        } else {
            selectedSilent = true
        }

        if let index = pairs.firstIndex(where: { $0.remote == source }) {
            pairs[index].lastValidCheck = now
            pairs[index].nominated = pairs[index].nominated || nominated
            if let priority { pairs[index].priority = priority }
        } else {
            if pairs.count >= max(configuration.maxPairs, 1) {
                let selected = selectedRemote
                let evictable = pairs.indices.filter { pairs[$0].remote != selected }
                if let oldest = evictable.min(by: { pairs[$0].lastValidCheck < pairs[$1].lastValidCheck }) {
                    pairs.remove(at: oldest)
                }
            }
            pairs.append(ValidPair(remote: source, lastValidCheck: now, nominated: nominated, priority: priority))
        }

        if selectedRemote != source {
            guard nominated || selectedSilent else { return }
            selectedRemote = source
            counters.selectedPairChanges += 1
            events.append(.selectedPairChanged(remote: source))
        }
        if state != .connected {
            state = .connected
            events.append(.connected)
        }
    }
}
