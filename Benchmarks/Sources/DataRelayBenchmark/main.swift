// Data-channel relay beside media forwarding (issue 9, "Performance"): server CPU per message through one room,
// 1 sender to N = 10 and 100 receivers, 100 B and 16 KiB messages, beside the same payload bytes sent as RTP.
//
// Why a plain executable and not an ordo-one benchmark like the other targets: one relayed message is not a
// closed piece of work the framework can time. It sets off an exchange between the server and 1 + N clients
// (the sender's packets, N copies out, N clients' SACKs back, more copies as the SCTP windows open), and only
// the server's part of it is the figure; the clients' part (their DTLS, usrsctp and SACKs) runs on the same
// thread in between. So the server's calls are bracketed with CLOCK_THREAD_CPUTIME_ID and summed, data and
// media alternate in rounds so each ratio is measured side by side, and the run prints its own table. The
// target sits outside `Benchmarks/Benchmarks/`, so `make bench` (the ordo-one plugin) does not run it.
//
// What is measured as server work, per message (see ServerRoom):
// - data: the sender's DTLS records decrypted, usrsctp receiving them and SACKing the sender, the room's
//   DataRoom (the server's own object: data channel events, DataRelay.receive with its parse, rate limits and
//   tagged copy queued per receiver, then each receiver's queue pulled into its association, usrsctp_sendv),
//   the SCTP packets encrypted into DTLS records and copied to the writer; the receivers' SACKs decrypted and
//   handed to usrsctp (which sends more while the congestion window opens); and the room's 10 ms ticks
//   (transport timeouts, usrsctp timers, dataTick).
// - media: the publisher's SRTP packets decrypted in place, Router.receiveRTP, and per receiver the copy
//   rewritten, SRTP-protected with that receiver's transport and copied to the writer; the ticks (transport
//   timeouts, Router.handleTimeout with the RTCP it sends, protected).
//
// Usage: DataRelayBenchmark [--quick] [--rounds N] [--receivers 10,100] [--sizes 100,16384] [--allocations]
// (`make bench-data` runs it, then once more with --allocations). --quick: phases a fifth as long and 2 rounds.
// --allocations: one round, then the server's allocation counts instead of times; it needs ordo-one's malloc
// interposer preloaded (LD_PRELOAD). Results and how to read them: Benchmarks/results/data-relay-2026-11-24.md.
// scripts/bench-data-callgrind.py counts the same work in instructions under callgrind.

import StarlingRouting
import StarlingTransport
import StarlingWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress goes to stderr, unbuffered; the tables go to stdout.
func progress(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

struct Options {
    var quick = false
    var rounds: Int?
    var receivers = [10, 100]
    var allocations = false
    /// Message sizes to run (payload bytes).
    var sizes = [100, 16_384]

    init(_ arguments: [String]) {
        func usage() -> Never {
            print("usage: DataRelayBenchmark [--quick] [--rounds N] [--receivers 10,100] [--sizes 100,16384] [--allocations]")
            exit(2)
        }
        var i = 1
        func value() -> String {
            i += 1
            guard i < arguments.count else { usage() }
            return arguments[i]
        }
        func list() -> [Int] {
            let values = value().split(separator: ",").map { Int($0) }
            guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { usage() }
            return values.map { $0! }
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--quick": quick = true
            case "--allocations": allocations = true
            case "--rounds":
                guard let n = Int(value()), n > 0 else { usage() }
                rounds = n
            case "--receivers": receivers = list()
            case "--sizes": sizes = list()
            default: usage()
            }
            i += 1
        }
    }
}

/// One message size: the data message and its media twin.
struct Scenario {
    let label: String
    let payloadBytes: Int
    /// Virtual time between messages: the server's default per-sender limits (data.messagesPerSecond 1000,
    /// data.bytesPerSecond 4 MiB), so the sender runs at the most a room lets it.
    let interval: Duration
    let media: RTPPublisher.Kind
    let mediaLabel: String
    /// Messages per phase of a round.
    func chunk(receivers: Int, quick: Bool) -> Int {
        let base = payloadBytes > 1000 ? (receivers >= 100 ? 30 : 120) : (receivers >= 100 ? 150 : 600)
        return quick ? max(base / 5, 4) : base
    }
}

let scenarios = [
    Scenario(
        label: "100 B", payloadBytes: 100, interval: .milliseconds(1), media: .audio(payloadBytes: 100),
        mediaLabel: "1 Opus packet, 100 B payload"),
    Scenario(
        label: "16 KiB", payloadBytes: 16_384, interval: .milliseconds(4),
        media: .video(payloadBytes: 16_384, maxPayload: 1200, framesPerKeyframe: 750),
        mediaLabel: "1 VP8 frame, 14 packets, 16384 B payload"),
]

