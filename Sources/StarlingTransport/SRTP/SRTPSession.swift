import COpenSSL
import CSRTP

/// One direction of SRTP and SRTCP protection (RFC 3711) for one DTLS-SRTP association, on libsrtp2.
///
/// An outbound session protects what we send with our master key (`localKey`, `localSalt`); an
/// inbound session unprotects what the peer sends with its master key. Each session accepts any
/// number of SSRCs: libsrtp keeps one stream (rollover counter, replay window, SRTCP index) per
/// SSRC, created on the first packet of that SSRC (`ssrc_any_outbound` / `ssrc_any_inbound`).
/// The first packet of a new SSRC allocates that stream; every later packet allocates nothing here.
/// libsrtp looks streams up in a list, so the cost per packet grows slowly with the SSRC count.
///
/// The hot-path methods work in place on caller-owned memory and never allocate. Failures are
/// thrown as ``SRTPError`` and counted in ``counters``; the session stays usable. On failure the
/// buffer's contents are unspecified: drop the packet.
///
/// libsrtp assumes the packet starts on a 4-byte boundary (it reads the header as 32-bit words).
/// x86-64 and arm64 tolerate unaligned buffers; pass aligned ones where that is free.
///
/// Not thread-safe: one session belongs to one isolation domain (the room that owns the transport).
public final class SRTPSession {
    /// Which way the packets go.
    public enum Direction: Sendable, Hashable {
        /// Protects packets we send: `protectRTP`, `protectRTCP`.
        case outbound
        /// Unprotects packets we receive: `unprotectRTP`, `unprotectRTCP`.
        case inbound
    }

    /// Replay and retransmission policy.
    public struct Options: Sendable, Hashable {
        /// Size of the per-SSRC replay window in packets (libsrtp allows 64 ..< 32768; its default is 128).
        ///
        /// Inbound, packets delayed by more than this many sequence numbers behind the newest one are
        /// dropped as too old (RFC 3711 §3.3.2). Outbound, libsrtp keeps the same window over what it
        /// has sent and refuses to protect an index older than the window: a NACK answer for a packet
        /// that many packets back cannot be sent. 1024 matches WebRTC's choice for video and covers a
        /// NACK history of about one second at 1000 packets/s.
        public var replayWindowSize: Int
        /// Whether an outbound session may protect the same packet index twice (libsrtp `allow_repeat_tx`).
        ///
        /// An SFU answers NACKs from peers that did not negotiate RTX (RFC 4588) by resending the
        /// original packet with its original sequence number; without this flag libsrtp refuses the
        /// second protect as a replay. RTX packets carry their own SSRC and sequence numbers and do not
        /// need it. Security: the same SSRC and index give the same keystream (AES-CM) or nonce (GCM),
        /// so a repeated index must carry byte-identical contents. Resending the identical plaintext
        /// gives the identical ciphertext and leaks nothing; different contents under a reused index
        /// reveal the XOR of the plaintexts and, for GCM, let an attacker forge packets. The sequence
        /// rewriters must therefore never give one outgoing sequence number to two different packets.
        /// No effect on inbound sessions, where replays are always dropped.
        public var allowRepeatTransmission: Bool

        public init(replayWindowSize: Int = 1024, allowRepeatTransmission: Bool = true) {
            self.replayWindowSize = replayWindowSize
            self.allowRepeatTransmission = allowRepeatTransmission
        }
    }

    /// What happened to the packets given to this session; every dropped packet is counted once.
    public struct Counters: Sendable, Hashable {
        public var rtpProtected = 0
        public var rtcpProtected = 0
        public var rtpUnprotected = 0
        public var rtcpUnprotected = 0
        /// Protect calls that failed (buffer too small, malformed header, repeated or too old index).
        public var protectFailures = 0
        /// Received packets whose authentication tag did not verify.
        public var authFailures = 0
        /// Received packets dropped by the replay window (replayed or too old).
        public var replayDrops = 0
        /// Received packets dropped for any other reason (too short, not version 2, libsrtp errors).
        public var otherUnprotectFailures = 0

        public init() {}
    }

    /// The largest packet accepted (the largest UDP payload is smaller).
    public static let maximumPacketLength = 65_535

    public let profile: SRTPProtectionProfile
    public let direction: Direction
    public let options: Options
    public private(set) var counters = Counters()

    private let context: OpaquePointer

