import Archive
import Logging
import NIOCore
import NIOPosix
import Presence
import Registrar
import SIPDialog
import ServiceLifecycle
import SIPTransaction
import SIPTransport
import Store
import StorePostgres

/// What the assembly has built when it asks a role for its policy: who the server is, the
/// embedded store with its in-memory directory and location table, the registrar, and the
/// digest authenticator (nil with `--auth off`).
public struct RoleServices: Sendable {
    public let settings: ServerSettings
    public let identity: ProxyIdentity
    public let store: SQLiteStore
    public let directory: UserDirectory
    public let table: LocationTable
    /// The registrar behind a `local-server` step (authenticates REGISTER itself when on).
    public let registrar: RegistrarAdapter
    /// The location service over `directory` and `table`.
    public let location: StoreLocationService
    /// Digest authentication of other requests (407); nil when authentication is off.
    public let authenticator: DigestRequestAuthenticator?
    /// The presence agent of the users homed here (a role that homes nobody leaves it out
    /// of its policy).
    public let presence: PresenceAgent
    /// LCS 2003 roaming contact lists, access lists over SOAP, directory search.
    public let roaming: RoamingAgent
    public let logger: Logger
    /// The known servers of the mesh (`--peer`), the trust domain.
    public let peers: PeerTable
    /// Sends requests the server itself originates (an automatic reply) to the registered
    /// devices of a user homed here; attached to the transaction layer before the server
    /// routes its first request.
    public let originator: RequestOriginator
    /// Which server each user is homed on (the directory's home-server column).
    public var homes: DirectoryHomeLookup { DirectoryHomeLookup(directory: directory) }

    /// `--archive`: the archive agent, spool and shipper; nil when archiving is off.
    public var archiving: Archiving? = nil

    /// The archive step (`--archive`), for a policy to put near the front of its chain
    /// (after validation); nil when archiving is off.
    public var archiveStep: ArchiveStep? { archiving?.step }
}

/// Given the assembled services, the role's routing policy (ARCHITECTURE.md: "a role
/// executable is its policy choice and nothing else").
public typealias PolicyFactory = @Sendable (RoleServices) throws -> any RoutingPolicy

/// The one server assembly every role uses: the embedded store, the listeners, the
/// transaction layer (`SIPServer`) and the stateful proxy core running the policy the role's
/// factory returns. A swift-service-lifecycle `Service`: `run()` serves until graceful
/// shutdown (listeners close, in-flight transactions finish) or cancellation.
public final class RoleServer: Service, Sendable {
    /// The bound listeners (ports the system chose for port 0 included).
    public let listeners: [ListenAddress]
    public let identity: ProxyIdentity
    public let policy: any RoutingPolicy
    let server: SIPServer
    let store: SQLiteStore
    let directory: UserDirectory
    let table: LocationTable
    /// The presence agent, its journal (write-behind to the store) and access lists.
    public let presence: PresenceAgent
    public let roaming: RoamingAgent
    let journal: PresenceJournal
    /// `--archive`: the agent, spool and shipper; nil when off.
    public let archiving: Archiving?
    /// `--metrics`: the HTTP endpoint; nil when off.
    let metricsEndpoint: MetricsEndpoint?
    /// RFC 3263 lookups for next hops that are no peer; its socket closes when `run` ends.
    let dns: DNSResolver
    /// `--directory`: the shared PostgreSQL directory; nil for the embedded one.
    let sharedDirectory: PostgresDirectory?
    let logger: Logger

    init(listeners: [ListenAddress], identity: ProxyIdentity, policy: any RoutingPolicy, server: SIPServer,
         store: SQLiteStore, directory: UserDirectory, table: LocationTable, presence: PresenceAgent,
         roaming: RoamingAgent, journal: PresenceJournal, archiving: Archiving?, metrics: MetricsEndpoint?,
         dns: DNSResolver, sharedDirectory: PostgresDirectory?, logger: Logger) {
        self.dns = dns
        self.sharedDirectory = sharedDirectory
        self.archiving = archiving
        self.metricsEndpoint = metrics
        self.presence = presence
        self.roaming = roaming
        self.journal = journal
        self.listeners = listeners
        self.identity = identity
        self.policy = policy
        self.server = server
        self.store = store
        self.directory = directory
        self.table = table
        self.logger = logger
    }

