internal import CUsrsctp

#if canImport(Glibc)
import Glibc
#endif

/// usrsctp's process-wide state: initialised once without threads, one recursive lock around every call,
/// the registry that routes the output callback to its association by id, and the shared timer clock.
final class SCTPStack: @unchecked Sendable {
    static let shared = SCTPStack()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var started = false
    private var lastID: UInt = 0
    private var outputs: [UInt: ([UInt8]) -> Void] = [:]
    private var lastTimers: Instant?

    private init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    /// Runs `body` holding the stack's lock (re-entered by the output callback, which runs inside usrsctp
    /// calls made under it).
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// `usrsctp_init_nothreads` once per process: no timer thread and no UDP socket of its own (port 0).
    func start() {
        locked {
            guard !started else { return }
            started = true
            usrsctp_init_nothreads(0, sctpOutput, nil)
            // No ECN over DTLS; no checksum shortcut on loopback (the peer checks CRC32c, RFC 4960 §6.8).
            usrsctp_sysctl_set_sctp_ecn_enable(0)
            usrsctp_sysctl_set_sctp_no_csum_on_loopback(0)
        }
    }

    func nextID() -> UInt {
        locked {
            lastID += 1
            return lastID
        }
    }

    func register(id: UInt, output: @escaping ([UInt8]) -> Void) { locked { outputs[id] = output } }
    func unregister(id: UInt) { locked { outputs[id] = nil } }

    fileprivate func output(id: UInt, bytes: [UInt8]) {
        locked { outputs[id]?(bytes) }
    }

    /// Advances usrsctp's timers by the milliseconds since they were last advanced (at most one second at
    /// a time: clocks of different owners may disagree; time never goes back).
    func advanceTimers(now: Instant) {
        locked {
            guard let last = lastTimers else {
                lastTimers = now
                return
            }
            let elapsed = (now - last).nanosecondsClamped / 1_000_000
            guard elapsed > 0 else { return }
            usrsctp_handle_timers(UInt32(min(elapsed, 1000)))
            lastTimers = now
        }
    }
}

/// usrsctp's output callback: `addr` is the association's id (the AF_CONN address), never a pointer.
private func sctpOutput(
    _ addr: UnsafeMutableRawPointer?, _ buffer: UnsafeMutableRawPointer?, _ length: Int, _ tos: UInt8, _ setDF: UInt8
) -> Int32 {
    guard let addr, let buffer, length > 0 else { return -1 }
    let bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: length))
    SCTPStack.shared.output(id: UInt(bitPattern: addr), bytes: bytes)
    return 0
}
