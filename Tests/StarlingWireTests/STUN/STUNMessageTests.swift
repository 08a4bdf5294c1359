import StarlingTestSupport
import Testing
@testable import StarlingWire
import StarlingWireChecks

/// Random valid STUN values for the property tests.
struct STUNGenerator {
    var rng: SeededRandom

    static let modelledTypes: Set<UInt16> = [
        0x0001, 0x0006, 0x0008, 0x0009, 0x000A, 0x0014, 0x0015, 0x001C, 0x0020, 0x0024, 0x0025,
        0x8022, 0x8028, 0x8029, 0x802A,
    ]

    mutating func text(maxBytes: Int = 60) -> String {
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        for _ in 0..<rng.int(0...20) {
            let scalar: Unicode.Scalar
            switch rng.int(0...3) {
            case 0, 1: scalar = Unicode.Scalar(UInt8(rng.int(0x20...0x7E)))
            case 2: scalar = Unicode.Scalar(UInt32(rng.int(0x00A0...0x07FF))) ?? "x"
            default: scalar = Unicode.Scalar(UInt32(rng.int(0x1F300...0x1F64F))) ?? "y"
            }
            let size = String(scalar).utf8.count
            guard bytes + size <= maxBytes else { break }
            bytes += size
            scalars.append(scalar)
        }
        return String(scalars)
    }

    mutating func address() -> STUNAddress {
        let port = UInt16.random(in: 0 ... .max, using: &rng)
        if rng.bool() { return STUNAddress(ip: .v4(UInt32.random(in: 0 ... .max, using: &rng)), port: port) }
        return STUNAddress(ip: .v6(high: rng.next(), low: rng.next()), port: port)
    }

    mutating func attribute() -> STUNAttribute {
        switch rng.int(0...15) {
        case 0: return .mappedAddress(address())
        case 1: return .xorMappedAddress(address())
        case 2: return .username(text())
        case 3: return .messageIntegrity(rng.bytes(20))
        case 4: return .messageIntegritySHA256(rng.bytes(4 * rng.int(4...8)))
        case 5: return .errorCode(STUNErrorCode(code: UInt16(rng.int(3...6) * 100 + rng.int(0...99)), reason: text()))
        case 6: return .unknownAttributes((0..<rng.int(0...6)).map { _ in UInt16.random(in: 0 ... .max, using: &rng) })
        case 7: return .realm(text())
        case 8: return .nonce(text())
        case 9: return .software(text())
        case 10: return .priority(UInt32.random(in: 0 ... .max, using: &rng))
        case 11: return .useCandidate
        case 12: return .iceControlled(rng.next())
        case 13: return .iceControlling(rng.next())
        default:
            var type = UInt16.random(in: 0 ... .max, using: &rng)
            while Self.modelledTypes.contains(type) { type &+= 1 }
            return .unknown(type: type, value: rng.bytes(rng.int(0...40)))
        }
    }

    mutating func message() -> STUNMessage {
        let method = STUNMethod(rawValue: UInt16(rng.int(0...0xFFF))) ?? .binding
        let messageClass = STUNMessageClass.allCases[rng.int(0...3)]
        var attributes = (0..<rng.int(0...10)).map { _ in attribute() }
        if rng.bool() { attributes.append(.fingerprint(UInt32.random(in: 0 ... .max, using: &rng))) }
        return STUNMessage(
            type: STUNMessageType(method: method, messageClass: messageClass),
            transactionID: .random(using: &rng),
            attributes: attributes)
    }
}

@Suite struct STUNMessageTypeTests {
    @Test func knownTypeValues() {
        #expect(STUNMessageType.bindingRequest.rawValue == 0x0001)
        #expect(STUNMessageType.bindingIndication.rawValue == 0x0011)
        #expect(STUNMessageType.bindingSuccessResponse.rawValue == 0x0101)
        #expect(STUNMessageType.bindingErrorResponse.rawValue == 0x0111)
        // TURN Allocate (0x003) request / success response (RFC 8656).
        let allocate = STUNMethod(rawValue: 0x003)!
        #expect(STUNMessageType(method: allocate, messageClass: .request).rawValue == 0x0003)
        #expect(STUNMessageType(method: allocate, messageClass: .successResponse).rawValue == 0x0103)
        #expect(STUNMessageType(method: STUNMethod(rawValue: 0xFFF)!, messageClass: .errorResponse).rawValue == 0x3FFF)
        #expect(STUNMethod(rawValue: 0x1000) == nil)
        #expect(STUNMessageType(rawValue: 0x4001) == nil)
        #expect(STUNMessageType(rawValue: 0x8001) == nil)
    }

