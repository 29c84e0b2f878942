import Dispatch

/// Runs blocking work (waiting for a child process, a compiler, curl) on a dispatch thread
/// rather than on Swift's cooperative pool. The pool has one thread per core, two here; an
/// async test that blocks one while a neighbour blocks the other starves every task of the
/// process, among them the servers' own async edges (the metrics endpoint, store refreshes).
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
