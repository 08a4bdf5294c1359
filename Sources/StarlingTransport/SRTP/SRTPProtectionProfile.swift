/// An SRTP protection profile negotiated by DTLS-SRTP (RFC 5764 §4.1.2, RFC 7714 §14.2).
///
/// The raw value is the two-byte profile identifier from the IANA "DTLS-SRTP Protection Profiles"
/// registry, as carried in the `use_srtp` extension.
public enum SRTPProtectionProfile: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764 §4.1.2, RFC 3711): AES-128 counter mode,
    /// HMAC-SHA1 truncated to 80 bits; master key 16 bytes, master salt 14 bytes.
    case aes128CmHmacSha1_80 = 0x0001
    /// SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2): AES-128-GCM with a 16-byte tag;
    /// master key 16 bytes, master salt 12 bytes.
    case aeadAes128Gcm = 0x0007

    /// The master key length in bytes.
    @inlinable public var keyLength: Int { 16 }

    /// The master salt length in bytes: 112 bits for AES-CM (RFC 3711 §8.2), 96 bits for GCM (RFC 7714 §12).
    @inlinable public var saltLength: Int {
        switch self {
        case .aes128CmHmacSha1_80: 14
        case .aeadAes128Gcm: 12
        }
    }

    /// The authentication tag appended to every SRTP packet (RFC 3711 §3.1, RFC 7714 §7).
    @inlinable public var rtpTagLength: Int {
        switch self {
        case .aes128CmHmacSha1_80: 10
        case .aeadAes128Gcm: 16
        }
    }

    /// The authentication tag length of SRTCP packets (the same as for SRTP in both profiles).
    @inlinable public var rtcpTagLength: Int { rtpTagLength }

    /// The bytes SRTCP appends to an RTCP packet: the tag plus the 4-byte E flag and SRTCP index
    /// (RFC 3711 §3.4, RFC 7714 §9). No MKI is used.
    @inlinable public var rtcpTrailerLength: Int { rtcpTagLength + 4 }

    /// The length of the session authentication key (RFC 3711 §4.3.2: 160 bits for HMAC-SHA1; GCM has none).
    @inlinable public var sessionAuthenticationKeyLength: Int {
        switch self {
        case .aes128CmHmacSha1_80: 20
        case .aeadAes128Gcm: 0
        }
    }

    /// How many bytes of DTLS exporter output this profile needs: two master keys and two master
    /// salts (RFC 5764 §4.2).
    @inlinable public var keyingMaterialLength: Int { 2 * (keyLength + saltLength) }

    /// The profile's name in RFC 5764 / RFC 7714 and OpenSSL's `SSL_CTX_set_tlsext_use_srtp`.
    public var name: String {
        switch self {
        case .aes128CmHmacSha1_80: "SRTP_AES128_CM_SHA1_80"
        case .aeadAes128Gcm: "SRTP_AEAD_AES_128_GCM"
        }
    }

    public var description: String { name }

    /// The profile for a DTLS-SRTP profile identifier, or nil if Starling does not implement it.
    @inlinable public init?(dtlsProfileID: UInt16) { self.init(rawValue: dtlsProfileID) }
}
