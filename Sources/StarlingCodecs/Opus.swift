internal import COpus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Shared Opus settings: WebRTC's 48 kHz clock and 20 ms frames.
public enum OpusFormat {
    public static let sampleRate = 48_000
    /// Samples per channel in one 20 ms frame.
    public static let samplesPerFrame = 960
    /// The largest packet `OpusEncoder` asks for (RFC 6716 §3.4: 1275 octets per frame, up to 3 frames,
    /// plus framing).
    static let maxPacketSize = 4000
    /// The longest frame a packet may carry (120 ms), per channel.
    static let maxFrameSamples = 5760
}

/// A libopus encoder at 48 kHz taking 20 ms frames of interleaved 16-bit PCM. libopus picks the bitrate
/// itself (`OPUS_AUTO`) unless one is given (through the COpus shim: `opus_encoder_ctl` is variadic).
///
/// Not thread-safe: one owner encodes at a time.
public final class OpusEncoder {
    public enum Application: Sendable {
        /// `OPUS_APPLICATION_VOIP`: speech.
        case voip
        /// `OPUS_APPLICATION_AUDIO`: music and mixed content.
        case audio
        /// `OPUS_APPLICATION_RESTRICTED_LOWDELAY`: CELT only, lowest delay.
        case restrictedLowDelay

        var value: Int32 {
            switch self {
            case .voip: OPUS_APPLICATION_VOIP
            case .audio: OPUS_APPLICATION_AUDIO
            case .restrictedLowDelay: OPUS_APPLICATION_RESTRICTED_LOWDELAY
            }
        }
    }

    /// 1 (mono) or 2 (stereo, interleaved left, right).
    public let channels: Int
    private let encoder: OpaquePointer
    private var output = [UInt8](repeating: 0, count: OpusFormat.maxPacketSize)

    /// - Parameter bitrate: bits per second (500 to 512,000), or nil for libopus's own choice.
    public init(channels: Int, application: Application = .voip, bitrate: Int? = nil) throws(CodecError) {
        guard channels == 1 || channels == 2 else { throw .invalidArgument("Opus channels \(channels)") }
        if let bitrate, !(500...512_000).contains(bitrate) { throw .invalidArgument("Opus bitrate \(bitrate)") }
        self.channels = channels
        var error: Int32 = OPUS_OK
        let created = opus_encoder_create(Int32(OpusFormat.sampleRate), Int32(channels), application.value, &error)
        guard error == OPUS_OK, let created else { throw .opus("opus_encoder_create", error == OPUS_OK ? OPUS_ALLOC_FAIL : error) }
        encoder = created
        if let bitrate {
            let set = starling_opus_set_bitrate(created, Int32(bitrate))
            guard set == OPUS_OK else { throw .opus("opus_encoder_ctl(OPUS_SET_BITRATE)", set) }  // deinit destroys it
        }
    }

    /// The bitrate libopus targets, in bits per second.
    public var bitrate: Int {
        var value: Int32 = 0
        return starling_opus_get_bitrate(encoder, &value) == OPUS_OK ? Int(value) : 0
    }

    deinit { opus_encoder_destroy(encoder) }

    /// Encodes one 20 ms frame: `OpusFormat.samplesPerFrame * channels` interleaved samples.
    public func encode(_ pcm: [Int16]) throws(CodecError) -> [UInt8] {
        guard pcm.count == OpusFormat.samplesPerFrame * channels else {
            throw .invalidArgument("\(pcm.count) samples for a 20 ms frame of \(channels) channel(s)")
        }
        let encoder = self.encoder
        let length = pcm.withUnsafeBufferPointer { samples in
            output.withUnsafeMutableBufferPointer { out in
                guard let input = samples.baseAddress, let packet = out.baseAddress else { return OPUS_BAD_ARG }
                return opus_encode(encoder, input, Int32(OpusFormat.samplesPerFrame), packet, Int32(out.count))
            }
        }
        guard length > 0 else { throw .opus("opus_encode", length) }
        return Array(output[0..<Int(length)])
    }
}