    /// Creates a session for one direction from a master key and salt (RFC 3711 §8.2).
    public init(
        profile: SRTPProtectionProfile,
        masterKey: [UInt8],
        masterSalt: [UInt8],
        direction: Direction,
        options: Options = Options()
    ) throws(SRTPError) {
        guard masterKey.count == profile.keyLength else {
            throw .invalidKeyLength(expected: profile.keyLength, actual: masterKey.count)
        }
        guard masterSalt.count == profile.saltLength else {
            throw .invalidSaltLength(expected: profile.saltLength, actual: masterSalt.count)
        }
        guard (64..<0x8000).contains(options.replayWindowSize) else {
            throw .invalidReplayWindow(options.replayWindowSize)
        }
        let initStatus = SRTPLibrary.initializationStatus
        guard initStatus == srtp_err_status_ok.rawValue else { throw .library(status: initStatus) }

        var policy = srtp_policy_t()
        switch profile {
        case .aes128CmHmacSha1_80:
            // AES_CM_128_HMAC_SHA1_80 is libsrtp's default policy (the named setter is a C macro).
            srtp_crypto_policy_set_rtp_default(&policy.rtp)
            srtp_crypto_policy_set_rtcp_default(&policy.rtcp)
        case .aeadAes128Gcm:
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp)
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp)
        }
        policy.ssrc.type = direction == .outbound ? ssrc_any_outbound : ssrc_any_inbound
        policy.ssrc.value = 0
        policy.window_size = UInt(options.replayWindowSize)
        policy.allow_repeat_tx = options.allowRepeatTransmission ? 1 : 0
        policy.next = nil

        // libsrtp reads key || salt as one buffer; give it room to spare and wipe it afterwards.
        var material = [UInt8](repeating: 0, count: 64)
        material.replaceSubrange(0..<masterKey.count, with: masterKey)
        material.replaceSubrange(masterKey.count..<masterKey.count + masterSalt.count, with: masterSalt)
        var session: srtp_t? = nil
        let status = material.withUnsafeMutableBufferPointer { keyBytes in
            policy.key = keyBytes.baseAddress
            defer { OPENSSL_cleanse(keyBytes.baseAddress, keyBytes.count) }  // a wipe the optimizer keeps
            return srtp_create(&session, &policy)
        }
        guard status == srtp_err_status_ok, let session else { throw SRTPError(status: status) }

        self.profile = profile
        self.direction = direction
        self.options = options
        self.context = session
    }

    /// The outbound and inbound sessions of one DTLS-SRTP association, from the keys DTLS exported
    /// (RFC 5764 §4.2: we protect with our write key, and unprotect with the peer's).
    public static func pair(
        profile: SRTPProtectionProfile,
        localKey: [UInt8], localSalt: [UInt8],
        remoteKey: [UInt8], remoteSalt: [UInt8],
        options: Options = Options()
    ) throws(SRTPError) -> (outbound: SRTPSession, inbound: SRTPSession) {
        let outbound = try SRTPSession(
            profile: profile, masterKey: localKey, masterSalt: localSalt, direction: .outbound, options: options)
        let inbound = try SRTPSession(
            profile: profile, masterKey: remoteKey, masterSalt: remoteSalt, direction: .inbound, options: options)
        return (outbound, inbound)
    }

    deinit {
        srtp_dealloc(context)
    }

    // MARK: In-place hot path

    /// Protects the RTP packet in `buffer[0..<length]` in place: encrypts the payload and appends the
    /// tag (RFC 3711 §3.3, RFC 7714 §8). `capacity` is the usable size of `buffer` and must be at
    /// least `length + profile.rtpTagLength`. Returns the SRTP packet length.
    public func protectRTP(_ buffer: UnsafeMutableRawPointer, length: Int, capacity: Int) throws(SRTPError) -> Int {
        do throws(SRTPError) {
            try checkDirection(.outbound)
            try checkHeader(buffer, length: length, minimum: 12)
            try checkCapacity(length + profile.rtpTagLength, capacity)
            var len = Int32(length)
            let status = srtp_protect(context, buffer, &len)
            guard status == srtp_err_status_ok else { throw SRTPError(status: status) }
            counters.rtpProtected &+= 1
            return Int(len)
        } catch {
            counters.protectFailures &+= 1
            throw error
        }
    }

    /// Verifies and decrypts the SRTP packet in `buffer[0..<length]` in place (RFC 3711 §3.3, RFC 7714 §8)
    /// and returns the RTP packet length (the tag removed).
    public func unprotectRTP(_ buffer: UnsafeMutableRawPointer, length: Int) throws(SRTPError) -> Int {
        do throws(SRTPError) {
            try checkDirection(.inbound)
            try checkHeader(buffer, length: length, minimum: 12 + profile.rtpTagLength)
            var len = Int32(length)
            let status = srtp_unprotect(context, buffer, &len)
            guard status == srtp_err_status_ok else { throw SRTPError(status: status) }
            counters.rtpUnprotected &+= 1
            return Int(len)
        } catch {
            countUnprotectFailure(error)
            throw error
        }
    }

    /// Protects the (compound) RTCP packet in `buffer[0..<length]` in place: encrypts everything after
    /// the first 8 bytes and appends the E flag, SRTCP index and tag (RFC 3711 §3.4, RFC 7714 §9).
    /// `capacity` must be at least `length + profile.rtcpTrailerLength`. Returns the SRTCP packet length.
    public func protectRTCP(_ buffer: UnsafeMutableRawPointer, length: Int, capacity: Int) throws(SRTPError) -> Int {
        do throws(SRTPError) {
            try checkDirection(.outbound)
            try checkHeader(buffer, length: length, minimum: 8)
            try checkCapacity(length + profile.rtcpTrailerLength, capacity)
            var len = Int32(length)
            let status = srtp_protect_rtcp(context, buffer, &len)
            guard status == srtp_err_status_ok else { throw SRTPError(status: status) }
            counters.rtcpProtected &+= 1
            return Int(len)
        } catch {
            counters.protectFailures &+= 1
            throw error
        }
    }

    /// Verifies and decrypts the SRTCP packet in `buffer[0..<length]` in place and returns the RTCP
    /// length (E flag, index and tag removed).
    public func unprotectRTCP(_ buffer: UnsafeMutableRawPointer, length: Int) throws(SRTPError) -> Int {
        do throws(SRTPError) {
            try checkDirection(.inbound)
            try checkHeader(buffer, length: length, minimum: 8 + profile.rtcpTrailerLength)
            var len = Int32(length)
            let status = srtp_unprotect_rtcp(context, buffer, &len)
            guard status == srtp_err_status_ok else { throw SRTPError(status: status) }
            counters.rtcpUnprotected &+= 1
            return Int(len)
        } catch {
            countUnprotectFailure(error)
            throw error
        }
    }

    // MARK: Buffer-pointer forms (capacity = buffer.count)

    /// ``protectRTP(_:length:capacity:)`` over a buffer whose whole size is usable.
    @inlinable
    public func protectRTP(_ buffer: UnsafeMutableRawBufferPointer, length: Int) throws(SRTPError) -> Int {
        guard let base = buffer.baseAddress else { throw .packetTooShort(length: 0, minimum: 12) }
        return try protectRTP(base, length: length, capacity: buffer.count)
    }

    /// ``unprotectRTP(_:length:)`` over the first `length` bytes of `buffer`.
    @inlinable
    public func unprotectRTP(_ buffer: UnsafeMutableRawBufferPointer, length: Int) throws(SRTPError) -> Int {
        guard let base = buffer.baseAddress, length <= buffer.count else {
            throw .bufferTooSmall(required: length, capacity: buffer.count)
        }
        return try unprotectRTP(base, length: length)
    }

    /// ``protectRTCP(_:length:capacity:)`` over a buffer whose whole size is usable.
    @inlinable
    public func protectRTCP(_ buffer: UnsafeMutableRawBufferPointer, length: Int) throws(SRTPError) -> Int {
        guard let base = buffer.baseAddress else { throw .packetTooShort(length: 0, minimum: 8) }
        return try protectRTCP(base, length: length, capacity: buffer.count)
    }

    /// ``unprotectRTCP(_:length:)`` over the first `length` bytes of `buffer`.
    @inlinable
    public func unprotectRTCP(_ buffer: UnsafeMutableRawBufferPointer, length: Int) throws(SRTPError) -> Int {
        guard let base = buffer.baseAddress, length <= buffer.count else {
            throw .bufferTooSmall(required: length, capacity: buffer.count)
        }
        return try unprotectRTCP(base, length: length)
    }

    // MARK: Array forms (tests and control paths; these allocate)

    /// Protects `packet` (an RTP packet) in place, growing it by the tag.
    public func protectRTP(_ packet: inout [UInt8]) throws(SRTPError) {
        try transform(&packet, growth: profile.rtpTagLength) { (p, len, cap) throws(SRTPError) in
            try protectRTP(p, length: len, capacity: cap)
        }
    }

    /// Unprotects `packet` (an SRTP packet) in place, shrinking it to the RTP packet.
    public func unprotectRTP(_ packet: inout [UInt8]) throws(SRTPError) {
        try transform(&packet, growth: 0) { (p, len, _) throws(SRTPError) in try unprotectRTP(p, length: len) }
    }

    /// Protects `packet` (an RTCP compound packet) in place, growing it by the SRTCP trailer.
    public func protectRTCP(_ packet: inout [UInt8]) throws(SRTPError) {
        try transform(&packet, growth: profile.rtcpTrailerLength) { (p, len, cap) throws(SRTPError) in
            try protectRTCP(p, length: len, capacity: cap)
        }
    }

    /// Unprotects `packet` (an SRTCP packet) in place, shrinking it to the RTCP compound packet.
    public func unprotectRTCP(_ packet: inout [UInt8]) throws(SRTPError) {
        try transform(&packet, growth: 0) { (p, len, _) throws(SRTPError) in try unprotectRTCP(p, length: len) }
    }

    // MARK: Streams

    /// The rollover counter of `ssrc`'s stream (RFC 3711 §3.3.1), or nil if no packet of it was seen.
    public func rolloverCounter(ssrc: UInt32) -> UInt32? {
        var roc: UInt32 = 0
        guard srtp_get_stream_roc(context, ssrc, &roc) == srtp_err_status_ok else { return nil }
        return roc
    }

    /// Forgets `ssrc`'s stream (its rollover counter, replay window and SRTCP index), freeing its
    /// memory; a later packet of that SSRC starts a new stream. Returns false if there was none.
    @discardableResult
    public func removeStream(ssrc: UInt32) -> Bool {
        srtp_remove_stream(context, ssrc.bigEndian) == srtp_err_status_ok
    }

    // MARK: Private

    @inline(__always)
    private func checkDirection(_ expected: Direction) throws(SRTPError) {
        guard direction == expected else { throw .wrongDirection }
    }

    @inline(__always)
    private func checkHeader(_ buffer: UnsafeMutableRawPointer, length: Int, minimum: Int) throws(SRTPError) {
        guard length >= minimum else { throw .packetTooShort(length: length, minimum: minimum) }
        guard length <= Self.maximumPacketLength else {
            throw .packetTooLong(length: length, maximum: Self.maximumPacketLength)
        }
        let version = buffer.load(as: UInt8.self) >> 6
        guard version == 2 else { throw .invalidVersion(version) }
    }

    @inline(__always)
    private func checkCapacity(_ required: Int, _ capacity: Int) throws(SRTPError) {
        guard capacity >= required else { throw .bufferTooSmall(required: required, capacity: capacity) }
    }

    private func countUnprotectFailure(_ error: SRTPError) {
        switch error {
        case .authenticationFailed: counters.authFailures &+= 1
        case .replayed, .replayTooOld: counters.replayDrops &+= 1
        default: counters.otherUnprotectFailures &+= 1
        }
    }

    private func transform(
        _ packet: inout [UInt8],
        growth: Int,
        _ body: (UnsafeMutableRawPointer, Int, Int) throws(SRTPError) -> Int
    ) throws(SRTPError) {
        let length = packet.count
        packet.append(contentsOf: repeatElement(0, count: growth))
        var scratch: UInt8 = 0  // stands in for the storage of an empty array, which may have none
        let result: Result<Int, SRTPError> = packet.withUnsafeMutableBytes { bytes in
            withUnsafeMutableBytes(of: &scratch) { scratchBytes in
                let base = bytes.baseAddress ?? scratchBytes.baseAddress!
                do throws(SRTPError) {
                    return .success(try body(base, length, bytes.count))
                } catch {
                    return .failure(error)
                }
            }
        }
        switch result {
        case .success(let newLength):
            packet.removeLast(packet.count - newLength)
        case .failure(let error):
            packet.removeLast(growth)
            throw error
        }
    }
}

/// libsrtp's process-wide initialization, run once (Swift runs static initializers once, thread-safely).
enum SRTPLibrary {
    static let initializationStatus: UInt32 = srtp_init().rawValue
}
