internal import COpus
internal import CVPX

/// A failure of a codec wrapper: libvpx and libopus failures carry the library's own error string.
public enum CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A libvpx call failed: the call, its `vpx_codec_err_t`, `vpx_codec_err_to_string` and, when the
    /// codec gave one, `vpx_codec_error_detail`.
    case vpx(call: String, code: Int32, message: String, detail: String?)
    /// A libopus call failed: the call, its error code and `opus_strerror`.
    case opus(call: String, code: Int32, message: String)
    /// An argument the wrapper refuses before calling the library (dimensions, sizes, empty input).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .vpx(let call, let code, let message, let detail):
            "libvpx \(call) failed (\(code)): \(message)" + (detail.map { " (\($0))" } ?? "")
        case .opus(let call, let code, let message):
            "libopus \(call) failed (\(code)): \(message)"
        case .invalidArgument(let what):
            "invalid argument: \(what)"
        }
    }

    static func vpx(_ call: String, _ code: vpx_codec_err_t, _ context: UnsafeMutablePointer<vpx_codec_ctx_t>?) -> CodecError {
        let message = vpx_codec_err_to_string(code).map { String(cString: $0) } ?? "unknown error"
        let detail = context.flatMap { vpx_codec_error_detail($0) }.map { String(cString: $0) }
        return .vpx(call: call, code: Int32(bitPattern: code.rawValue), message: message, detail: detail)
    }

    static func opus(_ call: String, _ code: Int32) -> CodecError {
        let message = opus_strerror(code).map { String(cString: $0) } ?? "unknown error"
        return .opus(call: call, code: code, message: message)
    }
}
