import StarlingRoutingChecks
import Testing

/// The router fuzz target's harness on seeded random inputs: the whole receive and forward path keeps its
/// invariants (packets out parse, go to their consumers, fit the buffer, never repeat an SRTP index with
/// other bytes). `make fuzz` runs the same harness under libFuzzer.
@Suite struct RouterFuzzHarnessTests {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: 0..<40)
    func randomInputsKeepTheInvariants(seed: Int) {
        var rng = SplitMix(state: UInt64(seed) &* 7919)
        let count = Int(rng.next() % 4000) + 16
        // Mostly templated packets and time, so that the forwarding decisions are reached.
        var input: [UInt8] = []
        while input.count < count {
            let op = UInt8(rng.next() % 14)
            input.append(rng.next() % 3 == 0 ? 7 : op)
            for _ in 0..<Int(rng.next() % 24) { input.append(UInt8(truncatingIfNeeded: rng.next())) }
        }
        let problem = input.withUnsafeBytes { RouterFuzzHarness.run($0) }
        #expect(problem == nil, "seed \(seed): \(problem ?? "")")
    }

    /// A fixed scenario the random inputs rarely make: keyframes on every track, then NACKs from both
    /// subscribers for what they were sent, with time passing.
    @Test func keyframesThenNACKsKeepTheInvariants() {
        let outcome = Self.keyframesThenNACKs.withUnsafeBytes { RouterFuzzHarness.runCounting($0) }
        #expect(outcome.problem == nil, "\(outcome.problem ?? "")")
        // Every track reaches both subscribers, and the NACKs and timers make RTCP and resends.
        #expect(outcome.rtpOut >= 30, "\(outcome.rtpOut) RTP packets out")
        #expect(outcome.rtcpOut > 0)
    }

    /// Each input starts from new consumers and new SRTP sessions: an earlier input that carried a consumer's
    /// sequence numbers thousands ahead does not make the next one's packets look like replays (with sessions
    /// shared across inputs, the fuzzer stopped on that after 124,000 inputs).
    @Test func anInputStartsWithoutTheSRTPStateOfEarlierOnes() {
        var ahead: [UInt8] = []
        // Audio packets whose sequence numbers jump by 250 each time.
        for _ in 0..<60 { ahead += [7, 0x10 | 0x20, 0, 250, 1, 0x85, 0] }
        let first = ahead.withUnsafeBytes { RouterFuzzHarness.runCounting($0) }
        #expect(first.problem == nil, "\(first.problem ?? "")")
        #expect(first.rtpOut >= 60)
        let next = Self.keyframesThenNACKs.withUnsafeBytes { RouterFuzzHarness.runCounting($0) }
        #expect(next.problem == nil, "\(next.problem ?? "")")
    }

    static var keyframesThenNACKs: [UInt8] {
        var input: [UInt8] = []
        // Operation 7: flags (track, keyframe 0x10, marker 0x20), layer, sequence step, [audio level length,
        // level], payload length / 4. Audio, VP8 (all three layers), VP9 and H.264.
        for track: UInt8 in 0..<4 {
            for i: UInt8 in 0..<6 {
                input += [7, 0x10 | 0x20 | track, i % 3, 1]
                if track == 0 { input += [1, 0x85] }
                input += [0]
            }
        }
        for i: UInt8 in 0..<40 { input += [9, i, i &* 7, 0x00, 0x01, 11, 5] }
        return input
    }
}
