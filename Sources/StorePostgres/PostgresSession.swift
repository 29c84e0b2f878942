import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Store

/// One PostgreSQL connection, opened on first use and opened afresh on the next use after it
/// failed: no pool and so no pool back-off (postgres-nio's pool waits up to a minute between
/// attempts once the database was down), which keeps a server's periodic refresh and
/// `sipctl` quick to notice a database that is back. Operations run one at a time (a
/// transaction owns the connection while it runs). Used at the edges only (start, refresh,
/// `sipctl`), never per SIP message.
public actor PostgresSession {
    /// The URL without its password, for logs and errors.
    public nonisolated let location: String
    /// What the database is to the operator (`directory`, `archive`), for errors.
    public nonisolated let role: String
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    private var connection: PostgresConnection?
    private var connections = 0
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// - Throws: `.invalidValue` for a URL that is not `postgres(ql)://USER[:PASS]@HOST[:PORT]/DB`.
    public init(url: String, role: String, connectTimeout: Duration = .seconds(3),
                logger: Logger) throws(StoreError) {
        guard let components = URLComponents(string: url), ["postgresql", "postgres"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty else {
            throw StoreError(.invalidValue, "bad \(role) URL (expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let port = components.port ?? 5432
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        let (seconds, attoseconds) = connectTimeout.components
        configuration.options.connectTimeout = .milliseconds(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        self.configuration = configuration
        self.logger = logger
        self.role = role
        location = "postgresql://\(user)@\(host):\(port)/\(database)"
    }

    /// Runs `body` on the connection (opening it if needed), alone. A failure that is not the
    /// server's answer to a statement (refused, reset, closed) drops the connection, so the
    /// next call connects again; every failure becomes a one-line `StoreError`.
    public func run<T: Sendable>(_ what: String,
                                 _ body: @Sendable (PostgresConnection) async throws -> T) async throws(StoreError) -> T {
        await acquire()
        defer { release() }
        let connection: PostgresConnection
        do {
            connection = try await connected()
        } catch {
            throw StoreError(.unavailable, "\(role) \(location) unreachable: \(Self.describe(error))", status: 500)
        }
        do {
            return try await body(connection)
        } catch let error as StoreError {
            throw error
        } catch {
            let server = Self.serverError(error)
            if server == nil { drop() }
            if server?.sqlState == "23505" {  // unique_violation
                throw StoreError(.duplicateUser, "\(what): \(server?.message ?? "exists already")")
            }
            throw StoreError(.unavailable, "\(what) in \(location): \(Self.describe(error))", status: 500)
        }
    }

    /// Closes the connection (the next ``run(_:_:)`` opens another).
    public func close() async {
        let old = connection
        connection = nil
        try? await old?.close()
    }

    private func connected() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connections += 1
        let fresh = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: connections,
            logger: logger).get()
        connection = fresh
        return fresh
    }

    private func drop() {
        guard let old = connection else { return }
        connection = nil
        Task { try? await old.close() }
    }

    private func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }

    /// The server's SQLSTATE and message when `error` is the server's answer to a statement
    /// (possibly inside a transaction).
    static func serverError(_ error: any Error) -> (sqlState: String?, message: String?)? {
        if let error = error as? PSQLError, let info = error.serverInfo {
            return (info[.sqlState], info[.message])
        }
        if let error = error as? PostgresTransactionError {
            for inner in [error.closureError, error.beginError, error.commitError].compactMap({ $0 }) {
                if let found = serverError(inner) { return found }
            }
        }
        return nil
    }

    /// A connection failure as an operator reads it: `connection refused`, `no answer within 3 s`.
    static func plain(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if let last = error.connectionErrors.last { return plain(last.error) }
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve the host: \(dns)" }
            return "cannot connect"
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        if let error = error as? ChannelError, case .connectTimeout(let timeout) = error {
            return "no answer within \(timeout.nanoseconds / 1_000_000) ms"
        }
        return "\(error)"
    }

    /// A PostgreSQL error in one line (postgres-nio hides the server's message from `description`).
    public static func describe(_ error: any Error) -> String {
        if let server = serverError(error), let message = server.message { return message }
        if let error = error as? PSQLError {
            if let underlying = error.underlying { return plain(underlying) }
            return "\(error.code)"
        }
        if error is NIOConnectionError || error is IOError || error is ChannelError { return plain(error) }
        if let error = error as? PostgresTransactionError {
            for inner in [error.closureError, error.beginError, error.commitError].compactMap({ $0 }) {
                return describe(inner)
            }
        }
        return "\(error)"
    }
}