    /// Opens the store, binds the listeners, asks `policy` for the routing policy and wires
    /// the proxy core to the transaction layer; throws (with a one-line reason) when it
    /// cannot: store unusable, port taken, unreadable certificate, a policy that fails.
    /// - Parameters:
    ///   - settings: the resolved settings (data folder, domains, listeners, TLS, auth...).
    ///   - logger: the server's logger (the libraries log through it).
    ///   - drainTimeout: the longest a graceful stop waits for in-flight transactions.
    ///   - makePolicy: the role's routing policy over the assembled services
    ///     (``HomeServerRole/policy`` for a home server).
    public static func start(settings: ServerSettings, logger: Logger, drainTimeout: Duration = .seconds(32),
                             policy makePolicy: PolicyFactory) async throws -> RoleServer {
        if !settings.authentication {
            logger.warning("AUTHENTICATION IS OFF (--auth off): anyone can register as any user and relay through this server; use only in closed labs and benchmarks")
        }
        let store: SQLiteStore
        var configuration = SQLiteStore.Configuration()
        configuration.usersElsewhere = settings.directory != nil
        do {
            store = try SQLiteStore(directory: settings.dataDirectory, configuration: configuration, logger: logger)
        } catch {
            throw RolesError(.startupFailed, "cannot open the store in \(settings.dataDirectory): \(error)")
        }
        var shared: PostgresDirectory?
        do {
            shared = try await SharedDirectory.open(settings: settings, logger: logger)
            return try await assemble(settings: settings, store: store, shared: shared, logger: logger,
                                      drainTimeout: drainTimeout, makePolicy: makePolicy)
        } catch {
            try? store.close()
            await shared?.close()
            throw error
        }
    }

