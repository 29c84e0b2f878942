import Archive
import Logging
import Presence
import SIPTransaction
import SIPTransport
import Store

/// The operator's endpoint wired to the assembled server (`--metrics`).
enum Operations {
    /// The state the gauges show, read when Prometheus scrapes (never per message).
    struct State: Sendable {
        let transport: SIPTransportLayer
        let table: LocationTable
        let presence: PresenceAgent
        let roaming: RoamingAgent
    }

    static func endpoint(_ address: ListenAddress, metrics: ServerMetrics, layer: TransactionLayer, store: SQLiteStore,
                         state: State, archiving: Archiving?, logger: Logger) -> MetricsEndpoint {
        MetricsEndpoint(
            host: address.host, port: address.port, metrics: metrics,
            refresh: {
                let counts = layer.transactionCounts
                metrics.setTransactions(server: counts.server, client: counts.client)
                let connections = state.transport.connectionCounts
                let roaming = state.roaming.subscriptionCounts
                metrics.setState(
                    connections: Dictionary(uniqueKeysWithValues: connections.map { ($0.key.rawValue, $0.value) }),
                    subscriptions: ["presence": state.presence.counts.subscriptions,
                                    "roaming": roaming.roaming, "list": roaming.lists,
                                    "list_backend": state.roaming.backEndCount],
                    aors: state.table.aorCount, bindings: state.table.bindingCount)
                if let archiving {
                    let backlog = archiving.shipper.backlog
                    metrics.setArchive(depth: backlog.depth + archiving.agent.pendingCount, lagSeconds: backlog.lagSeconds,
                                       refused: archiving.agent.counts.refused)
                }
            },
            problems: {
                var problems: [String] = []
                do throws(StoreError) {
                    _ = try await store.user("health-check@invalid")
                } catch {
                    problems.append("store: \(error.reason)")
                }
                if let archiving { problems += await archiving.problems() }
                return problems
            },
            logger: logger)
    }
}
