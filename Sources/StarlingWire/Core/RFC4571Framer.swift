/// RFC 4571 framing, as ICE-TCP uses it (RFC 6544 §3): over a TCP connection every packet (STUN, DTLS,
/// RTP, RTCP) is preceded by its length as a 16-bit big-endian number.
///
/// `RFC4571Framer` is the receive side: feed it the stream's bytes as they arrive, in any pieces, and take
/// whole packets out. A zero length is a valid frame (RFC 4571 §2 allows it; it carries nothing and is
/// skipped). A frame longer than `maxFrameLength` means the peer is not speaking RFC 4571 (or is hostile):
/// the framer stops with `WireError` and the connection should be closed. Buffered bytes are bounded by
/// `maxFrameLength + 2`.
public struct RFC4571Framer: Sendable {
    public let maxFrameLength: Int
    private var buffer: [UInt8] = []
    private var start = 0
    public private(set) var failed = false

    /// - Parameter maxFrameLength: the largest packet accepted (at most 65535, the field's range).
    public init(maxFrameLength: Int = 65_535) {
        self.maxFrameLength = min(max(maxFrameLength, 1), 65_535)
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !failed else { return }
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    /// The next whole packet, or nil until more bytes arrive. Throws (and stays failed) on a frame over
    /// `maxFrameLength`.
    public mutating func next() throws(WireError) -> [UInt8]? {
        while true {
            guard !failed else { throw .invalid(.demux, "rfc4571.length", "the stream failed earlier") }
            guard buffer.count - start >= 2 else {
                compact()
                return nil
            }
            let length: Int
            do {
                length = try Self.frameLength(UInt16(buffer[start]) << 8 | UInt16(buffer[start + 1]), limit: maxFrameLength)
            } catch {
                failed = true
                buffer.removeAll()
                start = 0
                throw error
            }
            guard buffer.count - start >= 2 + length else {
                compact()
                return nil
            }
            let frame = Array(buffer[(start + 2)..<(start + 2 + length)])
            start += 2 + length
            if length > 0 { return frame }
        }
    }

    /// The length a frame's 2-byte header announces, checked against `limit` (RFC 4571 §2): a longer
    /// frame means the peer is not speaking RFC 4571 (or is hostile). Shared with the NIO decoder.
    @inlinable
    public static func frameLength(_ header: UInt16, limit: Int) throws(WireError) -> Int {
        let length = Int(header)
        guard length <= limit else {
            throw .invalid(.demux, "rfc4571.length", "a \(length)-byte frame is over the limit of \(limit)")
        }
        return length
    }

    /// Drops consumed bytes once they are the larger part of the buffer.
    private mutating func compact() {
        guard start > 0, start * 2 >= buffer.count else { return }
        buffer.removeFirst(start)
        start = 0
    }

    /// Bytes received and not yet returned.
    public var bufferedCount: Int { buffer.count - start }

    /// Writes `packet` framed for sending: the 2-byte length, then the packet. Packets over 65535 bytes
    /// cannot be framed and are refused.
    public static func frame(_ packet: some Collection<UInt8>, into out: inout [UInt8]) throws(WireError) {
        guard packet.count <= 65_535 else {
            throw .invalid(.demux, "rfc4571.length", "a \(packet.count)-byte packet does not fit a 16-bit length")
        }
        out.append(UInt8(packet.count >> 8))
        out.append(UInt8(packet.count & 0xFF))
        out.append(contentsOf: packet)
    }
}
