import Foundation
public import StarlingCodecs

/// One simulcast layer's video, encoded once: `frames[0]` is the only key frame, so the clip loops
/// cleanly (the loop's restart is a key frame) and a key frame request is answered by restarting it.
public struct VideoClip: Sendable {
    public let width: Int
    public let height: Int
    /// The encoder's target, bits per second.
    public let bitrate: Int
    public let frames: [EncodedFrame]

    /// What the clip actually carries per second at `frameRate`.
    public func measuredBitrate(frameRate: Int) -> Int {
        guard !frames.isEmpty else { return 0 }
        return frames.reduce(0) { $0 + $1.bytes.count } * 8 * frameRate / frames.count
    }
}

/// The media every publisher sends: VP8 in three simulcast layers from libvpx and Opus from libopus,
/// encoded once at start and replayed with fresh RTP sequence numbers and timestamps. Encoding live would
/// cost about a third of a core per publisher (1280x720 takes ~9 ms a frame here), which would leave the
/// load tool, not the server under test, as the bottleneck.
public struct MediaClips: Sendable {
    public struct Layer: Sendable, Hashable {
        public var width: Int
        public var height: Int
        public var bitrate: Int
        public init(width: Int, height: Int, bitrate: Int) {
            self.width = width
            self.height = height
            self.bitrate = bitrate
        }
    }

    /// The layers: 1280x720 at 1.5 Mbit/s, 640x360 and 320x180; lowest first, as sent in
    /// `a=ssrc-group:SIM`.
    public static let defaultLayers = [
        Layer(width: 320, height: 180, bitrate: 150_000),
        Layer(width: 640, height: 360, bitrate: 500_000),
        Layer(width: 1280, height: 720, bitrate: 1_500_000),
    ]
    public static let frameRate = 30
    public static let audioBitrate = 32_000

    /// Lowest layer first.
    public let video: [VideoClip]
    /// 20 ms Opus packets of a 440 Hz tone (mono).
    public let audio: [[UInt8]]
    /// Wall-clock seconds spent encoding.
    public let encodeSeconds: Double

    /// Encodes `seconds` of the moving test pattern per layer and of the tone.
    public static func encode(layers: [Layer] = defaultLayers, seconds: Int = 2) throws(CodecError) -> MediaClips {
        let started = Date()
        let count = max(1, seconds * frameRate)
        var video: [VideoClip] = []
        for layer in layers {
            let encoder = try VP8Encoder(
                width: layer.width, height: layer.height, bitrate: layer.bitrate, frameRate: frameRate,
                keyframeInterval: count + 1)
            var frames: [EncodedFrame] = []
            for n in 0..<count {
                let picture = try I420Frame.testPattern(width: layer.width, height: layer.height, frameNumber: n)
                frames += try encoder.encode(picture, forceKeyframe: n == 0)
            }
            guard frames.first?.isKeyframe == true else { throw .invalidArgument("the clip does not start with a key frame") }
            video.append(VideoClip(width: layer.width, height: layer.height, bitrate: layer.bitrate, frames: frames))
        }
        let opus = try OpusEncoder(channels: 1, bitrate: audioBitrate)
        var sine = SineWave(frequency: 440, amplitude: 0.3, channels: 1)
        var audio: [[UInt8]] = []
        for _ in 0..<max(1, seconds * 50) { audio.append(try opus.encode(sine.next())) }
        return MediaClips(video: video, audio: audio, encodeSeconds: Date().timeIntervalSince(started))
    }
}
