/// A raw picture in I420 (YUV 4:2:0, 8 bits, three planes without padding): what `VP8Encoder` takes.
public struct I420Frame: Hashable, Sendable {
    public let width: Int
    public let height: Int
    /// Luma, `width * height` octets, row after row.
    public var y: [UInt8]
    /// Chroma planes, `chromaWidth * chromaHeight` octets each.
    public var u: [UInt8]
    public var v: [UInt8]

    public var chromaWidth: Int { (width + 1) / 2 }
    public var chromaHeight: Int { (height + 1) / 2 }

    /// Checks the plane sizes against the dimensions.
    public init(width: Int, height: Int, y: [UInt8], u: [UInt8], v: [UInt8]) throws(CodecError) {
        guard width > 0, height > 0, width <= 16383, height <= 16383 else {
            throw .invalidArgument("I420 dimensions \(width)x\(height)")
        }
        let chroma = ((width + 1) / 2) * ((height + 1) / 2)
        guard y.count == width * height, u.count == chroma, v.count == chroma else {
            throw .invalidArgument(
                "I420 planes of \(y.count)/\(u.count)/\(v.count) octets for \(width)x\(height)")
        }
        self.width = width
        self.height = height
        self.y = y
        self.u = u
        self.v = v
    }

    /// A uniform picture (mid grey by default).
    public init(width: Int, height: Int, luma: UInt8 = 128, chroma: UInt8 = 128) throws(CodecError) {
        guard width > 0, height > 0 else { throw .invalidArgument("I420 dimensions \(width)x\(height)") }
        let chromaCount = ((width + 1) / 2) * ((height + 1) / 2)
        try self.init(
            width: width, height: height, y: [UInt8](repeating: luma, count: width * height),
            u: [UInt8](repeating: chroma, count: chromaCount), v: [UInt8](repeating: chroma, count: chromaCount))
    }

    /// A moving synthetic test pattern, different in every frame: vertical bars with a ramp scrolling
    /// left to right, a bright box bouncing around the picture, and `frameNumber` drawn in binary as a row
    /// of 16 black or white blocks along the top (most significant bit first). Cheap to make: rows are
    /// copied, not computed pixel by pixel.
    public static func testPattern(width: Int, height: Int, frameNumber: Int) throws(CodecError) -> I420Frame {
        var frame = try I420Frame(width: width, height: height, luma: 0)
        let cw = frame.chromaWidth, ch = frame.chromaHeight

        // Luma: one row of scrolling bars, copied to every row.
        let shift = (frameNumber &* 4) % max(width, 1)
        var row = [UInt8](repeating: 0, count: width)
        for x in 0..<width {
            let p = (x + width - shift) % width
            row[x] = UInt8(truncatingIfNeeded: 32 + ((p / 40) % 2) * 96 + (p % 40) * 2)
        }
        frame.y.withUnsafeMutableBufferPointer { plane in
            row.withUnsafeBufferPointer { source in
                for r in 0..<height {
                    _ = UnsafeMutableBufferPointer(rebasing: plane[(r * width)..<(r * width + width)])
                        .update(fromContentsOf: source)
                }
            }
        }
        // Chroma: a slow colour drift by frame, a vertical split so the planes are not flat.
        let hue = UInt8(truncatingIfNeeded: 96 + (frameNumber % 64))
        frame.u.withUnsafeMutableBufferPointer { plane in
            for r in 0..<ch {
                plane[(r * cw)..<(r * cw + cw / 2)].update(repeating: hue)
                plane[(r * cw + cw / 2)..<(r * cw + cw)].update(repeating: 160)
            }
        }
        frame.v.withUnsafeMutableBufferPointer { plane in
            for r in 0..<ch {
                plane[(r * cw)..<(r * cw + cw)].update(repeating: UInt8(truncatingIfNeeded: 96 + (r * 64) / max(ch, 1)))
            }
        }

        // A box bouncing between the edges.
        let box = max(8, min(width, height) / 6)
        let bx = bounce(frameNumber * 6, span: width - box)
        let by = bounce(frameNumber * 4, span: height - box)
        frame.fillLuma(x: bx, y: by, width: box, height: box, value: 235)
        frame.fillChroma(x: bx / 2, y: by / 2, width: box / 2, height: box / 2, u: 40, v: 220)

        // The frame number in binary, 16 blocks across the top.
        let block = max(2, width / 32)
        for bit in 0..<16 {
            let on = (frameNumber >> (15 - bit)) & 1 == 1
            frame.fillLuma(x: bit * block * 2, y: block / 2, width: block, height: block, value: on ? 255 : 16)
        }
        return frame
    }

    private static func bounce(_ position: Int, span: Int) -> Int {
        guard span > 0 else { return 0 }
        let p = position % (2 * span)
        return p < span ? p : 2 * span - p
    }

    private mutating func fillLuma(x: Int, y top: Int, width w: Int, height h: Int, value: UInt8) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, top), y1 = min(height, top + h)
        guard x0 < x1, y0 < y1 else { return }
        let stride = width
        y.withUnsafeMutableBufferPointer { plane in
            for r in y0..<y1 { plane[(r * stride + x0)..<(r * stride + x1)].update(repeating: value) }
        }
    }

    private mutating func fillChroma(x: Int, y top: Int, width w: Int, height h: Int, u uValue: UInt8, v vValue: UInt8) {
        let cw = chromaWidth, chh = chromaHeight
        let x0 = max(0, x), x1 = min(cw, x + w), y0 = max(0, top), y1 = min(chh, top + h)
        guard x0 < x1, y0 < y1 else { return }
        u.withUnsafeMutableBufferPointer { plane in
            for r in y0..<y1 { plane[(r * cw + x0)..<(r * cw + x1)].update(repeating: uValue) }
        }
        v.withUnsafeMutableBufferPointer { plane in
            for r in y0..<y1 { plane[(r * cw + x0)..<(r * cw + x1)].update(repeating: vValue) }
        }
    }
}
