internal import StarlingWire

/// Splits VP8 frames into RTP payloads (RFC 7741 §4): each payload is a payload descriptor then a piece
/// of the frame. The first payload of a frame has S = 1; all have partition index 0 (the encoder makes a
/// single token partition); with picture IDs on, every payload carries the frame's 15-bit picture ID (M = 1),
/// which goes up by one per frame. The caller sets the RTP marker bit on the last payload of each frame.
public struct VP8Packetizer: Sendable {
    /// The largest payload produced, descriptor included (the MTU minus RTP header, extensions and SRTP tag).
    public let maxPayloadSize: Int
    /// The picture ID of the next frame, when picture IDs are on.
    public private(set) var nextPictureID: UInt16?

    /// - Parameter pictureID: the first frame's picture ID (taken modulo 2^15), or nil for no picture IDs.
    public init(maxPayloadSize: Int = 1200, pictureID: UInt16? = 0) throws(CodecError) {
        guard maxPayloadSize > 4 else { throw .invalidArgument("VP8 payload size \(maxPayloadSize)") }
        self.maxPayloadSize = maxPayloadSize
        nextPictureID = pictureID.map { $0 & 0x7FFF }
    }

    /// The payloads for an encoder's frame (N = 1 when the encoder marked it droppable).
    public mutating func packetize(_ frame: EncodedFrame) -> [[UInt8]] {
        packetize(frame.bytes, isNonReference: frame.isDroppable)
    }

    /// The payloads for one VP8 frame, in order; sizes differ by at most one octet of VP8 data. An empty
    /// frame yields no payloads and uses no picture ID.
    public mutating func packetize(_ frame: [UInt8], isNonReference: Bool = false) -> [[UInt8]] {
        guard !frame.isEmpty else { return [] }
        var descriptor = VP8PayloadDescriptor(
            isNonReference: isNonReference, isStartOfPartition: true, partitionIndex: 0,
            pictureID: nextPictureID.map { PictureID($0, isLong: true) })
        if let id = nextPictureID { nextPictureID = (id &+ 1) & 0x7FFF }
        let room = maxPayloadSize - descriptor.encodedLength
        let count = (frame.count + room - 1) / room
        let base = frame.count / count, extra = frame.count % count
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(count)
        var start = 0
        for index in 0..<count {
            let length = base + (index < extra ? 1 : 0)
            var payload: [UInt8] = []
            payload.reserveCapacity(descriptor.encodedLength + length)
            descriptor.isStartOfPartition = index == 0
            descriptor.serialize(into: &payload)
            payload.append(contentsOf: frame[start..<(start + length)])
            payloads.append(payload)
            start += length
        }
        return payloads
    }
}

/// A VP8 frame put back together by `VP8Depacketizer`.
public struct VP8AssembledFrame: Hashable, Sendable {
    public var bytes: [UInt8]
    public var isKeyframe: Bool
    public var pictureID: UInt16?
    /// The RTP sequence number of the frame's first packet.
    public var firstSequenceNumber: UInt16
}

/// A frame `VP8Depacketizer` gave up.
public struct VP8FrameDrop: Hashable, Sendable {
    public enum Reason: Hashable, Sendable {
        /// Packets of the frame are missing (a sequence gap, or a start or end never seen).
        case missingPackets
        /// Complete, but not a key frame while the depacketizer waits for one after a loss.
        case waitingForKeyframe
        /// A payload descriptor did not parse.
        case malformedPayload
    }

    public var reason: Reason
    /// The frame's picture ID, when a packet of it arrived with one.
    public var pictureID: UInt16?
}

/// Reassembles VP8 frames from RTP payloads given in sequence order (after any reordering and NACK
/// recovery). A frame starts at a payload with S = 1 and partition index 0 and ends at the RTP marker bit.
/// A gap in sequence numbers drops the frame it falls in; after any drop (and at the start) only a key frame
/// is delivered, so the decoder never sees a frame whose references it lacks. `needsKeyframe` says when a
/// key frame request (PLI) is due.
public struct VP8Depacketizer: Sendable {
    /// What one `push` produced: a completed frame, frames dropped, or both (a drop, then a frame in the
    /// same packet).
    public struct Output: Hashable, Sendable {
        public var frame: VP8AssembledFrame?
        public var dropped: [VP8FrameDrop] = []
    }

