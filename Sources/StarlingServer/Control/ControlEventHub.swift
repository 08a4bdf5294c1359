import StarlingAPI
import Foundation
import NIOConcurrencyHelpers

/// Room events for the control API's subscribers (`subscribe` on `/control`): rooms publish, each subscriber
/// gets those of its room (or of every room) as JSON-RPC notifications. Publishing serializes once and
/// never waits: a subscriber that does not keep up loses the oldest events (its stream buffers 1024).
final class ControlEventHub: Sendable {
    private struct Subscriber {
        var room: String?
        var continuation: AsyncStream<String>.Continuation
    }
    private let subscribers = NIOLockedValueBox([Int: Subscriber]())
    private let nextID = NIOLockedValueBox(1)

    /// A stream of notification texts for `room` (nil: every room); `cancel` ends it.
    func subscribe(room: String?) -> (id: Int, stream: AsyncStream<String>) {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let id = nextID.withLockedValue { value in
            defer { value += 1 }
            return value
        }
        subscribers.withLockedValue { $0[id] = Subscriber(room: room, continuation: continuation) }
        return (id, stream)
    }

    func cancel(_ id: Int) {
        subscribers.withLockedValue { $0.removeValue(forKey: id) }?.continuation.finish()
    }

    /// Whether anyone listens to `room`'s events (so rooms need not build events nobody reads).
    func hasSubscribers(room: String) -> Bool {
        subscribers.withLockedValue { $0.values.contains { $0.room == nil || $0.room == room } }
    }

    /// `{"jsonrpc": "2.0", "method": "event", "params": {"room": ..., "type": ..., "time": ..., ...fields}}`.
    func publish(room: String, type: String, fields: [String: JSONValue]) {
        let targets = subscribers.withLockedValue { $0.values.filter { $0.room == nil || $0.room == room } }
        guard !targets.isEmpty else { return }
        var params = fields
        params["room"] = .string(room)
        params["type"] = .string(type)
        params["time"] = .int(Int(Date().timeIntervalSince1970 * 1000))
        let text = JSONValue.object(["jsonrpc": "2.0", "method": "event", "params": .object(params)]).text
        for target in targets { target.continuation.yield(text) }
    }
}
