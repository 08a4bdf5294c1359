import StarlingTransport
import StarlingWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Datagrams in flight in one direction, in reused 4 KiB slots: what the server "sends" is copied into the
/// next slot (the copy `DatagramWriter` makes into its ring of reused buffers), and the other side decrypts it
/// in place there (as a datagram read from a socket). Nothing is allocated once the slots exist.
final class DatagramQueue {
    static let slotSize = 4096
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0
    private var lengths: [Int]
    private var links: [Int]
    /// What went through, for the wire columns of the table.
    private(set) var datagrams = 0
    private(set) var bytes = 0

    init(capacity: Int = 256) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity * Self.slotSize, alignment: 16)
        lengths = [Int](repeating: 0, count: capacity)
        links = [Int](repeating: 0, count: capacity)
    }

    deinit { storage.deallocate() }

    var isEmpty: Bool { count == 0 }

    /// Copies a datagram for participant `link` into the next slot.
    @inline(__always)
    func push(_ datagram: UnsafeRawBufferPointer, link: Int) {
        precondition(datagram.count <= Self.slotSize, "a \(datagram.count)-byte datagram")
        if count == capacity { grow() }
        (storage + count * Self.slotSize).copyMemory(from: datagram.baseAddress!, byteCount: datagram.count)
        lengths[count] = datagram.count
        links[count] = link
        count += 1
        datagrams &+= 1
        bytes &+= datagram.count
    }

    private func grow() {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2 * Self.slotSize, alignment: 16)
        bigger.copyMemory(from: storage, byteCount: capacity * Self.slotSize)
        storage.deallocate()
        storage = bigger
        lengths += [Int](repeating: 0, count: capacity)
        links += [Int](repeating: 0, count: capacity)
        capacity *= 2
    }

    /// Moves everything queued into `other` (emptying this queue) so that handling it may queue more here.
    func drain(into other: DatagramQueue) {
        precondition(other.isEmpty)
        if other.capacity < capacity {
            other.storage.deallocate()
            other.storage = .allocate(byteCount: capacity * Self.slotSize, alignment: 16)
            other.lengths = [Int](repeating: 0, count: capacity)
            other.links = [Int](repeating: 0, count: capacity)
            other.capacity = capacity
        }
        swap(&storage, &other.storage)
        swap(&lengths, &other.lengths)
        swap(&links, &other.links)
        swap(&capacity, &other.capacity)
        other.count = count
        count = 0
    }

    /// Slot `i` (mutable: the receiver decrypts in place) and the participant it is for.
    @inline(__always)
    func slot(_ i: Int) -> (buffer: UnsafeMutableRawBufferPointer, link: Int) {
        (UnsafeMutableRawBufferPointer(start: storage + i * Self.slotSize, count: lengths[i]), links[i])
    }

    func removeAll() { count = 0 }

    func resetCounters() {
        datagrams = 0
        bytes = 0
    }
}

// MARK: - CPU clocks and allocation counting

enum CPUClock {
    @inline(__always)
    static func thread() -> Int { read(CLOCK_THREAD_CPUTIME_ID) }
    @inline(__always)
    static func process() -> Int { read(CLOCK_PROCESS_CPUTIME_ID) }

    @inline(__always)
    private static func read(_ clock: clockid_t) -> Int {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}

/// Server-side CPU: thread CPU time (CLOCK_THREAD_CPUTIME_ID) accumulated over brackets around the server's
/// calls only; when the malloc interposer is preloaded, it counts allocations inside the brackets only.
struct ServerMeter {
    var nanoseconds = 0
    var brackets = 0
    private var started = 0

    @inline(__always)
    mutating func start() {
        Allocations.hook()
        started = CPUClock.thread()
    }

    @inline(__always)
    mutating func stop() {
        nanoseconds += CPUClock.thread() - started
        Allocations.unhook()
        brackets += 1
    }

    /// `body` measured as server work.
    @inline(__always)
    mutating func measure(_ body: () throws -> Void) rethrows {
        start()
        defer { stop() }
        try body()
    }
}

/// Allocation counting through ordo-one's malloc interposer when it is preloaded
/// (`LD_PRELOAD=.../libMallocInterposerSwift.so`, as `make bench-data` does for its `--allocations` pass), found
/// with `dlsym` so that the timed pass runs on the plain allocator: the interposer puts a 16-byte header on
/// every block, which would tax the allocation-heavy data path and not the media path. Without it, counts
/// are nil.
enum Allocations {
    private typealias Toggle = @convention(c) () -> Void
    private typealias Stats = @convention(c) (
        UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>,
        UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>
    ) -> Void

    private struct Symbols {
        let enable: Toggle
        let disable: Toggle
        let stats: Stats
    }

    private static let symbols: Symbols? = {
        let handle = dlopen(nil, RTLD_NOW)
        guard let e = dlsym(handle, "malloc_interposer_enable"), let d = dlsym(handle, "malloc_interposer_disable"),
            let s = dlsym(handle, "malloc_interposer_get_stats")
        else { return nil }
        return Symbols(
            enable: unsafeBitCast(e, to: Toggle.self), disable: unsafeBitCast(d, to: Toggle.self),
            stats: unsafeBitCast(s, to: Stats.self))
    }()

    static var available: Bool { symbols != nil }

    @inline(__always)
    static func hook() { symbols?.enable() }

    @inline(__always)
    static func unhook() { symbols?.disable() }

    /// Allocations counted so far (while hooked), or nil without the interposer.
    static func count() -> Int? {
        guard let symbols else { return nil }
        var m: Int64 = 0, mb: Int64 = 0, ms: Int64 = 0, ml: Int64 = 0, f: Int64 = 0, fb: Int64 = 0
        symbols.stats(&m, &mb, &ms, &ml, &f, &fb)
        return Int(m)
    }
}
