import StarlingTransport
import StarlingWire
import Testing

/// Data channels (RFC 8831, DCEP RFC 8832) between two endpoints over associations wired back to back: the
/// DTLS client (`a`) and server (`b`).
extension SCTPTests {
@Suite struct DataChannelEndpointTests {
    typealias Link = SCTPTests.AssociationTests.Link

    static func connected(remoteMaxMessageSize: Int = 65_536) throws -> Link {
        let link = try Link()
        link.endpointA = DataChannelEndpoint(association: link.a, isDTLSClient: true, remoteMaxMessageSize: remoteMaxMessageSize)
        link.endpointB = DataChannelEndpoint(association: link.b, isDTLSClient: false, remoteMaxMessageSize: remoteMaxMessageSize)
        try link.connect()
        return link
    }

    static func events(_ endpoint: DataChannelEndpoint?) -> [DataChannelEndpoint.Event] {
        var out: [DataChannelEndpoint.Event] = []
        while let e = endpoint?.pollEvent() { out.append(e) }
        return out
    }

    @Test func dcepOpensChannelsWithTheRightParityAndCarriesEveryKindOfMessage() throws {
        let link = try Self.connected()
        let a = try #require(link.endpointA), b = try #require(link.endpointB)
        #expect(Self.events(a) == [.ready] && Self.events(b) == [.ready])
        let chat = try a.open(label: "chat", protocol: "json")
        let lossy = try a.open(label: "state", ordered: false, reliability: .maxRetransmits(0))
        let fromServer = try b.open(label: "files")
        #expect([chat.id, lossy.id, fromServer.id] == [0, 2, 1])  // RFC 8832 §6: client even, server odd
        // Data may follow the OPEN at once.
        let messages: [DataChannelEndpoint.Message] = [
            .string(""), .binary([]), .string("x"), .binary([7]), .string(String(repeating: "é", count: 8192)),
            .binary([UInt8](repeating: 9, count: 65_536)),
        ]
        for m in messages { try a.send(m, on: chat.id) }
        for m in messages { try b.send(m, on: fromServer.id) }
        link.run(milliseconds: 500)
        let atB = Self.events(b), atA = Self.events(a)
        #expect(atB.contains { if case .opened(let c) = $0 { c.label == "chat" && c.protocol == "json" && c.id == 0 } else { false } })
        #expect(atB.contains { if case .opened(let c) = $0 { c.id == 2 && !c.ordered && c.reliability == .maxRetransmits(0) } else { false } })
        #expect(atA.contains { if case .opened(let c) = $0 { c.id == 0 && c.acknowledged } else { false } })
        #expect(atA.contains { if case .opened(let c) = $0 { c.label == "files" && c.id == 1 } else { false } })
        #expect(atB.compactMap { if case .message(0, let m) = $0 { m } else { nil } } == messages)
        #expect(atA.compactMap { if case .message(1, let m) = $0 { m } else { nil } } == messages)
        #expect(a.refusedCount == 0 && b.refusedCount == 0)
    }

    @Test func negotiatedChannelsNeedNoDCEP() throws {
        let link = try Self.connected()
        let a = try #require(link.endpointA), b = try #require(link.endpointB)
        try a.openNegotiated(id: 7, label: "pre")
        try b.openNegotiated(id: 7, label: "pre")
        #expect(throws: DataChannelEndpoint.Failure.streamInUse(7)) { try a.openNegotiated(id: 7, label: "again") }
        try a.send(.string("hello"), on: 7)
        link.run(milliseconds: 200)
        #expect(Self.events(b).contains(.message(channel: 7, .string("hello"))))
    }

    @Test func theLimitsAndClosingAreKept() throws {
        let link = try Self.connected(remoteMaxMessageSize: 1000)
        let a = try #require(link.endpointA), b = try #require(link.endpointB)
        let channel = try a.open(label: "c")
        #expect(throws: DataChannelEndpoint.Failure.messageTooLarge(size: 1001, limit: 1000)) {
            try a.send(.binary([UInt8](repeating: 0, count: 1001)), on: channel.id)
        }
        try a.send(.binary([UInt8](repeating: 0, count: 1000)), on: channel.id)
        #expect(throws: DataChannelEndpoint.Failure.noSuchChannel(40)) { try a.send(.string("x"), on: 40) }
        link.run(milliseconds: 200)
        _ = Self.events(a)
        _ = Self.events(b)
        // a closes: b sees the channel closed, resets its side, and a sees it closed too.
        try a.close(channel.id)
        #expect(throws: DataChannelEndpoint.Failure.channelClosed(channel.id)) { try a.send(.string("late"), on: channel.id) }
        link.run(milliseconds: 300)
        #expect(Self.events(b).contains(.closed(channel: channel.id)))
        #expect(Self.events(a).contains(.closed(channel: channel.id)))
        #expect(a.channels.isEmpty && b.channels.isEmpty)
        // The stream id is free again.
        #expect(try a.open(label: "again").id == 2)
    }

    @Test func badPeerInputIsRefusedAndCounted() throws {
        let link = try Self.connected()
        let a = try #require(link.endpointA), b = try #require(link.endpointB)
        // An OPEN from the client on an odd stream (the server's parity), a garbled DCEP message, data on a
        // stream with no channel, and a string that is not UTF-8.
        try link.a.send(DCEPMessage.open(DataChannelOpen(label: "bad")).serialized(), stream: 3, ppid: DataChannelPPID.dcep)
        try link.a.send([0x03, 0x00], stream: 4, ppid: DataChannelPPID.dcep)
        try link.a.send([1, 2, 3], stream: 10, ppid: DataChannelPPID.binary)
        try a.openNegotiated(id: 12, label: "n")
        try b.openNegotiated(id: 12, label: "n")
        try link.a.send([0xFF, 0xFE], stream: 12, ppid: DataChannelPPID.string)
        link.run(milliseconds: 300)
        let refused = Self.events(b).compactMap { if case .refused(let stream, _) = $0 { stream } else { nil } }
        #expect(refused == [3, 4, 10, 12])
        #expect(b.refusedCount == 4 && b.channels.keys.sorted() == [12])
        // The association and the good channel still work.
        try a.send(.string("ok"), on: 12)
        link.run(milliseconds: 200)
        #expect(Self.events(b).contains(.message(channel: 12, .string("ok"))))
    }

    /// A channel the peer opens keeps at most 1 KiB of label and protocol each: an OPEN with more is refused
    /// and its stream reset (every stream opened with 64 KiB names would hold 128 MiB).
    @Test func longLabelsAreRefused() throws {
        let link = try Self.connected()
        let b = try #require(link.endpointB)
        _ = Self.events(b)
        let long = String(repeating: "x", count: 2048)
        try link.a.send(DCEPMessage.open(DataChannelOpen(label: long)).serialized(), stream: 2, ppid: DataChannelPPID.dcep)
        try link.a.send(DCEPMessage.open(DataChannelOpen(label: "ok", protocol: long)).serialized(), stream: 4, ppid: DataChannelPPID.dcep)
        try link.a.send(DCEPMessage.open(DataChannelOpen(label: "fine")).serialized(), stream: 6, ppid: DataChannelPPID.dcep)
        link.run(milliseconds: 300)
        let refused = Self.events(b).compactMap { if case .refused(let stream, _) = $0 { stream } else { nil } }
        #expect(refused == [2, 4])
        #expect(b.channels.keys.sorted() == [6])
    }
}
}
