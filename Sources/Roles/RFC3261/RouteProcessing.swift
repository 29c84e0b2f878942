import SIPCore

/// RFC 3261 §16.4 route information preprocessing.
public enum RouteProcessing {
    /// What preprocessing did, for logs and tests.
    public struct Result: Hashable, Sendable {
        /// The Request-URI was one of our Record-Route values (a strict router upstream) and
        /// was replaced by the last Route value.
        public var strictRouteFixedUp = false
        /// How many of our own Route values were removed from the top.
        public var ownRoutesRemoved = 0
        /// An maddr naming us was stripped from the Request-URI.
        public var maddrStripped = false
        /// The dialog token (`dlg` parameter) of the first of our Route values removed.
        public var removedRouteToken: String?
        /// The user part of the first of our Route values removed (a flow token, see
        /// ``FlowRouteToken``).
        public var removedRouteUser: String?
    }

    /// Applies §16.4 to `request` in place.
    /// 1. A Request-URI that is a value this proxy placed into a Record-Route (ours, `lr`, and
    ///    Route values present) came from a strict router: it is replaced by the last Route
    ///    value, which is removed.
    /// 2. An maddr in the Request-URI naming us is removed, with the port and transport.
    /// 3. Our own values at the top of Route are removed (two of them after a double
    ///    Record-Route, RFC 5658).
    @discardableResult
    public static func preprocess(_ request: inout SIPRequest, identity: ProxyIdentity) -> Result {
        var result = Result()
        var routes = request.headers["Route"]
        if let sip = request.uri.sipURI, sip.user == nil, sip.hasLR, identity.isThisProxy(request.uri),
           let last = routes.last, let lastAddr = NameAddr(last) {
            request.uri = lastAddr.uri
            routes.removeLast()
            request.headers.removeAll("Route")
            for value in routes { request.headers.append("Route", value) }
            result.strictRouteFixedUp = true
        }
        if var sip = request.uri.sipURI, let maddrParam = sip.parameter("maddr"), let maddr = maddrParam,
           identity.isOwnHost(maddr) || identity.domains.contains(maddr.lowercased()) {
            sip.parameters.removeAll { $0.name.equalsIgnoringCase("maddr") || $0.name.equalsIgnoringCase("transport") }
            sip.port = nil
            request.uri = .sip(sip)
            result.maddrStripped = true
        }
        while result.ownRoutesRemoved < 2, let top = request.headers["Route"].first,
              let addr = NameAddr(top), identity.isThisProxy(addr.uri) {
            request.headers.removeFirstValue("Route")
            result.ownRoutesRemoved += 1
            if result.ownRoutesRemoved == 1, let user = addr.uri.sipURI?.user { result.removedRouteUser = user }
            if result.removedRouteToken == nil, let sip = addr.uri.sipURI,
               let param = sip.parameter(DialogRouteToken.parameter), let token = param {
                result.removedRouteToken = token
            }
        }
        return result
    }
}
