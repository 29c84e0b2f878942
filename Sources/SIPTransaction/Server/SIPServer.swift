import Logging
import ServiceLifecycle
import SIPCore

/// The server assembly (issue 3 item 5) the roles reuse: listeners + transaction layer +
/// handlers, run as a swift-service-lifecycle `Service`.
///
/// Dispatch of a new request (one path): a handler registered for its method; else the
/// catch-all handler (a role's proxy core, whose policy answers OPTIONS, 405 and 501 as
/// steps); else the server answers itself: OPTIONS with 200 (Allow, Accept, Supported;
/// RFC 3261 §11.2), a known method with 405 and Allow (§21.4.6), an unknown one with 501
/// (§8.2.1, §21.5.2).
///
/// Graceful stop (`ServiceGroup` graceful shutdown or task cancellation): listeners close
/// first, in-flight transactions finish (bounded by `drainTimeout`), then the transport
/// closes.
public final class SIPServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var timers: TransactionTimerSettings
        /// `Accept` in our OPTIONS answer.
        public var accept: [String]
        /// `Supported` option tags in our OPTIONS answer.
        public var supported: [String]
        /// Longest wait for in-flight transactions on graceful stop.
        public var drainTimeout: Duration
        /// Caps on the transaction tables.
        public var limits: TransactionLayer.Limits
        /// Told of responses sent (the operator's counters); nil: none.
        public var observer: (any TransactionObserver)? = nil
        public init(timers: TransactionTimerSettings = .default, accept: [String] = ["application/sdp", "text/plain"],
                    supported: [String] = ["path", "outbound"], drainTimeout: Duration = .seconds(32),
                    limits: TransactionLayer.Limits = .init()) {
            self.timers = timers
            self.limits = limits
            self.accept = accept
            self.supported = supported
            self.drainTimeout = drainTimeout
        }
    }

    public let layer: TransactionLayer
    public let configuration: Configuration
    let transport: any SIPServerTransport
    let handlers: [SIPMethod: any SIPRequestHandler]
    let catchAll: (any SIPRequestHandler)?
    let logger: Logger
    let stopSignal = AsyncStream<Void>.makeStream()

    /// - Parameters:
    ///   - handlers: per method (e.g. `.register: registrar`).
    ///   - catchAll: gets every request without a per-method handler (a proxy core).
    public init(transport: any SIPServerTransport, configuration: Configuration = .init(),
                handlers: [SIPMethod: any SIPRequestHandler] = [:], catchAll: (any SIPRequestHandler)? = nil,
                logger: Logger = Logger(label: "sip.server"), now: (@Sendable () -> SIPInstant)? = nil) {
        self.transport = transport
        self.configuration = configuration
        self.handlers = handlers
        self.catchAll = catchAll
        self.logger = logger
        layer = TransactionLayer(transport: transport, settings: configuration.timers, limits: configuration.limits,
                                 logger: logger, now: now, observer: configuration.observer)
    }

    /// The methods in `Allow`: what we answer ourselves plus what handlers take.
    public var allowedMethods: [SIPMethod] {
        var methods: [SIPMethod] = [.options, .ack, .cancel]
        let extra = catchAll != nil ? [.invite, .bye, .register, .message, .subscribe, .notify, .publish, .info,
                                       .prack, .update, .refer] as [SIPMethod] : Array(handlers.keys)
        for method in extra.sorted(by: { $0.rawValue < $1.rawValue }) where !methods.contains(method) {
            methods.append(method)
        }
        return methods
    }

    /// Runs until `stop()`, a graceful shutdown of its `ServiceGroup`, or cancellation.
    ///
    /// Run to completion: the transport calls the layer on the event loop that read each
    /// message, the layer calls ``dispatch(_:)`` there, and the handler answers there. No
    /// task, actor hop or stream per message.
    public func run() async throws {
        let layer = self.layer
        let transport = self.transport
        layer.setUser { [weak self] event in self?.dispatch(event) }
        transport.onConnectionClosed { [weak layer] flowID in layer?.connectionClosed(flowID: flowID) }
        let scheduler = transport.timerScheduler
        if let scheduler { layer.setTimerScheduler(scheduler) }
        try await withThrowingDiscardingTaskGroup { group in
            if scheduler == nil { group.addTask { await layer.runTimers() } }
            group.addTask {
                try await transport.runInline { message, source in layer.receive(message, from: source) }
            }
            await self.waitForStop()
            // Graceful stop: listeners first, then in-flight transactions, then the rest.
            layer.beginShutdown()
            await transport.stopListening()
            await self.drain()
            await transport.shutdown()
            layer.finishEvents()
            group.cancelAll()
        }
    }

    /// Asks a running server to stop gracefully (as a `ServiceGroup` shutdown does).
    public func stop() {
        stopSignal.continuation.finish()
    }

    private func waitForStop() async {
        let signal = stopSignal.stream
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await gracefulShutdown() }
            group.addTask { for await _ in signal {} }
            await group.next()
            group.cancelAll()
        }
    }

    private func drain() async {
        if !(await layer.waitUntilNoneInFlight(timeout: configuration.drainTimeout)) {
            logger.warning("stopping with transactions still in flight")
        }
    }

    /// One TU event, handled synchronously on the caller's thread.
    public func dispatch(_ event: TransactionUserEvent) {
        switch event {
        case .request(let transaction):
            let method = transaction.request.method
            if let handler = handlers[method] {
                handler.handle(transaction)
            } else if let catchAll {
                catchAll.handle(transaction)
            } else if method == .options {
                answerOptions(transaction)
            } else {
                answerUnsupported(transaction)
            }
        case .cancel(let cancel, let invite):
            if let handler = handler(for: invite.request.method) {
                handler.handleCancel(cancel, for: invite)
            } else {
                try? invite.respond(487)
            }
        case .ack(let ack, let source, let invite):
            handler(for: .invite)?.handleACK(ack, source: source, invite: invite)
        case .strayResponse(let response, let source):
            catchAll?.handleStrayResponse(response, source: source)
        case .serverTransactionFailed(let transaction, let error):
            logger.debug("server transaction failed", metadata: ["sip.error": "\(error)"])
            handler(for: transaction.request.method)?.transactionFailed(transaction, error: error)
        }
    }

    /// OPTIONS "addressed to the server": no user part in the Request-URI, or our host.
    func isAddressedToUs(_ request: SIPRequest) -> Bool {
        guard let uri = request.uri.sipURI else { return false }
        return uri.user == nil || transport.localHosts.contains(uri.host.lowercased())
    }

    private func handler(for method: SIPMethod) -> (any SIPRequestHandler)? {
        handlers[method] ?? catchAll
    }

    private var allowHeader: String { allowedMethods.map(\.rawValue).joined(separator: ", ") }

    /// RFC 3261 §11.2: 200 with Allow, Accept, Supported.
    func answerOptions(_ transaction: ServerTransaction) {
        try? transaction.respond(200, headers: [
            ("Allow", allowHeader),
            ("Accept", configuration.accept.joined(separator: ", ")),
            ("Supported", configuration.supported.joined(separator: ", ")),
        ])
    }

    /// 405 with Allow for a method we know (§21.4.6), 501 for one we do not (§21.5.2).
    func answerUnsupported(_ transaction: ServerTransaction) {
        if transaction.request.method.isStandard {
            try? transaction.respond(405, headers: [("Allow", allowHeader)])
        } else {
            try? transaction.respond(501, headers: [("Allow", allowHeader)])
        }
    }
}
