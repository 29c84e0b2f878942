import Archive
import Logging
import SIPTransaction
import Store

/// The operator's endpoint wired to the assembled server (`--metrics`).
enum Operations {
    static func endpoint(_ address: ListenAddress, metrics: ServerMetrics, layer: TransactionLayer, store: SQLiteStore,
                         archiving: Archiving?, logger: Logger) -> MetricsEndpoint {
        MetricsEndpoint(
            host: address.host, port: address.port, metrics: metrics,
            refresh: {
                let counts = layer.transactionCounts
                metrics.setTransactions(server: counts.server, client: counts.client)
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
