import NIOConcurrencyHelpers
import NIOCore

/// The flow table (RFC 5626 §3, RFC 5923): open TCP/TLS connections keyed by transport and
/// remote address, with the caps on total connections and connections per remote IP.
/// Shared by all event loops, so guarded by a lock; every operation is short.
final class SIPConnectionTable: Sendable {
    struct Key: Hashable {
        var transport: SIPTransportKind
        var remote: SocketAddress
    }

    struct Entry {
        var id: SIPConnectionID
        var key: Key
        var channel: any Channel
    }

    private struct State {
        var nextID: UInt64 = 1
        var byKey: [Key: Entry] = [:]
        var byID: [SIPConnectionID: Entry] = [:]
        /// Connections being opened, shared by concurrent sends to the same destination.
        var pending: [Key: EventLoopFuture<any Channel>] = [:]
        /// Admitted connections per remote IP (inbound and outbound, open or opening).
        var perIP: [String: Int] = [:]
        var total = 0
    }

    let maxConnections: Int
    let maxConnectionsPerIP: Int
    private let state = NIOLockedValueBox(State())

    init(maxConnections: Int, maxConnectionsPerIP: Int) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
    }

    /// A fresh id for a connection or UDP socket.
    func makeID() -> SIPConnectionID {
        state.withLockedValue { s in
            defer { s.nextID += 1 }
            return SIPConnectionID(rawValue: s.nextID)
        }
    }

    /// Counts a new connection against the caps; false when either cap is reached.
    func admit(remote: SocketAddress) -> Bool {
        let ip = remote.ipAddress ?? ""
        return state.withLockedValue { s in
            guard s.total < maxConnections, s.perIP[ip, default: 0] < maxConnectionsPerIP else { return false }
            s.total += 1
            s.perIP[ip, default: 0] += 1
            return true
        }
    }

    /// Gives back what `admit` took.
    func release(remote: SocketAddress) {
        let ip = remote.ipAddress ?? ""
        state.withLockedValue { s in
            s.total -= 1
            let left = s.perIP[ip, default: 1] - 1
            s.perIP[ip] = left > 0 ? left : nil
        }
    }

    /// Records an open connection; the first connection to a key keeps it.
    func register(_ entry: Entry) {
        state.withLockedValue { s in
            s.byID[entry.id] = entry
            if s.byKey[entry.key] == nil { s.byKey[entry.key] = entry }
        }
    }

    /// Forgets a closed connection and every key (its own, its aliases) that led to it.
    func remove(_ id: SIPConnectionID) {
        state.withLockedValue { s in
            guard let entry = s.byID.removeValue(forKey: id) else { return }
            let keys = s.byKey.compactMap { $0.value.id == id ? $0.key : nil }
            for key in keys { s.byKey[key] = nil }
            // Another connection to the same remote may take over its key.
            if keys.contains(entry.key), let other = s.byID.values.first(where: { $0.key == entry.key }) {
                s.byKey[entry.key] = other
            }
        }
    }

    /// RFC 5923 §5: requests to `alias` (the peer's advertised sent-by) may reuse connection
    /// `id`. The caller has checked that the peer is authorized for that name (TLS).
    func addAlias(_ alias: Key, for id: SIPConnectionID) {
        state.withLockedValue { s in
            guard let entry = s.byID[id], s.byKey[alias] == nil || s.byKey[alias]?.channel.isActive == false else { return }
            s.byKey[alias] = entry
        }
    }

    enum Lookup {
        case open(any Channel)
        case opening(EventLoopFuture<any Channel>)
        /// None yet: the caller opens one and completes this promise (then `finishPending`).
        case mustOpen(EventLoopPromise<any Channel>)
    }

    /// An open connection to `key`, else one being opened, else a reservation to open one, so
    /// that concurrent sends to one destination share a single new connection.
    func lookup(_ key: Key, eventLoop: any EventLoop) -> Lookup {
        state.withLockedValue { s in
            if let entry = s.byKey[key], entry.channel.isActive { return .open(entry.channel) }
            if let pending = s.pending[key] { return .opening(pending) }
            let promise = eventLoop.makePromise(of: (any Channel).self)
            s.pending[key] = promise.futureResult
            return .mustOpen(promise)
        }
    }

    func finishPending(_ key: Key) {
        _ = state.withLockedValue { s in s.pending.removeValue(forKey: key) }
    }

    func channel(for id: SIPConnectionID) -> (any Channel)? {
        state.withLockedValue { s in s.byID[id]?.channel }
    }

    var allChannels: [any Channel] {
        state.withLockedValue { s in s.byID.values.map(\.channel) }
    }

    var count: Int { state.withLockedValue { $0.byID.count } }
}
