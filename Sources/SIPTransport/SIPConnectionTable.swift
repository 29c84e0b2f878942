import NIOConcurrencyHelpers
import NIOCore

/// The flow table (RFC 5626 §3, RFC 5923): open TCP/TLS connections keyed by transport and
/// remote address, with the caps on total connections and connections per remote IP.
/// Shared by all event loops, so guarded by a lock; every operation is short.
///
/// Bounded: `byID` holds only admitted connections (at most `maxConnections`); `pending`
/// holds one entry per connection being opened, each admitted or removed at once; `aliases`
/// holds at most one alias per connection (RFC 5923 §5, the first request's Via).
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
        /// Bits 32–62 of every id: random per table, so ids of another process (a flow saved
        /// with a registration before a restart) do not name connections of this one. Bit 63
        /// stays clear, so an id also fits an `Int64` (SQLite INTEGER).
        var epoch: UInt64
        /// Low 32 bits: a counter; on wrap a fresh epoch is drawn.
        var counter: UInt64 = 0
        var byKey: [Key: Entry] = [:]
        var byID: [SIPConnectionID: Entry] = [:]
        /// Connections being opened, shared by concurrent sends to the same destination.
        var pending: [Key: EventLoopFuture<any Channel>] = [:]
        /// Admitted connections per remote IP (inbound and outbound, open or opening).
        var perIP: [String: Int] = [:]
        var total = 0
        /// The alias keys (RFC 5923) that lead to each connection, to forget them with it.
        var aliases: [SIPConnectionID: [Key]] = [:]
        /// Connections to a key another connection holds (both ends opened one), in order:
        /// the next takes the key over when the holder closes.
        var standby: [Key: [SIPConnectionID]] = [:]
        /// Accepted connections that have not delivered a complete message yet, by arrival:
        /// the first to give way when the table is full (``admit(remote:evictingSilent:)``).
        var silent = ArrivalOrderedMap<SIPConnectionID, any Channel>()
    }

    let maxConnections: Int
    let maxConnectionsPerIP: Int
    private let state: NIOLockedValueBox<State>

    init(maxConnections: Int, maxConnectionsPerIP: Int) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
        self.state = NIOLockedValueBox(State(epoch: Self.randomEpoch()))
    }

    private static func randomEpoch(excluding old: UInt64? = nil) -> UInt64 {
        while true {
            let epoch = UInt64(UInt32.random(in: 1...UInt32(Int32.max))) << 32
            if epoch != old { return epoch }
        }
    }

    /// A fresh id for a connection or UDP socket: a random 31-bit per-table epoch above a
    /// 32-bit counter, so never 0, below 2^63, unique in this process, and (with
    /// overwhelming probability) not one a previous process handed out (RFC 5626 §5.2 flows
    /// are stored with bindings and outlive a restart).
    func makeID() -> SIPConnectionID {
        state.withLockedValue { s in
            if s.counter == UInt64(UInt32.max) {
                s.epoch = Self.randomEpoch(excluding: s.epoch)
                s.counter = 0
            }
            s.counter += 1
            return SIPConnectionID(rawValue: s.epoch | s.counter)
        }
    }

    /// Counts a new connection against the caps; false when either cap is reached.
    ///
    /// `evictingSilent` (an accepted connection): when only the total cap stands in the way,
    /// the oldest accepted connection that has not yet delivered a complete message is
    /// closed to make room, so that connections opened and left silent (each may wait out
    /// the first-message timeout) cannot lock everybody else out; connections that have
    /// spoken are never evicted. The closed one gives its count back when it is gone.
    func admit(remote: SocketAddress, evictingSilent: Bool = false) -> Bool {
        let ip = remote.ipAddress ?? ""
        var victim: (any Channel)?
        let admitted = state.withLockedValue { s in
            guard s.perIP[ip, default: 0] < maxConnectionsPerIP else { return false }
            if s.total >= maxConnections {
                guard evictingSilent, let oldest = s.silent.popOldest() else { return false }
                victim = oldest.value
            }
            s.total += 1
            s.perIP[ip, default: 0] += 1
            return true
        }
        victim?.close(promise: nil)
        return admitted
    }

    /// An accepted connection that has delivered nothing yet (evictable, see ``admit(remote:evictingSilent:)``).
    func markSilent(_ id: SIPConnectionID, channel: any Channel) {
        state.withLockedValue { s in
            s.silent.insert(channel, for: id)
        }
    }

    /// Connection `id` delivered its first complete message: never evicted.
    func markSpoke(_ id: SIPConnectionID) {
        _ = state.withLockedValue { s in s.silent.removeValue(forKey: id) }
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
            if s.byKey[entry.key] == nil {
                s.byKey[entry.key] = entry
            } else {
                s.standby[entry.key, default: []].append(entry.id)
            }
        }
    }

    /// Forgets a closed connection and every key (its own, its aliases) that led to it.
    func remove(_ id: SIPConnectionID) {
        state.withLockedValue { s in
            s.silent.removeValue(forKey: id)
            guard let entry = s.byID.removeValue(forKey: id) else { return }
            for alias in s.aliases.removeValue(forKey: id) ?? [] where s.byKey[alias]?.id == id {
                s.byKey[alias] = nil
            }
            var standby = s.standby.removeValue(forKey: entry.key) ?? []
            if s.byKey[entry.key]?.id == id {
                // Another connection to the same remote takes over its key.
                s.byKey[entry.key] = nil
                while !standby.isEmpty, s.byKey[entry.key] == nil {
                    s.byKey[entry.key] = s.byID[standby.removeFirst()]
                }
            } else {
                standby.removeAll { $0 == id }
            }
            if !standby.isEmpty { s.standby[entry.key] = standby }
        }
    }

    /// RFC 5923 §5: requests to `alias` (the peer's advertised sent-by) may reuse connection
    /// `id`. The caller has checked that the peer is authorized for that name (TLS).
    func addAlias(_ alias: Key, for id: SIPConnectionID) {
        state.withLockedValue { s in
            guard let entry = s.byID[id], s.byKey[alias] == nil || s.byKey[alias]?.channel.isActive == false else { return }
            s.byKey[alias] = entry
            s.aliases[id, default: []].append(alias)
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

    /// The open connection for `key`, without starting one (keepalives never connect).
    func openChannel(for key: Key) -> (any Channel)? {
        state.withLockedValue { s in s.byKey[key].flatMap { $0.channel.isActive ? $0.channel : nil } }
    }

    func finishPending(_ key: Key) {
        _ = state.withLockedValue { s in s.pending.removeValue(forKey: key) }
    }

    func channel(for id: SIPConnectionID) -> (any Channel)? {
        state.withLockedValue { s in s.byID[id]?.channel }
    }

    /// The open connection `id` when it is a flow to `key` (same transport, remote IP and
    /// port); nil when it is gone or leads elsewhere (RFC 5626 §5.3: the flow has failed).
    func channel(for id: SIPConnectionID, matching key: Key) -> (any Channel)? {
        state.withLockedValue { s in
            guard let entry = s.byID[id], entry.channel.isActive else { return nil }
            // Its own address, or an alias the peer was granted (RFC 5923 §5).
            let leads = Self.sameAddress(entry.key, key) || (s.aliases[id] ?? []).contains { Self.sameAddress($0, key) }
            return leads ? entry.channel : nil
        }
    }

    private static func sameAddress(_ a: Key, _ b: Key) -> Bool {
        a.transport == b.transport && a.remote.port == b.remote.port && a.remote.ipAddress == b.remote.ipAddress
    }

    /// The remote address of connection `id`, while it is in the table.
    func remote(of id: SIPConnectionID) -> SocketAddress? {
        state.withLockedValue { s in s.byID[id]?.key.remote }
    }

    /// Connections being opened (tests check the map is emptied).
    var pendingCount: Int { state.withLockedValue { $0.pending.count } }

    var allChannels: [any Channel] {
        state.withLockedValue { s in s.byID.values.map(\.channel) }
    }

    var count: Int { state.withLockedValue { $0.byID.count } }

    /// Entries of the arrival-order buffer of silent connections (tests check its bound).
    var silentOrderCount: Int { state.withLockedValue { $0.silent.orderCount } }

    /// Open connections by transport (for a metrics scrape: one pass under the lock).
    var countsByTransport: [SIPTransportKind: Int] {
        state.withLockedValue { s in
            var counts: [SIPTransportKind: Int] = [:]
            for entry in s.byID.values { counts[entry.key.transport, default: 0] += 1 }
            return counts
        }
    }
}
