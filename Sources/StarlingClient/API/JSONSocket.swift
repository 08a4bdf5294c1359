public import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
public import StarlingAPI

/// A WebSocket carrying JSON text messages, for the Swift clients of `/rtc` and `/control`: incoming texts
/// arrive on `incoming` (it finishes when the connection closes), `send` writes one.
public final class JSONSocket: Sendable {
    public let incoming: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    private let state = NIOLockedValueBox<State>(State())
    private struct State {
        var outbound: WebSocketOutboundWriter?
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private init() {
        (incoming, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(4096))
    }

    /// Connects to `url` (ws://host:port/path); returns once the WebSocket is open.
    public static func connect(url: String, headers: HTTPFields = [:], logger: Logger = Logger(label: "starling.client")) async throws
        -> JSONSocket
    {
        let socket = JSONSocket()
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders = headers
        configuration.maxFrameSize = 1 << 22
        let settings = configuration
        let opened = NIOLockedValueBox<CheckedContinuation<Void, any Error>?>(nil)
        try await withCheckedThrowingContinuation { (ready: CheckedContinuation<Void, any Error>) in
            opened.withLockedValue { $0 = ready }
            Task {
                do {
                    try await WebSocketClient.connect(url: url, configuration: settings, logger: logger) {
                        inbound, outbound, _ in
                        socket.state.withLockedValue { $0.outbound = outbound }
                        opened.withLockedValue { $0.take() }?.resume()
                        // Read until the connection closes (the server's close, or ours from `close()`).
                        for try await message in inbound.messages(maxSize: 1 << 22) {
                            if case .text(let text) = message { socket.continuation.yield(text) }
                        }
                    }
                } catch {
                    opened.withLockedValue { $0.take() }?.resume(throwing: error)
                }
                socket.state.withLockedValue { $0.outbound = nil }
                opened.withLockedValue { $0.take() }?.resume(throwing: Failure(description: "the WebSocket to \(url) closed"))
                socket.continuation.finish()
            }
        }
        return socket
    }

    /// Writes one text message.
    public func send(_ text: String) async throws {
        guard let outbound = state.withLockedValue({ $0.outbound }) else { throw Failure(description: "the WebSocket is closed") }
        try await outbound.write(.text(text))
    }

    public func send(_ value: JSONValue) async throws { try await send(value.text) }

    /// Closes the connection (a close frame; `incoming` finishes when the server's close arrives).
    public func close() {
        guard let outbound = state.withLockedValue({ $0.outbound }) else { return }
        Task { try? await outbound.close(.normalClosure, reason: nil) }
    }
}

extension Optional {
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}
