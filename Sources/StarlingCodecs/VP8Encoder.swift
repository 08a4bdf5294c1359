internal import CVPX

/// One compressed VP8 frame from `VP8Encoder`.
public struct EncodedFrame: Hashable, Sendable {
    /// The VP8 frame (RFC 6386), starting with its 3-octet frame tag.
    public var bytes: [UInt8]
    public var isKeyframe: Bool
    /// No later frame refers to this one (the RFC 7741 N bit may be set).
    public var isDroppable: Bool
    /// The presentation time in 90 kHz units (the RTP clock of video), counted from the first frame.
    public var pts: Int64

    public init(bytes: [UInt8], isKeyframe: Bool, isDroppable: Bool = false, pts: Int64) {
        self.bytes = bytes
        self.isKeyframe = isKeyframe
        self.isDroppable = isDroppable
        self.pts = pts
    }
}

/// A libvpx VP8 encoder with WebRTC-style realtime settings: one pass, CBR, no lag, error resilient,
/// `VPX_DL_REALTIME` and a fixed high speed (`cpuUsed` -12 by default). Time is counted in frames at
/// `frameRate`; `EncodedFrame.pts` is in 90 kHz units.
///
/// Not thread-safe: one owner encodes at a time.
public final class VP8Encoder {
    public let width: Int
    public let height: Int
    public let bitrate: Int
    public let frameRate: Int
    public let keyframeInterval: Int
    /// Frames given to `encode` so far.
    public private(set) var framesIn: Int64 = 0

    private let context: UnsafeMutablePointer<vpx_codec_ctx_t>
    private let image: UnsafeMutablePointer<vpx_image_t>

    /// - Parameters:
    ///   - bitrate: the target in bits per second.
    ///   - keyframeInterval: the most frames between key frames (libvpx `kf_max_dist`).
    ///   - cpuUsed: libvpx `VP8E_SET_CPUUSED`; negative values fix the speed (-16 fastest), positive ones let
    ///     libvpx pick it to meet the realtime deadline.
    ///   - threads: encoder threads (`g_threads`).
    public init(
        width: Int, height: Int, bitrate: Int, frameRate: Int = 30, keyframeInterval: Int = 3000,
        cpuUsed: Int = -12, threads: Int = 1
    ) throws(CodecError) {
        guard width > 0, height > 0, width <= 16383, height <= 16383, width % 2 == 0, height % 2 == 0 else {
            throw .invalidArgument("VP8 dimensions \(width)x\(height) (even, up to 16383)")
        }
        guard bitrate >= 1000, frameRate > 0, frameRate <= 1000, keyframeInterval > 0, (-16...16).contains(cpuUsed),
            (1...64).contains(threads)
        else {
            throw .invalidArgument(
                "VP8 encoder bitrate \(bitrate), frame rate \(frameRate), keyframe interval \(keyframeInterval), "
                    + "cpu-used \(cpuUsed), threads \(threads)")
        }
        self.width = width
        self.height = height
        self.bitrate = bitrate
        self.frameRate = frameRate
        self.keyframeInterval = keyframeInterval

        var config = vpx_codec_enc_cfg_t()
        let defaults = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &config, 0)
        guard defaults == VPX_CODEC_OK else { throw .vpx("vpx_codec_enc_config_default", defaults, nil) }
        config.g_w = UInt32(width)
        config.g_h = UInt32(height)
        config.g_threads = UInt32(threads)
        config.g_timebase = vpx_rational(num: 1, den: 90_000)
        config.g_pass = VPX_RC_ONE_PASS
        config.g_lag_in_frames = 0
        config.g_error_resilient = vpx_codec_er_flags_t(VPX_ERROR_RESILIENT_DEFAULT)
        config.rc_end_usage = VPX_CBR
        config.rc_target_bitrate = UInt32(max(1, bitrate / 1000))
        config.rc_min_quantizer = 2
        config.rc_max_quantizer = 56
        config.rc_undershoot_pct = 100
        config.rc_overshoot_pct = 15
        config.rc_buf_initial_sz = 500
        config.rc_buf_optimal_sz = 600
        config.rc_buf_sz = 1000
        config.rc_dropframe_thresh = 0
        config.kf_mode = VPX_KF_AUTO
        config.kf_min_dist = 0
        config.kf_max_dist = UInt32(keyframeInterval)

        context = .allocate(capacity: 1)
        context.initialize(to: vpx_codec_ctx_t())
        let initialised = starling_vpx_codec_enc_init(context, vpx_codec_vp8_cx(), &config, 0)
        guard initialised == VPX_CODEC_OK else {
            let error = CodecError.vpx("vpx_codec_enc_init", initialised, context)
            context.deallocate()
            throw error
        }
        image = .allocate(capacity: 1)
        image.initialize(to: vpx_image_t())