    @Test func everyTypeRoundTrips() {
        var seen = Set<UInt16>()
        for raw in UInt16(0)..<0x4000 {
            guard let type = STUNMessageType(rawValue: raw) else {
                Issue.record("0x\(String(raw, radix: 16)) rejected")
                continue
            }
            if type.rawValue != raw { Issue.record("0x\(String(raw, radix: 16)) re-encodes as 0x\(String(type.rawValue, radix: 16))") }
            seen.insert(type.method.rawValue << 2 | UInt16(type.messageClass.rawValue))
        }
        #expect(seen.count == 0x4000)
    }

    @Test func transactionIDBytes() {
        let id = STUNTransactionID(bytes: stunHex("b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"))
        #expect(id == RFC5769.transactionID)
        #expect(id?.bytes == stunHex("b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"))
        #expect(id?.description == "b7e7a701bc34d686fa87dfae")
        #expect(STUNTransactionID(high: 0, low: 1).description == "000000000000000000000001")
        #expect(STUNTransactionID(bytes: [1, 2, 3]) == nil)
        #expect(STUNTransactionID.random() != STUNTransactionID.random())
    }
}

@Suite struct STUNMessageTests {
    @Test func roundTripsRandomMessages() throws {
        var generator = STUNGenerator(rng: SeededRandom(seed: 0x57A1_2024))
        for iteration in 0..<2000 {
            let message = generator.message()
            let bytes = message.serialized()
            #expect(bytes.count % 4 == 0)
            #expect(STUNMessage.looksLikeSTUN(bytes))
            let parsed = try STUNMessage(parsing: bytes)
            #expect(parsed == message, "iteration \(iteration)")
            #expect(parsed.serialized() == bytes, "iteration \(iteration)")
            // Any padding byte parses to the same value.
            let padding = UInt8.random(in: 0 ... .max, using: &generator.rng)
            #expect(try STUNMessage(parsing: message.serialized(padding: padding)) == message)
            // The peek agrees with the parse.
            let peek = try #require(STUNMessage.peek(bytes))
            #expect(peek.type == message.type && peek.transactionID == message.transactionID)
            let peekedUsername = bytes.withUnsafeBytes { peek.username(in: $0).map { String(decoding: $0, as: UTF8.self) } }
            #expect(peekedUsername == message.username, "iteration \(iteration)")
        }
    }

    @Test func integrityAndFingerprintOnRandomMessages() throws {
        var generator = STUNGenerator(rng: SeededRandom(seed: 0xF1_6E12))
        for iteration in 0..<500 {
            let message = generator.message()
            let key = generator.rng.bytes(generator.rng.int(0...40))
            let bytes = message.serialize(integrityKey: key, fingerprint: true)
            #expect(STUNMessage.verifyIntegrity(bytes, key: key), "iteration \(iteration)")
            // (HMAC pads keys with zeros, so a wrong key must differ in more than trailing zeros.)
            #expect(!STUNMessage.verifyIntegrity(bytes, key: key + [1]), "iteration \(iteration)")
            #expect(STUNMessage.verifyFingerprint(bytes), "iteration \(iteration)")
            let parsed = try STUNMessage(parsing: bytes)
            let kept = message.attributes.filter { $0.type != .messageIntegrity && $0.type != .fingerprint }
            #expect(Array(parsed.attributes.dropLast(2)) == kept, "iteration \(iteration)")
            #expect(parsed.attributes.suffix(2).map(\.type) == [.messageIntegrity, .fingerprint])
            #expect(parsed.serialize(integrityKey: key, fingerprint: true) == bytes)
            #expect(parsed.serialized() == bytes)

            let integrityOnly = message.serialize(integrityKey: key, fingerprint: false)
            #expect(STUNMessage.verifyIntegrity(integrityOnly, key: key))
            #expect(!STUNMessage.verifyFingerprint(integrityOnly))
            let fingerprintOnly = message.serialize(integrityKey: nil, fingerprint: true)
            #expect(STUNMessage.verifyFingerprint(fingerprintOnly))
            #expect(!STUNMessage.verifyIntegrity(fingerprintOnly, key: key))
        }
    }

