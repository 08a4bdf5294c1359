import StarlingWire

extension WireInvariants {
    /// RTCP (RFC 3550 6.4, RFC 4585 6, the TWCC and REMB drafts): the non-allocating iterator and the
    /// visitors never trap and, whenever the compound value parse succeeds, frame the same packets and
    /// agree with it; parse -> serialize -> re-parse gives the same compound packet.
    public static func rtcp(_ bytes: UnsafeRawBufferPointer) -> String? {
        // The iterator and visitors must never trap, whatever the input.
        var framed = 0
        var framingFailed = false
        var it = RTCPPacketIterator(bytes)
        while true {
            let view: RTCPPacketView
            do throws(WireError) {
                guard let next = try it.next() else { break }
                view = next
            } catch {
                framingFailed = true
                break
            }
            framed += 1
            if let problem = rtcpVisit(view) { return problem }
        }

        let first: RTCPCompoundPacket
        do throws(WireError) {
            first = try RTCPCompoundPacket(parsing: bytes)
        } catch {
            return nil
        }
        if framingFailed || framed != first.packets.count { return "iterator disagrees with the compound parse" }
        let again: RTCPCompoundPacket
        do throws(WireError) {
            again = try RTCPCompoundPacket(parsing: first.serialized())
        } catch {
            return "re-parse failed: \(error)"
        }
        if again != first { return "round-trip mismatch" }
        return nil
    }

    /// Drives the non-allocating visitors over one framed packet; when the value parse succeeds, the visitors
    /// must succeed too and agree with it.
    private static func rtcpVisit(_ view: RTCPPacketView) -> String? {
        let value: RTCPPacket? = try? RTCPPacket(view: view)
        switch view.kind {
        case .genericNACK:
            var lost: [UInt16] = []
            let ok = (try? view.feedback()).map { fb in
                (try? GenericNACK.forEachLostSequenceNumber(fci: fb.fci) { lost.append($0) }) != nil
            } ?? false
            if case .genericNACK(let nack)? = value, !ok || lost != nack.lostSequenceNumbers { return "NACK visitor disagrees" }
        case .transportFeedback:
            var results: [TransportFeedback.PacketResult] = []
            var seqs: [UInt16] = []
            let header = (try? view.feedback()).flatMap { fb in
                try? TransportFeedback.forEachPacketResult(fci: fb.fci) { seq, _, delta in
                    seqs.append(seq)
                    results.append(delta.map { .received(delta: Int16($0 / 250)) } ?? .notReceived)
                }
            }
            if case .transportFeedback(let twcc)? = value {
                guard let header, results == twcc.packetResults, header.baseSequenceNumber == twcc.baseSequenceNumber,
                      seqs.enumerated().allSatisfy({ $0.element == twcc.baseSequenceNumber &+ UInt16(truncatingIfNeeded: $0.offset) })
                else { return "TWCC visitor disagrees" }
            }
        case .fullIntraRequest:
            var entries: [FullIntraRequest.Entry] = []
            let ok = (try? view.feedback()).map { fb in
                (try? FullIntraRequest.forEachEntry(fci: fb.fci) { entries.append($0) }) != nil
            } ?? false
            if case .fullIntraRequest(let fir)? = value, !ok || entries != fir.entries { return "FIR visitor disagrees" }
        case .receiverEstimatedMaxBitrate:
            var ssrcs: [UInt32] = []
            let bitrate = (try? view.feedback()).flatMap { fb in
                try? ReceiverEstimatedMaxBitrate.forEachSSRC(fci: fb.fci) { ssrcs.append($0) }
            }
            if case .receiverEstimatedMaxBitrate(let remb)? = value, bitrate != remb.bitrate || ssrcs != remb.ssrcs {
                return "REMB visitor disagrees"
            }
        case .senderReport:
            var blocks: [ReportBlock] = []
            let sr = try? SenderReport(view: view) { blocks.append($0) }
            if case .senderReport(let full)? = value, sr?.ssrc != full.ssrc || blocks != full.reportBlocks { return "SR visitor disagrees" }
        case .receiverReport:
            var blocks: [ReportBlock] = []
            let rr = try? ReceiverReport(view: view) { blocks.append($0) }
            if case .receiverReport(let full)? = value, rr?.ssrc != full.ssrc || blocks != full.reportBlocks {
                return "RR visitor disagrees"
            }
        case .pictureLossIndication, .sourceDescription, .goodbye, .applicationDefined, .unknown:
            break
        }
        return nil
    }
}
