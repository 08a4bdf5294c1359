/// Transport-wide congestion control feedback (TWCC): transport layer feedback FMT 15
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
///
/// FCI: base sequence number, packet status count, 24-bit signed reference time (64 ms units), feedback
/// packet count, then packet chunks (run-length or status-vector) giving one status per packet, then one
/// receive delta per received packet: 1 byte unsigned ("small") or 2 bytes signed ("large"), in 250 µs
/// units, each relative to the previous received packet (the first one relative to the reference time).
///
/// The value type keeps what the packet means (per-packet results), not how it was encoded: `serialize`
/// chooses chunk kinds itself, so only encodings made by this type round-trip byte for byte.
public struct TransportFeedback: WireCodable {
    /// FMT of transport-wide feedback in RTPFB.
    public static let format: UInt8 = 15
    /// Receive delta unit (§3.1.5).
    public static let deltaTickMicroseconds: Int64 = 250
    /// Reference time unit (§3.1).
    public static let referenceTimeTickMicroseconds: Int64 = 64_000
    /// Range of the 24-bit signed reference time.
    public static let referenceTimeRange: ClosedRange<Int32> = -0x80_0000...0x7F_FFFF
    /// Largest packet status count (16-bit field).
    public static let maxPacketStatusCount = Int(UInt16.max)

    /// A packet status symbol (§3.1.1); the fourth value (3) is reserved and rejected.
    public enum Status: UInt8, Hashable, Sendable {
        case notReceived = 0
        /// Received, with a 1-byte delta in 0...255 ticks.
        case receivedSmallDelta = 1
        /// Received, with a 2-byte signed delta.
        case receivedLargeDelta = 2
    }

    /// What the feedback says about one packet.
    public enum PacketResult: Hashable, Sendable {
        case notReceived
        /// Received; `delta` is in 250 µs ticks since the previous received packet in this feedback (for
        /// the first, since the reference time).
        case received(delta: Int16)

        /// The symbol `serialize` writes: small when the delta is in 0...255, large otherwise.
        @inlinable public var status: Status {
            switch self {
            case .notReceived: return .notReceived
            case .received(let delta): return (0...255).contains(delta) ? .receivedSmallDelta : .receivedLargeDelta
            }
        }

        /// The delta in microseconds, nil when not received.
        @inlinable public var deltaMicroseconds: Int64? {
            if case .received(let delta) = self { return Int64(delta) * TransportFeedback.deltaTickMicroseconds }
            return nil
        }
    }

    /// The fixed FCI fields before the chunks.
    public struct Header: Hashable, Sendable {
        public var baseSequenceNumber: UInt16
        public var packetStatusCount: UInt16
        /// 24-bit signed, in 64 ms units.
        public var referenceTime: Int32
        /// Counts feedback packets sent, wrapping at 255, so losses of feedback can be detected.
        public var feedbackPacketCount: UInt8

        public init(baseSequenceNumber: UInt16, packetStatusCount: UInt16, referenceTime: Int32, feedbackPacketCount: UInt8) {
            self.baseSequenceNumber = baseSequenceNumber
            self.packetStatusCount = packetStatusCount
            self.referenceTime = referenceTime
            self.feedbackPacketCount = feedbackPacketCount
        }

        /// The reference time in microseconds.
        @inlinable public var referenceTimeMicroseconds: Int64 {
            Int64(referenceTime) * TransportFeedback.referenceTimeTickMicroseconds
        }
    }

    /// SSRC of the packet sender.
    public var senderSSRC: UInt32
    /// SSRC of the media source (unused by transport-wide feedback; senders write the first media SSRC or 0).
    public var mediaSSRC: UInt32
    /// Transport-wide sequence number of the first packet reported.
    public var baseSequenceNumber: UInt16
    /// 24-bit signed, in 64 ms units; written modulo 2^24, so keep it in `referenceTimeRange`.
    public var referenceTime: Int32
    /// Feedback packet count, wrapping at 255.
    public var feedbackPacketCount: UInt8
    /// One result per packet from `baseSequenceNumber` on; at most 65535 are written.
    public var packetResults: [PacketResult]

    public init(
        senderSSRC: UInt32, mediaSSRC: UInt32, baseSequenceNumber: UInt16, referenceTime: Int32,
        feedbackPacketCount: UInt8, packetResults: [PacketResult]
    ) {
        self.senderSSRC = senderSSRC
        self.mediaSSRC = mediaSSRC
        self.baseSequenceNumber = baseSequenceNumber
        self.referenceTime = referenceTime
        self.feedbackPacketCount = feedbackPacketCount
        self.packetResults = packetResults
    }

