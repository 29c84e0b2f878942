import ArgumentParser
import Configuration

/// A server role (ARCHITECTURE.md "The system"): its name, its help, its own options and
/// the routing policy it installs. Everything else (shared options, settings, store,
/// listeners, transactions, logging, shutdown) is `RoleMain` and `RoleServer`. A role's
/// executable is a `main.swift` of a few lines:
///
/// ```swift
/// import Roles
/// RoleMain.useOneMallocArena()  // before any other thread exists
/// await RoleMain.run(HomeServerRole.self)
/// ```
public protocol ServerRole: SendableMetatype {
    /// The role's own command-line options (`--route` for a forwarding proxy, `--mode` for
    /// a front-end), shown after the shared ones in `--help`.
    associatedtype Options: ParsableArguments & Sendable = NoRoleOptions

    /// The executable's name (`home-server`), also the prefix of its error lines.
    static var commandName: String { get }
    /// One line for `--help`.
    static var abstract: String { get }
    /// More `--help` text about the role (the shared options' text follows it).
    static var discussion: String { get }
    /// Keys of the role's own settings that the config file and `SIP_*` variables may hold.
    static var settingKeys: Set<String> { get }
    /// Those of `settingKeys` that take several values.
    static var repeatableKeys: Set<String> { get }
    /// The role's options given on the command line, by setting key (the highest precedence).
    static func commandLineValues(_ options: Options) -> [String: [String]]
    /// `--demo` also runs the demo watcher (alice watches bob's presence over SIP): roles
    /// that are a presence agent.
    static var demoWatchesPresence: Bool { get }

    /// The routing policy over the assembled services. `config` reads the role's own keys
    /// with the shared precedence (command line, environment, file).
    static func makePolicy(_ services: RoleServices, options: Options, config: ConfigReader) throws -> any RoutingPolicy
}

extension ServerRole {
    public static var discussion: String { "" }
    public static var settingKeys: Set<String> { [] }
    public static var repeatableKeys: Set<String> { [] }
    public static func commandLineValues(_ options: Options) -> [String: [String]] { [:] }
    public static var demoWatchesPresence: Bool { false }
}

/// A role without options of its own.
public struct NoRoleOptions: ParsableArguments, Sendable {
    public init() {}
}

/// The command every role's executable parses: the shared `ServerOptions`, then the role's.
public struct RoleCommand<Role: ServerRole>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Role.commandName, abstract: Role.abstract,
                             discussion: [Role.discussion, RoleMain.sharedDiscussion]
                                .filter { !$0.isEmpty }.joined(separator: "\n\n"))
    }

    @OptionGroup(title: "Server options") public var server: ServerOptions
    @OptionGroup public var role: Role.Options

    public init() {}

    public func run() async throws { await RoleMain.serve(self, environment: RoleMain.processEnvironment()) }
}

/// The home server (ARCHITECTURE.md "Home server"): users are homed here; registrar, digest
/// authentication, stateful proxy and IM relay (`HomeServerPolicy`).
public enum HomeServerRole: ServerRole {
    public static let commandName = "home-server"
    public static let demoWatchesPresence = true
    public static let abstract = "SIP home server: registrar, presence agent, digest authentication, stateful proxy and IM relay."
    public static let discussion = """
        Presence (RFC 3856/6665/3903): the home server is the presence agent of its users. \
        SUBSCRIBE (Event: presence or presence.winfo) and PUBLISH (application/pidf+xml) to a \
        user homed here are answered by the server; a registered user who never publishes is \
        shown open, a signed-out user closed. Who may watch whom: `sipctl acl` (allow, block, \
        per-domain default allow|pending|block; out of the box same-domain watchers are allowed \
        and foreign ones blocked); changes reach live subscriptions within about a second. \
        LCS 2003 clients (Pidgin SIMPLE, pidgin-sipe): roaming contact lists \
        (vnd-microsoft-roaming-contacts), access lists and directory search over SERVICE/SOAP; \
        see `sipctl contacts`, `sipctl user set`, `sipctl directory search`.
        """

    public static func makePolicy(_ services: RoleServices, options: NoRoleOptions,
                                  config: ConfigReader) throws -> any RoutingPolicy {
        try policy(services)
    }

    /// The policy factory alone, for `RoleServer.start(settings:logger:policy:)`.
    public static let policy: PolicyFactory = { services in homeServerPolicy(services) }

    /// The home server's policy over the assembled services, as its own type: a role of a
    /// package user's starts from it and adds steps with
    /// ``HomeServerPolicy/inserting(_:before:)``.
    public static func homeServerPolicy(_ services: RoleServices) -> HomeServerPolicy {
        HomeServerPolicy(identity: services.identity, registrar: services.registrar, location: services.location,
                         authenticator: services.authenticator,
                         presence: PresenceService(agent: services.presence, roaming: services.roaming),
                         peers: services.peers, homes: services.homes, federations: services.settings.federations,
                         archive: services.archiveStep)
    }
}
