import StarlingTestSupport
import StarlingWireChecks
import Testing

@testable import StarlingWire
import StarlingWireChecks

/// RFC 4571 framing (ICE-TCP's, RFC 6544 §3): packets cut at any points come out whole and in order; the
/// limit is kept; framing writes the length first.
@Suite struct RFC4571FramerTests {
    static func framed(_ packets: [[UInt8]]) throws -> [UInt8] {
        var out: [UInt8] = []
        for p in packets { try RFC4571Framer.frame(p, into: &out) }
        return out
    }

    @Test func packetsSurviveAnySplitOfTheStream() throws {
        var rng = SeededRandom(seed: 0x4571)
        let packets = (0..<200).map { i in (0..<Int.random(in: 1...1500, using: &rng)).map { UInt8(truncatingIfNeeded: $0 &+ i) } }
        let stream = try Self.framed(packets)
        #expect(stream.count == packets.reduce(0) { $0 + $1.count + 2 })
        for _ in 0..<20 {
            var framer = RFC4571Framer(maxFrameLength: 1500)
            var got: [[UInt8]] = []
            var at = 0
            while at < stream.count {
                let piece = min(stream.count - at, Int.random(in: 1...3000, using: &rng))
                framer.append(Array(stream[at..<(at + piece)]))
                at += piece
                while let p = try framer.next() { got.append(p) }
            }
            #expect(got == packets)
            #expect(framer.bufferedCount == 0)
        }
    }

    @Test func emptyFramesAreSkippedAndPartialOnesWait() throws {
        var framer = RFC4571Framer()
        framer.append([0, 0, 0, 3, 1, 2])
        #expect(try framer.next() == nil)
        #expect(framer.bufferedCount == 4)
        framer.append([3, 0])
        #expect(try framer.next() == [1, 2, 3])
        #expect(try framer.next() == nil)
        framer.append([1, 9])
        #expect(try framer.next() == [9])
    }

    @Test func anOverlongFrameFailsTheStream() throws {
        var framer = RFC4571Framer(maxFrameLength: 1500)
        framer.append([0x05, 0xDD] + [UInt8](repeating: 0, count: 10))  // 1501 bytes announced
        #expect(throws: WireError.self) { try framer.next() }
        #expect(framer.failed && framer.bufferedCount == 0)
        framer.append([0, 1, 7])
        #expect(throws: WireError.self) { try framer.next() }
        var out: [UInt8] = []
        let big = [UInt8](repeating: 0, count: 65_536)
        #expect(throws: WireError.self) { try RFC4571Framer.frame(big, into: &out) }
    }

    /// Arbitrary bytes never trap, and the framer never holds more than one frame's worth.
    /// The fuzz target's invariants (`WireInvariants.rfc4571`) on random streams and on valid framed ones.
    @Test func invariantsHoldOnRandomAndFramedStreams() throws {
        var rng = SeededRandom(seed: 0x4571)
        for i in 0..<2000 {
            var bytes = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if i % 2 == 0, bytes.count >= 2 {
                // A well-formed stream: frames of random lengths up to the limit the first byte picks.
                var framed = Array(bytes[0..<2])
                let limit = 1 + Int(bytes[0]) * 64
                for _ in 0..<Int.random(in: 0...8, using: &rng) {
                    let frame = (0..<Int.random(in: 0...min(limit, 300), using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    try RFC4571Framer.frame(frame, into: &framed)
                }
                bytes = framed
            }
            let problem = bytes.withUnsafeBytes { WireInvariants.rfc4571($0) }
            #expect(problem == nil, "\(bytes.prefix(16))")
        }
    }

    @Test func randomStreamsStayBounded() {
        var rng = SeededRandom(seed: 0xF4A3)
        for _ in 0..<500 {
            var framer = RFC4571Framer(maxFrameLength: 1200)
            for _ in 0..<20 {
                framer.append((0..<Int.random(in: 0...400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
                while (try? framer.next()) ?? nil != nil {}
                #expect(framer.bufferedCount <= 1202 + 400)
            }
        }
    }
}
