extension Actor {
    /// `assumeIsolated` for the per-datagram path: runs `body` synchronously, isolated to this actor, which
    /// must be the current executor (checked, as `assumeIsolated` does).
    ///
    /// The standard `assumeIsolated` heap-allocates on every call (measured with heaptrack in a release
    /// build: one allocation per datagram at each actor boundary, from its `withoutActuallyEscaping`). Here
    /// `body` is an escaping closure that captures nothing (what it needs travels as `argument`): such a
    /// closure is a bare function pointer, so the call allocates nothing. A capturing `body` would still
    /// work, at the cost of a context allocation.
    @inline(__always)
    nonisolated func withAssumedIsolation<Argument, Result>(
        _ argument: Argument, _ body: @escaping (isolated Self, Argument) -> Result
    ) -> Result {
        preconditionIsolated()
        // The same conversion `assumeIsolated` makes: the isolation was checked just above.
        return unsafeBitCast(body, to: ((Self, Argument) -> Result).self)(self, argument)
    }
}