        let controls: [(String, vpx_codec_err_t)] = [
            ("VP8E_SET_CPUUSED", vpx_codec_control_VP8E_SET_CPUUSED(context, Int32(VP8E_SET_CPUUSED.rawValue), Int32(cpuUsed))),
            ("VP8E_SET_NOISE_SENSITIVITY", vpx_codec_control_VP8E_SET_NOISE_SENSITIVITY(context, Int32(VP8E_SET_NOISE_SENSITIVITY.rawValue), 0)),
            ("VP8E_SET_STATIC_THRESHOLD", vpx_codec_control_VP8E_SET_STATIC_THRESHOLD(context, Int32(VP8E_SET_STATIC_THRESHOLD.rawValue), 1)),
            ("VP8E_SET_TOKEN_PARTITIONS", vpx_codec_control_VP8E_SET_TOKEN_PARTITIONS(context, Int32(VP8E_SET_TOKEN_PARTITIONS.rawValue), 0)),
            ("VP8E_SET_MAX_INTRA_BITRATE_PCT", vpx_codec_control_VP8E_SET_MAX_INTRA_BITRATE_PCT(context, Int32(VP8E_SET_MAX_INTRA_BITRATE_PCT.rawValue), 300)),
        ]
        for (name, result) in controls where result != VPX_CODEC_OK {
            throw .vpx("vpx_codec_control(\(name))", result, context)  // deinit destroys the context
        }
    }

    deinit {
        vpx_codec_destroy(context)
        context.deallocate()
        image.deallocate()
    }

    /// The duration of one frame in 90 kHz units.
    public var frameDuration: Int64 { Int64(90_000 / frameRate) }

    /// Encodes the next frame (its time is `framesIn * frameDuration`). Usually returns one frame; with
    /// rate control dropping a frame, none.
    public func encode(_ frame: I420Frame, forceKeyframe: Bool = false) throws(CodecError) -> [EncodedFrame] {
        guard frame.width == width, frame.height == height else {
            throw .invalidArgument("a \(frame.width)x\(frame.height) frame for a \(width)x\(height) encoder")
        }
        let pts = framesIn * frameDuration
        let flags = forceKeyframe ? vpx_enc_frame_flags_t(VPX_EFLAG_FORCE_KF) : 0
        let result: vpx_codec_err_t = frame.y.withUnsafeBufferPointer { y in
            frame.u.withUnsafeBufferPointer { u in
                frame.v.withUnsafeBufferPointer { v in
                    guard let yBase = y.baseAddress, let uBase = u.baseAddress, let vBase = v.baseAddress,
                        vpx_img_wrap(image, VPX_IMG_FMT_I420, UInt32(width), UInt32(height), 1,
                            UnsafeMutablePointer(mutating: yBase)) != nil
                    else { return VPX_CODEC_INVALID_PARAM }
                    // The planes are separate arrays: point the image at each, without copying.
                    image.pointee.planes.0 = UnsafeMutablePointer(mutating: yBase)
                    image.pointee.planes.1 = UnsafeMutablePointer(mutating: uBase)
                    image.pointee.planes.2 = UnsafeMutablePointer(mutating: vBase)
                    image.pointee.stride.0 = Int32(width)
                    image.pointee.stride.1 = Int32(frame.chromaWidth)
                    image.pointee.stride.2 = Int32(frame.chromaWidth)
                    return vpx_codec_encode(context, image, pts, UInt(frameDuration), flags, UInt(VPX_DL_REALTIME))
                }
            }
        }
        guard result == VPX_CODEC_OK else { throw .vpx("vpx_codec_encode", result, context) }
        framesIn += 1

        var out: [EncodedFrame] = []
        var iterator: vpx_codec_iter_t? = nil
        while let packet = vpx_codec_get_cx_data(context, &iterator) {
            guard packet.pointee.kind == VPX_CODEC_CX_FRAME_PKT else { continue }
            let data = packet.pointee.data.frame
            guard let buffer = data.buf, data.sz > 0 else { continue }
            out.append(
                EncodedFrame(
                    bytes: [UInt8](UnsafeRawBufferPointer(start: buffer, count: data.sz)),
                    isKeyframe: data.flags & vpx_codec_frame_flags_t(VPX_FRAME_IS_KEY) != 0,
                    isDroppable: data.flags & vpx_codec_frame_flags_t(VPX_FRAME_IS_DROPPABLE) != 0,
                    pts: data.pts))
        }
        return out
    }
}
