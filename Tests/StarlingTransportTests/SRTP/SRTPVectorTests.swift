import StarlingTransport
import Testing

/// Known answers: RFC 3711 Appendix B, RFC 7714 §16–17, and libsrtp checked packet by packet against
/// an independent OpenSSL computation of the same transforms.
@Suite struct SRTPVectorTests {
    typealias T = SRTPTestSupport
    static let masterKey = T.hex("E1F97A0D3E018BE0D64FA32C06DE4139")  // RFC 3711 B.3
    static let masterSalt = T.hex("0EC675AD498AFEEBB6960B3AABE6")  // RFC 3711 B.3

    // MARK: RFC 3711 Appendix B

    /// RFC 3711 B.2: AES-CM keystream for session key 2B7E...4F3C and salt F0F1...FCFD at SSRC 0,
    /// index 0 (the IV is F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000).
    @Test func aesCMKeystreamB2() throws {
        let key = T.hex("2B7E151628AED2A6ABF7158809CF4F3C")
        let iv = try SRTPKeyDerivation.aesCMIV(sessionSalt: T.hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), ssrc: 0, index: 0)
        #expect(iv == T.hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"))
        let keystream = try SRTPKeyDerivation.aesCMKeystream(key: key, iv: iv, length: 0xFF02 * 16)
        func block(_ counter: Int) -> [UInt8] { Array(keystream[(counter * 16)..<(counter * 16 + 16)]) }
        #expect(block(0x0000) == T.hex("E03EAD0935C95E80E166B16DD92B4EB4"))
        #expect(block(0x0001) == T.hex("D23513162B02D0F72A43A2FE4A5F97AB"))
        #expect(block(0x0002) == T.hex("41E95B3BB0A2E8DD477901E4FCA894C0"))
        #expect(block(0xFEFF) == T.hex("EC8CDF7398607CB0F2D21675EA9EA1E4"))
        #expect(block(0xFF00) == T.hex("362B7C3C6773516318A077D7FC5073AE"))
        #expect(block(0xFF01) == T.hex("6A2CC3787889374FBEB4C81B17BA6C44"))
    }

    /// RFC 3711 B.3: session keys from master key E1F9...4139 and salt 0EC6...ABE6, index 0, kdr 0.
    @Test func keyDerivationB3() throws {
        let d = { (label: SRTPKeyDerivation.Label, n: Int) throws -> [UInt8] in
            try SRTPKeyDerivation.derive(label, masterKey: Self.masterKey, masterSalt: Self.masterSalt, length: n)
        }
        #expect(try d(.rtpEncryption, 16) == T.hex("C61E7A93744F39EE10734AFE3FF7A087"))
        #expect(try d(.rtpSalt, 14) == T.hex("30CBBC08863D8C85D49DB34A9AE1"))
        // B.3 lists 94 octets of authentication key; HMAC-SHA1 uses the first 20.
        #expect(
            try d(.rtpAuthentication, 94)
                == T.hex(
                    """
                    CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                    E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
                    6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2
                    """))
        let rtp = try SRTPKeyDerivation.sessionKeys(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, rtcp: false)
        #expect(rtp.encryptionKey == T.hex("C61E7A93744F39EE10734AFE3FF7A087"))
        #expect(rtp.authenticationKey == T.hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"))
        #expect(rtp.salt == T.hex("30CBBC08863D8C85D49DB34A9AE1"))
        // The SRTCP labels 3, 4, 5 (RFC 3711 §4.3.2) for the same master key; the values are the
        // ones published alongside B.3 by several independent SRTP implementations.
        let rtcp = try SRTPKeyDerivation.sessionKeys(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, rtcp: true)
        #expect(rtcp.encryptionKey == T.hex("4C1AA45A81F73D61C800BBB00FBB1EAA"))
        #expect(rtcp.authenticationKey == T.hex("8D54534FEB49AE8E7993A6BD0B844FC323A93DFD"))
        #expect(rtcp.salt == T.hex("9581C7AD87B3E530BF3E4454A8B3"))
    }

    @Test func keyDerivationRejectsBadLengths() {
        #expect(throws: SRTPError.invalidKeyLength(expected: 16, actual: 15)) {
            try SRTPKeyDerivation.derive(.rtpEncryption, masterKey: Array(Self.masterKey.prefix(15)), masterSalt: Self.masterSalt, length: 16)
        }
        #expect(throws: SRTPError.invalidSaltLength(expected: 14, actual: 13)) {
            try SRTPKeyDerivation.derive(.rtpEncryption, masterKey: Self.masterKey, masterSalt: Array(Self.masterSalt.prefix(13)), length: 16)
        }
    }

    // MARK: RFC 7714 §16–17 (checks the reference GCM used below)

    static let gcmSessionKey = T.hex("000102030405060708090a0b0c0d0e0f")
    static let gcmSessionSalt = T.hex("517569642070726f2071756f")  // "Quid pro quo"

    /// RFC 7714 §16.1: AEAD_AES_128_GCM SRTP encryption, SSRC 0x5501a0b2, ROC 0, SEQ 0xf17b.
    @Test func rfc7714RTPVector() {
        #expect(
            T.gcmRTPIV(salt: Self.gcmSessionSalt, ssrc: 0x5501_A0B2, roc: 0, seq: 0xF17B)
                == T.hex("51753c6580c2726f20718414"))
        let plain = T.hex(
            """
            8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976
            69736120 696e2070 61727465 73207472 6573
            """)
        let expected = T.hex(
            """
            8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5
            0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce
            """)
        #expect(T.referenceProtectRTPGCM(plain, key: Self.gcmSessionKey, salt: Self.gcmSessionSalt, roc: 0) == expected)
    }

    /// RFC 7714 §17.1: AEAD_AES_128_GCM SRTCP encryption, SSRC "Mars", SRTCP index 0x5d4.
    @Test func rfc7714RTCPVector() {
        #expect(T.gcmRTCPIV(salt: Self.gcmSessionSalt, ssrc: 0x4D61_7273, index: 0x5D4) == T.hex("517524055203726f207170bb"))
        let plain = T.hex(
            """
            81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
            deadbeef deadbeef deadbeef deadbeef deadbeef
            """)
        let expected = T.hex(
            """
            81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d
            c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872
            45d9eade 800005d4
            """)
        #expect(T.referenceProtectRTCPGCM(plain, key: Self.gcmSessionKey, salt: Self.gcmSessionSalt, index: 0x5D4) == expected)
    }

    // MARK: libsrtp's own known answers (libsrtp test/srtp_driver.c, srtp_validate and srtp_validate_gcm)

    /// SSRC 0xcafebabe, SEQ 0x1234, 16 bytes of 0xab, under the B.3 master key (AES-CM).
    @Test func libsrtpKnownAnswerCM() throws {
        let out = try SRTPSession(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, direction: .outbound)
        var rtp = T.hex("800f1234decafbadcafebabe") + [UInt8](repeating: 0xAB, count: 16)
        try out.protectRTP(&rtp)
        #expect(rtp == T.hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb"))
        var rtcp = T.hex("81c8000bcafebabe") + [UInt8](repeating: 0xAB, count: 16)
        try out.protectRTCP(&rtcp)
        #expect(rtcp == T.hex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798"))
    }

    @Test func libsrtpKnownAnswerGCM() throws {
        let out = try SRTPSession(
            profile: .aeadAes128Gcm, masterKey: T.hex("000102030405060708090a0b0c0d0e0f"),
            masterSalt: T.hex("a0a1a2a3a4a5a6a7a8a9aaab"), direction: .outbound)
        var rtp = T.hex("800f1234decafbadcafebabe") + [UInt8](repeating: 0xAB, count: 16)
        try out.protectRTP(&rtp)
        #expect(rtp == T.hex("800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392"))
        var rtcp = T.hex("81c8000bcafebabe") + [UInt8](repeating: 0xAB, count: 16)
        try out.protectRTCP(&rtcp)
        #expect(rtcp == T.hex("81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001"))
    }

    // MARK: libsrtp against the independent reference

    /// A packet with CSRCs and a header extension, protected by libsrtp, equals the reference
    /// computation from the session keys derived here; including after the sequence number wraps
    /// (ROC 1 enters the IV and the authenticated data).
    @Test func libsrtpMatchesReferenceCM() throws {
        let keys = try SRTPKeyDerivation.sessionKeys(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, rtcp: false)
        let out = try SRTPSession(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, direction: .outbound)
        var random = T.Random(seed: 0x3711)
        for (seq, roc) in [(UInt16(65534), UInt32(0)), (65535, 0), (0, 1), (1, 1), (7, 1)] {
            let plain = T.rtpPacket(
                sequenceNumber: seq, ssrc: 0xDEAD_BEEF, csrcs: [1, 2, 3], extensionWords: 2,
                payload: random.bytes(random.int(0...300)))
            var packet = plain
            try out.protectRTP(&packet)
            #expect(packet == (try T.referenceProtectRTPCM(plain, keys: keys, roc: roc)), "seq \(seq)")
        }
        #expect(out.rolloverCounter(ssrc: 0xDEAD_BEEF) == 1)

        let rtcpKeys = try SRTPKeyDerivation.sessionKeys(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, rtcp: true)
        for index in UInt32(1)...3 {  // libsrtp numbers SRTCP packets from 1
            let plain = T.rtcpPacket(ssrc: 0xDEAD_BEEF, extra: random.bytes(4 * random.int(0...40)))
            var packet = plain
            try out.protectRTCP(&packet)
            #expect(packet == (try T.referenceProtectRTCPCM(plain, keys: rtcpKeys, index: index)))
        }
    }

    /// The same for AEAD_AES_128_GCM: RFC 7714 §11 derives the keys with the RFC 3711 PRF from the
    /// 96-bit master salt; §8.1 forms the IV; the whole header is the AAD.
    @Test func libsrtpMatchesReferenceGCM() throws {
        let key = T.hex("fedcba98765432100123456789abcdef")
        let salt = T.hex("00112233445566778899aabb")
        let rtpKeys = try SRTPKeyDerivation.sessionKeys(profile: .aeadAes128Gcm, masterKey: key, masterSalt: salt, rtcp: false)
        let rtcpKeys = try SRTPKeyDerivation.sessionKeys(profile: .aeadAes128Gcm, masterKey: key, masterSalt: salt, rtcp: true)
        #expect(rtpKeys.authenticationKey.isEmpty && rtpKeys.salt.count == 12)
        let out = try SRTPSession(profile: .aeadAes128Gcm, masterKey: key, masterSalt: salt, direction: .outbound)
        var random = T.Random(seed: 0x7714)
        for (seq, roc) in [(UInt16(65535), UInt32(0)), (0, 1), (2, 1)] {
            let plain = T.rtpPacket(
                sequenceNumber: seq, ssrc: 0x0102_0304, csrcs: [9], extensionWords: 1,
                payload: random.bytes(random.int(1...300)))
            var packet = plain
            try out.protectRTP(&packet)
            #expect(
                packet == T.referenceProtectRTPGCM(plain, key: rtpKeys.encryptionKey, salt: rtpKeys.salt, roc: roc),
                "seq \(seq)")
        }
        for index in UInt32(1)...3 {
            let plain = T.rtcpPacket(ssrc: 0x0102_0304, extra: random.bytes(4 * random.int(0...40)))
            var packet = plain
            try out.protectRTCP(&packet)
            #expect(
                packet == T.referenceProtectRTCPGCM(plain, key: rtcpKeys.encryptionKey, salt: rtcpKeys.salt, index: index))
        }
    }

    /// Packets made by the reference implementation decrypt with libsrtp, so both directions agree.
    @Test func libsrtpUnprotectsReferencePackets() throws {
        let keys = try SRTPKeyDerivation.sessionKeys(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, rtcp: false)
        let inbound = try SRTPSession(
            profile: .aes128CmHmacSha1_80, masterKey: Self.masterKey, masterSalt: Self.masterSalt, direction: .inbound)
        let plain = T.rtpPacket(sequenceNumber: 42, ssrc: 7, csrcs: [5], payload: Array(0..<200))
        var packet = try T.referenceProtectRTPCM(plain, keys: keys, roc: 0)
        try inbound.unprotectRTP(&packet)
        #expect(packet == plain)
    }
}
