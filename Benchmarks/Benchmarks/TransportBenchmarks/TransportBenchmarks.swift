import Benchmark
import CSRTPBaseline
import StarlingTransport

/// SRTP through our wrapper beside a plain C loop over libsrtp2 in the same run (issue 4: within 10%).
/// Both fill the same 1200-byte packet the same way, then protect (and unprotect) it in place.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 200
    )

    for (name, profile) in [("GCM", SRTPProtectionProfile.aeadAes128Gcm), ("AES-CM", .aes128CmHmacSha1_80)] {
        for unprotect in [false, true] {
            let what = unprotect ? "protect+unprotect" : "protect"
            Benchmark("SRTP \(name) \(what) 1200 B: C loop over libsrtp2") { benchmark in
                let baseline = srtp_baseline_create(profile == .aeadAes128Gcm ? 1 : 0)
                defer { srtp_baseline_destroy(baseline) }
                benchmark.startMeasurement()
                blackHole(srtp_baseline_run(baseline, Int(benchmark.scaledIterations.count), unprotect ? 1 : 0))
                benchmark.stopMeasurement()
            }
            Benchmark("SRTP \(name) \(what) 1200 B: SRTPSession") { benchmark in
                let key = (0..<64).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
                let out = try SRTPSession(
                    profile: profile, masterKey: Array(key[0..<16]), masterSalt: Array(key[16..<(16 + profile.saltLength)]),
                    direction: .outbound)
                let inbound = try SRTPSession(
                    profile: profile, masterKey: Array(key[0..<16]), masterSalt: Array(key[16..<(16 + profile.saltLength)]),
                    direction: .inbound)
                let payload = (0..<1200).map { UInt8(truncatingIfNeeded: $0 * 13) }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1200 + 64, alignment: 16)
                defer { buffer.deallocate() }
                var next: UInt32 = 0
                var bytes = 0
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    SRTPSamples.fill(buffer, payload: payload, index: next)
                    next &+= 1
                    var length = try out.protectRTP(buffer.baseAddress!, length: 1200, capacity: buffer.count)
                    if unprotect { length = try inbound.unprotectRTP(buffer.baseAddress!, length: length) }
                    bytes &+= length
                }
                benchmark.stopMeasurement()
                blackHole(bytes)
            }
        }
    }
}

enum SRTPSamples {
    /// The same packet the C baseline builds: V=2, PT 96, seq/ts from `index`, SSRC 0x11223344.
    @inline(__always)
    static func fill(_ p: UnsafeMutableRawBufferPointer, payload: [UInt8], index: UInt32) {
        p[0] = 0x80
        p[1] = 96
        p[2] = UInt8(truncatingIfNeeded: index >> 8)
        p[3] = UInt8(truncatingIfNeeded: index)
        let ts = index &* 3000
        let ssrc: UInt32 = 0x1122_3344
        for k in 0..<4 {
            p[4 + k] = UInt8(truncatingIfNeeded: ts >> (24 - 8 * UInt32(k)))
            p[8 + k] = UInt8(truncatingIfNeeded: ssrc >> (24 - 8 * UInt32(k)))
        }
        payload.withUnsafeBytes { src in
            UnsafeMutableRawBufferPointer(rebasing: p[12..<1200]).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<1188]))
        }
    }
}
