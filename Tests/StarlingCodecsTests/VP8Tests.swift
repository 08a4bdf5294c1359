import StarlingCodecs
import StarlingTestSupport
import StarlingWire
import Testing

/// Encodes `count` test-pattern frames, forcing key frames where asked.
func encodePattern(
    width: Int, height: Int, bitrate: Int, count: Int, forceKeyframesAt: Set<Int> = []
) throws -> [EncodedFrame] {
    let encoder = try VP8Encoder(width: width, height: height, bitrate: bitrate, frameRate: 30)
    var frames: [EncodedFrame] = []
    for n in 0..<count {
        let picture = try I420Frame.testPattern(width: width, height: height, frameNumber: n)
        frames += try encoder.encode(picture, forceKeyframe: forceKeyframesAt.contains(n))
    }
    return frames
}

@Suite struct VP8CodecTests {
    @Test func thirtyFramesAt640x360DecodeBack() throws {
        let frames = try encodePattern(width: 640, height: 360, bitrate: 800_000, count: 30)
        #expect(frames.count == 30)
        #expect(frames.first?.isKeyframe == true)
        #expect(frames.dropFirst().allSatisfy { !$0.isKeyframe })
        #expect(frames.map(\.pts) == (0..<30).map { Int64($0) * 3000 })

        let decoder = try VP8Decoder(computesChecksum: true)
        var checksums: [UInt64] = []
        for frame in frames {
            let decoded = try #require(try decoder.decode(frame.bytes))
            #expect(decoded.width == 640 && decoded.height == 360)
            #expect(!decoded.isCorrupted)
            checksums.append(try #require(decoded.lumaChecksum))
        }
        #expect(decoder.framesDecoded == 30)
        #expect(decoder.errors == 0)
        for (a, b) in zip(checksums, checksums.dropFirst()) { #expect(a != b) }
    }

    @Test func testPatternDiffersFrameToFrameAndHasI420Sizes() throws {
        let a = try I420Frame.testPattern(width: 320, height: 180, frameNumber: 7)
        let b = try I420Frame.testPattern(width: 320, height: 180, frameNumber: 8)
        #expect(a.y.count == 320 * 180 && a.u.count == 160 * 90 && a.v.count == 160 * 90)
        #expect(a.y != b.y)
        #expect(try I420Frame.testPattern(width: 320, height: 180, frameNumber: 7) == a)
        // Odd sizes round chroma up.
        let odd = try I420Frame.testPattern(width: 33, height: 17, frameNumber: 3)
        #expect(odd.u.count == 17 * 9)
    }

    @Test func forcedKeyframeAndKeyframeInterval() throws {
        let frames = try encodePattern(width: 320, height: 180, bitrate: 200_000, count: 12, forceKeyframesAt: [5])
        #expect(frames.enumerated().filter(\.element.isKeyframe).map(\.offset) == [0, 5])

        let encoder = try VP8Encoder(width: 320, height: 180, bitrate: 200_000, keyframeInterval: 4)
        var keys: [Int] = []
        for n in 0..<13 {
            for f in try encoder.encode(I420Frame.testPattern(width: 320, height: 180, frameNumber: n), forceKeyframe: false)
            where f.isKeyframe { keys.append(n) }
        }
        #expect(keys.first == 0)
        #expect(keys.count >= 3, "\(keys)")
    }

    @Test func badArgumentsAreTypedErrors() throws {
        #expect(throws: CodecError.self) { try VP8Encoder(width: 641, height: 360, bitrate: 500_000) }
        #expect(throws: CodecError.self) { try VP8Encoder(width: 640, height: 360, bitrate: 0) }
        #expect(throws: CodecError.self) { try I420Frame(width: 4, height: 4, y: [1, 2], u: [], v: []) }
        let encoder = try VP8Encoder(width: 320, height: 180, bitrate: 200_000)
        let wrong = try I420Frame(width: 640, height: 360)
        #expect(throws: CodecError.self) { try encoder.encode(wrong) }
        #expect(encoder.framesIn == 0)
    }

    @Test func garbageToTheDecoderThrowsOrCountsNeverCrashes() throws {
        let decoder = try VP8Decoder(computesChecksum: true)
        #expect(throws: CodecError.self) { try decoder.decode([]) }
        // An inter frame before any key frame, and a "key frame" with a broken start code.
        var thrown = 1
        for bad: [UInt8] in [[0x01, 0x02, 0x03, 0x04], [0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02, 0x68, 0x01]] {
            do { _ = try decoder.decode(bad) } catch { thrown += 1; #expect("\(error)".contains("libvpx")) }
        }
        #expect(thrown == 3)
        var random = SeededRandom(seed: 7)
        for _ in 0..<300 {
            do { _ = try decoder.decode(random.bytes(random.int(1...3000))) } catch { thrown += 1 }
        }
        #expect(decoder.errors == thrown)
        // Real frames whose bits were flipped: decode, report corruption or throw, but the decoder stays usable.
        let frames = try encodePattern(width: 320, height: 180, bitrate: 200_000, count: 6)
        for frame in frames {
            var bytes = frame.bytes
            for _ in 0..<8 { bytes[random.int(0...(bytes.count - 1))] ^= random.byte() | 1 }
            _ = try? decoder.decode(bytes)
        }
        let fresh = try VP8Decoder()
        #expect(try fresh.decode(frames[0].bytes)?.width == 320)
    }
}

@Suite struct VP8PacketizationTests {
    /// Packetizes `frames`, numbering packets from `firstSequenceNumber`; returns (seq, marker, payload).
    func packets(_ frames: [EncodedFrame], mtu: Int = 1200, firstSequenceNumber: UInt16 = 65_000) throws
        -> [(seq: UInt16, marker: Bool, payload: [UInt8], frame: Int)]
    {
        var packetizer = try VP8Packetizer(maxPayloadSize: mtu, pictureID: 32_760)
        var seq = firstSequenceNumber
        var out: [(UInt16, Bool, [UInt8], Int)] = []
        for (index, frame) in frames.enumerated() {
            let payloads = packetizer.packetize(frame)
            for (i, p) in payloads.enumerated() {
                out.append((seq, i == payloads.count - 1, p, index))
                seq &+= 1
            }
        }
        return out
    }

    @Test func payloadsFitTheMTUAndCarryRFC7741Descriptors() throws {
        let frames = try encodePattern(width: 640, height: 360, bitrate: 1_000_000, count: 3)
        var packetizer = try VP8Packetizer(maxPayloadSize: 1200, pictureID: 32_767)
        let keyPayloads = packetizer.packetize(frames[0])
        #expect(keyPayloads.count > 1)
        #expect(keyPayloads.allSatisfy { $0.count <= 1200 })
        let sizes = keyPayloads.map(\.count)
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
        for (i, payload) in keyPayloads.enumerated() {
            let parsed = try payload.withUnsafeBytes { try VP8Payload(parsing: $0) }
            #expect(parsed.descriptorLength == 4)
            #expect(parsed.descriptor.isStartOfPartition == (i == 0))
            #expect(parsed.descriptor.partitionIndex == 0)
            #expect(parsed.descriptor.pictureID == PictureID(32_767, isLong: true))
            #expect(parsed.isKeyFrame == (i == 0))
            if i == 0 { #expect(parsed.keyFrameDimensions == VP8KeyFrameDimensions(width: 640, height: 360)) }
        }
        #expect(Array(keyPayloads.map { $0.dropFirst(4) }.joined()) == frames[0].bytes)
        // The picture ID wraps at 2^15.
        let next = try #require(packetizer.packetize(frames[1]).first)
        #expect(try next.withUnsafeBytes { try VP8Payload(parsing: $0) }.descriptor.pictureID?.value == 0)
        // Without picture IDs the descriptor is one octet.
        var plain = try VP8Packetizer(maxPayloadSize: 200, pictureID: nil)
        let small = plain.packetize(frames[2])
        #expect(small.allSatisfy { $0.count <= 200 && ($0[0] & 0x80) == 0 })
        #expect(small.first.map { $0[0] == 0x10 } == true)
        #expect(plain.packetize([]).isEmpty)
        #expect(throws: CodecError.self) { try VP8Packetizer(maxPayloadSize: 4) }
    }

    @Test func packetizeDepacketizeDecodeAtMTU1200() throws {
        let frames = try encodePattern(width: 640, height: 360, bitrate: 1_500_000, count: 30)
        var depacketizer = VP8Depacketizer()
        let decoder = try VP8Decoder(computesChecksum: true)
        var assembled: [VP8AssembledFrame] = []
        let all = try packets(frames)
        #expect(all.count > frames.count)
        for p in all {
            let output = depacketizer.push(sequenceNumber: p.seq, marker: p.marker, payload: p.payload)
            #expect(output.dropped.isEmpty)
            if let frame = output.frame {
                assembled.append(frame)
                let decoded = try #require(try decoder.decode(frame.bytes))
                #expect(decoded.width == 640 && decoded.height == 360 && !decoded.isCorrupted)
            }
        }
        #expect(assembled.map(\.bytes) == frames.map(\.bytes))
        #expect(assembled.map(\.isKeyframe) == frames.map(\.isKeyframe))
        #expect(assembled.map(\.pictureID) == (0..<30).map { UInt16((32_760 + $0) % 32_768) })
        #expect(depacketizer.framesCompleted == 30 && depacketizer.framesDropped == 0)
        #expect(!depacketizer.needsKeyframe)
        #expect(decoder.framesDecoded == 30)
    }

    /// Loses one packet of frame `lost` (its middle one, or its only one); the encoder forces a key frame at 20.
    @Test(arguments: [0, 10])
    func aLostPacketDropsTheFrameUntilTheNextKeyframe(lost: Int) throws {
        let frames = try encodePattern(width: 640, height: 360, bitrate: 1_000_000, count: 30, forceKeyframesAt: [20])
        let all = try packets(frames)
        let ofLost = all.filter { $0.frame == lost }
        let victim = ofLost[ofLost.count / 2].seq

        var depacketizer = VP8Depacketizer()
        let decoder = try VP8Decoder()
        var delivered: [Int] = []
        var drops: [VP8FrameDrop] = []
        var keyframeRequestedAfterLoss = false
        for p in all where p.seq != victim {
            let output = depacketizer.push(sequenceNumber: p.seq, marker: p.marker, payload: p.payload)
            drops += output.dropped
            if !output.dropped.isEmpty && depacketizer.needsKeyframe { keyframeRequestedAfterLoss = true }
            if let frame = output.frame {
                delivered.append(p.frame)
                #expect(try decoder.decode(frame.bytes) != nil)
            }
        }
        #expect(keyframeRequestedAfterLoss)
        // Frames before the loss, then nothing until the forced key frame, then everything.
        #expect(delivered == Array(0..<lost) + Array(20..<30))
        #expect(drops.first?.reason == .missingPackets)
        #expect(drops.dropFirst().allSatisfy { $0.reason == .waitingForKeyframe })
        #expect(depacketizer.framesDropped == 20 - lost)
        #expect(decoder.errors == 0)
        #expect(!depacketizer.needsKeyframe)
    }

    @Test func lateDuplicateAndMalformedPackets() throws {
        let frames = try encodePattern(width: 320, height: 180, bitrate: 300_000, count: 3)
        let all = try packets(frames, mtu: 300, firstSequenceNumber: 10)
        var depacketizer = VP8Depacketizer()
        var completed = 0
        for p in all {
            if depacketizer.push(sequenceNumber: p.seq, marker: p.marker, payload: p.payload).frame != nil { completed += 1 }
            // A duplicate is ignored.
            #expect(depacketizer.push(sequenceNumber: p.seq, marker: p.marker, payload: p.payload).frame == nil)
        }
        #expect(completed == 3)
        #expect(depacketizer.latePackets == all.count)
        // A truncated descriptor (X set, nothing after it) is a reported drop, not a crash.
        let output = depacketizer.push(sequenceNumber: all.count == 0 ? 0 : all[all.count - 1].seq &+ 1, marker: true, payload: [0x90])
        #expect(output.dropped.map(\.reason) == [.malformedPayload])
        var random = SeededRandom(seed: 11)
        var seq: UInt16 = 0
        for _ in 0..<500 {
            seq &+= UInt16(random.int(1...3))
            _ = depacketizer.push(sequenceNumber: seq, marker: random.bool(), payload: random.bytes(random.int(0...40)))
        }
    }
}
