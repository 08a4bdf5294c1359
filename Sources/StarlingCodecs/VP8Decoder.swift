internal import CVPX

/// What `VP8Decoder` reports of a decoded picture.
public struct DecodedFrame: Hashable, Sendable {
    public var width: Int
    public var height: Int
    /// A cheap hash of the visible luma plane (FNV-1a over 64-bit words), when the decoder computes it.
    public var lumaChecksum: UInt64?
    /// libvpx's `VP8D_GET_FRAME_CORRUPTED`: the frame refers to data that was lost or damaged.
    public var isCorrupted: Bool

    public init(width: Int, height: Int, lumaChecksum: UInt64? = nil, isCorrupted: Bool = false) {
        self.width = width
        self.height = height
        self.lumaChecksum = lumaChecksum
        self.isCorrupted = isCorrupted
    }
}

/// A libvpx VP8 decoder that counts what it decoded and what it refused.
///
/// Not thread-safe: one owner decodes at a time.
public final class VP8Decoder {
    /// Whether `decode` hashes the luma plane into `DecodedFrame.lumaChecksum`.
    public let computesChecksum: Bool
    public private(set) var framesDecoded = 0
    /// Inputs libvpx refused (each also thrown).
    public private(set) var errors = 0
    /// Frames decoded but reported corrupted by libvpx.
    public private(set) var corruptedFrames = 0

    private let context: UnsafeMutablePointer<vpx_codec_ctx_t>

    public init(computesChecksum: Bool = false, threads: Int = 1) throws(CodecError) {
        guard (1...64).contains(threads) else { throw .invalidArgument("VP8 decoder threads \(threads)") }
        self.computesChecksum = computesChecksum
        context = .allocate(capacity: 1)
        context.initialize(to: vpx_codec_ctx_t())
        var config = vpx_codec_dec_cfg_t(threads: UInt32(threads), w: 0, h: 0)
        let initialised = starling_vpx_codec_dec_init(context, vpx_codec_vp8_dx(), &config, 0)
        guard initialised == VPX_CODEC_OK else {
            let error = CodecError.vpx("vpx_codec_dec_init", initialised, context)
            context.deallocate()
            throw error
        }
    }

    deinit {
        vpx_codec_destroy(context)
        context.deallocate()
    }

    /// Decodes one whole VP8 frame. Returns the picture it produced (nil when libvpx produced none, e.g. a
    /// frame that is not shown); throws, and counts an error, when libvpx refuses the data.
    public func decode(_ bytes: [UInt8]) throws(CodecError) -> DecodedFrame? {
        guard !bytes.isEmpty else {
            errors += 1
            throw .invalidArgument("an empty VP8 frame")
        }
        let result = bytes.withUnsafeBufferPointer { data in
            vpx_codec_decode(context, data.baseAddress, UInt32(data.count), nil, 0)
        }
        guard result == VPX_CODEC_OK else {
            errors += 1
            throw .vpx("vpx_codec_decode", result, context)
        }
        var corrupted: Int32 = 0
        if vpx_codec_control_VP8D_GET_FRAME_CORRUPTED(context, Int32(VP8D_GET_FRAME_CORRUPTED.rawValue), &corrupted)
            != VPX_CODEC_OK
        {
            corrupted = 0
        }
        var decoded: DecodedFrame?
        var iterator: vpx_codec_iter_t? = nil
        while let image = vpx_codec_get_frame(context, &iterator) {
            let picture = image.pointee
            decoded = DecodedFrame(
                width: Int(picture.d_w), height: Int(picture.d_h),
                lumaChecksum: computesChecksum ? Self.checksum(picture) : nil, isCorrupted: corrupted != 0)
        }
        if let decoded {
            framesDecoded += 1
            if decoded.isCorrupted { corruptedFrames += 1 }
        }
        return decoded
    }

    /// FNV-1a over the visible luma rows, 8 octets at a time, then the row's tail octet by octet.
    private static func checksum(_ picture: vpx_image_t) -> UInt64? {
        guard let plane = picture.planes.0, picture.stride.0 > 0 else { return nil }
        let width = Int(picture.d_w), height = Int(picture.d_h), stride = Int(picture.stride.0)
        let prime: UInt64 = 0x100_0000_01B3
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for row in 0..<height {
            let start = UnsafeRawPointer(plane + row * stride)
            var x = 0
            while x + 8 <= width {
                hash = (hash ^ start.loadUnaligned(fromByteOffset: x, as: UInt64.self)) &* prime
                x += 8
            }
            while x < width {
                hash = (hash ^ UInt64(start.load(fromByteOffset: x, as: UInt8.self))) &* prime
                x += 1
            }
        }
        return hash
    }
}
