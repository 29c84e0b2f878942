import Logging
import NIOCore
import SIPCore
import SIPDialog
import SIPTransaction
import SIPTransport
import Synchronization

/// The user agent's SIP stack: the same transport layer (SIPTransport), transaction layer
/// (SIPTransaction) and transport adapter the servers run, with one UDP listener (and a TCP
/// listener when the proxy is reached over TCP) on an ephemeral port.
///
/// Run to completion as in the servers: the transport hands each message to the transaction
/// layer on the event loop that read it, and the layer hands new requests to `dispatch`
/// there. Client transactions use the layer's callback form.
final class UserAgentStack: Sendable {
    let transportLayer: SIPTransportLayer
    let adapter: SIPTransportAdapter
    let layer: TransactionLayer
    /// Where every request goes (RFC 3261 §8.1.2: the outbound proxy).
    let proxy: SIPDestination
    let logger: Logger
    private let runner = Mutex<Task<Void, Never>?>(nil)

    init(account: SIPAccount, logger: Logger) throws(SIPUserAgentError) {
        guard let uri = URI(account.outboundProxy), let resolved = DialogDestination.resolve(uri) else {
            throw .invalidArgument("outbound proxy '\(account.outboundProxy)' is not a SIP URI")
        }
        proxy = try Self.numeric(resolved)
        self.logger = logger
        let loopback = proxy.address.host.hasPrefix("127.") || proxy.address.host == "::1"
        let host = account.localHost ?? (loopback ? "127.0.0.1" : "0.0.0.0")
        var specs = [ListenSpec(transport: .udp, host: host, port: 0)]
        if proxy.transport == .tcp { specs.append(ListenSpec(transport: .tcp, host: host, port: 0)) }
        do {
            transportLayer = try SIPTransportLayer(configuration: SIPTransportConfiguration(tls: account.tls), logger: logger)
        } catch {
            throw .invalidArgument("transport settings: \(error)")
        }
        adapter = SIPTransportAdapter(transportLayer: transportLayer, listen: specs)
        layer = TransactionLayer(transport: adapter, logger: logger)
    }

    /// The proxy's host as an IP address (the transport sends to numeric destinations only).
    static func numeric(_ destination: SIPDestination) throws(SIPUserAgentError) -> SIPDestination {
        var destination = destination
        if destination.address.host == "localhost" { destination.address.host = "127.0.0.1" }
        if (try? SocketAddress(ipAddress: destination.address.host, port: destination.address.port)) != nil { return destination }
        guard let resolved = try? SocketAddress.makeAddressResolvingHost(destination.address.host, port: destination.address.port),
              let ip = resolved.ipAddress else {
            throw .invalidArgument("cannot resolve outbound proxy host '\(destination.address.host)'")
        }
        if destination.transport == .tls, destination.tlsServerName == nil { destination.tlsServerName = destination.address.host }
        destination.address.host = ip
        return destination
    }

    /// Binds the listeners and starts delivering: new requests and other TU events go to
    /// `dispatch`, closed connections to `connectionClosed` (after the layer has failed the
    /// transactions waiting on them, RFC 3261 §17.1.4). Returns the bound listeners.
    func start(dispatch: @escaping @Sendable (TransactionUserEvent) -> Void,
               connectionClosed: @escaping @Sendable (UInt64) -> Void) async throws(SIPUserAgentError) -> [SIPListener] {
        let listeners: [SIPListener]
        do {
            listeners = try await adapter.start()
        } catch {
            throw .transport("cannot bind the user agent's sockets: \(error)")
        }
        let layer = self.layer
        layer.setUser(dispatch)
        adapter.onConnectionClosed { flowID in
            layer.connectionClosed(flowID: flowID)
            connectionClosed(flowID)
        }
        if let scheduler = adapter.timerScheduler { layer.setTimerScheduler(scheduler) }
        let adapter = self.adapter
        let task = Task<Void, Never> {
            try? await adapter.runInline { message, source in layer.receive(message, from: source) }
        }
        runner.withLock { $0 = task }
        return listeners
    }

    /// Closes the sockets and ends the delivery task.
    func shutdown() async {
        await adapter.shutdown()
        let task = runner.withLock { task -> Task<Void, Never>? in defer { task = nil }; return task }
        await task?.value
        layer.finishEvents()
    }

    /// Starts a client transaction for `request` towards the proxy and calls `completion`
    /// once, on the thread that saw it, with the final response or the failure (RFC 3261
    /// §8.1.3: Timer B/F as ``SIPUserAgentError/timeout``, a transport error as
    /// ``SIPUserAgentError/transport(_:)``). Provisional responses are skipped.
    func transact(_ request: SIPRequest, completion: @escaping @Sendable (Result<SIPResponse, SIPUserAgentError>) -> Void) {
        let done = Mutex(false)
        let finish: @Sendable (Result<SIPResponse, SIPUserAgentError>) -> Void = { result in
            let first = done.withLock { fired in defer { fired = true }; return !fired }
            if first { completion(result) }
        }
        do {
            try layer.start(request, to: proxy) { report in
                switch report {
                case .outcome(.response(let response)) where response.statusCode >= 200:
                    finish(.success(response))
                case .outcome(.response):
                    break
                case .outcome(.failed(let error)):
                    finish(.failure(error.code == .timeout ? .timeout : .transport(error.reason)))
                case .terminated:
                    finish(.failure(.transport("the transaction ended without a final response")))
                }
            }
        } catch {
            finish(.failure(error.status == 503 ? .transport(error.reason) : .invalidArgument(error.reason)))
        }
    }

    /// The Contact host and port for our requests: the listener of the proxy's transport.
    func contactAddress(_ listeners: [SIPListener]) -> SIPHostPort {
        let kind: SIPTransportKind = proxy.transport == .tcp ? .tcp : .udp
        let listener = listeners.first { $0.spec.transport == kind } ?? listeners.first
        return SIPHostPort(host: listener?.localAddress.ipAddress ?? "127.0.0.1", port: listener?.port ?? 0)
    }
}