/// A libopus decoder at 48 kHz producing interleaved 16-bit PCM; counts what it refused.
///
/// Not thread-safe: one owner decodes at a time.
public final class OpusDecoder {
    public let channels: Int
    public private(set) var framesDecoded = 0
    /// Packets libopus refused (each also thrown).
    public private(set) var errors = 0
    private let decoder: OpaquePointer
    private var output: [Int16]

    public init(channels: Int) throws(CodecError) {
        guard channels == 1 || channels == 2 else { throw .invalidArgument("Opus channels \(channels)") }
        self.channels = channels
        var error: Int32 = OPUS_OK
        let created = opus_decoder_create(Int32(OpusFormat.sampleRate), Int32(channels), &error)
        guard error == OPUS_OK, let created else { throw .opus("opus_decoder_create", error == OPUS_OK ? OPUS_ALLOC_FAIL : error) }
        decoder = created
        output = [Int16](repeating: 0, count: OpusFormat.maxFrameSamples * channels)
    }

    deinit { opus_decoder_destroy(decoder) }

    /// Decodes one packet into interleaved samples (`samples per channel * channels` of them).
    public func decode(_ packet: [UInt8]) throws(CodecError) -> [Int16] {
        guard !packet.isEmpty else {
            errors += 1
            throw .invalidArgument("an empty Opus packet")
        }
        return try run("opus_decode", packet)
    }

    /// Packet loss concealment: the samples libopus makes up for one lost 20 ms frame.
    public func concealLoss() throws(CodecError) -> [Int16] {
        try run("opus_decode (loss concealment)", nil)
    }

    private func run(_ call: String, _ packet: [UInt8]?) throws(CodecError) -> [Int16] {
        let decoder = self.decoder
        let frameSize = packet == nil ? Int32(OpusFormat.samplesPerFrame) : Int32(OpusFormat.maxFrameSamples)
        let samples: Int32 = output.withUnsafeMutableBufferPointer { buffer in
            guard let out = buffer.baseAddress else { return OPUS_BAD_ARG }
            guard let packet else { return opus_decode(decoder, nil, 0, out, frameSize, 0) }
            return packet.withUnsafeBufferPointer { data in
                opus_decode(decoder, data.baseAddress, Int32(data.count), out, frameSize, 0)
            }
        }
        guard samples >= 0 else {
            errors += 1
            throw .opus(call, samples)
        }
        framesDecoded += 1
        return Array(output[0..<(Int(samples) * channels)])
    }
}

/// A sine tone as 16-bit PCM at 48 kHz, interleaved across channels (the same tone in each), continuous
/// from one frame to the next.
public struct SineWave: Sendable {
    public var frequency: Double
    /// Peak amplitude, 0...1 of full scale.
    public var amplitude: Double
    public let channels: Int
    /// Samples per channel produced so far.
    public private(set) var position: Int = 0

    public init(frequency: Double = 440, amplitude: Double = 0.5, channels: Int = 1) {
        self.frequency = frequency
        self.amplitude = min(max(amplitude, 0), 1)
        self.channels = max(1, channels)
    }

    /// The next `samplesPerChannel` samples per channel (one 20 ms frame by default).
    public mutating func next(samplesPerChannel: Int = OpusFormat.samplesPerFrame) -> [Int16] {
        var out = [Int16](repeating: 0, count: max(0, samplesPerChannel) * channels)
        let step = 2 * Double.pi * frequency / Double(OpusFormat.sampleRate)
        let scale = amplitude * Double(Int16.max)
        for i in 0..<max(0, samplesPerChannel) {
            let value = Int16(scale * sin(step * Double(position + i)))
            for c in 0..<channels { out[i * channels + c] = value }
        }
        position += max(0, samplesPerChannel)
        return out
    }
}
