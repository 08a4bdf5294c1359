import Benchmark
import StarlingWire

/// Each benchmark runs its body `scaledIterations` times per sample; the malloc metrics are per sample,
/// so a parse path that allocates nothing reports 0 however many packets it handled.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000
    )

    let rtp = WireSamples.rtpPacket
    Benchmark("RTP header parse + 4 extension lookups") { benchmark in
        rtp.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                guard let header = try? RTPHeader(parsing: bytes) else { fatalError("sample must parse") }
                blackHole(header.sequenceNumber)
                blackHole(header.transportWideSequenceNumber(id: 3, in: bytes))
                blackHole(header.absoluteSendTime(id: 2, in: bytes))
                blackHole(header.headerExtension(id: 4, in: bytes))
                blackHole(header.headerExtension(id: 10, in: bytes))
            }
        }
    }

    Benchmark("RTP header parse + mid/rid as String") { benchmark in
        rtp.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                guard let header = try? RTPHeader(parsing: bytes) else { fatalError("sample must parse") }
                blackHole(header.mid(id: 4, in: bytes))
                blackHole(header.rid(id: 10, in: bytes))
            }
        }
    }
}

enum WireSamples {
    /// A 1200-byte VP8 packet with the one-byte extensions Chromium sends (abs-send-time, transport-cc,
    /// mid, rid).
    static let rtpPacket: [UInt8] = {
        var packet = RTPPacket(
            marker: true, payloadType: 96, sequenceNumber: 4660, timestamp: 123_456, ssrc: 0xDEAD_BEEF,
            payload: Array(repeating: 0x5A, count: 1160))
        packet.setHeaderExtensionValue(id: 2, AbsoluteSendTime(microseconds: 5_000_000).encoded)
        packet.setHeaderExtensionValue(id: 3, TransportWideSequenceNumber.encode(42))
        packet.setHeaderExtensionValue(id: 4, SDESIdentifierExtension.encode("0"))
        packet.setHeaderExtensionValue(id: 10, SDESIdentifierExtension.encode("h"))
        return packet.serialized()
    }()
}
