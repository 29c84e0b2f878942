import SIPCore
import SIPTransaction

/// Who sent a request and over what (RFC 3261 §18.2.1): the policy's view of the transport.
public struct RequestSource: Hashable, Sendable, CustomStringConvertible {
    public var transport: ListenTransport
    public var host: String
    public var port: Int
    /// The transport's handle for the connection it arrived on (RFC 5626 flow); nil for UDP.
    public var flowID: UInt64?
    /// TLS: the names (DNS SANs, else CN) of the certificate the peer presented, verified by
    /// the transport against `--tls-ca`; empty for other transports or no certificate.
    public var tlsPeerNames: [String]

    public init(transport: ListenTransport, host: String, port: Int, flowID: UInt64? = nil,
                tlsPeerNames: [String] = []) {
        self.transport = transport
        self.host = host
        self.port = port
        self.flowID = flowID
        self.tlsPeerNames = tlsPeerNames
    }

    public var description: String { "\(transport.rawValue):\(host):\(port)" }
}

/// A request on its way through a routing policy: the steps read and refine it.
public struct RoutingContext: Sendable {
    /// The request as it arrived.
    public let received: SIPRequest
    /// The request as the steps have shaped it (§16.4 preprocessing changes it).
    public var request: SIPRequest
    public var source: RequestSource
    /// The AOR (`user@domain`) the originator proved it is (RFC 3261 §22), if any.
    public var authenticatedUser: String?
    /// The §16.6 step 8 loop hash of the request as received: set by validation, else
    /// computed on first use.
    public var loopHash: String {
        mutating get {
            if let storedLoopHash { return storedLoopHash }
            let hash = BranchParameter.loopHash(of: received)
            storedLoopHash = hash
            return hash
        }
        set { storedLoopHash = newValue }
    }
    var storedLoopHash: String?
    /// Set by steps that find the request addressed to a domain of ours.
    public var isForOurDomain = false
    /// Set by route preprocessing when the request is inside a dialog this proxy
    /// record-routed: it has a To tag and its top Route was ours, carrying a valid dialog
    /// token (``DialogRouteToken``). Only such requests skip authentication and the relay
    /// check (Kamailio's `has_totag() && loose_route()`, made unforgeable).
    public var isInOwnDialog = false
    /// Set when the request came over mutual TLS from a server of the trust domain (a
    /// `--peer` whose verified certificate carries its name): its `P-Asserted-Identity` is
    /// believed (RFC 3325) and it is not challenged again.
    public var trustedPeer: String?
    /// Set by route preprocessing when our own Route value (a Path or Record-Route we
    /// inserted for a client behind us) carried a valid flow token: the client's flow.
    public var routeFlow: FlowRouteToken.Flow?
    /// Work the proxy core must let finish before it forwards (the archive agent's spool
    /// write); consulted only when the decision is to forward (``ForwardGate``).
    public var forwardGate: (any ForwardGate)?

    public init(request: SIPRequest, source: RequestSource, authenticatedUser: String? = nil) {
        self.received = request
        self.request = request
        self.source = source
        self.authenticatedUser = authenticatedUser
    }
}

/// What to do with a request once forwarding is decided (RFC 3261 §16.5, §16.6).
public struct ForwardPlan: Hashable, Sendable {
    /// The request after preprocessing; each branch is a copy with its own Request-URI.
    public var request: SIPRequest
    /// Targets, all tried in parallel (RFC 3261 §16.6 "parallel search").
    public var targets: [ForwardTarget]
    /// Record-Route so the rest of the dialog traverses this proxy (§16.6 step 4).
    public var recordRoute: Bool
    public var loopHash: String
    /// §16.7 step 4: a 3xx from a target is recursed on (its contacts join the target set),
    /// as for a request sent to a peer server that redirects to the user's home server.
    public var followRedirects: Bool

    public init(request: SIPRequest, targets: [ForwardTarget], recordRoute: Bool, loopHash: String,
                followRedirects: Bool = false) {
        self.request = request
        self.targets = targets
        self.recordRoute = recordRoute
        self.loopHash = loopHash
        self.followRedirects = followRedirects
    }
}

