import StarlingTestSupport
import StarlingWireChecks
import Foundation
import Testing

@testable import StarlingWire

/// Writes the fuzzers' seed corpora (Fuzz/seeds/<target>/) from the known-answer vectors of the tests,
/// so a short CI run starts from valid inputs of every kind. Runs only when STARLING_WRITE_FUZZ_SEEDS
/// names the seeds folder: `STARLING_WRITE_FUZZ_SEEDS=$PWD/Fuzz/seeds swift test --filter FuzzSeedTests`.
@Suite struct FuzzSeedTests {
    @Test func writeSeedCorpora() throws {
        guard let root = ProcessInfo.processInfo.environment["STARLING_WRITE_FUZZ_SEEDS"] else { return }
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let sdp = try FileManager.default.contentsOfDirectory(
            at: fixtures.appendingPathComponent("sdp"), includingPropertiesForKeys: nil
        ).filter { $0.pathExtension == "sdp" }.map { try [UInt8](Data(contentsOf: $0)) }
        var rng = SeededRandom(seed: 0x5EED)
        let seeds: [String: [[UInt8]]] = [
            "FuzzRTP": [RTPHeaderTests.chromiumLike] + (0..<6).map { _ in RTPPropertyTests.randomPacket(&rng).serialized() },
            "FuzzRTCP": [
                RTCPFramingTests.chromeSRAndSDES, RTCPFeedbackTests.nack, RTCPFeedbackTests.twcc, RTCPFeedbackTests.remb,
            ],
            "FuzzSTUN": [RFC5769.request, RFC5769.ipv4Response, RFC5769.ipv6Response, RFC5769.longTermRequest],
            "FuzzSDP": sdp,
            "FuzzVP8": [VP8Tests.fullKeyFrame],
            "FuzzVP9": [VP9Tests.keyFrameWithSS],
            "FuzzDCEP": [DCEPTests.openChat, [0x02], DCEPMessage.open(DataChannelOpen(label: "")).serialized()],
            "FuzzH264": [H264Tests.stapA, H264Tests.sps, H264Tests.pps],
            "FuzzAV1DD": [AV1DependencyDescriptorTests.mandatoryOnly, AV1DependencyDescriptorTests.l1t3WithStructure],
            "FuzzJWT": [
                Array(RFC7515A1.token.utf8),
                Array(
                    try JSONWebToken.sign(
                        claims: .init(
                            room: "room", identity: "ada", name: "Ada", grants: .all, expiresAt: 4_000_000_000,
                            notBefore: 1_000_000_000, issuedAt: 1_000_000_000),
                        secret: WireInvariants.jwtSecret
                    ).utf8),
            ],
        ]
        for (target, inputs) in seeds {
            let folder = URL(fileURLWithPath: root).appendingPathComponent(target)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (i, input) in inputs.enumerated() {
                try Data(input).write(to: folder.appendingPathComponent("seed-\(i)"))
            }
        }
    }
}
