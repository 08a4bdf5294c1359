import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The HTTP front's own bounds on its TCP connections, applied before any HTTP is parsed: how many it holds
/// in all and per client address, how long a request may take to be answered from its first byte, and how
/// long a connection may sit idle between requests. A WebSocket connection leaves these timers at its
/// upgrade; its session keeps deadlines of its own (join, authentication).
final class ConnectionTable: Sendable {
    struct Limits: Sendable {
        var total: Int
        var perAddress: Int
        var requestTimeout: TimeAmount
        var idleTimeout: TimeAmount
    }

    struct Counters: Sendable, Hashable {
        var accepted = 0
        /// Closed at accept: over the total or the per-address limit.
        var refusedTotal = 0
        var refusedPerAddress = 0
        /// Closed because a request was not complete (answered) within the request timeout.
        var requestTimeouts = 0
        var idleTimeouts = 0
    }

    let limits: Limits
    private let state = NIOLockedValueBox((open: 0, perAddress: [String: Int](), counters: Counters()))

    init(limits: Limits) { self.limits = limits }

    var counters: Counters { state.withLockedValue { $0.counters } }
    var openConnections: Int { state.withLockedValue { $0.open } }

    /// Takes a place for a connection from `address`; false (counted) when a limit is reached.
    func admit(_ address: String) -> Bool {
        state.withLockedValue { s in
            guard s.open < limits.total else {
                s.counters.refusedTotal += 1
                return false
            }
            let fromAddress = s.perAddress[address, default: 0]
            guard fromAddress < limits.perAddress else {
                s.counters.refusedPerAddress += 1
                return false
            }
            s.open += 1
            s.perAddress[address] = fromAddress + 1
            s.counters.accepted += 1
            return true
        }
    }

    func release(_ address: String) {
        state.withLockedValue { s in
            s.open -= 1
            let left = s.perAddress[address, default: 1] - 1
            s.perAddress[address] = left > 0 ? left : nil
        }
    }

    fileprivate func count(_ timeout: ConnectionDeadlineHandler.Expiry) {
        state.withLockedValue { s in
            switch timeout {
            case .request: s.counters.requestTimeouts += 1
            case .idle: s.counters.idleTimeouts += 1
            }
        }
    }
}

/// Wraps the HTTP front's child channel: admits the connection against the `ConnectionTable` and puts the
/// deadline handler first in its pipeline, then sets up HTTP (and WebSocket upgrade) as `inner` does.
struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let table: ConnectionTable

    struct Refused: Error {}

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        guard table.admit(address) else {
            logger.debug("connection refused: over the connection limit", metadata: ["from": "\(address)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(Refused())
        }
        let table = self.table
        channel.closeFuture.whenComplete { _ in table.release(address) }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionDeadlineHandler(table: table), position: .first)
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// `builder`'s connections behind a `ConnectionTable`.
    static func guarded(_ table: ConnectionTable, _ builder: @escaping @Sendable (@escaping HTTPChannelHandler.Responder) -> any ServerChildChannel)
        -> HTTPServerBuilder
    {
        HTTPServerBuilder { responder in
            func wrap<C: ServerChildChannel>(_ inner: C) -> any ServerChildChannel { GuardedChildChannel(inner: inner, table: table) }
            return wrap(builder(responder))
        }
    }
}

/// Byte-level timers of one HTTP connection, first in its pipeline: from the first byte of a request to the
/// first byte of its response at most `requestTimeout` (a request trickled in, head or body, cannot hold
/// the connection), and at most `idleTimeout` between a response and the next request. After a `101
/// Switching Protocols` response the connection is a WebSocket and the timers stop.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    enum Expiry { case request, idle }

    private let table: ConnectionTable
    /// When the request now waiting for its response started; nil between requests.
    private var requestStarted: NIODeadline?
    private var idleSince = NIODeadline.now()
    private var upgraded = false
    private var timer: Scheduled<Void>?

    init(table: ConnectionTable) { self.table = table }

    func handlerAdded(context: ChannelHandlerContext) {
        idleSince = .now()
        arm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !upgraded, requestStarted == nil {
            requestStarted = .now()
            arm(context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !upgraded {
            if case .byteBuffer(let bytes) = unwrapOutboundIn(data), Self.isSwitchingProtocols(bytes) {
                upgraded = true
                timer?.cancel()
                timer = nil
            } else if requestStarted != nil {
                requestStarted = nil
                idleSince = .now()
                arm(context)
            }
        }
        context.write(data, promise: promise)
    }

    /// `HTTP/1.1 101 ` at the start of a response.
    static func isSwitchingProtocols(_ bytes: ByteBuffer) -> Bool {
        guard let head = bytes.getBytes(at: bytes.readerIndex, length: min(bytes.readableBytes, 13)), head.count == 13 else {
            return false
        }
        return head[9] == UInt8(ascii: "1") && head[10] == UInt8(ascii: "0") && head[11] == UInt8(ascii: "1")
            && head[12] == UInt8(ascii: " ") && head.starts(with: Array("HTTP/1.".utf8))
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let deadline: NIODeadline
        let expiry: Expiry
        if let started = requestStarted {
            deadline = started + table.limits.requestTimeout
            expiry = .request
        } else {
            deadline = idleSince + table.limits.idleTimeout
            expiry = .idle
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.expire(expiry, context: context)
        }
    }

    private func expire(_ expiry: Expiry, context: ChannelHandlerContext) {
        timer = nil
        guard !upgraded else { return }
        table.count(expiry)
        context.close(promise: nil)
    }
}
