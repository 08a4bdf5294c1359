import StarlingCodecs
import StarlingTestSupport
import Testing

func rms(_ samples: some Collection<Int16>) -> Double {
    guard !samples.isEmpty else { return 0 }
    let sum = samples.reduce(0.0) { $0 + Double($1) * Double($1) }
    return (sum / Double(samples.count)).squareRoot()
}

@Suite struct OpusTests {
    @Test(arguments: [1, 2])
    func fiftyFramesRoundTripKeepTheSine(channels: Int) throws {
        let encoder = try OpusEncoder(channels: channels)
        let decoder = try OpusDecoder(channels: channels)
        var sine = SineWave(frequency: 440, amplitude: 0.5, channels: channels)
        var input: [Int16] = []
        var output: [Int16] = []
        var bytes = 0
        for _ in 0..<50 {
            let pcm = sine.next()
            #expect(pcm.count == 960 * channels)
            input += pcm
            let packet = try encoder.encode(pcm)
            #expect(!packet.isEmpty && packet.count < 1500)
            bytes += packet.count
            let decoded = try decoder.decode(packet)
            #expect(decoded.count == 960 * channels)
            output += decoded
        }
        #expect(decoder.framesDecoded == 50 && decoder.errors == 0)
        // Past the codec's start-up, the tone's energy survives (within a few dB).
        let inRMS = rms(input.dropFirst(10 * 960 * channels))
        let outRMS = rms(output.dropFirst(10 * 960 * channels))
        #expect(outRMS > 0.7 * inRMS && outRMS < 1.3 * inRMS, "in \(inRMS) out \(outRMS)")
        print("Opus \(channels) ch: \(bytes * 8 / 1000) kbit/s (libopus' automatic bitrate)")
        // Loss concealment makes up one frame.
        #expect(try decoder.concealLoss().count == 960 * channels)
    }

    /// A set bitrate holds: 50 frames of a tone at 24 and 64 kbit/s come out within 25% of the target.
    @Test(arguments: [24_000, 64_000])
    func setBitrateIsKept(bitrate: Int) throws {
        let encoder = try OpusEncoder(channels: 1, application: .audio, bitrate: bitrate)
        #expect(encoder.bitrate == bitrate)
        var sine = SineWave(frequency: 440, amplitude: 0.5, channels: 1)
        var bytes = 0
        for _ in 0..<50 { bytes += try encoder.encode(sine.next()).count }
        let measured = bytes * 8  // 50 frames of 20 ms: one second
        #expect(abs(measured - bitrate) < bitrate / 4, "\(measured) bit/s for a target of \(bitrate)")
        #expect(throws: CodecError.self) { try OpusEncoder(channels: 1, bitrate: 100) }
    }

    @Test func silenceStaysQuiet() throws {
        let encoder = try OpusEncoder(channels: 1)
        let decoder = try OpusDecoder(channels: 1)
        var output: [Int16] = []
        for _ in 0..<20 { output += try decoder.decode(encoder.encode([Int16](repeating: 0, count: 960))) }
        #expect(rms(output) < 50)
    }

    @Test func badInputIsATypedError() throws {
        #expect(throws: CodecError.self) { try OpusEncoder(channels: 3) }
        #expect(throws: CodecError.self) { try OpusDecoder(channels: 0) }
        let encoder = try OpusEncoder(channels: 2)
        #expect(throws: CodecError.self) { try encoder.encode([Int16](repeating: 0, count: 960)) }
        let decoder = try OpusDecoder(channels: 1)
        #expect(throws: CodecError.self) { try decoder.decode([]) }
        // Code 3 (several frames) with a frame count of 0 is invalid (RFC 6716 §3.2.5).
        do {
            _ = try decoder.decode([0x03, 0x00])
            Issue.record("an invalid packet decoded")
        } catch {
            guard case .opus(let call, _, let message) = error else { Issue.record("\(error)"); return }
            #expect(call == "opus_decode" && !message.isEmpty, "\(error)")
        }
        #expect(decoder.errors == 2)
        // Random bytes decode or throw; they never crash, and every refusal is counted.
        var random = SeededRandom(seed: 3)
        var thrown = 2
        for _ in 0..<500 {
            do { _ = try decoder.decode(random.bytes(random.int(1...300))) } catch { thrown += 1 }
        }
        #expect(decoder.errors == thrown)
    }
}
