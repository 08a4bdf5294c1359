import StarlingTestSupport
import Testing
@testable import StarlingWire

@Suite struct STUNAddressTests {
    @Test func formatsForLogs() {
        #expect(STUNAddress(ipv4: 1, 2, 3, 4, port: 5).description == "1.2.3.4:5")
        #expect(STUNAddress(ip: .v6(high: 0, low: 1), port: 5).description == "[::1]:5")
        #expect(STUNAddress(ip: .v6(high: 0, low: 0), port: 0).description == "[::]:0")
        #expect(STUNAddress(ipv4: 255, 255, 255, 255, port: 65535).description == "255.255.255.255:65535")
    }

    /// RFC 5952 §4: lowercase, no leading zeros, the longest run of two or more zero groups compressed
    /// (the first on a tie), a single zero group left alone; §5: IPv4-mapped in dotted form.
    @Test func ipv6CanonicalText() throws {
        let cases: [(String, String)] = [
            ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("1:0:0:0:0:0:0:0", "1::"),
            ("0:0:0:0:0:0:0:0", "::"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"),
            ("fe80::1:2", "fe80::1:2"),
            ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
            ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
            ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ]
        for (input, canonical) in cases {
            let ip = try #require(STUNAddress.IP(input), "\(input)")
            #expect(ip.description == canonical, "\(input)")
            #expect(STUNAddress.IP(canonical) == ip, "\(canonical)")
        }
    }

    @Test func rejectsMalformedText() {
        let bad = [
            "", ":", ":::", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.4 ", "a.b.c.d", "1234.1.1.1",
            "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "12345::",
            "g::1", "::1.2.3", "1.2.3.4::", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "[::1]",
        ]
        for text in bad { #expect(STUNAddress.IP(text) == nil, "\(text)") }
        let badAddresses = ["1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "[::1]", "::1:5", "[::1:5", "[1.2.3.4]:5", "[]:5"]
        for text in badAddresses { #expect(STUNAddress(text) == nil, "\(text)") }
        #expect(STUNAddress("1.2.3.4:65535") == STUNAddress(ipv4: 1, 2, 3, 4, port: 65535))
        #expect(STUNAddress("[::ffff:1.2.3.4]:0")?.ipBytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4])
    }

    @Test func randomAddressesRoundTripThroughTextAndBytes() {
        var rng = SeededRandom(seed: 0xADD2)
        for _ in 0..<5000 {
            let ip: STUNAddress.IP
            switch rng.int(0...2) {
            case 0: ip = .v4(UInt32.random(in: 0 ... .max, using: &rng))
            case 1: ip = .v6(high: rng.next(), low: rng.next())
            default:
                // Sparse IPv6 with zero runs to exercise "::" placement.
                let groups = (0..<8).map { _ in rng.int(0...2) == 0 ? UInt64(rng.int(0...0xFFFF)) : 0 }
                ip = .v6(high: groups[0..<4].reduce(0) { $0 << 16 | $1 }, low: groups[4..<8].reduce(0) { $0 << 16 | $1 })
            }
            let address = STUNAddress(ip: ip, port: UInt16.random(in: 0 ... .max, using: &rng))
            #expect(STUNAddress(address.description) == address, "\(address)")
            #expect(STUNAddress(ipBytes: address.ipBytes, port: address.port) == address)
        }
        #expect(STUNAddress(ipBytes: [1, 2, 3], port: 1) == nil)
    }

    @Test func randomTextNeverTraps() {
        var rng = SeededRandom(seed: 0x7E47)
        let alphabet = Array("0123456789abcdefABCDEF:.[]% x".utf8)
        for _ in 0..<20000 {
            let text = String(decoding: (0..<rng.int(0...48)).map { _ in alphabet[rng.int(0...(alphabet.count - 1))] }, as: UTF8.self)
            if let ip = STUNAddress.IP(text) { #expect(STUNAddress.IP(ip.description) == ip, "\(text)") }
            if let address = STUNAddress(text) { #expect(STUNAddress(address.description) == address, "\(text)") }
        }
    }
}

@Suite struct CRC32Tests {
    /// Bit-at-a-time reference, straight from the definition.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    @Test func checkValue() {
        // The standard check value of CRC-32/ISO-HDLC.
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
    }

    @Test func matchesReferenceAndComposes() {
        var rng = SeededRandom(seed: 0xC2C)
        for _ in 0..<300 {
            let bytes = rng.bytes(rng.int(0...200))
            let crc = CRC32.checksum(bytes)
            #expect(crc == Self.reference(bytes))
            let cut = rng.int(0...bytes.count)
            let head = Array(bytes[..<cut])
            let tail = Array(bytes[cut...])
            let composed = tail.withUnsafeBytes { CRC32.update(CRC32.checksum(head), with: $0) }
            #expect(composed == crc)
        }
    }
}
