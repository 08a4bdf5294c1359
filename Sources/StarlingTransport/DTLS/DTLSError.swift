import StarlingWire

/// Why a DTLS endpoint or certificate failed. Every case reads as a sentence in logs.
public enum DTLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The peer's certificate does not hash to any `a=fingerprint` it signalled (RFC 8122 §5,
    /// RFC 5763 §5). `actual` holds the peer certificate's digest under each signalled algorithm.
    case fingerprintMismatch(expected: [SDP.Fingerprint], actual: [SDP.Fingerprint])
    /// The handshake finished without a peer certificate (cannot happen with SSL_VERIFY_PEER and
    /// SSL_VERIFY_FAIL_IF_NO_PEER_CERT; checked anyway).
    case noPeerCertificate
    /// The handshake failed; the message is OpenSSL's error string (or the alert the peer sent).
    case handshakeFailed(String)
    /// The peer completed the handshake without agreeing on an SRTP profile (RFC 5764 §4.1.1).
    case noSRTPProfileNegotiated
    /// The exporter (RFC 5705) failed or OpenSSL selected a profile we do not know.
    case keyExportFailed(String)
    /// None of the signalled fingerprints uses a hash function we support (RFC 8122 §5).
    case noUsableRemoteFingerprint([String])
    /// The configuration cannot be used (e.g. an MTU OpenSSL refuses, no SRTP profile).
    case invalidConfiguration(String)
    /// Generating or loading the certificate failed; the message is OpenSSL's error string.
    case certificate(String)
    /// `send(applicationData:)` before the handshake completed, or after close or failure.
    case notConnected
    /// One application data record must fit in one datagram of at most the MTU.
    case applicationDataTooLarge(size: Int, limit: Int)
    /// The peer sent a fatal alert or OpenSSL failed after the handshake.
    case connectionFailed(String)

    public var description: String {
        switch self {
        case .fingerprintMismatch(let expected, let actual):
            let e = expected.map(\.sdpValue).joined(separator: ", ")
            let a = actual.map(\.sdpValue).joined(separator: ", ")
            return "DTLS: remote certificate fingerprint mismatch: signalled \(e), certificate has \(a)"
        case .noPeerCertificate: return "DTLS: the peer presented no certificate"
        case .handshakeFailed(let why): return "DTLS: handshake failed: \(why)"
        case .noSRTPProfileNegotiated: return "DTLS: the peer negotiated no SRTP protection profile (use_srtp)"
        case .keyExportFailed(let why): return "DTLS: SRTP key export failed: \(why)"
        case .noUsableRemoteFingerprint(let names):
            return "DTLS: no remote fingerprint with a supported hash function (got: \(names.joined(separator: ", ")))"
        case .invalidConfiguration(let why): return "DTLS: invalid configuration: \(why)"
        case .certificate(let why): return "DTLS: certificate: \(why)"
        case .notConnected: return "DTLS: not connected"
        case .applicationDataTooLarge(let size, let limit):
            return "DTLS: application data of \(size) bytes exceeds the \(limit) bytes one record can carry"
        case .connectionFailed(let why): return "DTLS: connection failed: \(why)"
        }
    }
}
