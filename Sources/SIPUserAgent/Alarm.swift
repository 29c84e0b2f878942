import Synchronization

/// One waiter that sleeps until a deadline or until someone rings: the user agent's
/// maintenance task waits on it for the next refresh or keepalive, and a lost flow, a new
/// publication or subscription, or ``SIPUserAgent/stop()`` wakes it early. A ring with
/// nobody waiting is kept for the next wait. Cancellation of the waiting task rings it.
final class Alarm: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Void, Never>?
        var rung = false
        var generation: UInt64 = 0
        /// The task that sleeps until the current wait's deadline (cancelled on a ring).
        var sleeper: Task<Void, Never>?
    }
    private let state = Mutex(State())

    /// Wakes the waiter now (or the next one, at once).
    func ring() {
        let (waiter, sleeper) = state.withLock { s -> (CheckedContinuation<Void, Never>?, Task<Void, Never>?) in
            guard let waiter = s.waiter else { s.rung = true; return (nil, nil) }
            s.waiter = nil
            defer { s.sleeper = nil }
            return (waiter, s.sleeper)
        }
        sleeper?.cancel()
        waiter?.resume()
    }

    /// Returns after `duration`, on a ring, or when the task is cancelled.
    func wait(for duration: Duration) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let generation: UInt64? = state.withLock { s in
                    if s.rung {
                        s.rung = false
                        return nil
                    }
                    s.generation &+= 1
                    s.waiter = continuation
                    return s.generation
                }
                guard let generation else { return continuation.resume() }
                let sleeper = Task { [weak self] in
                    guard (try? await Task.sleep(for: max(duration, .zero))) != nil else { return }
                    self?.expire(generation)
                }
                state.withLock { s in if s.generation == generation, s.waiter != nil { s.sleeper = sleeper } }
            }
        } onCancel: {
            ring()
        }
    }

    /// The deadline of wait `generation` passed: wake it if it is still the one waiting.
    private func expire(_ generation: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.generation == generation, let waiter = s.waiter else { return nil }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
