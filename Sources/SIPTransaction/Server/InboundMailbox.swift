import SIPTransport
import Synchronization

/// Hands inbound messages from the event loops to the one consumer (the server's receive
/// loop) in batches: everything that arrived while the consumer was busy comes out of one
/// ``next()``, so a burst of reads costs one wake-up and one hop into the transaction layer.
/// Messages posted after ``finish()`` are dropped; those queued before it are still handed out.
final class InboundMailbox: Sendable {
    private struct State {
        var queue: [InboundMessage] = []
        var waiter: CheckedContinuation<[InboundMessage], Never>?
        var finished = false

        /// The queued messages, [] once finished and drained, nil when the consumer must wait.
        mutating func take() -> [InboundMessage]? {
            if !queue.isEmpty {
                defer { queue = [] }
                return queue
            }
            return finished ? [] : nil
        }
    }
    private let state = Mutex(State())

    /// Called on an event loop: queues the message, or wakes the waiting consumer with it.
    func post(_ message: InboundMessage) {
        let waiter = state.withLock { s -> CheckedContinuation<[InboundMessage], Never>? in
            guard !s.finished else { return nil }
            if let waiter = s.waiter {
                s.waiter = nil
                return waiter
            }
            s.queue.append(message)
            return nil
        }
        waiter?.resume(returning: [message])
    }

    /// The next batch, in arrival order; empty once finished (or the task is cancelled) and drained.
    func next() async -> [InboundMessage] {
        if let ready = state.withLock({ $0.take() }) { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { s -> [InboundMessage]? in
                    if let ready = s.take() { return ready }
                    s.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// No more messages: the consumer gets what is queued, then an empty batch.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<[InboundMessage], Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: [])
    }
}