    @Test func integritySHA256Verifies() throws {
        // Build a message with a MESSAGE-INTEGRITY-SHA256 by hand (RFC 8489 §14.6) and check the verifier.
        let key = Array("a key".utf8)
        let message = STUNMessage(type: .bindingRequest, transactionID: RFC5769.transactionID, attributes: [.username("u:v")])
        var bytes = message.serialized()
        bytes.setBE16(UInt16(bytes.count - 20 + 36), at: 2)
        let mac = bytes.withUnsafeBytes { STUNIntegrity.hmac(.sha256, key: key, $0) }
        #expect(mac.count == 32)
        bytes.appendBE16(0x001C)
        bytes.appendBE16(32)
        bytes += mac
        #expect(STUNMessage.verifyIntegritySHA256(bytes, key: key))
        #expect(!STUNMessage.verifyIntegritySHA256(bytes, key: Array("another".utf8)))
        #expect(!STUNMessage.verifyIntegrity(bytes, key: key))
        let parsed = try STUNMessage(parsing: bytes)
        #expect(parsed.attributes.last == .messageIntegritySHA256(mac))
    }

    @Test func knownAttributeEncodings() {
        let id = RFC5769.transactionID
        func value(_ attribute: STUNAttribute) -> [UInt8] {
            Array(STUNMessage(type: .bindingErrorResponse, transactionID: id, attributes: [attribute]).serialized().dropFirst(20))
        }
        // ERROR-CODE 420: class 4, number 20 (RFC 8489 §14.8).
        #expect(value(.errorCode(STUNErrorCode(code: 420, reason: "Unknown"))) == stunHex(
            "00 09 00 0b 00 00 04 14 55 6e 6b 6e 6f 77 6e 00"))
        #expect(value(.unknownAttributes([0x0030, 0x8031, 0x0032])) == stunHex("00 0a 00 06 00 30 80 31 00 32 00 00"))
        #expect(value(.useCandidate) == stunHex("00 25 00 00"))
        #expect(value(.iceControlling(0x0102_0304_0506_0708)) == stunHex("80 2a 00 08 01 02 03 04 05 06 07 08"))
        #expect(value(.mappedAddress(STUNAddress(ipv4: 192, 0, 2, 1, port: 32853))) == stunHex("00 01 00 08 00 01 80 55 c0 00 02 01"))
        #expect(value(.unknown(type: 0xC057, value: [1, 2, 3, 4, 5])) == stunHex("c0 57 00 05 01 02 03 04 05 00 00 00"))
    }

    @Test func unknownComprehensionRequiredAttributes() throws {
        let message = STUNMessage(type: .bindingRequest, transactionID: RFC5769.transactionID, attributes: [
            .unknown(type: 0x0030, value: []), .unknown(type: 0x8030, value: [1]), .unknown(type: 0x0030, value: [2]),
            .unknown(type: 0x7FFF, value: []), .messageIntegrity(Array(repeating: 0, count: 20)),
            .unknown(type: 0x0031, value: []),
        ])
        // 0x0031 follows MESSAGE-INTEGRITY and does not count (RFC 8489 §14.5).
        #expect(message.unknownComprehensionRequiredAttributes == [0x0030, 0x7FFF])
        #expect(try STUNMessage(parsing: message.serialized()).unknownComprehensionRequiredAttributes == [0x0030, 0x7FFF])
        #expect(STUNAttributeType(rawValue: 0x7FFF).isComprehensionRequired)
        #expect(!STUNAttributeType(rawValue: 0x8000).isComprehensionRequired)
    }

    @Test func responsesToARequest() throws {
        let request = try STUNMessage(parsing: RFC5769.request)
        let mapped = STUNAddress(ipv4: 192, 0, 2, 1, port: 32853)
        let success = STUNMessage.successResponse(to: request, mappedAddress: mapped)
        #expect(success.type == .bindingSuccessResponse)
        #expect(success.transactionID == request.transactionID)
        #expect(success.xorMappedAddress == mapped)
        let key = STUNCredentials.shortTermKey(password: RFC5769.shortTermPassword)
        let bytes = success.serialize(integrityKey: key, fingerprint: true)
        #expect(STUNMessage.verifyIntegrity(bytes, key: key) && STUNMessage.verifyFingerprint(bytes))

        let error = STUNMessage.errorResponse(
            to: request, code: STUNErrorCode.unknownAttribute, reason: "Unknown Attribute", unknownAttributes: [0x0030])
        #expect(error.type == .bindingErrorResponse)
        #expect(error.errorCode == STUNErrorCode(code: 420, reason: "Unknown Attribute"))
        #expect(error.unknownAttributes == [0x0030])
        #expect(try STUNMessage(parsing: error.serialized()) == error)
    }

    @Test func attributesAfterIntegrityDoNotCount() {
        let mi = STUNAttribute.messageIntegrity(Array(repeating: 0, count: 20))
        let id = RFC5769.transactionID
        let a = STUNMessage(type: .bindingRequest, transactionID: id, attributes: [
            .username("a"), mi, .username("b"), .priority(7), .messageIntegritySHA256(Array(repeating: 1, count: 16)),
            .fingerprint(1),
        ])
        #expect(a.username == "a")
        #expect(a.priority == nil)
        #expect(a.fingerprint == 1)
        #expect(a.attribute(.messageIntegritySHA256) != nil)
        #expect(a.countedAttributes.map(\.type) == [.username, .messageIntegrity, .messageIntegritySHA256, .fingerprint])
        let b = STUNMessage(type: .bindingRequest, transactionID: id, attributes: [mi, .username("b"), .useCandidate])
        #expect(b.username == nil)
        #expect(!b.useCandidate)
        #expect(STUNMessage.peek(b.serialized())?.usernameRange == nil)
        let c = STUNMessage(type: .bindingRequest, transactionID: id, attributes: [
            .messageIntegritySHA256(Array(repeating: 1, count: 16)), mi, .fingerprint(2),
        ])
        #expect(c.messageIntegrity == nil)
        #expect(c.fingerprint == 2)
    }

    @Test func rejectsMalformedMessages() {
        func parse(_ bytes: [UInt8]) -> WireError? {
            do { _ = try STUNMessage(parsing: bytes); return nil } catch { return error }
        }
        let header = stunHex("00 01 00 00 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae")
        func with(_ attributes: String) -> [UInt8] {
            var bytes = header + stunHex(attributes)
            bytes.setBE16(UInt16(bytes.count - 20), at: 2)
            return bytes
        }
        #expect(parse(header) == nil)
        #expect(parse(Array(header.prefix(19)))?.field == "header")
        var topBits = header
        topBits[0] = 0x40
        #expect(parse(topBits)?.field == "message type")
        var cookie = header
        cookie[4] = 0
        #expect(parse(cookie)?.field == "magic cookie")
        var unaligned = header + [0, 0]
        unaligned[3] = 2
        #expect(parse(unaligned)?.field == "message length")
        var long = header
        long[3] = 4
        #expect(parse(long) == WireError.truncated(.stun, "attributes", needed: 24, available: 20))
        #expect(parse(header + [0, 0, 0, 0])?.field == "message length")
        #expect(parse(with("80 28 00 04 00 00 00 00 80 22 00 00"))?.field == "FINGERPRINT")
        #expect(parse(with("00 08 00 04 00 00 00 00"))?.field == "MESSAGE-INTEGRITY")
        #expect(parse(with("00 1c 00 0c 00 00 00 00 00 00 00 00 00 00 00 00"))?.field == "MESSAGE-INTEGRITY-SHA256")
        #expect(parse(with("00 25 00 04 00 00 00 00"))?.field == "USE-CANDIDATE")
        #expect(parse(with("00 24 00 02 00 00 00 00"))?.field == "PRIORITY")
        #expect(parse(with("80 29 00 04 00 00 00 00"))?.field == "ICE-CONTROLLED")
        #expect(parse(with("00 09 00 04 00 00 07 00"))?.field == "ERROR-CODE class")
        #expect(parse(with("00 09 00 04 00 00 04 64"))?.field == "ERROR-CODE number")
        #expect(parse(with("00 09 00 02 00 00 00 00"))?.field == "ERROR-CODE")
        #expect(parse(with("00 0a 00 03 00 00 00 00"))?.field == "UNKNOWN-ATTRIBUTES")
        #expect(parse(with("00 20 00 08 00 03 00 00 00 00 00 00"))?.field == "XOR-MAPPED-ADDRESS family")
        #expect(parse(with("00 20 00 14 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"))?.field == "XOR-MAPPED-ADDRESS")
        #expect(parse(with("00 01 00 02 00 01 00 00"))?.field == "MAPPED-ADDRESS")
        #expect(parse(with("00 06 00 02 c3 28 00 00"))?.field == "USERNAME")
        #expect(parse(with("80 22 00 08 00 00 00 00"))?.field == "attribute value")
        // Text limits: 763 bytes pass, 764 do not.
        let ok = STUNMessage(type: .bindingRequest, transactionID: RFC5769.transactionID,
                             attributes: [.username(String(repeating: "a", count: 763))])
        #expect(parse(ok.serialized()) == nil)
        let tooLong = STUNMessage(type: .bindingRequest, transactionID: RFC5769.transactionID,
                                  attributes: [.realm(String(repeating: "a", count: 764))])
        #expect(parse(tooLong.serialized())?.field == "REALM")
        // Reserved bits of ERROR-CODE are ignored on receipt.
        #expect(parse(with("00 09 00 04 ff ff fc 00")) == nil)
    }

    @Test func everyTruncationThrowsAndNeverTraps() {
        var generator = STUNGenerator(rng: SeededRandom(seed: 0x7_2C))
        var samples = RFC5769.all.map(\.bytes)
        for _ in 0..<30 { samples.append(generator.message().serialize(integrityKey: [1, 2], fingerprint: true)) }
        for bytes in samples {
            for n in 0..<bytes.count {
                let prefix = Array(bytes.prefix(n))
                // Plain checks in the loop: #expect per prefix makes this slow in debug builds.
                if (try? STUNMessage(parsing: prefix)) != nil { Issue.record("prefix \(n) of \(bytes) parsed") }
                if STUNMessage.verifyFingerprint(prefix) || STUNMessage.verifyIntegrity(prefix, key: [1, 2]) {
                    Issue.record("prefix \(n) of \(bytes) verified")
                }
                checkInvariants(WireInvariants.stun, prefix)
            }
        }
    }

    @Test func randomMutationsNeverTrap() {
        var rng = SeededRandom(seed: 0xB17_F11B)
        var generator = STUNGenerator(rng: SeededRandom(seed: 0x5EED))
        var samples = RFC5769.all.map(\.bytes)
        for _ in 0..<20 { samples.append(generator.message().serialize(integrityKey: [9], fingerprint: rng.bool())) }
        var parsedCount = 0
        for bytes in samples {
            for _ in 0..<500 {
                var mutated = bytes
                for _ in 0..<rng.int(1...4) {
                    let i = rng.int(0...(mutated.count - 1))
                    switch rng.int(0...2) {
                    case 0: mutated[i] ^= 1 << UInt8(rng.int(0...7))
                    case 1: mutated[i] = UInt8.random(in: 0 ... .max, using: &rng)
                    default: mutated[i] = [0x00, 0xFF, 0x80, 0x7F, 0x03][rng.int(0...4)]
                    }
                }
                if (try? STUNMessage(parsing: mutated)) != nil { parsedCount += 1 }
                checkInvariants(WireInvariants.stun, mutated)
            }
        }
        #expect(parsedCount > 0)
        // Random garbage with a valid-looking header.
        for _ in 0..<2000 {
            var bytes = stunHex("00 01 00 00 21 12 a4 42") + rng.bytes(12 + 4 * rng.int(0...16))
            bytes.setBE16(UInt16(bytes.count - 20), at: 2)
            checkInvariants(WireInvariants.stun, bytes)
        }
    }
}

