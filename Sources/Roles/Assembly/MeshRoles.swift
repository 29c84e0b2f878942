import ArgumentParser
import Configuration

/// The front-end (ARCHITECTURE.md "Front-end server"): authenticates the originator,
/// finds its home server in the directory, proxies there or redirects (`FrontEndPolicy`).
public enum FrontEndRole: ServerRole {
    public struct Options: ParsableArguments, Sendable {
        @Option(help: ArgumentHelp("""
                    After authenticating: proxy to the originator's home server (Record-Route, and Path on \
                    REGISTER), or redirect the client there with 302 (default: proxy).
                    """, valueName: "proxy|redirect"))
        public var mode: String?
        public init() {}
    }

    public static let commandName = "front-end"
    public static let abstract = "SIP front-end: authenticates users, finds their home server in the directory, proxies or redirects there."
    public static let discussion = """
        A front-end homes nobody. It authenticates the originator of every request from its \
        domains (digest against the directory: 401 for REGISTER, 407 otherwise), looks up the \
        originator's home server (the third column of `sipctl user import`) and proxies the \
        request there over mutual TLS with P-Asserted-Identity (RFC 3325), or redirects the \
        client there (--mode redirect). A REGISTER gets a Path (RFC 3327) naming the client's \
        flow, so the home server reaches the client back through this front-end. Home servers \
        must be reachable by name: --peer NAME=tls:HOST:PORT, or DNS (RFC 3263). Several \
        front-ends can serve one domain.
        """
    public static let settingKeys: Set<String> = ["mode"]

    public static func commandLineValues(_ options: Options) -> [String: [String]] {
        options.mode.map { ["mode": [$0]] } ?? [:]
    }

    public static func makePolicy(_ services: RoleServices, options: Options, config: ConfigReader) throws -> any RoutingPolicy {
        let text = config.string(forKey: "mode") ?? "proxy"
        guard let mode = FrontEndMode(rawValue: text.lowercased()) else {
            throw RolesError(.badConfiguration, "bad mode '\(text)' (expected proxy or redirect)")
        }
        return FrontEndPolicy(identity: services.identity, authenticator: services.authenticator,
                              homes: services.homes, peers: services.peers, mode: mode,
                              federations: services.settings.federations, archive: services.archiveStep)
    }
}

/// The forwarding proxy (ARCHITECTURE.md "Forwarding proxy"): static routes by the
/// originator's domain, no authentication, always proxies (`ForwardingProxyPolicy`).
public enum ForwardingProxyRole: ServerRole {
    public struct Options: ParsableArguments, Sendable {
        @Option(name: .customLong("route"), help: ArgumentHelp("""
                    The next hop for requests from DOMAIN (the From domain); `*` as DOMAIN for the default. \
                    SERVER is a --peer name, a DNS name (mutual TLS) or TRANSPORT:HOST:PORT; repeatable \
                    (default: none, so 404).
                    """, valueName: "DOMAIN=SERVER"))
        public var routes: [String] = []
        public init() {}
    }

    public static let commandName = "forwarding-proxy"
    public static let abstract = "SIP forwarding proxy: a relay with static routes by the originator's domain; no authentication, always proxies."
    public static let discussion = """
        A forwarding proxy sits at the firewall edge or in a remote office. It authenticates \
        nobody and never redirects: the originator's (From) domain picks the next hop from \
        --route (`*` the default; no route: 404). REGISTER gets a Path (RFC 3327) so requests \
        for clients registered through it come back through it; requests carrying a Route are \
        followed only inside dialogs it record-routed or from a trusted --peer (else 403: no \
        open relay). --federate DOMAIN=SERVER exchanges IM and presence with a partner \
        organisation's edge over mutual TLS; requests from other foreign domains are refused.
        """
    public static let settingKeys: Set<String> = ["route"]
    public static let repeatableKeys: Set<String> = ["route"]

    public static func commandLineValues(_ options: Options) -> [String: [String]] {
        options.routes.isEmpty ? [:] : ["route": options.routes]
    }

    public static func makePolicy(_ services: RoleServices, options: Options, config: ConfigReader) throws -> any RoutingPolicy {
        let values = config.stringArray(forKey: "route") ?? []
        let routes = try DomainRoutes(values, option: "route")
        return ForwardingProxyPolicy(identity: services.identity, routes: routes,
                                     federations: services.settings.federations, peers: services.peers,
                                     archive: services.archiveStep)
    }
}
