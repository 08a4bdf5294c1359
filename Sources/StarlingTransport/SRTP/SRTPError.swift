import CSRTP

/// Why an SRTP or SRTCP operation failed. Never fatal: the packet is dropped, the session goes on.
public enum SRTPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The master key does not have the profile's length.
    case invalidKeyLength(expected: Int, actual: Int)
    /// The master salt does not have the profile's length.
    case invalidSaltLength(expected: Int, actual: Int)
    /// The replay window is outside libsrtp's range (64 ..< 32768 packets).
    case invalidReplayWindow(Int)
    /// `protect` was called on an inbound session or `unprotect` on an outbound one.
    case wrongDirection
    /// The packet is shorter than the smallest packet the operation accepts.
    case packetTooShort(length: Int, minimum: Int)
    /// The packet is longer than any UDP datagram.
    case packetTooLong(length: Int, maximum: Int)
    /// The RTP/RTCP version field is not 2 (RFC 3550 §5.1).
    case invalidVersion(UInt8)
    /// The buffer cannot hold the packet plus the tag (and SRTCP index) that protecting appends.
    case bufferTooSmall(required: Int, capacity: Int)
    /// The authentication tag did not verify (RFC 3711 §3.3 step 5, RFC 7714 §10.1).
    case authenticationFailed
    /// The packet index was already received (RFC 3711 §3.3.2), or, on protect, already sent.
    case replayed
    /// The packet index is older than the replay window.
    case replayTooOld
    /// libsrtp failed with another status (an `srtp_err_status_t` value).
    case library(status: UInt32)

    @usableFromInline
    init(status: srtp_err_status_t) {
        switch status {
        case srtp_err_status_auth_fail: self = .authenticationFailed
        case srtp_err_status_replay_fail: self = .replayed
        case srtp_err_status_replay_old: self = .replayTooOld
        default: self = .library(status: status.rawValue)
        }
    }

    public var description: String {
        switch self {
        case .invalidKeyLength(let expected, let actual):
            "SRTP: master key is \(actual) bytes, the profile needs \(expected)"
        case .invalidSaltLength(let expected, let actual):
            "SRTP: master salt is \(actual) bytes, the profile needs \(expected)"
        case .invalidReplayWindow(let size):
            "SRTP: replay window \(size) is outside 64..<32768"
        case .wrongDirection:
            "SRTP: operation does not match the session's direction"
        case .packetTooShort(let length, let minimum):
            "SRTP: packet of \(length) bytes is shorter than the minimum \(minimum)"
        case .packetTooLong(let length, let maximum):
            "SRTP: packet of \(length) bytes is longer than the maximum \(maximum)"
        case .invalidVersion(let version):
            "SRTP: version \(version), expected 2"
        case .bufferTooSmall(let required, let capacity):
            "SRTP: buffer capacity \(capacity) is smaller than the \(required) bytes needed"
        case .authenticationFailed:
            "SRTP: authentication failed"
        case .replayed:
            "SRTP: replayed packet index"
        case .replayTooOld:
            "SRTP: packet index older than the replay window"
        case .library(let status):
            "SRTP: libsrtp error \(status) (\(SRTPError.statusName(status)))"
        }
    }

    /// The name of an `srtp_err_status_t` value, for logs.
    static func statusName(_ status: UInt32) -> String {
        switch status {
        case 1: "fail"
        case 2: "bad_param"
        case 3: "alloc_fail"
        case 5: "init_fail"
        case 7: "auth_fail"
        case 8: "cipher_fail"
        case 9: "replay_fail"
        case 10: "replay_old"
        case 11: "algo_fail"
        case 13: "no_ctx"
        case 15: "key_expired"
        case 21: "parse_err"
        case 25: "bad_mki"
        case 26: "pkt_idx_old"
        case 27: "pkt_idx_adv"
        default: "status \(status)"
        }
    }
}