/// A service of the server itself (registrar, later the presence agent), keyed by method and
/// Event package, to which a policy hands a request: it takes the server transaction over
/// and answers it, at once or once its work completes (a store commit).
public protocol LocalService: Sendable {
    /// For logs and tests (`registrar`, `presence`).
    var name: String { get }
    /// Called on the event loop that read the request: answer now, or start the waiting
    /// work and answer when it completes. Never block.
    func serve(_ transaction: ServerTransaction, context: RoutingContext)
}

/// A routing policy's decision (ARCHITECTURE.md "The routing policy is one object").
public enum RoutingDecision: Hashable, Sendable {
    /// Answered at once by the server itself (OPTIONS to the server, a 401 challenge).
    case answerLocally(SIPResponse)
    /// Handed to a local service, which answers the transaction itself.
    case localService(any LocalService)
    /// Refuse or end it with a status (404, 480, 483, 407 challenge...).
    case respond(StatusAnswer)
    /// 302 to these contacts (RFC 3261 §8.3, §21.3): Contact values.
    case redirect([String])
    /// Proxy it statefully to these targets (RFC 3261 §16).
    case forward(ForwardPlan)
    /// Nothing to send (an ACK nobody expects: ACK is never answered, RFC 3261 §17.2.3).
    case drop(String)
}

/// One named step of a policy, the way repro chains processors: it either decides, or
/// refines the context and lets the next step look (returns nil).
public protocol RoutingStep: Sendable {
    /// A short name for logs (`validate`, `authenticate`, `location`).
    var name: String { get }
    func process(_ context: inout RoutingContext) -> RoutingDecision?
}

/// Sees a request (and who sent it, over what, authenticated as whom) and decides,
/// synchronously, on the event loop that read it: steps read in-memory tables under short
/// locks; what must wait is a ``LocalService``.
public protocol RoutingPolicy: Sendable {
    func decide(_ context: inout RoutingContext) -> RoutingDecision
}

/// A policy made of steps tried in order; the first decision wins. A chain whose steps all
/// pass answers 404: nothing claimed the request.
public struct StepChain: RoutingPolicy {
    public let steps: [any RoutingStep]

    public init(_ steps: [any RoutingStep]) { self.steps = steps }

    public func decide(_ context: inout RoutingContext) -> RoutingDecision {
        for step in steps {
            if let decision = step.process(&context) { return decision }
        }
        return .respond(StatusAnswer(404))
    }

    /// The names of the steps, in order (for logs and tests).
    public var stepNames: [String] { steps.map(\.name) }

    /// A copy of the chain with `extra` placed just before the step named `stepName`: how a
    /// package user adds a step of their own to a role's policy without copying it (the
    /// modern form of LCS 2003's server application API).
    ///
    /// The steps keep their order; `extra` see the context exactly as the step named
    /// `stepName` would have seen it, and that step runs after them when they all pass.
    /// - Throws: ``RolesError`` (`badConfiguration`) when no step has that name.
    public func inserting(_ extra: [any RoutingStep], before stepName: String) throws(RolesError) -> StepChain {
        guard let index = steps.firstIndex(where: { $0.name == stepName }) else {
            throw RolesError(.badConfiguration,
                             "no step named '\(stepName)' (steps: \(stepNames.joined(separator: ", ")))")
        }
        var steps = self.steps
        steps.insert(contentsOf: extra, at: index)
        return StepChain(steps)
    }
}

extension RoutingDecision {
    public static func == (a: RoutingDecision, b: RoutingDecision) -> Bool {
        switch (a, b) {
        case (.answerLocally(let x), .answerLocally(let y)): x == y
        case (.localService(let x), .localService(let y)): x.name == y.name
        case (.respond(let x), .respond(let y)): x == y
        case (.redirect(let x), .redirect(let y)): x == y
        case (.forward(let x), .forward(let y)): x == y
        case (.drop(let x), .drop(let y)): x == y
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .answerLocally(let r): hasher.combine(0); hasher.combine(r)
        case .localService(let s): hasher.combine(1); hasher.combine(s.name)
        case .respond(let a): hasher.combine(2); hasher.combine(a)
        case .redirect(let c): hasher.combine(3); hasher.combine(c)
        case .forward(let p): hasher.combine(4); hasher.combine(p)
        case .drop(let d): hasher.combine(5); hasher.combine(d)
        }
    }
}
