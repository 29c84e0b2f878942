import ArgumentParser
import Configuration
import Roles

/// A home server with one routing step of its own: ``OutOfOfficeStep`` just before the
/// built-in `location` step. Everything else (the shared options, the store, listeners,
/// registrar, presence, shutdown) is the home server's, through `RoleMain`.
public enum OutOfOfficeServerRole: ServerRole {
    public struct Options: ParsableArguments, Sendable {
        @Option(name: .customLong("away"), help: ArgumentHelp("""
                    USER@DOMAIN is away: a MESSAGE relayed to them is answered with an automatic \
                    MESSAGE carrying TEXT, and still delivered; repeatable.
                    """, valueName: "USER@DOMAIN=TEXT"))
        public var away: [String] = []
        public init() {}
    }

    public static let commandName = "custom-policy-server"
    public static let abstract = "A SIP home server with an out-of-office auto-reply step of its own (an example of extending a RoutingPolicy)."
    public static let discussion = """
        The home server, plus one routing step written outside the library: a MESSAGE to a \
        user marked away (--away USER@DOMAIN=TEXT, or `away = USER@DOMAIN=TEXT` lines in the \
        config file) is delivered as usual, and its sender gets an automatic MESSAGE from that \
        user with TEXT (Auto-Submitted: auto-replied), at most once an hour per sender.
        """
    public static let demoWatchesPresence = true
    public static let settingKeys: Set<String> = ["away"]
    public static let repeatableKeys: Set<String> = ["away"]

    public static func commandLineValues(_ options: Options) -> [String: [String]] {
        options.away.isEmpty ? [:] : ["away": options.away]
    }

    public static func makePolicy(_ services: RoleServices, options: Options, config: ConfigReader) throws -> any RoutingPolicy {
        let away = try AwayList(parsing: config.stringArray(forKey: "away") ?? [])
        return try policy(services, away: away)
    }

    /// The home server's policy with the out-of-office step before `location`.
    public static func policy(_ services: RoleServices, away: AwayList) throws -> HomeServerPolicy {
        try HomeServerRole.homeServerPolicy(services)
            .inserting([OutOfOfficeStep(away: away, originator: services.originator)], before: "location")
    }
}
