import Testing
@testable import StarlingWire

/// RFC 5769 "Test Vectors for Session Traversal Utilities for NAT (STUN)" (April 2010), §2.1-2.4, copied
/// by hand from the RFC text (https://www.rfc-editor.org/rfc/rfc5769.txt); the MESSAGE-INTEGRITY and
/// FINGERPRINT checks below confirm every byte. §2.1-2.3 pad with 0x20 bytes, §2.4 with zeros.
enum RFC5769 {
    static let shortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt"
    static let transactionID = STUNTransactionID(high: 0xB7E7_A701, low: 0xBC34_D686_FA87_DFAE)

    /// §2.1 Sample Request.
    static let request = stunHex("""
        00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
        00 24 00 04 6e 00 01 ff
        80 29 00 08 93 2f f9 b1 51 26 3b 36
        00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
        00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
        80 28 00 04 e5 7a 3b cf
        """)

    /// §2.2 Sample IPv4 Response.
    static let ipv4Response = stunHex("""
        01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 08 00 01 a1 47 e1 12 a6 43
        00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
        80 28 00 04 c0 7d 4c 96
        """)

    /// §2.3 Sample IPv6 Response.
    static let ipv6Response = stunHex("""
        01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
        00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
        80 28 00 04 c8 fb 0b 4c
        """)

    /// §2.4 Sample Request with Long-Term Authentication (no FINGERPRINT).
    static let longTermRequest = stunHex("""
        00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
        00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
        00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
        00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
        00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66
        """)
    /// §2.4: username U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9; the password "The<U+00AD>M<U+00AA>tr<U+2168>"
    /// is "TheMatrIX" after SASLprep, the form the RFC's MESSAGE-INTEGRITY was computed with.
    static let longTermUsername = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}"
    static let longTermPassword = "TheMatrIX"
    static let realm = "example.org"
    static let nonce = "f//499k954d6OL34oL9FSTvy64sA"

    static let all: [(name: String, bytes: [UInt8], padding: UInt8)] = [
        ("2.1", request, 0x20), ("2.2", ipv4Response, 0x20), ("2.3", ipv6Response, 0x20), ("2.4", longTermRequest, 0x00),
    ]
}

@Suite struct RFC5769VectorTests {
    let shortTermKey = STUNCredentials.shortTermKey(password: RFC5769.shortTermPassword)
    let longTermKey = STUNCredentials.longTermKey(
        username: RFC5769.longTermUsername, realm: RFC5769.realm, password: RFC5769.longTermPassword)

