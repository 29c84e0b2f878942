import Foundation

/// Runs blocking work (waiting for a child process, a compiler, curl, a server's start-up
/// poll) on a thread of its own rather than on Swift's cooperative pool. The pool has one
/// thread per core, two here; an async test that blocks one while a neighbour blocks the
/// other starves every task of the process, among them the servers' own async edges (the
/// metrics endpoint, store commits) and every other test's awaits. Not Dispatch's global
/// queue: it grows by few threads at a time (three for four blocked jobs on this machine).
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.name = "test.blocking"
        thread.start()
    }
}

/// Runs `body`, then `cleanup` off the pool whether `body` threw or not (a `defer` cannot
/// await): for fixtures whose tear-down blocks, such as stopping a PostgreSQL cluster.
public func withBlockingCleanup<T: Sendable>(_ cleanup: @escaping @Sendable () -> Void,
                                              _ body: () async throws -> T) async throws -> T {
    let outcome: Result<T, any Error>
    do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
    _ = try? await offThePool(cleanup)
    return try outcome.get()
}
