import StarlingWire

extension WireInvariants {
    /// RFC 4571 framing (ICE-TCP, RFC 6544 §3) on an arbitrary stream: the first two bytes pick the frame limit
    /// and how the rest is cut into pieces. Fed whole or in those pieces, the framer gives the same frames and
    /// fails at the same point; no frame is over the limit; while it has not failed it buffers at most the limit
    /// and a header; and the frames, framed again and re-read, come back unchanged.
    public static func rfc4571(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard bytes.count >= 2 else { return nil }
        let limit = 1 + Int(bytes[0]) * 64
        let piece = 1 + Int(bytes[1] % 32)
        let stream = Array(bytes[2...])

        func read(_ framer: inout RFC4571Framer) -> (frames: [[UInt8]], failed: Bool) {
            var out: [[UInt8]] = []
            while true {
                do throws(WireError) {
                    guard let frame = try framer.next() else { return (out, false) }
                    out.append(frame)
                } catch {
                    return (out, true)
                }
            }
        }

        var whole = RFC4571Framer(maxFrameLength: limit)
        whole.append(stream)
        let once = read(&whole)

        var pieces = RFC4571Framer(maxFrameLength: limit)
        var frames: [[UInt8]] = []
        var failed = false
        var offset = 0
        while offset < stream.count && !failed {
            let end = min(stream.count, offset + piece)
            pieces.append(Array(stream[offset..<end]))
            offset = end
            let got = read(&pieces)
            frames += got.frames
            failed = got.failed
            if !failed && pieces.bufferedCount > limit + 2 {
                return "RFC 4571: \(pieces.bufferedCount) bytes buffered with a limit of \(limit)"
            }
        }
        guard frames == once.frames, failed == once.failed else {
            return "RFC 4571: whole and in \(piece)-byte pieces differ: \(once.frames.count)/\(once.failed) vs \(frames.count)/\(failed)"
        }
        guard frames.allSatisfy({ !$0.isEmpty && $0.count <= limit }) else { return "RFC 4571: a frame over the limit or empty" }
        var again: [UInt8] = []
        for frame in frames {
            do throws(WireError) {
                try RFC4571Framer.frame(frame, into: &again)
            } catch {
                return "RFC 4571: a \(frame.count)-byte frame could not be framed again"
            }
        }
        var reread = RFC4571Framer(maxFrameLength: limit)
        reread.append(again)
        let back = read(&reread)
        guard back.frames == frames, !back.failed else { return "RFC 4571: re-framed frames read back differently" }
        return nil
    }
}
