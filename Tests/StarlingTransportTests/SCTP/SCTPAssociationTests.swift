import Foundation
import StarlingTransport
import Testing

/// Two `SCTPAssociation`s wired back to back in memory (what DTLS would carry), on a virtual clock: they
/// connect, carry messages of every size class in both directions, ordered and unordered, partially reliable
/// under loss, reset streams, and refuse what they must. usrsctp's state is process-wide, so the suite is
/// serialized, with the data channel tests, under one parent suite: usrsctp's timers follow one clock per
/// process, and each test runs its own virtual one.
@Suite(.serialized) enum SCTPTests {
    /// Each link's virtual clock starts an hour after the previous one's: usrsctp's timers never see time go
    /// back between tests (the suites are serialized, so no lock is needed).
    nonisolated(unsafe) private static var lastStart: Int64 = 1_000_000_000_000
    static func nextStart() -> Instant {
        lastStart += 3_600_000_000_000
        return Instant(nanoseconds: lastStart)
    }
}

extension SCTPTests {
@Suite struct AssociationTests {
    /// Moves packets between two associations; `drop` decides (by packet index) what is lost on the way.
    final class Link {
        let a: SCTPAssociation
        let b: SCTPAssociation
        var now = SCTPTests.nextStart()
        var eventsA: [SCTPAssociation.Event] = []
        var eventsB: [SCTPAssociation.Event] = []
        var sent = 0
        var drop: (Int) -> Bool = { _ in false }
        /// When set, association events go to these data channel endpoints instead of `eventsA`/`eventsB`.
        var endpointA: DataChannelEndpoint?
        var endpointB: DataChannelEndpoint?

        init(configuration: SCTPAssociation.Configuration = .init()) throws {
            a = try SCTPAssociation(configuration: configuration)
            b = try SCTPAssociation(configuration: configuration)
        }

        /// Runs `milliseconds` of virtual time in 5 ms steps, delivering packets as they are produced.
        func run(milliseconds: Int) {
            for _ in 0..<(milliseconds / 5) {
                now = now + .milliseconds(5)
                a.handleTimeout(now: now)
                b.handleTimeout(now: now)
                var moved = true
                while moved {
                    moved = false
                    while let p = a.pollTransmit() {
                        moved = true
                        sent += 1
                        if !drop(sent) { b.handlePacket(p, now: now) }
                    }
                    while let p = b.pollTransmit() {
                        moved = true
                        sent += 1
                        if !drop(sent) { a.handlePacket(p, now: now) }
                    }
                }
                while let e = a.pollEvent() { if let endpointA { endpointA.handle(e) } else { eventsA.append(e) } }
                while let e = b.pollEvent() { if let endpointB { endpointB.handle(e) } else { eventsB.append(e) } }
            }
        }

        func connect() throws {
            try a.connect(now: now)
            try b.connect(now: now)
            run(milliseconds: 200)
        }

        func messages(_ events: [SCTPAssociation.Event]) -> [(stream: UInt16, ppid: UInt32, data: [UInt8])] {
            events.compactMap {
                if case .message(let stream, let ppid, let data, _) = $0 { (stream, ppid, data) } else { nil }
            }
        }
    }

    @Test func connectsAndCarriesMessagesOfEverySize() throws {
        let link = try Link()
        try link.connect()
        #expect(link.a.state == .connected && link.b.state == .connected)
        #expect(link.eventsA.contains(.connected) && link.eventsB.contains(.connected))
        let sizes = [1, 16 * 1024, 64 * 1024, 262_144]
        for (i, size) in sizes.enumerated() {
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            try link.a.send(data, stream: 1, ppid: 53)
            link.run(milliseconds: 300)
            try link.b.send(data, stream: 2, ppid: 53)
            link.run(milliseconds: 300)
        }
        let atB = link.messages(link.eventsB)
        let atA = link.messages(link.eventsA)
        #expect(atB.map(\.data.count) == sizes && atA.map(\.data.count) == sizes)
        #expect(atB.allSatisfy { $0.stream == 1 && $0.ppid == 53 } && atA.allSatisfy { $0.stream == 2 })
        for (i, size) in sizes.enumerated() {
            #expect(atB[i].data == (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) })
        }
        #expect(throws: SCTPError.emptyMessage) { try link.a.send([], stream: 1, ppid: 56) }
    }

    @Test func tenThousandOrderedMessagesArriveInOrder() throws {
        let link = try Link()
        try link.connect()
        var sent = 0
        while sent < 10_000 {
            let result = Result { () throws(SCTPError) in try link.a.send(Array("message \(sent)".utf8), stream: 3, ppid: 51) }
            switch result {
            case .success: sent += 1
            case .failure(.bufferFull): link.run(milliseconds: 10)
            case .failure(let error): throw error
            }
        }
        link.run(milliseconds: 2000)
        let got = link.messages(link.eventsB).map { String(decoding: $0.data, as: UTF8.self) }
        #expect(got.count == 10_000)
        #expect(got == (0..<10_000).map { "message \($0)" })
    }

    /// Under 5% loss, reliable messages all arrive; unordered messages with no retransmissions lose only
    /// what was dropped (RFC 3758), and the association survives.
    @Test func partialReliabilityUnderLoss() throws {
        let link = try Link()
        try link.connect()
        var random = SystemRandomNumberGenerator()
        link.drop = { _ in Int.random(in: 0..<100, using: &random) < 5 }
        for i in 0..<300 { try link.a.send([UInt8(i & 0xFF), 1], stream: 4, ppid: 53) }
        for i in 0..<300 {
            try link.a.send([UInt8(i & 0xFF), 2], stream: 5, ppid: 53, unordered: true, reliability: .maxRetransmits(0))
        }
        link.run(milliseconds: 5000)
        let got = link.messages(link.eventsB)
        #expect(got.filter { $0.stream == 4 }.count == 300)
        let lossy = got.filter { $0.stream == 5 }.count
        #expect(lossy <= 300 && lossy >= 240, "unordered lossy delivered \(lossy) of 300")
        #expect(link.a.state == .connected)
    }