    /// The reference time in microseconds.
    @inlinable public var referenceTimeMicroseconds: Int64 {
        Int64(referenceTime) * TransportFeedback.referenceTimeTickMicroseconds
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(view: try RTCPPacketView(parsingSingle: bytes))
    }

    /// Decodes a framed transport-wide feedback.
    public init(view: RTCPPacketView) throws(WireError) {
        let fb = try RTCPFeedbackView(view, .transportLayerFeedback, format: TransportFeedback.format, "transport-wide feedback")
        var results: [PacketResult] = []
        let header = try TransportFeedback.walk(fci: fb.fci, prepare: { results.reserveCapacity($0) }) { _, status, delta in
            results.append(status == .notReceived ? .notReceived : .received(delta: delta))
        }
        self.init(
            senderSSRC: fb.senderSSRC, mediaSSRC: fb.mediaSSRC, baseSequenceNumber: header.baseSequenceNumber,
            referenceTime: header.referenceTime, feedbackPacketCount: header.feedbackPacketCount, packetResults: results)
    }

    public func serialize(into out: inout [UInt8]) {
        TransportFeedback.serialize(
            senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, baseSequenceNumber: baseSequenceNumber,
            referenceTime: referenceTime, feedbackPacketCount: feedbackPacketCount,
            packetResults: packetResults, into: &out)
    }
}

// MARK: - Parsing without allocating

extension TransportFeedback {
    /// Calls `visit` once per reported packet, in sequence-number order, with its transport-wide sequence
    /// number, its status symbol as sent, and its receive delta in microseconds (nil when not received).
    /// Allocates nothing. The whole FCI is checked before the first call, so `visit` never sees part of a
    /// malformed feedback. Arrival times: reference time + the running sum of the deltas.
    @inlinable @discardableResult
    public static func forEachPacketResult(
        fci: UnsafeRawBufferPointer,
        _ visit: (_ sequenceNumber: UInt16, _ status: Status, _ deltaMicroseconds: Int64?) -> Void
    ) throws(WireError) -> Header {
        try walk(fci: fci, prepare: { _ in }) { seq, status, delta in
            visit(seq, status, status == .notReceived ? nil : Int64(delta) * deltaTickMicroseconds)
        }
    }

    /// Checks the FCI, calls `prepare` with the packet count, then `visit` per packet (delta in ticks, 0
    /// when not received).
    @inlinable
    static func walk(
        fci: UnsafeRawBufferPointer, prepare: (Int) -> Void, _ visit: (UInt16, Status, Int16) -> Void
    ) throws(WireError) -> Header {
        var r = ByteReader(fci, proto: .rtcp)
        let base = try r.u16("twcc.baseSequenceNumber")
        let statusCount = try r.u16("twcc.packetStatusCount")
        let reference = try r.u24("twcc.referenceTime")
        let feedbackCount = try r.u8("twcc.feedbackPacketCount")
        let header = Header(
            baseSequenceNumber: base, packetStatusCount: statusCount,
            referenceTime: Int32(bitPattern: reference << 8) >> 8, feedbackPacketCount: feedbackCount)
        let count = Int(statusCount)

        // Pass 1: check every chunk and add up the delta bytes they call for.
        let chunksStart = r.offset
        var covered = 0
        var deltaBytes = 0
        while covered < count {
            let chunk = try r.u16("twcc.packetChunk")
            let left = count - covered
            if chunk & 0x8000 == 0 {
                let n = min(Int(chunk & 0x1FFF), left)
                switch chunk >> 13 & 3 {
                case 0: break
                case 1: deltaBytes += n
                case 2: deltaBytes += 2 * n
                default: throw WireError.invalid(.rtcp, "twcc.packetChunk", "reserved status symbol")
                }
                covered += n
            } else if chunk & 0x4000 == 0 {
                let n = min(14, left)
                deltaBytes += ((chunk & 0x3FFF) >> (14 - n)).nonzeroBitCount
                covered += n
            } else {
                let n = min(7, left)
                for k in 0..<n {
                    switch chunk >> (12 - 2 * k) & 3 {
                    case 0: break
                    case 1: deltaBytes += 1
                    case 2: deltaBytes += 2
                    default: throw WireError.invalid(.rtcp, "twcc.packetChunk", "reserved status symbol")
                    }
                }
                covered += n
            }
        }
        let deltasStart = r.offset
        try r.require(deltaBytes, "twcc.receiveDelta")
        let trailing = r.remaining - deltaBytes
        guard trailing < 4 else {
            throw WireError.invalid(.rtcp, "twcc.padding", "\(trailing) bytes after the receive deltas")
        }

        // Pass 2: every read below was bounds-checked by pass 1.
        prepare(count)
        var c = chunksStart
        var d = deltasStart
        var seq = base
        covered = 0
        func emit(_ symbol: UInt16) {
            switch symbol {
            case 1:
                visit(seq, .receivedSmallDelta, Int16(fci[d]))
                d += 1
            case 2:
                visit(seq, .receivedLargeDelta, Int16(bitPattern: fci.loadBE16(at: d)))
                d += 2
            default:
                visit(seq, .notReceived, 0)
            }
            seq &+= 1
        }
        while covered < count {
            let chunk = fci.loadBE16(at: c)
            c += 2
            let left = count - covered
            if chunk & 0x8000 == 0 {
                let n = min(Int(chunk & 0x1FFF), left)
                let symbol = chunk >> 13 & 3
                for _ in 0..<n { emit(symbol) }
                covered += n
            } else if chunk & 0x4000 == 0 {
                let n = min(14, left)
                for k in 0..<n { emit(chunk >> (13 - k) & 1) }
                covered += n
            } else {
                let n = min(7, left)
                for k in 0..<n { emit(chunk >> (12 - 2 * k) & 3) }
                covered += n
            }
        }
        return header
    }
}

