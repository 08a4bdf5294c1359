/// RFC 4571 framing on a NIO TCP channel, as ICE-TCP uses it (RFC 6544 §3).
public import NIOCore
public import StarlingWire

/// Splits a TCP byte stream into the packets RFC 4571 frames (a 16-bit big-endian length, then the
/// packet): each is passed on as a slice of the cumulation buffer, so decoding copies and allocates
/// nothing per packet. Zero-length frames carry nothing and are skipped (RFC 4571 §2). A frame over
/// `maxFrameLength` fails the channel with the `WireError` of `RFC4571Framer.frameLength`: the peer is not
/// speaking RFC 4571, and the connection should be closed.
public struct RFC4571FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer
    public let maxFrameLength: Int

    public init(maxFrameLength: Int) { self.maxFrameLength = maxFrameLength }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let header = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else { return .needMoreData }
        let length = try RFC4571Framer.frameLength(header, limit: maxFrameLength)
        guard buffer.readableBytes >= 2 + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        if let frame = buffer.readSlice(length: length), length > 0 {
            context.fireChannelRead(Self.wrapInboundOut(frame))
        }
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        // A partial frame left when the peer closes is dropped with the connection.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
