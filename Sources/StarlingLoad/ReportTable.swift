import Foundation

extension LoadReport {
    /// The final table for people: one block of the run's figures.
    public var table: String {
        func f(_ v: Double?, _ format: String = "%.2f") -> String { v.map { String(format: format, $0) } ?? "-" }
        let t = total
        var rows: [(String, String)] = [
            ("scenario", "\(scenario) on \(server.kind): \(rooms) room(s) x (\(publishersPerRoom) publishers, \(subscribersPerRoom) subscribers)"),
            ("media", media),
            ("measured", "\(f(durationSeconds, "%.1f")) s, \(subscriberStreams) subscriber streams, decoding \(Int(decodedShare * 100))%"),
            ("peer connections", "\(t.peersConnected) of \(t.peerConnections) connected"),
            ("Mbit/s out / in", "\(f(t.mbpsOut)) / \(f(t.mbpsIn))"),
            ("packets sent / received", "\(t.packetsSent) / \(t.packetsReceived) (\(t.retransmissionsReceived) retransmitted)"),
            ("lost before / after NACK", "\(t.lostBeforeRecovery) / \(t.lostAfterRecovery)"),
            ("video frames completed / decoded", "\(t.framesCompleted) / \(t.framesDecoded) (audio decoded \(t.audioFramesDecoded))"),
            ("decoder errors", "\(t.decoderErrors)"),
            ("freezes (>300 ms)", "\(t.freezes), \(f(t.frozenSeconds)) s frozen"),
            ("layer switches", "\(t.layerSwitches); streams by height \(t.videoStreamsByHeight.sorted { $0.key < $1.key }.map { "\($0.key)p: \($0.value)" }.joined(separator: ", "))"),
            ("NACKs / PLIs sent", "\(t.nacksSent) / \(t.keyframeRequestsSent)"),
            ("join to first frame", "p50 \(f(firstFrameMillisecondsP50, "%.0f")) ms, max \(f(firstFrameMillisecondsMax, "%.0f")) ms, \(streamsWithoutFrames) video streams without frames"),
            ("added delay", "p50 \(f(t.delayP50Milliseconds, "%.3f")) ms, p99 \(f(t.delayP99Milliseconds, "%.3f")) ms over \(t.delaySamples) packets"),
            ("load tool CPU", "\(f(loadToolCPUSeconds)) s (\(f(t.loadToolCPU)) cores)"),
        ]
        if let cpu = server.cpuSeconds {
            rows.append(("server CPU", "\(f(cpu, "%.3f")) s (\(f(t.serverCPU)) cores), \(f(server.cpuSecondsPer1000Packets, "%.4f")) s per 1000 forwarded packets"))
        }
        if let peak = server.peakRSSKiB {
            rows.append(("server memory", "peak \(peak / 1024) MiB, now \((server.rssKiB ?? 0) / 1024) MiB, \(f(server.kibPerSubscriberStream, "%.1f")) KiB per subscriber stream"))
        }
        if !failures.isEmpty { rows.append(("failures", failures.joined(separator: "; "))) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    /// JSON for machines (sorted keys, so runs diff cleanly).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Why a run that should be clean is not: no frames, loss after recovery, decoder errors, failures.
    public var cleanRunProblems: [String] {
        var problems: [String] = []
        if total.framesDecoded == 0 && decodedShare > 0 { problems.append("no video frame was decoded") }
        if streamsWithoutFrames > 0 { problems.append("\(streamsWithoutFrames) video streams got no frame") }
        if total.lostAfterRecovery > 0 { problems.append("\(total.lostAfterRecovery) packets lost after NACK recovery") }
        if total.decoderErrors > 0 { problems.append("\(total.decoderErrors) decoder errors") }
        if total.peersConnected < total.peerConnections { problems.append("\(total.peerConnections - total.peersConnected) peer connections down") }
        problems += failures
        return problems
    }
}
