import StarlingCodecs
import Testing

/// Prints what libvpx spends per frame at the simulcast layers starling-load sends, to decide
/// between encoding live and replaying frames encoded once. Only the `encode` calls are timed.
@Suite(.serialized) struct EncodeCostTests {
    @Test(arguments: [(1280, 720, 1_500_000), (640, 360, 500_000), (320, 180, 150_000)])
    func encodeCostPerFrame(layer: (width: Int, height: Int, bitrate: Int)) throws {
        let encoder = try VP8Encoder(width: layer.width, height: layer.height, bitrate: layer.bitrate)
        let count = 60
        var spent = Duration.zero
        var bytes = 0
        let clock = ContinuousClock()
        for n in 0..<count {
            let picture = try I420Frame.testPattern(width: layer.width, height: layer.height, frameNumber: n)
            let start = clock.now
            let frames = try encoder.encode(picture)
            spent += clock.now - start
            bytes += frames.reduce(0) { $0 + $1.bytes.count }
        }
        let ms = Double(spent.components.seconds) * 1000 + Double(spent.components.attoseconds) / 1e15
        print(
            "VP8 encode \(layer.width)x\(layer.height) at \(layer.bitrate / 1000) kbit/s: "
                + "\((ms / Double(count) * 100).rounded() / 100) ms/frame, \(bytes * 8 * 30 / count / 1000) kbit/s out")
        #expect(bytes > 0)
    }
}
