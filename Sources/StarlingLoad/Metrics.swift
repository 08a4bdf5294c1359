import StarlingTransport

/// Added delay, in 10 µs buckets up to 200 ms (one more bucket for anything above): one histogram for the
/// whole run and one for the current second.
final class DelayHistograms {
    static let bucketNanoseconds: Int64 = 10_000
    static let buckets = 20_000
    private(set) var run = [Int](repeating: 0, count: buckets + 1)
    private(set) var second = [Int](repeating: 0, count: buckets + 1)
    private(set) var runCount = 0
    private(set) var secondCount = 0

    func record(_ delay: Duration) {
        let bucket = min(Self.buckets, max(0, Int(delay.nanosecondsClamped / Self.bucketNanoseconds)))
        run[bucket] += 1
        second[bucket] += 1
        runCount += 1
        secondCount += 1
    }

    func resetRun() {
        for i in run.indices where run[i] != 0 { run[i] = 0 }
        runCount = 0
    }

    func resetSecond() {
        for i in second.indices where second[i] != 0 { second[i] = 0 }
        secondCount = 0
    }

    /// The `q` quantile (0...1) in milliseconds, the bucket's upper edge; nil without samples.
    static func quantile(_ q: Double, of histogram: [Int], count: Int) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, n) in histogram.enumerated() {
            seen += n
            if seen >= rank { return Double(Int64(i + 1) * bucketNanoseconds) / 1e6 }
        }
        return nil
    }
}

/// The figures of one second, or of the whole run (`LoadReport.total`).
public struct LoadSample: Codable, Sendable, Equatable {
    /// Seconds since media started.
    public var second: Double = 0
    public var participantsConnected = 0
    public var peerConnections = 0
    public var peersConnected = 0
    /// Publishers' RTP, Mbit/s (payload and headers, before SRTP).
    public var mbpsOut = 0.0
    /// Subscribers' RTP after SRTP, Mbit/s.
    public var mbpsIn = 0.0
    public var packetsSent = 0
    public var packetsReceived = 0
    public var retransmissionsReceived = 0
    public var lostBeforeRecovery = 0
    public var lostAfterRecovery = 0
    public var framesCompleted = 0
    public var framesDecoded = 0
    public var audioFramesDecoded = 0
    public var decoderErrors = 0
    public var freezes = 0
    public var frozenSeconds = 0.0
    public var layerSwitches = 0
    public var nacksSent = 0
    public var keyframeRequestsSent = 0
    public var delayP50Milliseconds: Double?
    public var delayP99Milliseconds: Double?
    public var delaySamples = 0
    /// The load tool's own CPU over the interval, in cores (1.0 = one core busy).
    public var loadToolCPU = 0.0
    /// The server's CPU over the interval in cores, when its pid is known.
    public var serverCPU: Double?
    /// Video streams received, by frame height (the simulcast layer they get).
    public var videoStreamsByHeight: [String: Int] = [:]

    public init() {}
}

/// A whole run's result: the per-second samples, the totals, and what the run was.
public struct LoadReport: Codable, Sendable {
    public struct Server: Codable, Sendable {
        public var kind: String
        public var pid: Int32?
        /// User + system CPU seconds the server spent during the measured interval.
        public var cpuSeconds: Double?
        public var cpuSecondsPer1000Packets: Double?
        /// Peak resident set (VmHWM), and resident set at the end, in KiB.
        public var peakRSSKiB: Int?
        public var rssKiB: Int?
        public var rssBeforeKiB: Int?
        /// Resident set once every publisher was connected, before the first subscriber joined.
        public var rssWithPublishersKiB: Int?
        /// What subscribers cost the server: (RSS at the end - RSS with only the publishers) / subscriber
        /// streams. It includes each subscribing participant's signaling and peer connection.
        public var kibPerSubscriberStream: Double?
    }

    public var scenario: String
    public var server: Server
    public var rooms: Int
    public var publishersPerRoom: Int
    public var subscribersPerRoom: Int
    public var subscriberStreams: Int
    public var decodedShare: Double
    /// How the publishers' media was made.
    public var media: String
    public var durationSeconds: Double
    /// Join to first completed video frame, per subscribed video stream, in milliseconds.
    public var firstFrameMillisecondsP50: Double?
    public var firstFrameMillisecondsMax: Double?
    public var streamsWithoutFrames: Int
    /// The load tool's own CPU seconds (user + system) during the measured interval.
    public var loadToolCPUSeconds: Double
    public var total: LoadSample
    public var samples: [LoadSample]
    public var failures: [String]
}

/// CPU and memory of a process from /proc (Linux): user + system time of all its threads, VmRSS and VmHWM.
public struct ProcessStats: Sendable {
    public var cpuSeconds: Double
    public var rssKiB: Int
    public var peakRSSKiB: Int

    /// nil when the process is gone or /proc is unreadable.
    public static func read(pid: Int32) -> ProcessStats? {
        guard let stat = readFile("/proc/\(pid)/stat"), let status = readFile("/proc/\(pid)/status") else { return nil }
        // Fields after the command name (which may hold spaces) start after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the whole line, so 12 and 13 after the name.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        func kib(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessStats(cpuSeconds: (user + system) / ticks, rssKiB: kib("VmRSS:"), peakRSSKiB: kib("VmHWM:"))
    }

    public static var ownPID: Int32 { getpid() }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
