import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `--metrics HOST:PORT`: a Hummingbird 2 HTTP server with two routes. `GET /metrics`: the
/// Prometheus text of ``ServerMetrics`` (state gauges refreshed first). `GET /health`: 200
/// `ok` when the listeners, the store and (with `--archive`) the archive spool and database
/// are up, else 503 with one line per problem.
public final class MetricsEndpoint: Sendable {
    let host: String
    let port: Int
    let metrics: ServerMetrics
    /// Sets the state gauges before a scrape.
    let refresh: @Sendable () async -> Void
    /// What is wrong, one line each; empty when healthy.
    let problems: @Sendable () async -> [String]
    let logger: Logger
    /// The bound port once the server runs (the system's choice for port 0).
    let bound = Mutex<Int?>(nil)

    public init(host: String, port: Int, metrics: ServerMetrics, refresh: @escaping @Sendable () async -> Void,
         problems: @escaping @Sendable () async -> [String], logger: Logger) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.refresh = refresh
        self.problems = problems
        self.logger = logger
    }

    /// Serves until cancelled or the graceful shutdown of the enclosing service group.
    public func run() async throws {
        let router = Router()
        let metrics = self.metrics, refresh = self.refresh, problems = self.problems
        router.get("metrics") { _, _ -> Response in
            await refresh()
            let text = metrics.registry.emitToBuffer()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
        router.get("health") { _, _ -> Response in
            let found = await problems()
            let text = found.isEmpty ? "ok\n" : found.joined(separator: "\n") + "\n"
            return Response(status: found.isEmpty ? .ok : .serviceUnavailable,
                            headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? self.port
                bound.withLock { $0 = port }
                logger.info("metrics endpoint up", metadata: ["http.address": "\(host):\(port)"])
            },
            logger: logger)
        try await app.run()
    }

    /// The bound port, waiting up to `timeout` for the server to bind.
    public func boundPort(timeout: Duration = .seconds(10)) async -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let port = bound.withLock({ $0 }) { return port }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}