    static func assemble(settings: ServerSettings, store: SQLiteStore, shared: PostgresDirectory?, logger: Logger,
                         drainTimeout: Duration, makePolicy: PolicyFactory) async throws -> RoleServer {
        // Users and access lists: the shared directory (`--directory`) or the embedded store.
        let users: any SharedDirectoryStore = shared ?? store
        let directory = try await UserDirectory.load(from: users, logger: logger)
        let table = try await LocationTable.load(from: store, logger: logger)

        let tls: SIPTLSSettings?
        do {
            tls = try settings.tlsSettings()
        } catch {
            throw RolesError(.startupFailed, "cannot load the certificate or key: \(error)")
        }
        let transportLayer = try SIPTransportLayer(configuration: SIPTransportConfiguration(tls: tls))
        let specs = settings.effectiveListen.map {
            ListenSpec(transport: $0.transport, host: $0.host, port: $0.port,
                       requiresClientCertificate: $0.requiresClientCertificate)
        }
        let adapter = SIPTransportAdapter(transportLayer: transportLayer, listen: specs)
        let bound: [SIPListener]
        do {
            bound = try await adapter.start()
        } catch {
            await transportLayer.shutdown()
            throw RolesError(.startupFailed, "cannot listen: \(error)")
        }
        let listeners = bound.map {
            ListenAddress(transport: $0.spec.transport, host: $0.spec.host, port: $0.port,
                          requiresClientCertificate: $0.spec.requiresClientCertificate)
        }
        // ms-benotify: LCS clients' best-effort NOTIFY; they are answered with plain NOTIFYs.
        let identity = ProxyIdentity(serverName: settings.serverName, domains: settings.domains, listeners: listeners,
                                     supportedProxyRequire: ["ms-benotify"])
        let domains = Set(settings.domains)
        var registration = Registrar.Configuration(domains: domains)
        registration.allowEvents = RoamingAgent.allowEvents
        let registrar = Registrar(location: table, directory: directory, configuration: registration, logger: logger)
        // Offered in the configured order (ServerSettings.digestAlgorithms: MD5 alone by
        // default, since sipp and sipsak answer only the first challenge and know only MD5).
        var digest = DigestAuthenticator.Configuration(domains: domains)
        digest.algorithms = settings.digestAlgorithms.compactMap { DigestAlgorithm(token: $0) }
        let authenticator = settings.authentication
            ? DigestAuthenticator(directory: directory, configuration: digest, logger: logger)
            : nil
        let journal = PresenceJournal(store: store, logger: logger)
        let presence = try await makePresenceAgent(identity: identity, store: store, access: users, directory: directory,
                                                   table: table,
                                                   journal: journal, authentication: settings.authentication,
                                                   logger: logger)
        let roaming = try await makeRoamingAgent(identity: identity, store: store, shared: shared, directory: directory,
                                                 presence: presence, journal: journal,
                                                 authentication: settings.authentication,
                                                 logger: logger)
        let archiving: Archiving?
        do {
            archiving = try Archiving.open(settings: settings, logger: logger)
        } catch {
            await adapter.stopListening()
            await transportLayer.shutdown()
            throw error
        }
        var services = RoleServices(
            settings: settings, identity: identity, store: store, directory: directory, table: table,
            registrar: RegistrarAdapter(registrar: registrar, authenticator: authenticator,
                                        bindingsChanged: { [presence] aor in presence.registrationChanged(aor) }),
            location: StoreLocationService(directory: directory, table: table),
            authenticator: authenticator.map { DigestRequestAuthenticator($0) }, presence: presence, roaming: roaming,
            logger: logger, peers: PeerTable(settings.peers),
            originator: RequestOriginator(location: StoreLocationService(directory: directory, table: table),
                                          identity: identity, logger: logger))
        services.archiving = archiving
        let policy: any RoutingPolicy
        do {
            policy = try makePolicy(services)
        } catch {
            archiving?.close()
            await adapter.stopListening()
            await transportLayer.shutdown()
            throw error
        }
        let metrics = settings.metrics == nil ? nil : ServerMetrics()
        var observers: [any RelayObserver] = []
        if let metrics { observers.append(metrics) }
        if settings.logRequests { observers.append(RequestLog(logger: logger)) }
        let nameservers = settings.dnsServers.compactMap { try? SocketAddress(ipAddress: $0.host, port: $0.port) }
        let dns = DNSResolver(configuration: nameservers.isEmpty ? .system() : DNSResolverConfiguration(nameservers: nameservers),
                              eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        let proxy = ProxyCore(policy: policy, identity: identity, logger: logger,
                              observer: observers.isEmpty ? nil : RelayObservers(all: observers),
                              resolver: NextHopResolver(peers: services.peers, locator: SIPServerLocator(resolver: dns)))
        // A presence fan-out (one PUBLISH, a NOTIFY to each watcher) keeps many client
        // transactions open at once; a full table defers NOTIFYs (their latest state goes
        // out a second later), so the client side gets four times the default room.
        var limits = TransactionLayer.Limits()
        limits.maxClientTransactions = 262_144
        var configuration = SIPServer.Configuration(drainTimeout: drainTimeout, limits: limits)
        configuration.observer = metrics
        let server = SIPServer(transport: adapter, configuration: configuration, catchAll: proxy, logger: logger)
        proxy.attach(server.layer)
        services.originator.attach(server.layer)
        presence.attach(server.layer)
        roaming.attach(server.layer)
        roaming.attachBackEnds(listBackEndRouting(policy: policy, proxy: proxy, homes: services.homes))
        let endpoint = metrics.flatMap { metrics in
            settings.metrics.map { address in
                Operations.endpoint(address, metrics: metrics, layer: server.layer, store: store,
                                    state: Operations.State(transport: transportLayer, table: table, presence: presence,
                                                            roaming: roaming),
                                    archiving: archiving, logger: logger)
            }
        }
        return RoleServer(listeners: listeners, identity: identity, policy: policy, server: server, store: store,
                          directory: directory, table: table, presence: presence, roaming: roaming, journal: journal,
                          archiving: archiving, metrics: endpoint, dns: dns, sharedDirectory: shared, logger: logger)
    }

    /// The presence agent over the store's in-memory tables, its state restored.
    static func makePresenceAgent(identity: ProxyIdentity, store: SQLiteStore, access accessStore: any AccessListStore,
                                  directory: UserDirectory,
                                  table: LocationTable, journal: PresenceJournal, authentication: Bool,
                                  logger: Logger) async throws -> PresenceAgent {
        let serverName = identity.serverName
        let environment = PresenceAgent.Environment(
            isLocalUser: { aor in
                guard let user = directory.cachedUser(aor), user.enabled else { return false }
                return user.homeServer == nil || user.homeServer == serverName
            },
            registeredContacts: { aor in table.lookup(aor).map(\.contact) },
            registeredFlow: { aor, uri in
                let bindings = table.lookup(aor)
                guard !bindings.isEmpty else { return nil }
                let contact = uri.description
                guard let flow = bindings.first(where: { $0.contact == contact })?.flow,
                      let id = StoreLocationService.flowID(flow),
                      let address = StoreLocationService.flowAddress(flow) else { return nil }
                return (id, address)
            },
            contactURI: { transport in
                let host = identity.advertisedHost(for: transport)
                let h = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
                let port = identity.advertisedPort(for: transport)
                switch transport {
                case .udp: return "sip:\(h):\(port)"
                case .tcp: return "sip:\(h):\(port);transport=tcp"
                case .tls: return "sips:\(h):\(port)"
                }
            })
        do {
            let access = try await AccessLists.load(from: accessStore, logger: logger)
            var configuration = PresenceAgent.Configuration()
            configuration.authenticationRequired = authentication
            let agent = PresenceAgent(configuration: configuration, environment: environment, access: access,
                                      journal: journal, logger: logger)
            try await agent.restore(from: store)
            return agent
        } catch {
            throw RolesError(.startupFailed, "cannot load the presence state: \(error)")
        }
    }

    /// `--metrics`: the HTTP endpoint's bound port once it runs (nil when off, or not bound
    /// within `timeout`).
    public func metricsPort(timeout: Duration = .seconds(10)) async -> Int? {
        await metricsEndpoint?.boundPort(timeout: timeout)
    }

    /// The bound port of the first listener of `transport`.
    public func port(_ transport: ListenTransport) -> Int? {
        listeners.first { $0.transport == transport }?.port
    }

    /// Serves until graceful shutdown (listeners close, in-flight transactions finish) or
    /// cancellation; keeps the directory fresh and purges expired bindings meanwhile.
    public func run() async throws {
        let directory = self.directory
        let table = self.table
        let presence = self.presence
        let journal = self.journal
        let archiving = self.archiving
        let logger = self.logger
        // A shared directory is changed by other servers and `sipctl` elsewhere: checked every second.
        let refresh: Duration = sharedDirectory == nil ? .seconds(2) : .seconds(1)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await directory.runRefresher(every: refresh) }
            group.addTask { await table.runPurger() }
            group.addTask { await presence.run() }
            group.addTask { [roaming] in await roaming.run() }
            group.addTask { await journal.run() }  // flushes what is left when cancelled
            if let archiving { group.addTask { await archiving.run() } }  // likewise
            if let endpoint = metricsEndpoint {
                group.addTask {
                    do { try await endpoint.run() } catch { logger.error("metrics endpoint failed: \(error)") }
                }
            }
            try await server.run()
            group.cancelAll()
        }
        archiving?.close()
        try? await dns.shutdown()
        try? store.close()
        await sharedDirectory?.close()
        logger.info("server stopped")
    }

    /// Stops the server as a graceful shutdown would.
    public func stop() {
        server.stop()
    }
}

extension ServerSettings {
    /// `--tls-cert`/`--tls-key`/`--tls-ca` loaded (nil without a certificate). Users connect
    /// without certificates; peer servers' certificates, when presented, must chain to the CA.
    func tlsSettings() throws -> SIPTLSSettings? {
        guard let cert = tlsCertificate, let key = tlsKey else { return nil }
        return try SIPTLSSettings(certificateChainPEMFile: cert, privateKeyPEMFile: key, trustRootsPEMFile: tlsCA,
                                  clientCertificates: tlsCA == nil ? .none : .optional)
    }
}
