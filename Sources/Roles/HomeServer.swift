import Logging
import ServiceLifecycle

/// The home server assembled (ARCHITECTURE.md "Home server"): the one `RoleServer` assembly
/// running the home-server policy (registrar, digest authentication, stateful proxy).
/// Kept as a convenience for tests and package users; `home-server` itself runs
/// `RoleMain.run(HomeServerRole.self)`.
public final class HomeServer: Service, Sendable {
    public let server: RoleServer
    /// The bound listeners (ports the system chose for port 0 included).
    public var listeners: [ListenAddress] { server.listeners }
    public var identity: ProxyIdentity { server.identity }

    init(server: RoleServer) { self.server = server }

    /// Opens the store and binds the listeners; throws (with a one-line reason) when it
    /// cannot: store unusable, port taken, unreadable certificate.
    /// - Parameters:
    ///   - settings: the resolved settings (data folder, domains, listeners, TLS, auth...).
    ///   - logger: the server's logger.
    ///   - drainTimeout: the longest a graceful stop waits for in-flight transactions.
    public static func start(settings: ServerSettings, logger: Logger,
                             drainTimeout: Duration = .seconds(32)) async throws -> HomeServer {
        HomeServer(server: try await RoleServer.start(settings: settings, logger: logger, drainTimeout: drainTimeout,
                                                      policy: HomeServerRole.policy))
    }

    /// The bound port of the first listener of `transport`.
    public func port(_ transport: ListenTransport) -> Int? { server.port(transport) }

    /// Serves until graceful shutdown or cancellation.
    public func run() async throws { try await server.run() }

    /// Stops the server as a graceful shutdown would.
    public func stop() { server.stop() }
}
