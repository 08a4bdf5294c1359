/// SRTP master keys and salts exported from a completed DTLS handshake (RFC 5764 §4.2).
///
/// `local` protects what we send, `remote` unprotects what the peer sends. The DTLS client's write
/// key is the local key of the client and the remote key of the server, so the two ends of one
/// association hold mirrored values.
public struct DTLSSRTPKeys: Hashable, Sendable, CustomStringConvertible {
    public var profile: SRTPProtectionProfile
    public var localKey: [UInt8]
    public var localSalt: [UInt8]
    public var remoteKey: [UInt8]
    public var remoteSalt: [UInt8]

    public init(profile: SRTPProtectionProfile, localKey: [UInt8], localSalt: [UInt8], remoteKey: [UInt8], remoteSalt: [UInt8]) {
        self.profile = profile
        self.localKey = localKey
        self.localSalt = localSalt
        self.remoteKey = remoteKey
        self.remoteSalt = remoteSalt
    }

    /// The length of the exporter output for `profile`: 2 * (key + salt) (RFC 5764 §4.2).
    public static func keyingMaterialLength(for profile: SRTPProtectionProfile) -> Int {
        2 * (profile.keyLength + profile.saltLength)
    }

    /// Splits exporter output laid out as client write key, server write key, client write salt,
    /// server write salt (RFC 5764 §4.2). Returns nil if `material` has the wrong length.
    public init?(profile: SRTPProtectionProfile, keyingMaterial material: [UInt8], isClient: Bool) {
        let k = profile.keyLength
        let s = profile.saltLength
        guard material.count == 2 * (k + s) else { return nil }
        let clientKey = Array(material[0..<k])
        let serverKey = Array(material[k..<2 * k])
        let clientSalt = Array(material[2 * k..<2 * k + s])
        let serverSalt = Array(material[2 * k + s..<2 * (k + s)])
        self.profile = profile
        if isClient {
            (localKey, localSalt, remoteKey, remoteSalt) = (clientKey, clientSalt, serverKey, serverSalt)
        } else {
            (localKey, localSalt, remoteKey, remoteSalt) = (serverKey, serverSalt, clientKey, clientSalt)
        }
    }

    /// Names the profile only: key material stays out of logs.
    public var description: String { "DTLSSRTPKeys(\(profile), redacted)" }
}