    @Test func sampleRequest() throws {
        let bytes = RFC5769.request
        #expect(bytes.count == 108)
        let message = try STUNMessage(parsing: bytes)
        #expect(message.type == .bindingRequest)
        #expect(message.transactionID == RFC5769.transactionID)
        #expect(message.attributes == [
            .software("STUN test client"),
            .priority(0x6E00_01FF),
            .iceControlled(0x932F_F9B1_5126_3B36),
            .username("evtj:h6vY"),
            .messageIntegrity(stunHex("9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2")),
            .fingerprint(0xE57A_3BCF),
        ])
        #expect(message.username == "evtj:h6vY")
        #expect(message.software == "STUN test client")
        #expect(message.priority == 0x6E00_01FF)
        #expect(message.iceControlled == 0x932F_F9B1_5126_3B36)
        #expect(message.iceControlling == nil)
        #expect(!message.useCandidate)
        #expect(message.fingerprint == 0xE57A_3BCF)
        #expect(message.unknownComprehensionRequiredAttributes.isEmpty)

        #expect(STUNMessage.verifyIntegrity(bytes, key: shortTermKey))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(!STUNMessage.verifyIntegrity(bytes, key: Array("VOkJxbRl1RmTxUk/WvJxBT".utf8)))

        #expect(message.serialized(padding: 0x20) == bytes)
        #expect(message.serialize(integrityKey: shortTermKey, fingerprint: true, padding: 0x20) == bytes)
    }

    @Test func sampleIPv4Response() throws {
        let bytes = RFC5769.ipv4Response
        #expect(bytes.count == 80)
        let message = try STUNMessage(parsing: bytes)
        #expect(message.type == .bindingSuccessResponse)
        #expect(message.transactionID == RFC5769.transactionID)
        let mapped = STUNAddress(ipv4: 192, 0, 2, 1, port: 32853)
        #expect(message.attributes == [
            .software("test vector"),
            .xorMappedAddress(mapped),
            .messageIntegrity(stunHex("2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7")),
            .fingerprint(0xC07D_4C96),
        ])
        #expect(message.xorMappedAddress == mapped)
        #expect(message.xorMappedAddress?.description == "192.0.2.1:32853")
        #expect(STUNMessage.verifyIntegrity(bytes, key: shortTermKey))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(!STUNMessage.verifyIntegrity(bytes, key: Array("wrong".utf8)))
        #expect(message.serialized(padding: 0x20) == bytes)
        #expect(message.serialize(integrityKey: shortTermKey, fingerprint: true, padding: 0x20) == bytes)
    }

    @Test func sampleIPv6Response() throws {
        let bytes = RFC5769.ipv6Response
        #expect(bytes.count == 92)
        let message = try STUNMessage(parsing: bytes)
        #expect(message.type == .bindingSuccessResponse)
        #expect(message.transactionID == RFC5769.transactionID)
        let mapped = try #require(STUNAddress("[2001:db8:1234:5678:11:2233:4455:6677]:32853"))
        #expect(mapped.ipBytes == stunHex("20 01 0d b8 12 34 56 78 00 11 22 33 44 55 66 77"))
        #expect(message.attributes == [
            .software("test vector"),
            .xorMappedAddress(mapped),
            .messageIntegrity(stunHex("a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41")),
            .fingerprint(0xC8FB_0B4C),
        ])
        #expect(message.xorMappedAddress?.description == "[2001:db8:1234:5678:11:2233:4455:6677]:32853")
        #expect(STUNMessage.verifyIntegrity(bytes, key: shortTermKey))
        #expect(STUNMessage.verifyFingerprint(bytes))
        #expect(!STUNMessage.verifyIntegrity(bytes, key: []))
        #expect(message.serialized(padding: 0x20) == bytes)
        #expect(message.serialize(integrityKey: shortTermKey, fingerprint: true, padding: 0x20) == bytes)
    }

    @Test func sampleRequestWithLongTermAuthentication() throws {
        let bytes = RFC5769.longTermRequest
        #expect(bytes.count == 116)
        let message = try STUNMessage(parsing: bytes)
        #expect(message.type == .bindingRequest)
        #expect(message.transactionID == STUNTransactionID(high: 0x78AD_3433, low: 0xC6AD_72C0_29DA_412E))
        #expect(message.attributes == [
            .username(RFC5769.longTermUsername),
            .nonce(RFC5769.nonce),
            .realm(RFC5769.realm),
            .messageIntegrity(stunHex("f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66")),
        ])
        #expect(message.username == RFC5769.longTermUsername)
        #expect(message.realm == "example.org")
        #expect(message.nonce == RFC5769.nonce)
        #expect(longTermKey.count == 16)
        #expect(STUNMessage.verifyIntegrity(bytes, key: longTermKey))
        #expect(!STUNMessage.verifyFingerprint(bytes))
        // The unprepared password or a wrong realm gives another key.
        let unprepared = STUNCredentials.longTermKey(
            username: RFC5769.longTermUsername, realm: RFC5769.realm, password: "The\u{00AD}M\u{00AA}tr\u{2168}")
        #expect(!STUNMessage.verifyIntegrity(bytes, key: unprepared))
        let otherRealm = STUNCredentials.longTermKey(
            username: RFC5769.longTermUsername, realm: "example.com", password: RFC5769.longTermPassword)
        #expect(!STUNMessage.verifyIntegrity(bytes, key: otherRealm))
        #expect(message.serialized() == bytes)
        #expect(message.serialize(integrityKey: longTermKey, fingerprint: false) == bytes)
    }

    /// CRC-32 catches every single-bit error, and the framing checks catch those in the header, so each
    /// flipped bit fails FINGERPRINT; a flipped bit anywhere MESSAGE-INTEGRITY covers fails it too.
    @Test func everyFlippedBitFailsVerification() {
        for (name, bytes, _) in RFC5769.all {
            let key = name == "2.4" ? longTermKey : shortTermKey
            let integrityEnd = bytes.count - (name == "2.4" ? 0 : 8)
            for bit in 0..<(bytes.count * 8) {
                var mutated = bytes
                mutated[bit / 8] ^= 1 << UInt8(bit % 8)
                if name != "2.4" {
                    #expect(!STUNMessage.verifyFingerprint(mutated), "\(name) bit \(bit)")
                }
                if bit / 8 < integrityEnd {
                    #expect(!STUNMessage.verifyIntegrity(mutated, key: key), "\(name) bit \(bit)")
                } else {
                    #expect(STUNMessage.verifyIntegrity(mutated, key: key), "\(name) bit \(bit)")
                }
            }
        }
    }

    @Test func peekReadsUsernameInPlace() throws {
        try RFC5769.request.withUnsafeBytes { bytes in
            let peek = try #require(STUNMessage.peek(bytes))
            #expect(peek.type == .bindingRequest)
            #expect(peek.transactionID == RFC5769.transactionID)
            #expect(peek.usernameRange == 64..<73)
            #expect(peek.username(in: bytes).map(Array.init) == Array("evtj:h6vY".utf8))
            #expect(peek.usernameBeforeColon(in: bytes).map(Array.init) == Array("evtj".utf8))
        }
        let response = try #require(STUNMessage.peek(RFC5769.ipv4Response))
        #expect(response.type == .bindingSuccessResponse)
        #expect(response.usernameRange == nil)
        let longTerm = try #require(STUNMessage.peek(RFC5769.longTermRequest))
        #expect(longTerm.usernameRange == 24..<42)
    }

    @Test func vectorsLookLikeSTUN() {
        for (name, bytes, _) in RFC5769.all {
            #expect(STUNMessage.looksLikeSTUN(bytes), "\(name)")
            #expect(!STUNMessage.looksLikeSTUN(Array(bytes.dropLast(4))), "\(name)")
            var rtp = bytes
            rtp[0] |= 0x80
            #expect(!STUNMessage.looksLikeSTUN(rtp), "\(name)")
            var noCookie = bytes
            noCookie[5] ^= 1
            #expect(!STUNMessage.looksLikeSTUN(noCookie), "\(name)")
        }
    }
}