    @Test func resetStreamsAreSeenByThePeerAndOversizedMessagesAreRefused() throws {
        var configuration = SCTPAssociation.Configuration()
        configuration.maxMessageSize = 1000
        let link = try Link(configuration: configuration)
        try link.connect()
        try link.a.send([UInt8](repeating: 1, count: 1500), stream: 6, ppid: 53)
        try link.a.send([UInt8](repeating: 2, count: 10), stream: 6, ppid: 53)
        link.run(milliseconds: 300)
        #expect(link.eventsB.contains(.messageTooLarge(stream: 6, size: 1500)))
        #expect(link.messages(link.eventsB).map(\.data) == [[UInt8](repeating: 2, count: 10)])
        try link.a.resetStreams([6, 8])
        link.run(milliseconds: 300)
        #expect(link.eventsB.contains(.incomingStreamsReset([6, 8])))
        #expect(link.eventsA.contains(.outgoingStreamsReset([6, 8])))
        link.a.close()
        link.run(milliseconds: 300)
        #expect(link.b.state == .closed)
        #expect(throws: SCTPError.notConnected) { try link.a.send([1], stream: 1, ppid: 53) }
    }

    /// Untrusted bytes: random datagrams, truncated and bit-flipped copies of real packets go into a connected
    /// association. Nothing traps, and (the CRC32c check drops them, RFC 4960 §6.8) the association still
    /// carries messages afterwards.
    @Test func garbageIsDroppedWithoutHarm() throws {
        let link = try Link()
        var captured: [[UInt8]] = []
        try link.a.connect(now: link.now)
        while let p = link.a.pollTransmit() { captured.append(p) }
        try link.b.connect(now: link.now)
        for p in captured { link.b.handlePacket(p, now: link.now) }
        link.run(milliseconds: 200)
        #expect(link.b.state == .connected)
        var random = SystemRandomNumberGenerator()
        for i in 0..<2000 {
            var bytes: [UInt8]
            if i % 2 == 0 || captured.isEmpty {
                bytes = (0..<Int.random(in: 0...1300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                bytes = captured[i % captured.count]
                if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 0x5A }
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            }
            link.b.handlePacket(bytes, now: link.now)
        }
        link.run(milliseconds: 100)
        try link.a.send(Array("still here".utf8), stream: 9, ppid: 51)
        link.run(milliseconds: 200)
        #expect(link.messages(link.eventsB).map { String(decoding: $0.data, as: UTF8.self) } == ["still here"])
    }
}
}

extension SCTPTests {
    /// usrsctp's timers are process-wide: a timer advanced from one thread (one media loop) runs the output
    /// of associations owned by another. Two links, each driven by a thread of its own on the real clock,
    /// exchange messages at once; their packets must reach the right association, whole, with no data race
    /// (this is the test the data-channel suites run under ThreadSanitizer).
    @Suite struct ConcurrentAssociationTests {
        final class Driver: @unchecked Sendable {
            let link: AssociationTests.Link
            var received = 0
            init() throws { link = try AssociationTests.Link() }

            static func clock() -> Instant { Instant(nanoseconds: Int64(clamping: DispatchTime.now().uptimeNanoseconds)) }

            func step(dropEvery: Int) {
                let now = Self.clock()
                link.a.handleTimeout(now: now)
                link.b.handleTimeout(now: now)
                var moved = true
                while moved {
                    moved = false
                    while let p = link.a.pollTransmit() {
                        moved = true
                        link.sent += 1
                        if link.sent % dropEvery != 0 { link.b.handlePacket(p, now: now) }
                    }
                    while let p = link.b.pollTransmit() {
                        moved = true
                        link.sent += 1
                        if link.sent % dropEvery != 0 { link.a.handlePacket(p, now: now) }
                    }
                }
                while let e = link.b.pollEvent() { if case .message = e { received += 1 } }
                while link.a.pollEvent() != nil {}
            }

            func run(messages: Int) throws {
                try link.a.connect(now: Self.clock())
                try link.b.connect(now: Self.clock())
                for _ in 0..<200 where link.a.state != .connected || link.b.state != .connected {
                    step(dropEvery: 1_000_000)
                    usleep(1000)
                }
                // One message, then 250 ms of stepping: each message is a lone packet, so its delayed ack goes out
                // when usrsctp's 200 ms timer fires, from whichever thread advances the timers first.
                for i in 0..<messages {
                    try link.a.send([UInt8](repeating: UInt8(i & 0xFF), count: 600), stream: 1, ppid: 53)
                    let until = Self.clock() + .milliseconds(250)
                    while Self.clock() < until {
                        step(dropEvery: Int.max)
                        usleep(200)
                    }
                }
            }
        }

        @Test func associationsOnTwoThreadsKeepTheirPacketsApart() throws {
            let drivers = [try Driver(), try Driver()]
            let group = DispatchGroup()
            let failures = NIOLockedCounter()
            for driver in drivers {
                group.enter()
                Thread.detachNewThread {
                    do { try driver.run(messages: 8) } catch { failures.increment() }
                    group.leave()
                }
            }
            #expect(group.wait(timeout: .now() + 60) == .success)
            #expect(failures.value == 0)
            for driver in drivers { #expect(driver.received == 8, "\(driver.received) of 8 messages") }
        }
    }
}

/// A lock-protected counter for the threads of a test.
final class NIOLockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
