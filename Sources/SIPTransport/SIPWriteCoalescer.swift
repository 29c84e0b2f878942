import NIOConcurrencyHelpers
import NIOCore

/// Coalesces writes to stream connections (TCP/TLS): the first write of a burst schedules one
/// task on the connection's loop, which writes everything queued meanwhile and flushes once.
/// A burst of responses the transaction users produce on other threads thus costs one loop
/// task and one `writev` instead of one of each per message. Writes made on the loop itself
/// queue the same way: the task runs after the loop has handled this round of reads, so a
/// read burst relayed to another connection (MESSAGEs forwarded, a PUBLISH's NOTIFYs fanned
/// out, answers relayed back) is one `writev` per connection, not one per message. The order
/// of writes to a connection is the order of the calls.
final class SIPWriteCoalescer: Sendable {
    /// How the sender hears of the outcome: a promise, or a callback run on failure only
    /// (attached on the loop, so it costs no extra hop onto the loop).
    enum Completion: Sendable {
        case promise(EventLoopPromise<Void>)
        case onFailure(@Sendable (any Error) -> Void)
    }
    private struct Queued: Sendable {
        var buffer: ByteBuffer
        var completion: Completion
    }
    private struct Pending: Sendable {
        let channel: any Channel
        var writes: [Queued]
    }
    private let pending = NIOLockedValueBox<[ObjectIdentifier: Pending]>([:])

    /// Queues `bytes` for `channel`; the future completes when they are handed to the socket.
    func write(_ bytes: [UInt8], on channel: any Channel) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        write(bytes, on: channel, .promise(promise))
        return promise.futureResult
    }

    /// Queues `bytes` for `channel`; `completion` hears how the write went.
    func write(_ bytes: [UInt8], on channel: any Channel, _ completion: Completion) {
        let loop = channel.eventLoop
        let buffer = channel.allocator.buffer(bytes: bytes)
        let key = ObjectIdentifier(channel)
        let first = pending.withLockedValue { pending -> Bool in
            if pending[key] != nil {
                pending[key]!.writes.append(Queued(buffer: buffer, completion: completion))
                return false  // a drain is already scheduled
            }
            pending[key] = Pending(channel: channel, writes: [Queued(buffer: buffer, completion: completion)])
            return true
        }
        if first { loop.execute { self.drain(key) } }
    }

    /// On the loop: writes what is queued for one channel, then flushes once. Writes that only
    /// want to hear of a failure share one promise, on the last of them: a stream channel that
    /// fails a write fails every write after it, so that promise fails whenever one of theirs
    /// would have. Its failure is reported to all of them (the connection is gone, and what
    /// reached the socket before is as good as lost). A batch thus costs one promise and one
    /// callback, not one of each per write.
    private func drain(_ key: ObjectIdentifier) {
        guard let batch = pending.withLockedValue({ $0.removeValue(forKey: key) }) else { return }
        let channel = batch.channel
        let writes = batch.writes
        let lastFailable = writes.lastIndex { if case .onFailure = $0.completion { true } else { false } }
        for index in writes.indices {
            switch writes[index].completion {
            case .promise(let promise):
                channel.write(writes[index].buffer, promise: promise)
            case .onFailure where index == lastFailable:
                let promise = channel.eventLoop.makePromise(of: Void.self)
                promise.futureResult.whenFailure { error in
                    for case .onFailure(let onFailure) in writes.lazy.map(\.completion) { onFailure(error) }
                }
                channel.write(writes[index].buffer, promise: promise)
            case .onFailure:
                channel.write(writes[index].buffer, promise: nil)
            }
        }
        channel.flush()
    }
}
