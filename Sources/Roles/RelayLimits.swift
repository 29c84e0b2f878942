import Logging
import SIPTransaction
import Synchronization

/// Counts of relayed requests in flight (sent, not yet answered) per key, each under a limit:
/// per next hop (a device that never answers), per source (one sender reaching many such
/// devices) and per source at one hop (one sender's share of a device). An entry exists only while its count is above zero, so the table is bounded by
/// the client transactions in flight.
final class InFlightLimit<Key: Hashable & Sendable>: Sendable {
    private struct Load {
        var held = 0
        /// A relay was refused since the key was last below its limit (logged once).
        var refusing = false
    }

    let limit: Int
    private let table = Mutex<[Key: Load]>([:])

    init(limit: Int) { self.limit = limit }

    /// Takes a slot for `key`: whether one was free, and whether this is the first refusal
    /// since the key was last below its limit (the caller logs it once a spell).
    func take(_ key: Key) -> (taken: Bool, firstRefusal: Bool) {
        let limit = self.limit
        return table.withLock { table in
            var load = table[key, default: Load()]
            guard load.held < limit else {
                // Remembered only for a key that holds slots (a limit of 0 keeps nothing).
                if load.held > 0 { table[key]?.refusing = true }
                return (false, !load.refusing)
            }
            load.held += 1
            table[key] = load
            return (true, false)
        }
    }

    func release(_ key: Key) {
        table.withLock { table in
            guard var load = table[key], load.held > 1 else {
                table[key] = nil
                return
            }
            load.held -= 1
            load.refusing = false
            table[key] = load
        }
    }

}

extension ProxyCore {
    /// Whether a relay towards a next hop may start.
    enum RelayAdmission {
        /// Yes, holding `slot` of the limits until answered (nil: nothing limited it).
        case admitted(ReleaseOnce?)
        /// The source or the hop already holds its most unanswered relays (logged once a spell).
        case refused
    }

    struct HopKey: Hashable, Sendable {
        let transport: ListenTransport
        let address: SIPHostPort
    }

    struct SourceAtHopKey: Hashable, Sendable {
        let source: String
        let hop: HopKey
    }

    /// Takes a slot of the source's limit (`source`: its IP address, nil for a configured
    /// peer), of its share of the hop and of the hop's, all given back by the slot returned.
    func admitRelay(to hop: NextHop, from source: String?) -> RelayAdmission {
        // A configured peer (mutual TLS, `--peer`) carries many users' requests: not limited
        // as a hop. Matched by the name its certificate must carry, which a user's own
        // Contact cannot make another host present; any other hop, TLS or not, is limited.
        let isPeer = hop.transport == .tls && hop.tlsServerName.map { resolver.peers.peer(named: $0) != nil } == true
        let key = isPeer ? nil : HopKey(transport: hop.transport, address: hop.flowAddress ?? SIPHostPort(host: hop.host, port: hop.port))
        // One source's share of the hop comes before the hop, so that it cannot take it all.
        let share = source.flatMap { source in key.map { SourceAtHopKey(source: source, hop: $0) } }
        if let source, !take(inFlightPerSource, source, "relays refused: the source holds the most unanswered relayed requests it may",
                             ["sip.source": "\(source)"]) {
            return .refused
        }
        if let share, !take(inFlightPerSourceAtHop, share, "relays refused: the source holds its most unanswered requests towards this next hop",
                            ["sip.source": "\(share.source)", "sip.next_hop": "\(hop)"]) {
            if let source { inFlightPerSource.release(source) }
            return .refused
        }
        if let key, !take(inFlightPerHop, key, "relays refused: the next hop holds the most unanswered requests it may",
                          ["sip.next_hop": "\(hop)"]) {
            if let share { inFlightPerSourceAtHop.release(share) }
            if let source { inFlightPerSource.release(source) }
            return .refused
        }
        guard source != nil || key != nil else { return .admitted(nil) }
        return .admitted(ReleaseOnce { [self] in
            if let key { inFlightPerHop.release(key) }
            if let share { inFlightPerSourceAtHop.release(share) }
            if let source { inFlightPerSource.release(source) }
        })
    }

    /// Takes a slot of `limit` for `key`, logging `notice` on the first refusal of a spell.
    private func take<Key>(_ limit: InFlightLimit<Key>, _ key: Key, _ notice: Logger.Message, _ metadata: Logger.Metadata) -> Bool {
        let (taken, firstRefusal) = limit.take(key)
        if firstRefusal {
            logger.notice(notice, metadata: metadata.merging(["sip.max_in_flight": "\(limit.limit)"]) { a, _ in a })
        }
        return taken
    }
}