    private enum State: Sendable {
        /// Between frames: the last frame ended with the marker.
        case idle
        case assembling(VP8AssembledFrame)
        /// Inside a frame already dropped: its packets are discarded up to the marker.
        case discarding
    }

    /// Whether frames after a drop are held back until the next key frame (true by default).
    public var waitsForKeyframeAfterLoss: Bool
    /// No key frame has been delivered since the start or the last drop.
    public private(set) var needsKeyframe = true
    public private(set) var framesCompleted = 0
    public private(set) var framesDropped = 0
    /// Packets that arrived with a sequence number at or before one already seen (ignored).
    public private(set) var latePackets = 0

    private var state = State.idle
    private var lastSequenceNumber: UInt16?

    public init(waitsForKeyframeAfterLoss: Bool = true) {
        self.waitsForKeyframeAfterLoss = waitsForKeyframeAfterLoss
    }

    /// Takes the next packet's sequence number, marker bit and payload.
    public mutating func push(sequenceNumber: UInt16, marker: Bool, payload: [UInt8]) -> Output {
        var output = Output()
        if let last = lastSequenceNumber {
            let delta = Int16(bitPattern: sequenceNumber &- last)
            if delta <= 0 {
                latePackets += 1
                return output
            }
            if delta > 1 {
                switch state {
                case .assembling(let frame): drop(.missingPackets, frame.pictureID, into: &output)
                case .idle: drop(.missingPackets, nil, into: &output)  // whole frames, or the start of this one
                case .discarding: break
                }
                state = .discarding
            }
        }
        lastSequenceNumber = sequenceNumber

        let parsed: VP8Payload
        do {
            parsed = try payload.withUnsafeBytes { bytes throws(WireError) in try VP8Payload(parsing: bytes) }
        } catch {
            if case .assembling(let frame) = state {
                drop(.malformedPayload, frame.pictureID, into: &output)
            } else if case .idle = state {
                drop(.malformedPayload, nil, into: &output)
            }
            state = marker ? .idle : .discarding
            return output
        }
        let descriptor = parsed.descriptor
        let pictureID = descriptor.pictureID?.value
        let data = payload[parsed.descriptorLength...]

        if descriptor.isStartOfPartition && descriptor.partitionIndex == 0 {
            if case .assembling(let unfinished) = state {  // no marker on the previous frame
                drop(.missingPackets, unfinished.pictureID, into: &output)
            }
            state = .assembling(
                VP8AssembledFrame(
                    bytes: Array(data), isKeyframe: parsed.isKeyFrame, pictureID: pictureID,
                    firstSequenceNumber: sequenceNumber))
        } else {
            switch state {
            case .assembling(var frame):
                if frame.pictureID != pictureID {  // a packet of another frame: this one lost its end
                    drop(.missingPackets, frame.pictureID, into: &output)
                    state = .discarding
                } else {
                    state = .idle  // release the array before appending, so it is not copied
                    frame.bytes.append(contentsOf: data)
                    state = .assembling(frame)
                }
            case .idle:  // a continuation whose start we never saw
                drop(.missingPackets, pictureID, into: &output)
                state = .discarding
            case .discarding:
                break
            }
        }

        if marker {
            if case .assembling(let frame) = state {
                if waitsForKeyframeAfterLoss && needsKeyframe && !frame.isKeyframe {
                    drop(.waitingForKeyframe, frame.pictureID, into: &output)
                } else {
                    if frame.isKeyframe { needsKeyframe = false }
                    framesCompleted += 1
                    output.frame = frame
                }
            }
            state = .idle
        }
        return output
    }

    private mutating func drop(_ reason: VP8FrameDrop.Reason, _ pictureID: UInt16?, into output: inout Output) {
        framesDropped += 1
        output.dropped.append(VP8FrameDrop(reason: reason, pictureID: pictureID))
        if reason != .waitingForKeyframe { needsKeyframe = true }
    }
}
