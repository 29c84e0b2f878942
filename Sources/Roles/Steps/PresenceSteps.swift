import Presence
import SIPCore
import SIPTransaction

/// The presence agent as a local service (RFC 3856 §3): SUBSCRIBE and PUBLISH to users
/// homed here, and SUBSCRIBE refreshes inside its own subscription dialogs.
/// With a roaming agent, also LCS 2003's self-subscriptions and SERVICE requests
/// (the Presence library's `RoamingAgent`).
public struct PresenceService: LocalService {
    public let name = "presence"
    public let agent: PresenceAgent
    public let roaming: RoamingAgent?

    public init(agent: PresenceAgent, roaming: RoamingAgent? = nil) {
        self.agent = agent
        self.roaming = roaming
    }

    public func serve(_ transaction: ServerTransaction, context: RoutingContext) {
        if let roaming, roaming.serves(transaction.request) {
            roaming.serve(transaction, authenticatedUser: context.authenticatedUser)
        } else {
            agent.serve(transaction, authenticatedUser: context.authenticatedUser)
        }
    }
}

/// A SUBSCRIBE inside one of the presence agent's own dialogs (a refresh or an
/// unsubscribe, RFC 6665 §4.1.2.2), or a NOTIFY inside one of the list server's back-end
/// dialogs: To tag set, no Route left, addressed to this server (our Contact). It needs no new authentication: the dialog's identifiers, our 60-bit
/// random tag among them, were handed only to the subscriber (the agent answers 481 to
/// anything else). Runs before `local-server`, which would answer 405.
public struct PresenceDialogStep: RoutingStep {
    public let name = "presence-dialog"
    public let identity: ProxyIdentity
    public let presence: PresenceService

    public init(identity: ProxyIdentity, presence: PresenceService) {
        self.identity = identity
        self.presence = presence
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard request.method == .subscribe || request.method == .notify, (request.to?.tag ?? nil) != nil,
              request.headers.first("Route") == nil, identity.isResponsible(for: request.uri) else { return nil }
        // A NOTIFY of the list server's back-end subscriptions (RFC 4662 §4.4), only inside a
        // dialog it created (Call-ID and both tags); any other NOTIFY goes on down the chain.
        if request.method == .notify {
            guard presence.roaming?.ownsBackEndDialog(of: request) == true else { return nil }
            context.isForOurDomain = true
            return .localService(presence)
        }
        // Our Contact has no user part; a SUBSCRIBE to a user inside a dialog is either ours
        // too (clients that keep the Request-URI) or a proxied one between two clients.
        guard request.uri.sipURI?.user == nil || presence.agent.ownsDialog(of: request)
            || presence.roaming?.ownsDialog(of: request) == true else { return nil }
        context.isForOurDomain = true
        return .localService(presence)
    }
}

/// New SUBSCRIBE and PUBLISH requests to users homed here go to the presence agent, after
/// authentication: it is their notifier and event state compositor (RFC 3856, RFC 3903).
/// It answers 489 for event packages it does not serve.
public struct PresenceStep: RoutingStep {
    public let name = "presence"
    public let presence: PresenceService

    public init(presence: PresenceService) { self.presence = presence }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard PresenceAgent.handles(request), context.isForOurDomain, request.uri.sipURI?.user != nil else { return nil }
        return .localService(presence)
    }
}

/// LCS 2003 `SERVICE` requests (SOAP operations on the caller's roaming contact list and
/// access list, directory searches) to our domain or to a user of it: the roaming agent,
/// after authentication. Without a roaming agent SERVICE is not served here.
public struct RoamingStep: RoutingStep {
    public let name = "roaming"
    public let presence: PresenceService

    public init(presence: PresenceService) { self.presence = presence }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        guard presence.roaming != nil, case .extension(let method) = context.request.method, method == "SERVICE",
              context.isForOurDomain else { return nil }
        return .localService(presence)
    }
}