// MARK: - Building

extension TransportFeedback {
    /// Writes a transport-wide feedback for `packetResults` straight into `out` (only `out` may grow),
    /// choosing chunks greedily: a run-length chunk when a run of one status covers at least as many
    /// packets as a status vector would, else a 1-bit vector (14 packets, no large deltas among them), else
    /// a 2-bit vector (7 packets). At most 65535 results are written. Inlinable, so it is specialised for the
    /// caller's collection type and allocates nothing else.
    @inlinable
    public static func serialize(
        senderSSRC: UInt32, mediaSSRC: UInt32, baseSequenceNumber: UInt16, referenceTime: Int32,
        feedbackPacketCount: UInt8, packetResults: some Collection<PacketResult>, into out: inout [UInt8]
    ) {
        let results = packetResults.prefix(maxPacketStatusCount)
        RTCPHeader.writeFeedback(.transportLayerFeedback, format: format, senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, into: &out) { out in
            let n = results.count
            out.appendBE16(baseSequenceNumber)
            out.appendBE16(UInt16(n))
            out.appendBE24(UInt32(bitPattern: referenceTime) & 0xFF_FFFF)
            out.append(feedbackPacketCount)
            writeChunks(results, count: n, into: &out)
            for result in results {
                guard case .received(let delta) = result else { continue }
                if (0...255).contains(delta) {
                    out.append(UInt8(delta))
                } else {
                    out.appendBE16(UInt16(bitPattern: delta))
                }
            }
        }
    }

    @inlinable
    static func writeChunks<C: Collection<PacketResult>>(_ results: C, count: Int, into out: inout [UInt8]) {
        var i = results.startIndex
        var remaining = count
        while remaining > 0 {
            let first = results[i].status
            var run = 0
            var j = i
            while j != results.endIndex, run < 0x1FFF, results[j].status == first {
                run += 1
                results.formIndex(after: &j)
            }
            var oneBitFits = true
            j = i
            for _ in 0..<min(14, remaining) {
                if results[j].status == .receivedLargeDelta { oneBitFits = false; break }
                results.formIndex(after: &j)
            }
            let oneBitCovers = oneBitFits ? min(14, remaining) : 0
            let twoBitCovers = min(7, remaining)
            var chunk: UInt16
            let covered: Int
            if run >= max(oneBitCovers, twoBitCovers) {
                chunk = UInt16(first.rawValue) << 13 | UInt16(run)
                covered = run
                results.formIndex(&i, offsetBy: run)
            } else if oneBitCovers >= twoBitCovers {
                chunk = 0x8000
                for k in 0..<oneBitCovers {
                    chunk |= UInt16(results[i].status.rawValue) << (13 - k)
                    results.formIndex(after: &i)
                }
                covered = oneBitCovers
            } else {
                chunk = 0xC000
                for k in 0..<twoBitCovers {
                    chunk |= UInt16(results[i].status.rawValue) << (12 - 2 * k)
                    results.formIndex(after: &i)
                }
                covered = twoBitCovers
            }
            out.appendBE16(chunk)
            remaining -= covered
        }
    }