/// What one phase (K messages of one path) cost and put on the wire.
struct Phase {
    var messages = 0
    var deliveries = 0
    var payloadDelivered = 0
    var serverNs = 0
    var tickNs = 0
    var processNs = 0
    var brackets = 0
    var datagramsIn = 0
    var datagramsOut = 0
    var bytesOut = 0
    var allocations: Int?

    static func + (a: Phase, b: Phase) -> Phase {
        Phase(
            messages: a.messages + b.messages, deliveries: a.deliveries + b.deliveries,
            payloadDelivered: a.payloadDelivered + b.payloadDelivered, serverNs: a.serverNs + b.serverNs,
            tickNs: a.tickNs + b.tickNs, processNs: a.processNs + b.processNs, brackets: a.brackets + b.brackets,
            datagramsIn: a.datagramsIn + b.datagramsIn, datagramsOut: a.datagramsOut + b.datagramsOut,
            bytesOut: a.bytesOut + b.bytesOut,
            allocations: a.allocations == nil && b.allocations == nil ? nil : (a.allocations ?? 0) + (b.allocations ?? 0))
    }
}

/// Runs `body` (which sends `messages` messages through `bench`) and returns what it cost.
func phase(_ bench: Bench, messages: Int, payloadBytes: Int, _ body: () throws -> Void) rethrows -> Phase {
    let server = bench.meter.nanoseconds, ticks = bench.tickNanoseconds, brackets = bench.meter.brackets
    let datagramsIn = bench.toServer.datagrams, datagramsOut = bench.room.out.datagrams, bytesOut = bench.room.out.bytes
    let allocations = Allocations.count()
    let process = CPUClock.process()
    try body()
    let processNs = CPUClock.process() - process
    return Phase(
        messages: messages, deliveries: messages * bench.receivers, payloadDelivered: messages * bench.receivers * payloadBytes,
        serverNs: bench.meter.nanoseconds - server, tickNs: bench.tickNanoseconds - ticks, processNs: processNs,
        brackets: bench.meter.brackets - brackets, datagramsIn: bench.toServer.datagrams - datagramsIn,
        datagramsOut: bench.room.out.datagrams - datagramsOut, bytesOut: bench.room.out.bytes - bytesOut,
        allocations: Allocations.count().flatMap { end in allocations.map { end - $0 } })
}

@inline(never)
func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

/// What a bracket costs by itself (two clock reads and the interposer toggles), to judge the overhead.
func bracketCost() -> Double {
    var meter = ServerMeter()
    let rounds = 20_000
    let start = CPUClock.thread()
    for _ in 0..<rounds { meter.measure {} }
    return Double(CPUClock.thread() - start) / Double(rounds)
}

struct Row {
    let receivers: Int
    let scenario: Scenario
    var data = Phase()
    var media = Phase()
    var ratios: [Double] = []
}

