public import StarlingAPI

/// What the two Swift clients share: a `JSONSocket`, requests waiting for their reply by id, and the other
/// messages as events. Each client says how to read a message (`classify`) and how to write a request.
actor RequestLink {
    /// How a client reads one incoming message.
    enum Incoming: Sendable {
        case reply(id: Int, Result<JSONValue, any Error>)
        case event(JSONValue)
        case ignore
    }

    let socket: JSONSocket
    nonisolated let events: AsyncStream<JSONValue>
    private let eventSink: AsyncStream<JSONValue>.Continuation
    private var pending: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
    private var nextID = 1
    private var reader: Task<Void, Never>?
    private let closedError: any Error

    init(socket: JSONSocket, closedError: any Error) {
        self.socket = socket
        self.closedError = closedError
        (events, eventSink) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingNewest(4096))
    }

    /// Reads the socket until it closes; then every waiting request fails and `events` finishes.
    func start(classify: @escaping @Sendable (JSONValue) -> Incoming) {
        let socket = self.socket
        reader = Task { [weak self] in
            for await text in socket.incoming {
                guard let self, let message = JSONValue(parsing: text) else { continue }
                await self.receive(classify(message))
            }
            await self?.closed()
        }
    }

    private func receive(_ incoming: Incoming) {
        switch incoming {
        case .reply(let id, let result): pending.removeValue(forKey: id)?.resume(with: result)
        case .event(let event): eventSink.yield(event)
        case .ignore: break
        }
    }

    private func closed() {
        for (_, waiter) in pending { waiter.resume(throwing: closedError) }
        pending.removeAll()
        eventSink.finish()
    }

    /// Sends the request `make(id)` builds and waits for its reply.
    func request(_ make: (Int) -> JSONValue) async throws -> JSONValue {
        let id = nextID
        nextID += 1
        let text = make(id).text
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = continuation
            let socket = self.socket
            Task {
                do {
                    try await socket.send(text)
                } catch {
                    self.fail(id, error)
                }
            }
        }
    }

    private func fail(_ id: Int, _ error: any Error) {
        pending.removeValue(forKey: id)?.resume(throwing: error)
    }
}