    /// Accumulates packet arrivals into a feedback, turning arrival times into deltas that do not drift:
    /// each delta is measured from the previous packet's rounded time, as a receiver must (§3.1.5).
    ///
    ///     var builder = TransportFeedback.Builder(senderSSRC: s, mediaSSRC: m, feedbackPacketCount: n,
    ///                                             baseSequenceNumber: first, referenceArrivalMicroseconds: t0)
    ///     for (seq, t) in arrivals where !builder.addReceived(sequenceNumber: seq, arrivalMicroseconds: t) { ... }
    ///     builder.feedback.serialize(into: &out)
    ///
    /// `reset` keeps the storage, so a reused builder allocates nothing in steady state.
    public struct Builder: Sendable {
        public private(set) var feedback: TransportFeedback
        /// Arrival of the last received packet (or the reference time) in ticks, not wrapped.
        private var lastTicks: Int64
        private var nextSequenceNumber: UInt16

        public init(
            senderSSRC: UInt32, mediaSSRC: UInt32, feedbackPacketCount: UInt8, baseSequenceNumber: UInt16,
            referenceArrivalMicroseconds: Int64
        ) {
            feedback = TransportFeedback(
                senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, baseSequenceNumber: baseSequenceNumber,
                referenceTime: 0, feedbackPacketCount: feedbackPacketCount, packetResults: [])
            lastTicks = 0
            nextSequenceNumber = baseSequenceNumber
            reset(feedbackPacketCount: feedbackPacketCount, baseSequenceNumber: baseSequenceNumber,
                  referenceArrivalMicroseconds: referenceArrivalMicroseconds)
        }

        /// Starts a new feedback, keeping the SSRCs and the results' storage. The reference time is
        /// `referenceArrivalMicroseconds` rounded down to 64 ms, wrapped to 24 bits.
        public mutating func reset(feedbackPacketCount: UInt8, baseSequenceNumber: UInt16, referenceArrivalMicroseconds: Int64) {
            let reference = floorDivide(referenceArrivalMicroseconds, TransportFeedback.referenceTimeTickMicroseconds)
            feedback.referenceTime = Int32(truncatingIfNeeded: (reference << 40) >> 40)
            feedback.feedbackPacketCount = feedbackPacketCount
            feedback.baseSequenceNumber = baseSequenceNumber
            feedback.packetResults.removeAll(keepingCapacity: true)
            lastTicks = reference * (TransportFeedback.referenceTimeTickMicroseconds / TransportFeedback.deltaTickMicroseconds)
            nextSequenceNumber = baseSequenceNumber
        }

        /// The number of packets reported so far (received or not).
        public var count: Int { feedback.packetResults.count }

        /// Records `sequenceNumber` as received at `arrivalMicroseconds` (rounded to 250 µs), and the
        /// packets between the previous one and it as not received. Returns false and records nothing
        /// when it cannot be added here: it is not after the previous one, its delta does not fit 16 bits
        /// (±8.19 s), or the feedback would exceed 65535 packets. Then send this feedback and start another.
        public mutating func addReceived(sequenceNumber: UInt16, arrivalMicroseconds: Int64) -> Bool {
            let gap = Int(sequenceNumber &- nextSequenceNumber)
            guard gap < 0x8000, count + gap + 1 <= TransportFeedback.maxPacketStatusCount else { return false }
            let tick = TransportFeedback.deltaTickMicroseconds
            let remainder = arrivalMicroseconds - floorDivide(arrivalMicroseconds, tick) * tick
            let ticks = floorDivide(arrivalMicroseconds, tick) + (remainder >= tick / 2 ? 1 : 0)
            let delta = ticks - lastTicks
            guard let delta16 = Int16(exactly: delta) else { return false }
            for _ in 0..<gap { feedback.packetResults.append(.notReceived) }
            feedback.packetResults.append(.received(delta: delta16))
            lastTicks = ticks
            nextSequenceNumber = sequenceNumber &+ 1
            return true
        }

        private func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
            let q = a / b
            return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
        }
    }
}
