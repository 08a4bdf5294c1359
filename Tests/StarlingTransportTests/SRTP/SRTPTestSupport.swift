import StarlingTestSupport
import COpenSSL
import StarlingTransport

/// Helpers for the SRTP tests: hex, a seeded generator, RTP/RTCP packet builders, and an
/// independent reference implementation of SRTP/SRTCP packet protection on OpenSSL
/// (RFC 3711 §3.3, §3.4, §4.1.1, §4.2; RFC 7714 §8, §9) to check libsrtp's output against.
enum SRTPTestSupport {
    static func hex(_ string: String) -> [UInt8] {
        let digits = string.filter { !$0.isWhitespace }.utf8.map { c -> UInt8 in
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: 0xFF
            }
        }
        precondition(digits.count % 2 == 0 && !digits.contains(0xFF), "bad hex in test: \(string)")
        return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }

    typealias Random = SeededRandom

    /// An RTP packet (RFC 3550 §5.1) with `csrcCount` CSRCs, an optional one-byte-header extension
    /// block (RFC 8285 §4.2) of `extensionWords` 32-bit words, and `payload`.
    static func rtpPacket(
        sequenceNumber: UInt16, ssrc: UInt32, timestamp: UInt32 = 0x1234_5678, payloadType: UInt8 = 96,
        csrcs: [UInt32] = [], extensionWords: Int? = nil, payload: [UInt8]
    ) -> [UInt8] {
        var p: [UInt8] = [0x80 | (extensionWords != nil ? 0x10 : 0) | UInt8(csrcs.count), payloadType & 0x7F]
        p.append(contentsOf: be16(sequenceNumber))
        p.append(contentsOf: be32(timestamp))
        p.append(contentsOf: be32(ssrc))
        for c in csrcs { p.append(contentsOf: be32(c)) }
        if let words = extensionWords {
            p.append(contentsOf: [0xBE, 0xDE] + be16(UInt16(words)))
            for w in 0..<words { p.append(contentsOf: [0x10, UInt8(truncatingIfNeeded: w), 0x00, 0x00]) }
        }
        return p + payload
    }

    /// A compound RTCP packet: a sender report (RFC 3550 §6.4.1) without report blocks from `ssrc`,
    /// followed by `extra` bytes of an APP packet (a multiple of 4).
    static func rtcpPacket(ssrc: UInt32, extra: [UInt8] = []) -> [UInt8] {
        var p: [UInt8] = [0x80, 200, 0x00, 0x06]
        p.append(contentsOf: be32(ssrc))
        p.append(contentsOf: [UInt8](repeating: 0x11, count: 20))
        if !extra.isEmpty {
            precondition(extra.count % 4 == 0)
            p.append(contentsOf: [0x80, 204] + be16(UInt16(extra.count / 4 + 2)))
            p.append(contentsOf: be32(ssrc))
            p.append(contentsOf: Array("STAR".utf8))
            p.append(contentsOf: extra)
        }
        return p
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(truncatingIfNeeded: v)] }
    static func be32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }

    /// The RTP header length: fixed header, CSRCs, extension (RFC 3550 §5.1, §5.3.1).
    static func rtpHeaderLength(_ p: [UInt8]) -> Int {
        var n = 12 + 4 * Int(p[0] & 0x0F)
        if p[0] & 0x10 != 0 { n += 4 + 4 * (Int(p[n + 2]) << 8 | Int(p[n + 3])) }
        return n
    }

    static func ssrc(_ p: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(p[offset + $1]) }
    }

    // MARK: OpenSSL primitives

    static func hmacSHA1(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        var outLength: UInt32 = 0
        _ = HMAC(EVP_sha1(), key, Int32(key.count), data, data.count, &out, &outLength)
        precondition(outLength == 20)
        return out
    }

    /// AES-128-GCM encryption with a 12-byte IV; returns ciphertext and 16-byte tag.
    static func aesGCMSeal(key: [UInt8], iv: [UInt8], aad: [UInt8], plaintext: [UInt8]) -> (ciphertext: [UInt8], tag: [UInt8]) {
        let ctx = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(ctx) }
        var ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nil, nil, nil)
        ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nil)
        ok &= EVP_EncryptInit_ex(ctx, nil, nil, key, iv)
        var n: Int32 = 0
        ok &= EVP_EncryptUpdate(ctx, nil, &n, aad, Int32(aad.count))
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        if !plaintext.isEmpty { ok &= EVP_EncryptUpdate(ctx, &out, &n, plaintext, Int32(plaintext.count)) }
        var tail = [UInt8](repeating: 0, count: 16)
        ok &= EVP_EncryptFinal_ex(ctx, &tail, &n)
        var tag = [UInt8](repeating: 0, count: 16)
        ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, &tag)
        precondition(ok == 1)
        return (Array(out.prefix(plaintext.count)), tag)
    }

    // MARK: Reference SRTP (independent of libsrtp)

    /// SRTP AES_CM_128_HMAC_SHA1_80 (RFC 3711 §3.3, §4.1.1, §4.2.1):
    /// payload XOR AES-CM(k_e, IV(k_s, SSRC, index)); tag = HMAC-SHA1(k_a, header || ciphertext || ROC)[0..<10].
    static func referenceProtectRTPCM(_ packet: [UInt8], keys: SRTPKeyDerivation.SessionKeys, roc: UInt32) throws -> [UInt8] {
        let headerLength = rtpHeaderLength(packet)
        let seq = UInt64(packet[2]) << 8 | UInt64(packet[3])
        let index = UInt64(roc) << 16 | seq
        let iv = try SRTPKeyDerivation.aesCMIV(sessionSalt: keys.salt, ssrc: ssrc(packet, at: 8), index: index)
        let payload = Array(packet[headerLength...])
        let keystream = try SRTPKeyDerivation.aesCMKeystream(key: keys.encryptionKey, iv: iv, length: payload.count)
        let encrypted = Array(packet[..<headerLength]) + zip(payload, keystream).map { $0 ^ $1 }
        let tag = hmacSHA1(key: keys.authenticationKey, encrypted + be32(roc)).prefix(10)
        return encrypted + tag
    }

    /// SRTCP AES_CM_128_HMAC_SHA1_80 (RFC 3711 §3.4): everything after the first 8 bytes encrypted with
    /// the SRTCP index in place of the packet index; then E|index; tag = HMAC over all of that.
    static func referenceProtectRTCPCM(_ packet: [UInt8], keys: SRTPKeyDerivation.SessionKeys, index: UInt32) throws -> [UInt8] {
        let iv = try SRTPKeyDerivation.aesCMIV(sessionSalt: keys.salt, ssrc: ssrc(packet, at: 4), index: UInt64(index))
        let body = Array(packet[8...])
        let keystream = try SRTPKeyDerivation.aesCMKeystream(key: keys.encryptionKey, iv: iv, length: body.count)
        let authenticated = Array(packet[..<8]) + zip(body, keystream).map { $0 ^ $1 } + be32(0x8000_0000 | index)
        return authenticated + hmacSHA1(key: keys.authenticationKey, authenticated).prefix(10)
    }

    /// The RFC 7714 §8.1 SRTP IV: (00 00 || SSRC || ROC || SEQ) XOR salt.
    static func gcmRTPIV(salt: [UInt8], ssrc: UInt32, roc: UInt32, seq: UInt16) -> [UInt8] {
        let block: [UInt8] = [0, 0] + be32(ssrc) + be32(roc) + be16(seq)
        return zip(block, salt).map { $0 ^ $1 }
    }

    /// The RFC 7714 §9.1 SRTCP IV: (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt.
    static func gcmRTCPIV(salt: [UInt8], ssrc: UInt32, index: UInt32) -> [UInt8] {
        let block: [UInt8] = [0, 0] + be32(ssrc) + [0, 0] + be32(index & 0x7FFF_FFFF)
        return zip(block, salt).map { $0 ^ $1 }
    }

    /// SRTP AEAD_AES_128_GCM (RFC 7714 §8): AAD = the RTP header, output = header || ciphertext || tag.
    static func referenceProtectRTPGCM(_ packet: [UInt8], key: [UInt8], salt: [UInt8], roc: UInt32) -> [UInt8] {
        let headerLength = rtpHeaderLength(packet)
        let seq = UInt16(packet[2]) << 8 | UInt16(packet[3])
        let iv = gcmRTPIV(salt: salt, ssrc: ssrc(packet, at: 8), roc: roc, seq: seq)
        let header = Array(packet[..<headerLength])
        let sealed = aesGCMSeal(key: key, iv: iv, aad: header, plaintext: Array(packet[headerLength...]))
        return header + sealed.ciphertext + sealed.tag
    }

    /// SRTCP AEAD_AES_128_GCM (RFC 7714 §9): AAD = first 8 bytes || E|index;
    /// output = header || ciphertext || tag || E|index.
    static func referenceProtectRTCPGCM(_ packet: [UInt8], key: [UInt8], salt: [UInt8], index: UInt32) -> [UInt8] {
        let iv = gcmRTCPIV(salt: salt, ssrc: ssrc(packet, at: 4), index: index)
        let header = Array(packet[..<8])
        let trailer = be32(0x8000_0000 | index)
        let sealed = aesGCMSeal(key: key, iv: iv, aad: header + trailer, plaintext: Array(packet[8...]))
        return header + sealed.ciphertext + sealed.tag + trailer
    }
}