let options = Options(CommandLine.arguments)
if options.allocations && !Allocations.available {
    print("--allocations needs the malloc interposer preloaded (LD_PRELOAD=.../libMallocInterposerSwift.so)")
    exit(2)
}
if options.allocations {
    // The interposer counts inside brackets: one array allocated in one must show.
    var meter = ServerMeter()
    let before = Allocations.count()!
    meter.measure { blackHole([UInt8](repeating: 1, count: 64 + Int(before & 1))) }
    let counted = Allocations.count()! - before
    precondition(counted >= 1, "the interposer counted \(counted) allocations for one array")
}
let bracket = bracketCost()
let wallStart = CPUClock.process()
var wall = timespec()
clock_gettime(CLOCK_MONOTONIC, &wall)
let wallStartNs = wall.tv_sec * 1_000_000_000 + wall.tv_nsec
/// Every room size and scenario: warm-up, then rounds of a data phase and a media phase.
func runAll(_ options: Options) throws -> [Row] {
    var rows: [Row] = []
    for receivers in options.receivers {
        let dataRoom = try Bench(receivers: receivers, dataChannels: true)
        let mediaRoom = try Bench(receivers: receivers, dataChannels: false)
        for scenario in scenarios where options.sizes.contains(scenario.payloadBytes) {
            let k = scenario.chunk(receivers: receivers, quick: options.quick)
            let rounds = options.rounds ?? (options.allocations ? 1 : options.quick ? 2 : 10)
            var publisher = RTPPublisher(kind: scenario.media)
            let packetsPerMessage = publisher.payloadSizes.count
            let media = try MediaRoom(publisher: publisher, receivers: receivers, room: mediaRoom.room, now: mediaRoom.now)
            mediaRoom.room.media = media
            mediaRoom.room.routerDeadline = nil

            // Warm-up (not counted): a phase of each, with receiver 1 decrypting the media copies it is sent.
            try dataRoom.sendData(count: k, payloadBytes: scenario.payloadBytes, interval: scenario.interval)
            mediaRoom.deliverMediaToFirstReceiver = true
            let rtpBefore = mediaRoom.clients[1].rtpPackets
            try mediaRoom.sendMedia(count: k, interval: scenario.interval, publisher: &publisher)
            mediaRoom.deliverMediaToFirstReceiver = false
            let copies = mediaRoom.clients[1].rtpPackets - rtpBefore
            precondition(copies == k * packetsPerMessage, "receiver 1 decrypted \(copies) RTP packets of \(k * packetsPerMessage)")

            var row = Row(receivers: receivers, scenario: scenario)
            for round in 0..<rounds {
                let rtpOut = media.router.counters.rtpOut
                func runData() throws -> Phase {
                    try phase(dataRoom, messages: k, payloadBytes: scenario.payloadBytes) {
                        try dataRoom.sendData(count: k, payloadBytes: scenario.payloadBytes, interval: scenario.interval)
                    }
                }
                func runMedia() throws -> Phase {
                    try phase(mediaRoom, messages: k, payloadBytes: scenario.payloadBytes) {
                        try mediaRoom.sendMedia(count: k, interval: scenario.interval, publisher: &publisher)
                    }
                }
                // Alternate which path goes first, so a drift in the machine's speed does not favour one.
                var d = Phase(), m = Phase()
                if round % 2 == 0 {
                    d = try runData()
                    m = try runMedia()
                } else {
                    m = try runMedia()
                    d = try runData()
                }
                precondition(
                    media.router.counters.rtpOut - rtpOut == k * packetsPerMessage * receivers,
                    "router sent \(media.router.counters.rtpOut - rtpOut) copies, expected \(k * packetsPerMessage * receivers)")
                precondition(media.output.failures == 0, "\(media.output.failures) copies not protected")
                // Every receiver has every message but possibly the last (whose last packet may wait for a SACK).
                for client in dataRoom.clients.dropFirst() where client.messages < dataRoom.dataMessagesSent - 1 {
                    preconditionFailure("receiver \(client.index) has \(client.messages) messages, \(dataRoom.dataMessagesSent) sent")
                }
                row.data = row.data + d
                row.media = row.media + m
                row.ratios.append(Double(d.serverNs) / Double(m.serverNs))
            }
            // Everything arrives, in order (checked by each client), and nothing was refused.
            dataRoom.drain(for: .milliseconds(500))
            for client in dataRoom.clients.dropFirst() where client.messages != dataRoom.dataMessagesSent {
                preconditionFailure("receiver \(client.index) got \(client.messages) of \(dataRoom.dataMessagesSent) messages")
            }
            let counters = dataRoom.room.dataRoom.relay.counters
            precondition(counters.refused.isEmpty && counters.undeliverable == 0 && counters.lossyDropped == 0 && counters.reliableOverflows == 0)
            precondition(dataRoom.serverBatchesInPhases > 0 && mediaRoom.serverBatchesInPhases > 0)
            mediaRoom.room.media = nil
            rows.append(row)
            progress("done: N = \(receivers), \(scenario.label), \(rounds) rounds of \(k) messages per path")
        }
    }
    return rows
}

let rows = try runAll(options)

clock_gettime(CLOCK_MONOTONIC, &wall)
let wallNs = wall.tv_sec * 1_000_000_000 + wall.tv_nsec - wallStartNs
let processTotal = CPUClock.process() - wallStart

// MARK: - Tables

