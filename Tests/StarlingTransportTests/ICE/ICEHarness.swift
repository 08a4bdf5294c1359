import StarlingTransport
import StarlingWire

/// An in-memory network between our controlling agent (the client) and a lite agent (the server),
/// driven by a virtual clock. Datagrams take `latency` one way; `drop` decides which are lost.
///
/// `clientAddress` is the client's address as the server sees it: changing it mid-run models a NAT
/// rebinding (datagrams to the old mapping are then lost).
struct ICEHarness {
    struct Packet {
        var arrival: Instant
        var from: STUNAddress
        var to: STUNAddress
        var bytes: [UInt8]
        var toServer: Bool
    }

    var lite: ICELiteAgent
    var client: ICEControllingAgent
    var now = Instant.zero
    var clientAddress: STUNAddress
    var serverAddresses: [STUNAddress]
    var latency: Duration = .milliseconds(10)
    var drop: (Packet) -> Bool = { _ in false }

    var inFlight: [Packet] = []
    var liteEvents: [(at: Instant, event: ICEEvent)] = []
    var clientEvents: [(at: Instant, event: ICEEvent)] = []
    /// Datagrams that reached the server, and responses it sent.
    var deliveredToServer: [Packet] = []
    var responsesFromServer: [Packet] = []

    static let serverCredentials = ICECredentials(ufrag: "SFUu", pwd: "serverPasswordIsLongEnough")
    static let clientCredentials = ICECredentials(ufrag: "CLNT", pwd: "clientPasswordIsLongEnough")

    init(
        clientAddress: STUNAddress = STUNAddress(ipv4: 192, 0, 2, 10, port: 50_000),
        serverAddresses: [STUNAddress] = [STUNAddress(ipv4: 198, 51, 100, 1, port: 3478)],
        liteRemote: ICECredentials? = ICEHarness.clientCredentials,
        clientLocal: ICECredentials = ICEHarness.clientCredentials,
        clientRemote: ICECredentials = ICEHarness.serverCredentials
    ) {
        self.clientAddress = clientAddress
        self.serverAddresses = serverAddresses
        lite = ICELiteAgent(local: Self.serverCredentials, remote: liteRemote)
        client = ICEControllingAgent(
            configuration: .init(local: clientLocal, remote: clientRemote, remoteCandidates: serverAddresses))
    }

    var liteEventList: [ICEEvent] { liteEvents.map(\.event) }
    var clientEventList: [ICEEvent] { clientEvents.map(\.event) }

    mutating func start() {
        client.start(now: now)
        collect()
    }

    mutating func run(for duration: Duration) { run(until: now + duration) }

    /// Delivers datagrams and fires timeouts in time order until `end`.
    mutating func run(until end: Instant) {
        while true {
            collect()
            let next = [inFlight.map(\.arrival).min(), lite.nextDeadline, client.nextDeadline].compactMap { $0 }.min()
            guard let next, next <= end else { break }
            now = max(now, next)
            while let i = inFlight.indices.filter({ inFlight[$0].arrival <= now }).min(by: { inFlight[$0].arrival < inFlight[$1].arrival }) {
                let packet = inFlight.remove(at: i)
                deliver(packet)
            }
            if let d = lite.nextDeadline, d <= now { lite.handleTimeout(now: now) }
            if let d = client.nextDeadline, d <= now { client.handleTimeout(now: now) }
        }
        now = end
        lite.handleTimeout(now: now)
        client.handleTimeout(now: now)
        collect()
    }

    /// Sends `bytes` to the server as if from `source`, now, bypassing the network; returns the answer.
    mutating func inject(_ bytes: [UInt8], from source: STUNAddress) -> [UInt8]? {
        let response = lite.handleSTUN(bytes, from: source, now: now)
        collect()
        return response
    }

    mutating func deliver(_ packet: Packet) {
        if packet.toServer {
            deliveredToServer.append(packet)
            if let response = lite.handleSTUN(packet.bytes, from: packet.from, now: now) {
                let answer = Packet(arrival: now + latency, from: packet.to, to: packet.from, bytes: response, toServer: false)
                responsesFromServer.append(answer)
                send(answer)
            }
        } else if packet.to == clientAddress {
            client.handleSTUN(packet.bytes, from: packet.from, now: now)
        }
        collect()
    }

    mutating func send(_ packet: Packet) {
        if !drop(packet) { inFlight.append(packet) }
    }

    mutating func collect() {
        while let t = client.pollTransmit() {
            send(Packet(arrival: now + latency, from: clientAddress, to: t.destination, bytes: t.bytes, toServer: true))
        }
        while let e = client.pollEvent() { clientEvents.append((now, e)) }
        while let e = lite.pollEvent() { liteEvents.append((now, e)) }
    }
}

/// Builds Binding requests by hand, the way a peer would.
enum Requests {
    static func binding(
        username: String? = "SFUu:CLNT",
        pwd: String? = ICEHarness.serverCredentials.pwd,
        useCandidate: Bool = false,
        controlled: Bool = false,
        extra: [STUNAttribute] = [],
        fingerprint: Bool = true,
        transactionID: STUNTransactionID = .random()
    ) -> [UInt8] {
        var attributes: [STUNAttribute] = []
        if let username { attributes.append(.username(username)) }
        attributes += extra
        attributes.append(controlled ? .iceControlled(0x1234) : .iceControlling(0x5678))
        if useCandidate { attributes.append(.useCandidate) }
        attributes.append(.priority(ICEControllingAgent.Configuration.peerReflexivePriority))
        let message = STUNMessage(type: .bindingRequest, transactionID: transactionID, attributes: attributes)
        return message.serialize(integrityKey: pwd.map { STUNCredentials.shortTermKey(password: $0) }, fingerprint: fingerprint)
    }

    static func parse(_ bytes: [UInt8]) throws -> STUNMessage {
        try bytes.withUnsafeBytes { try STUNMessage(parsing: $0) }
    }
}
