import HummingbirdWebSocket
import NIOConcurrencyHelpers

/// Closes a WebSocket that has not reached a state (joined on `/rtc`, authenticated on `/control`) in time:
/// it writes `message`, then closes with 1008 (policy violation, RFC 6455 §7.4.1), so an idle connection
/// cannot hold a socket and a session.
final class SessionDeadline: Sendable {
    private let reached = NIOLockedValueBox(false)
    private let task: Task<Void, Never>

    init(after timeout: Duration, outbound: WebSocketOutboundWriter, message: String, reason: String) {
        let reached = self.reached
        task = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled, !reached.withLockedValue({ $0 }) else { return }
            try? await outbound.write(.text(message))
            try? await outbound.close(.policyViolation, reason: reason)
        }
    }

    /// The state was reached: the deadline no longer applies.
    func reach() {
        reached.withLockedValue { $0 = true }
        task.cancel()
    }

    deinit { task.cancel() }
}
