import COpenSSL

/// The SRTP key derivation (RFC 3711 §4.3) and AES counter-mode keystream (RFC 3711 §4.1.1),
/// computed with OpenSSL, independently of libsrtp.
///
/// ``SRTPSession`` lets libsrtp derive its own session keys; this type exists for diagnostics and to
/// check libsrtp against the RFC's test vectors. It allocates and is not meant for the packet path.
public enum SRTPKeyDerivation {
    /// The key derivation labels (RFC 3711 §4.3.1, §4.3.2).
    public enum Label: UInt8, Sendable, Hashable, CaseIterable {
        case rtpEncryption = 0x00
        case rtpAuthentication = 0x01
        case rtpSalt = 0x02
        case rtcpEncryption = 0x03
        case rtcpAuthentication = 0x04
        case rtcpSalt = 0x05
    }

    /// The session keys for SRTP or SRTCP derived from one master key and salt.
    public struct SessionKeys: Sendable, Hashable {
        public var encryptionKey: [UInt8]
        /// Empty for AEAD profiles, which authenticate with the encryption key.
        public var authenticationKey: [UInt8]
        public var salt: [UInt8]
    }

    /// Derives `length` bytes for `label` with the AES-CM PRF and a key derivation rate of 0
    /// (RFC 3711 §4.3.1, §4.3.3): x = (label << 48) XOR master_salt, keystream from IV = x * 2^16.
    ///
    /// `masterSalt` is 14 bytes; a 12-byte GCM master salt is padded with zero bytes, as RFC 7714 §11
    /// and libsrtp do.
    public static func derive(
        _ label: Label, masterKey: [UInt8], masterSalt: [UInt8], length: Int
    ) throws(SRTPError) -> [UInt8] {
        guard masterKey.count == 16 else { throw .invalidKeyLength(expected: 16, actual: masterKey.count) }
        guard masterSalt.count == 14 || masterSalt.count == 12 else {
            throw .invalidSaltLength(expected: 14, actual: masterSalt.count)
        }
        var iv = [UInt8](repeating: 0, count: 16)
        for (i, byte) in masterSalt.enumerated() { iv[i] = byte }
        // key_id = label || r with r = 0 (48 bits): the label lands in byte 7 of the 14-byte x.
        iv[7] ^= label.rawValue
        return try aesCMKeystream(key: masterKey, iv: iv, length: length)
    }

    /// The session keys of `profile` for SRTP (`rtcp == false`) or SRTCP (RFC 3711 §4.3.2, RFC 7714 §11).
    public static func sessionKeys(
        profile: SRTPProtectionProfile, masterKey: [UInt8], masterSalt: [UInt8], rtcp: Bool
    ) throws(SRTPError) -> SessionKeys {
        guard masterSalt.count == profile.saltLength else {
            throw .invalidSaltLength(expected: profile.saltLength, actual: masterSalt.count)
        }
        let labels: (Label, Label, Label) =
            rtcp ? (.rtcpEncryption, .rtcpAuthentication, .rtcpSalt) : (.rtpEncryption, .rtpAuthentication, .rtpSalt)
        let encryption = try derive(labels.0, masterKey: masterKey, masterSalt: masterSalt, length: profile.keyLength)
        let authentication =
            profile.sessionAuthenticationKeyLength == 0
            ? []
            : try derive(
                labels.1, masterKey: masterKey, masterSalt: masterSalt, length: profile.sessionAuthenticationKeyLength)
        let salt = try derive(labels.2, masterKey: masterKey, masterSalt: masterSalt, length: profile.saltLength)
        return SessionKeys(encryptionKey: encryption, authenticationKey: authentication, salt: salt)
    }

    /// The AES-CM IV of an SRTP packet (RFC 3711 §4.1.1):
    /// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), with i the 48-bit packet index.
    /// For SRTCP pass the 31-bit SRTCP index as `index`.
    public static func aesCMIV(sessionSalt: [UInt8], ssrc: UInt32, index: UInt64) throws(SRTPError) -> [UInt8] {
        guard sessionSalt.count == 14 else { throw .invalidSaltLength(expected: 14, actual: sessionSalt.count) }
        var iv = [UInt8](repeating: 0, count: 16)
        for (i, byte) in sessionSalt.enumerated() { iv[i] = byte }
        for i in 0..<4 { iv[4 + i] ^= UInt8(truncatingIfNeeded: ssrc >> (24 - 8 * i)) }
        for i in 0..<6 { iv[8 + i] ^= UInt8(truncatingIfNeeded: index >> (40 - 8 * i)) }
        return iv
    }

    /// `length` bytes of AES-128 counter-mode keystream starting at counter block `iv`
    /// (RFC 3711 §4.1.1). OpenSSL's CTR increments the whole block; AES-CM increments its low 16 bits.
    /// The two agree while the keystream stays within 2^16 blocks of an IV whose low 16 bits are zero,
    /// which is how SRTP uses it.
    public static func aesCMKeystream(key: [UInt8], iv: [UInt8], length: Int) throws(SRTPError) -> [UInt8] {
        guard key.count == 16 else { throw .invalidKeyLength(expected: 16, actual: key.count) }
        guard iv.count == 16 else { throw .invalidSaltLength(expected: 16, actual: iv.count) }
        guard length >= 0 && length <= (1 << 20) else { throw .packetTooLong(length: length, maximum: 1 << 20) }
        guard length > 0 else { return [] }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw .library(status: 0) }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nil, key, iv) == 1 else { throw .library(status: 0) }
        let zeros = [UInt8](repeating: 0, count: length)
        var out = [UInt8](repeating: 0, count: length + 16)
        var written: Int32 = 0
        let ok = out.withUnsafeMutableBufferPointer { o in
            EVP_EncryptUpdate(ctx, o.baseAddress, &written, zeros, Int32(length))
        }
        guard ok == 1, Int(written) == length else { throw .library(status: 0) }
        out.removeLast(16)
        return out
    }
}
