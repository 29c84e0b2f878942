import Presence
import SIPCore
import SIPTransaction

extension RoleServer {
    /// How the list server's back-end SUBSCRIBEs (RFC 4662 §4.4) leave this server: through
    /// the routing policy, as a request from the list's owner already authenticated here (so
    /// a member homed on a peer goes there over mutual TLS with the owner in
    /// `P-Asserted-Identity`, a federated partner's member to its edge, and any other foreign
    /// member to its domain by RFC 3263), then built (§16.6) and resolved by the proxy core's
    /// machinery as any forwarded request. A decision other than forwarding (a member
    /// that turned out to be local, a refusal) routes nothing.
    static func listBackEndRouting(policy: any RoutingPolicy, proxy: ProxyCore, homes: DirectoryHomeLookup) -> ListBackEndRouting {
        ListBackEndRouting(
            isRemote: { member in
                let identity = proxy.identity
                guard let at = member.lastIndex(of: "@") else { return false }
                let domain = member[member.index(after: at)...].lowercased()
                guard identity.domains.contains(domain) else { return true }
                guard let home = homes.homeServer(of: member) else { return false }
                return home != identity.serverName.lowercased()
            },
            route: { request, owner, done in
                // The server itself is the source; the owner counts as authenticated. The policy
                // validates a request as received (§16.3 wants a Via): a Via of the list server
                // stands in for the UAC's and is taken off again, ours being the only one sent.
                var received = request
                received.headers.insertFirst("Via", "SIP/2.0/TCP 127.0.0.1:0;branch=z9hG4bK-rls-\(request.callID ?? owner)")
                var context = RoutingContext(request: received, source: RequestSource(transport: .tcp, host: "127.0.0.1", port: 0))
                context.authenticatedUser = owner
                guard case .forward(var plan) = policy.decide(&context), let target = plan.targets.first else { return done(nil) }
                plan.request.headers.removeFirstValue("Via")
                guard let forwarded = RequestForwarding.forward(
                        plan.request, to: target, identity: proxy.identity, inbound: .tcp, recordRoute: false,
                        loopHash: plan.loopHash, seed: request.callID ?? owner, fork: 0) else { return done(nil) }
                proxy.resolver.resolve(forwarded.nextHop) { hops in
                    guard let hop = hops.first else { return done(nil) }
                    var request = forwarded.request
                    if hop.transport != forwarded.nextHop.transport, let via = request.headers.first("Via") {
                        // The Via names the transport the resolver chose.
                        request.headers.removeFirstValue("Via")
                        request.headers.insertFirst("Via", via.replacing("SIP/2.0/\(forwarded.nextHop.transport.viaToken)",
                                                                         with: "SIP/2.0/\(hop.transport.viaToken)"))
                    }
                    done((request, SIPDestination(hop)))
                }
            })
    }
}