@Suite struct STUNCredentialTests {
    @Test func opaqueStringPreparation() {
        #expect(STUNCredentials.opaqueString("VOkJxbRl1RmTxUk/WvJxBt") == Array("VOkJxbRl1RmTxUk/WvJxBt".utf8))
        #expect(STUNCredentials.opaqueString("a\u{00A0}b\u{3000}c") == Array("a b c".utf8))
        #expect(STUNCredentials.opaqueString("e\u{0301}") == [0xC3, 0xA9])
        #expect(STUNCredentials.shortTermKey(password: "") == [])
    }

    @Test func longTermKeyIsMD5() {
        // MD5("user:realm:pass") = 8493fbc53ba582fb4c044c456bdc40eb (RFC 8489 §9.2.2 form; checked with md5sum).
        #expect(STUNCredentials.longTermKey(username: "user", realm: "realm", password: "pass")
            == stunHex("84 93 fb c5 3b a5 82 fb 4c 04 4c 45 6b dc 40 eb"))
    }

    @Test func hmacSHA1KnownAnswer() {
        // RFC 2202 §3 test case 2: key "Jefe", data "what do ya want for nothing?".
        let data = Array("what do ya want for nothing?".utf8)
        let mac = data.withUnsafeBytes { STUNIntegrity.hmac(.sha1, key: Array("Jefe".utf8), $0) }
        #expect(mac == stunHex("ef fc df 6a e5 eb 2f a2 d2 74 16 d5 f1 84 df 9c 25 9a 7c 79"))
    }
}
