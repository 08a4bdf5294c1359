import COpenSSL
import StarlingWire

/// Our DTLS identity: an ECDSA P-256 key and a self-signed X.509 certificate (RFC 8827 §6.5,
/// RFC 5763 §5), plus the OpenSSL `SSL_CTX` every endpoint using it is created from.
///
/// One certificate serves many endpoints. It is immutable after init; OpenSSL objects are only read
/// from then on (`SSL_new` on a shared `SSL_CTX` is thread-safe), so it is `Sendable`. It owns its
/// OpenSSL objects and frees them in `deinit`; endpoints keep it alive while they exist.
public final class DTLSCertificate: @unchecked Sendable {
    /// The SHA-256 fingerprint for our `a=fingerprint` line (RFC 8122 §5), e.g.
    /// `sha-256 AB:CD:...` via `fingerprint.sdpValue`.
    public let fingerprint: SDP.Fingerprint

    /// `SSL_CTX*` configured for DTLS 1.2 with this certificate and key.
    let context: OpaquePointer
    /// `X509*`.
    private let x509: OpaquePointer
    /// `EVP_PKEY*`.
    private let key: OpaquePointer

    /// Cipher suites suitable for WebRTC (RFC 8827 §6.5 asks for ECDHE with AEAD): ECDSA first
    /// (our certificate), RSA ones only for when we are the client of a peer with an RSA certificate.
    static let cipherList =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
        + "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"

    /// Generates a fresh P-256 key and a self-signed certificate with a random 128-bit serial number,
    /// valid from 30 days before `unixTime` to 365 days after it.
    ///
    /// - Parameters:
    ///   - commonName: the subject and issuer CN.
    ///   - unixTime: seconds since 1970 for the validity period; nil reads the wall clock once
    ///     (validity is informational for WebRTC peers, which authenticate by fingerprint).
    public convenience init(generatingWithCommonName commonName: String = "starling", unixTime: Int64? = nil) throws(DTLSError) {
        ERR_clear_error()
        guard let key = starling_EVP_EC_gen_p256() else {
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "EC P-256 key generation failed"))
        }
        guard let x509 = X509_new() else {
            EVP_PKEY_free(key)
            throw .certificate("X509_new failed")
        }
        do throws(DTLSError) {
            try Self.fillSelfSigned(x509, key: key, commonName: commonName, unixTime: unixTime)
            try self.init(taking: x509, key: key)
        } catch {
            X509_free(x509)
            EVP_PKEY_free(key)
            throw error
        }
    }

    /// Loads a certificate and its private key from PEM text (e.g. from the operator's config).
    public convenience init(certificatePEM: String, privateKeyPEM: String) throws(DTLSError) {
        ERR_clear_error()
        guard let x509 = Self.readPEM(certificatePEM, { PEM_read_bio_X509($0, nil, nil, nil) }) else {
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "no PEM certificate found"))
        }
        guard let key = Self.readPEM(privateKeyPEM, { PEM_read_bio_PrivateKey($0, nil, nil, nil) }) else {
            X509_free(x509)
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "no PEM private key found"))
        }
        do throws(DTLSError) {
            try self.init(taking: x509, key: key)
        } catch {
            X509_free(x509)
            EVP_PKEY_free(key)
            throw error
        }
    }

    /// Takes ownership of `x509` and `key` on success only.
    private init(taking x509: OpaquePointer, key: OpaquePointer) throws(DTLSError) {
        guard X509_check_private_key(x509, key) == 1 else {
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "the private key does not match the certificate"))
        }
        guard let fingerprint = OpenSSLSupport.fingerprint(of: x509, hashFunction: "sha-256") else {
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "X509_digest failed"))
        }
        guard let ctx = SSL_CTX_new(DTLS_method()) else {
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "SSL_CTX_new failed"))
        }
        let configured =
            starling_SSL_CTX_set_dtls12_only(ctx) == 1
            && SSL_CTX_set_cipher_list(ctx, Self.cipherList) == 1
            && starling_SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") == 1
            && SSL_CTX_use_certificate(ctx, x509) == 1
            && SSL_CTX_use_PrivateKey(ctx, key) == 1
            && SSL_CTX_check_private_key(ctx) == 1
        guard configured else {
            SSL_CTX_free(ctx)
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "SSL_CTX configuration failed"))
        }
        SSL_CTX_set_options(ctx, starling_dtls_srtp_options())
        _ = starling_SSL_CTX_set_session_cache_off(ctx)
        _ = starling_SSL_CTX_release_buffers(ctx)
        // The peer must present a certificate; any certificate passes the chain check because the
        // fingerprint signalled in SDP authenticates it (RFC 5763 §5, RFC 8122 §5). Each endpoint
        // checks the fingerprint in this same callback (see DTLSEndpoint).
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT) { _, store in
            DTLSEndpoint.verifyPeerCertificate(store)
        }
        self.context = ctx
        self.x509 = x509
        self.key = key
        self.fingerprint = fingerprint
        // Encoded once here, so the shared certificate is only read afterwards.
        self.certificatePEM = Self.writePEM { PEM_write_bio_X509($0, x509) }
    }

    deinit {
        SSL_CTX_free(context)
        X509_free(x509)
        EVP_PKEY_free(key)
    }

    /// The certificate's fingerprint under another RFC 8122 hash function (`sha-1`, `sha-384`, ...).
    public func fingerprint(hashFunction: String) -> SDP.Fingerprint? {
        OpenSSLSupport.fingerprint(of: x509, hashFunction: hashFunction)
    }

    /// The certificate as PEM text (to persist a generated identity).
    public let certificatePEM: String

    /// The private key as unencrypted PKCS#8 PEM text. Handle as a secret.
    public var privateKeyPEM: String {
        Self.writePEM { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
    }

    private static func writePEM(_ write: (OpaquePointer) -> Int32) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { return "" }
        return OpenSSLSupport.drainString(bio)
    }

    private static func readPEM(_ text: String, _ read: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return read(bio)
        }
    }

    private static func fillSelfSigned(_ x509: OpaquePointer, key: OpaquePointer, commonName: String, unixTime: Int64?) throws(DTLSError) {
        let now = unixTime.map { time_t($0) } ?? time(nil)
        var serialBytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serialBytes, Int32(serialBytes.count)) == 1 else {
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "RAND_bytes failed"))
        }
        serialBytes[0] &= 0x7F  // a positive INTEGER (RFC 5280 §4.1.2.2)
        serialBytes[0] |= 0x01  // and 16 significant bytes
        var ok = X509_set_version(x509, 2) == 1  // v3
        if ok, let bn = BN_bin2bn(serialBytes, Int32(serialBytes.count), nil) {
            ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) != nil
            BN_free(bn)
        } else {
            ok = false
        }
        var t = now
        ok = ok && X509_time_adj_ex(X509_getm_notBefore(x509), -30, 0, &t) != nil
        ok = ok && X509_time_adj_ex(X509_getm_notAfter(x509), 365, 0, &t) != nil
        if ok, let name = X509_get_subject_name(x509) {
            let cn = Array(commonName.utf8)
            ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, Int32(cn.count), -1, 0) == 1
                && X509_set_issuer_name(x509, name) == 1
        } else {
            ok = false
        }
        ok = ok && X509_set_pubkey(x509, key) == 1
        ok = ok && X509_sign(x509, key, EVP_sha256()) > 0
        guard ok else {
            throw .certificate(OpenSSLSupport.drainErrors(fallback: "building the self-signed certificate failed"))
        }
    }
}
