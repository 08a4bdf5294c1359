import StarlingTestSupport
import StarlingWireChecks
import Testing

@testable import StarlingWire

/// DCEP (RFC 8832) against hand-written wire bytes, every channel type, and arbitrary input.
@Suite struct DCEPTests {
    /// DATA_CHANNEL_OPEN for "chat", protocol "json", partially reliable by 3 retransmissions, unordered,
    /// normal priority (256), as RFC 8832 §5.1 lays it out.
    static let openChat: [UInt8] = [
        0x03, 0x81, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x04,
        0x63, 0x68, 0x61, 0x74, 0x6A, 0x73, 0x6F, 0x6E,
    ]

    @Test func parsesAndWritesTheOpenMessage() throws {
        let message = try DCEPMessage(parsing: Self.openChat)
        let expected = DataChannelOpen(
            channelType: .partialReliableRexmitUnordered, priority: 256, reliabilityParameter: 3, label: "chat",
            protocol: "json")
        #expect(message == .open(expected))
        #expect(message.serialized() == Self.openChat)
        #expect(!expected.channelType.isOrdered && DataChannelOpen.ChannelType.partialReliableTimed.isOrdered)
        #expect(try DCEPMessage(parsing: [0x02]) == .ack)
        #expect(DCEPMessage.ack.serialized() == [0x02])
    }

    @Test(arguments: DataChannelOpen.ChannelType.allCases)
    func everyChannelTypeRoundTrips(type: DataChannelOpen.ChannelType) throws {
        let open = DCEPMessage.open(
            DataChannelOpen(channelType: type, priority: 512, reliabilityParameter: 1500, label: "ünïcode ✓", protocol: ""))
        #expect(try DCEPMessage(parsing: open.serialized()) == open)
    }

    @Test func emptyLabelAndProtocolAreValid() throws {
        let open = DCEPMessage.open(DataChannelOpen(label: ""))
        #expect(open.serialized().count == 12)
        #expect(try DCEPMessage(parsing: open.serialized()) == open)
    }

    @Test func malformedMessagesAreTypedErrors() {
        let cases: [([UInt8], String)] = [
            ([], "message type"),
            ([0x04], "message type"),  // unknown type
            ([0x02, 0x00], "ack"),  // ACK with trailing bytes
            (Array(Self.openChat.prefix(11)), "protocol length"),  // truncated header
            (Array(Self.openChat.prefix(15)), "label"),  // label shorter than its length
            (Self.openChat + [0x00], "open"),  // trailing byte
            ([0x03, 0x05] + Array(Self.openChat.dropFirst(2)), "channel type"),  // unknown channel type
            ([0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00, 0xFF], "label"),  // not UTF-8
        ]
        for (bytes, field) in cases {
            #expect(throws: WireError.self) { try DCEPMessage(parsing: bytes) }
            do {
                _ = try DCEPMessage(parsing: bytes)
            } catch {
                #expect(error.field == field, "\(bytes): \(error)")
                #expect(error.proto == .dcep)
            }
        }
    }

    /// Arbitrary bytes never trap, and whatever parses keeps the invariants (the fuzz target runs the same).
    @Test func randomInputKeepsTheInvariants() {
        var rng = SeededRandom(seed: 0xDCE9)
        for i in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if i % 2 == 0 {  // mostly-valid: a real message with one byte changed or cut short
                bytes = Self.openChat
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            }
            let problem = bytes.withUnsafeBytes { WireInvariants.dcep($0) }
            #expect(problem == nil, "\(bytes)")
        }
    }
}