/// `x` with `digits` decimals (none from 10 000 on); no Foundation in this target.
func fmt(_ x: Double, _ digits: Int = 1) -> String {
    guard digits > 0, x < 10_000 else { return String(Int(x.rounded())) }
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let n = Int((x * Double(scale)).rounded())
    let fraction = String(n % scale)
    return "\(n / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// DataRelay alone, outside any transport: allocations of `receive` (one message to 10 receivers) and of each
/// receiver's `peek` + `pop`, in steady state.
func relayAllocations() -> (receive: Double, peekPop: Double) {
    var limits = DataRelay.Limits()
    limits.messagesPerSecond = 1_000_000
    limits.bytesPerSecond = 1 << 30
    let relay = DataRelay(limits: limits)
    let ids = (0...10).map { "participant-\($0)" }
    for (i, id) in ids.enumerated() {
        relay.add(participant: id, identity: i == 0 ? "sender" : "receiver-\(i)", canPublish: true, now: .zero)
        relay.setReady(true, participant: id, path: .reliable)
    }
    let message: [UInt8] = [DataEnvelope.version, 0, 0] + [UInt8](repeating: 7, count: 100)
    var meter = ServerMeter()
    var receive = 0, peekPop = 0
    for round in 0..<200 {
        let now = Instant(nanoseconds: Int64(round) * 1_000_000)
        let a = Allocations.count()!
        meter.measure { _ = relay.receive(message, from: ids[0], path: .reliable, now: now) }
        let b = Allocations.count()!
        meter.measure {
            for id in ids.dropFirst() {
                while let m = relay.peek(for: id, path: .reliable) {
                    blackHole(m)
                    relay.pop(for: id, path: .reliable)
                }
            }
        }
        let c = Allocations.count()!
        if round >= 100 {
            receive += b - a
            peekPop += c - b
        }
    }
    return (Double(receive) / 100, Double(peekPop) / 1000)
}

if options.allocations {
    let relay = relayAllocations()
    print("")
    print(
        "DataRelay alone (no transports), steady state: receive \(fmt(relay.receive)) allocations per message to 10 "
            + "receivers, peek + pop \(fmt(relay.peekPop, 2)) per delivery.")
    print("")
    print("Server-side allocations (malloc interposer preloaded; timings of this pass are not reported)")
    print("")
    print("| receivers | message | path | allocations per message | per delivery |")
    print("|---:|---|---|---:|---:|")
    for row in rows {
        for (path, p) in [("data", row.data), ("media", row.media)] {
            let a = Double(p.allocations ?? 0)
            print("| \(row.receivers) | \(row.scenario.label) | \(path) | \(fmt(a / Double(p.messages))) | \(fmt(a / Double(p.deliveries), 2)) |")
        }
    }
    exit(0)
}

print("")
print(
    "Server CPU (CLOCK_THREAD_CPUTIME_ID around the server's calls only), summed over all rounds; "
        + "a delivery is one message to one receiver")
print("")
print(
    "| receivers | message | path | server CPU per message (µs) | messages per server CPU-second | per delivery (ns) "
        + "| per delivered KiB (ns) | of which 10 ms ticks | datagrams out per delivery | bytes out per delivery "
        + "| datagrams in per message | process CPU per message (µs) |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for row in rows {
    for (path, p) in [("data (reliable)", row.data), ("media: " + row.scenario.mediaLabel, row.media)] {
        let perMessage = Double(p.serverNs) / Double(p.messages)
        let perDelivery = Double(p.serverNs) / Double(p.deliveries)
        let perKiB = Double(p.serverNs) / (Double(p.payloadDelivered) / 1024)
        let tickShare = Double(p.tickNs) / Double(p.serverNs) * 100
        print(
            "| \(row.receivers) | \(row.scenario.label) | \(path) | \(fmt(perMessage / 1000)) | \(fmt(1e9 / perMessage, 0)) "
                + "| \(fmt(perDelivery, 0)) | \(fmt(perKiB, 0)) | \(fmt(tickShare))% "
                + "| \(fmt(Double(p.datagramsOut) / Double(p.deliveries), 2)) | \(fmt(Double(p.bytesOut) / Double(p.deliveries), 0)) "
                + "| \(fmt(Double(p.datagramsIn) / Double(p.messages), 1)) | \(fmt(Double(p.processNs) / Double(p.messages) / 1000)) |")
    }
}

print("")
print("Data / media, server CPU for the same messages (= per message and per payload byte: the payloads are equal)")
print("")
print("| receivers | message | data / media, all rounds | per round: median (min–max) | rounds × messages per path |")
print("|---:|---|---:|---:|---:|")
for row in rows {
    let overall = Double(row.data.serverNs) / Double(row.media.serverNs)
    print(
        "| \(row.receivers) | \(row.scenario.label) | \(fmt(overall, 2)) | \(fmt(median(row.ratios), 2)) "
            + "(\(fmt(row.ratios.min()!, 2))–\(fmt(row.ratios.max()!, 2))) | \(row.ratios.count) × \(row.data.messages / row.ratios.count) |")
}

let brackets = rows.reduce(0) { $0 + $1.data.brackets + $1.media.brackets }
let measured = rows.reduce(0) { $0 + $1.data.serverNs + $1.media.serverNs }
print("")
print(
    "Bracket cost \(fmt(bracket, 0)) ns × \(brackets) brackets = \(fmt(bracket * Double(brackets) / Double(measured) * 100, 2))% of the "
        + "measured server CPU. Run: \(fmt(Double(wallNs) / 1e9)) s wall, \(fmt(Double(processTotal) / 1e9)) s process CPU "
        + "(setup and warm-up included).")
