import CoreMetrics
import Logging
import Metrics
import Prometheus
import SIPCore
import SIPTransaction

/// What the proxy core tells the operator's tools about requests (``ProxyCore/observer``).
public protocol RelayObserver: Sendable {
    /// A request arrived (a new server transaction, an ACK or a CANCEL).
    func received(_ method: SIPMethod)
    /// A request the policy forwarded got its final status upstream after `latency`.
    func relayed(_ request: SIPRequest, status: Int, latency: Duration)
}

/// The operator's counters (`--metrics`): swift-metrics counters, gauges and a timer, backed by
/// a swift-prometheus registry of their own (no global `MetricsSystem` bootstrap, so several
/// servers can share a process in tests). Every counter the hot path touches is made once at
/// start: an increment is a dictionary read of an immutable table and an atomic add, no lock.
/// Gauges that describe state (transactions in flight, the archive spool) are read when
/// Prometheus scrapes (the `refresh` of ``MetricsEndpoint``).
public final class ServerMetrics: TransactionObserver, RelayObserver, Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    static let methods: [SIPMethod] = [.invite, .ack, .bye, .cancel, .register, .options, .message, .subscribe,
                                       .notify, .publish, .info, .prack, .update, .refer]
    let requests: [SIPMethod: CoreMetrics.Counter]
    let otherRequests: CoreMetrics.Counter
    /// Responses sent, by status class (1xx ... 6xx).
    let responses: [CoreMetrics.Counter]
    let registrations: CoreMetrics.Counter
    let authFailures: CoreMetrics.Counter
    let shed: CoreMetrics.Counter
    let relayLatency: CoreMetrics.Timer
    let serverTransactions: CoreMetrics.Gauge
    let clientTransactions: CoreMetrics.Gauge
    let spoolDepth: CoreMetrics.Gauge
    let shippingLag: CoreMetrics.Gauge
    let archiveRefused: CoreMetrics.Gauge
    /// Open connections by transport (`tcp`, `tls`), read when scraped.
    let connections: [String: CoreMetrics.Gauge]
    /// Live subscriptions by kind: `presence` (RFC 3856 and winfo), `roaming` (LCS 2003
    /// self-subscriptions), `list` (RFC 4662 resource lists), `list_backend` (the list server's
    /// back-end subscriptions to members homed elsewhere), read when scraped.
    let subscriptions: [String: CoreMetrics.Gauge]
    /// Registered addresses-of-record and their bindings (contacts), read when scraped.
    let registeredAORs: CoreMetrics.Gauge
    let registeredBindings: CoreMetrics.Gauge

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                                   .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                                   .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
                                                   .seconds(5), .seconds(10), .seconds(32)]
        self.factory = factory
        var requests: [SIPMethod: CoreMetrics.Counter] = [:]
        for method in Self.methods {
            requests[method] = CoreMetrics.Counter(label: "sip_requests_total", dimensions: [("method", method.description)], factory: factory)
        }
        self.requests = requests
        otherRequests = CoreMetrics.Counter(label: "sip_requests_total", dimensions: [("method", "other")], factory: factory)
        responses = (1...6).map {
            CoreMetrics.Counter(label: "sip_responses_total", dimensions: [("status_class", "\($0)xx")], factory: factory)
        }
        registrations = CoreMetrics.Counter(label: "sip_registrations_total", factory: factory)
        authFailures = CoreMetrics.Counter(label: "sip_auth_failures_total", factory: factory)
        shed = CoreMetrics.Counter(label: "sip_shed_total", factory: factory)
        relayLatency = CoreMetrics.Timer(label: "sip_relay_latency_seconds", factory: factory)
        serverTransactions = CoreMetrics.Gauge(label: "sip_transactions_in_flight", dimensions: [("side", "server")], factory: factory)
        clientTransactions = CoreMetrics.Gauge(label: "sip_transactions_in_flight", dimensions: [("side", "client")], factory: factory)
        spoolDepth = CoreMetrics.Gauge(label: "sip_archive_spool_depth", factory: factory)
        shippingLag = CoreMetrics.Gauge(label: "sip_archive_shipping_lag_seconds", factory: factory)
        archiveRefused = CoreMetrics.Gauge(label: "sip_archive_refused", factory: factory)
        connections = Dictionary(uniqueKeysWithValues: ["tcp", "tls"].map {
            ($0, CoreMetrics.Gauge(label: "sip_connections", dimensions: [("transport", $0)], factory: factory))
        })
        subscriptions = Dictionary(uniqueKeysWithValues: ["presence", "roaming", "list", "list_backend"].map {
            ($0, CoreMetrics.Gauge(label: "sip_subscriptions", dimensions: [("kind", $0)], factory: factory))
        })
        registeredAORs = CoreMetrics.Gauge(label: "sip_registered_aors", factory: factory)
        registeredBindings = CoreMetrics.Gauge(label: "sip_registered_bindings", factory: factory)
    }

    // MARK: RelayObserver

    public func received(_ method: SIPMethod) {
        (requests[method] ?? otherRequests).increment()
    }

    public func relayed(_ request: SIPRequest, status: Int, latency: Duration) {
        relayLatency.recordNanoseconds(latency.nanoseconds)
    }

    // MARK: TransactionObserver

    public func responded(_ response: SIPResponse, to request: SIPRequest) {
        count(response.statusCode)
        let status = response.statusCode
        if request.method == .register, (200..<300).contains(status) { registrations.increment() }
        // A failed proof of identity: credentials given and refused (401/407 again, or 403).
        if status == 401 || status == 407 || status == 403,
           request.headers.first("Authorization") != nil || request.headers.first("Proxy-Authorization") != nil {
            authFailures.increment()
        }
    }

    public func rejectedStatelessly(_ response: SIPResponse) {
        count(response.statusCode)
    }

    private func count(_ status: Int) {
        let index = status / 100 - 1
        if index >= 0, index < responses.count { responses[index].increment() }
        if status == 503 { shed.increment() }
    }

    // MARK: Scrape

    /// Sets the state gauges, then returns the Prometheus text.
    public func render(refresh: () -> Void = {}) -> [UInt8] {
        refresh()
        return registry.emitToBuffer()
    }

    func setTransactions(server: Int, client: Int) {
        serverTransactions.record(server)
        clientTransactions.record(client)
    }

    /// The state gauges of connections (by transport), subscriptions (by kind) and registrations.
    func setState(connections counts: [String: Int], subscriptions kinds: [String: Int], aors: Int, bindings: Int) {
        for (transport, gauge) in connections { gauge.record(counts[transport] ?? 0) }
        for (kind, gauge) in subscriptions { gauge.record(kinds[kind] ?? 0) }
        registeredAORs.record(aors)
        registeredBindings.record(bindings)
    }

    func setArchive(depth: Int, lagSeconds: Double, refused: UInt64) {
        spoolDepth.record(depth)
        shippingLag.record(lagSeconds)
        archiveRefused.record(Double(refused))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// `--log-requests`: one `info` line per relayed request once its final status is known:
/// method, from, to, Call-ID, status, latency. Never bodies, never credentials.
public struct RequestLog: RelayObserver {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func received(_ method: SIPMethod) {}

    public func relayed(_ request: SIPRequest, status: Int, latency: Duration) {
        let ms = Double(latency.nanoseconds) / 1_000_000
        logger.info("relayed", metadata: [
            "sip.method": "\(request.method)",
            "sip.from": "\(Self.address(request.from))",
            "sip.to": "\(Self.address(request.to))",
            "sip.call_id": "\(request.callID ?? "-")",
            "sip.status": "\(status)",
            "sip.latency_ms": "\((ms * 1000).rounded() / 1000)",
        ])
    }
}

extension RequestLog {
    /// The URI of a From or To, without a password (RFC 3261 §19.1.1 allows one; never logged).
    static func address(_ nameAddr: NameAddr?) -> String {
        guard let nameAddr else { return "-" }
        guard var sip = nameAddr.uri.sipURI else { return "\(nameAddr.uri)" }
        sip.password = nil
        return "\(sip)"
    }
}

/// Several observers as one.
struct RelayObservers: RelayObserver {
    let all: [any RelayObserver]

    func received(_ method: SIPMethod) { for o in all { o.received(method) } }

    func relayed(_ request: SIPRequest, status: Int, latency: Duration) {
        for o in all { o.relayed(request, status: status, latency: latency) }
    }
}
