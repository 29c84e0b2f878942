import Crypto
import Registrar
import SIPCore
import SIPDialog
import SIPTransaction

/// The proof that a request is inside a dialog this proxy record-routed (RFC 3261 §12.2,
/// §16.6 step 4): our Record-Route URI carries `dlg=` an HMAC-SHA-256 (truncated to 96
/// bits) of the dialog's Call-ID, the originator's From tag and both parties' addresses of
/// record (From and To of the initial request), keyed with a secret of this process.
/// In-dialog requests bring it back in their Route; an attacker who writes a To tag and a
/// Route naming us cannot make a valid one, so a forged "in-dialog" request is authenticated
/// and relay-checked like any other. A party to a dialog holds its token (the Record-Route
/// comes back in the responses), so the token also names who the two parties are: a
/// request that reuses it under another From or To (posing as one of our users) does not
/// match (RFC 3261 §12.2.1.1: in-dialog requests keep the dialog's URIs in From and To).
///
/// It also names where the two parties are: the caller's source address (where the initial
/// request came from), the callee's source (the flow or address it was sent to: where the
/// callee's requests come from) and the callee's target (the next hop it was sent to). A
/// request passes only from the address of the side it claims to come from, and a caller
/// nobody authenticated may send only to the callee: a stranger who holds a token (every
/// party does) can neither pose as the other party nor make us relay to a third host.
///
/// The callee's requests go back toward the caller, so the token names that side too: the
/// caller's host, and the hop its side of the dialog is reached through (its nearest
/// Record-Route, else its Contact). A callee of another domain, reached by one of our
/// users, could otherwise send anywhere in the dialog's name.
///
/// The key is random per process: after a restart, requests in older dialogs are simply
/// treated as out-of-dialog (challenged, relay-checked), never trusted.
public enum DialogRouteToken {
    /// The Record-Route URI parameter that carries the token.
    public static let parameter = "dlg"
    static let key = SymmetricKey(size: .bits256)
    /// Hex digits of the parties' part and of each address part.
    static let partiesLength = 24
    static let addressLength = 12

    /// The two sides of a dialog (RFC 3261 §12: the UAC that sent the initial request, the UAS).
    public enum Side: Sendable { case caller, callee }

    /// The token for an initial request (its Call-ID, From tag, From and To), sent from
    /// `caller` to `callee` (the next hop's address) over the flow or address `calleeSource`
    /// (where the callee's requests will come from; the next hop's when nil). The hop back
    /// to the caller's side is read from the request itself (`callerHop(of:)`).
    public static func make(for request: SIPRequest, caller: SIPHostPort?, callee: SIPHostPort?,
                            calleeSource: SIPHostPort? = nil) -> String {
        let callID = request.callID ?? "", tag = (request.from?.tag ?? nil) ?? ""
        return token(callID: callID, tag: tag, originator: addressOfRecord(request.from), target: addressOfRecord(request.to))
            + address("caller", caller, callID: callID, tag: tag)
            + address("callee-source", calleeSource ?? callee, callID: callID, tag: tag)
            + address("callee", callee, callID: callID, tag: tag)
            + address("callee-host", callee.map { SIPHostPort(host: $0.host, port: 0) }, callID: callID, tag: tag)
            + address("caller-host", caller.map { SIPHostPort(host: $0.host, port: 0) }, callID: callID, tag: tag)
            + address("caller-hop", callerHop(of: request), callID: callID, tag: tag)
    }

    /// Where the callee's requests go after ours (RFC 3261 §12.1.1: its route set is the
    /// Record-Route in order, then the remote target): the Record-Route the caller's side
    /// put (a proxy's, perhaps by name), else the caller's Contact (perhaps a private address
    /// behind a NAT, unlike its source).
    static func callerHop(of request: SIPRequest) -> SIPHostPort? {
        let hop = (request.headers["Record-Route"].first ?? request.headers["Contact"].first).flatMap { NameAddr($0) }
        return hop.flatMap { DialogDestination.resolve($0.uri)?.address }
    }

    /// A token that matched a request's dialog: which side sent the request, and checks of
    /// the addresses it names.
    public struct Match: Sendable {
        public let sender: Side
        let callID: String
        let tag: String
        let given: [UInt8]

        /// Whether `source` is where `sender`'s requests come from.
        public func senderIs(at source: SIPHostPort) -> Bool {
            check(sender == .caller ? "caller" : "callee-source", source, at: 0)
                || (sender == .callee && check("callee", source, at: 2))
        }

        /// Whether `host` is the callee's host (any port: a server that answers over a new
        /// connection of its own, from a port of its choosing).
        public func calleeHostIs(_ host: String) -> Bool {
            check("callee-host", SIPHostPort(host: host, port: 0), at: 3)
        }

        /// Whether `hop` is the callee (its target or its source address).
        public func isCallee(_ hop: SIPHostPort) -> Bool {
            check("callee", hop, at: 2) || check("callee-source", hop, at: 1)
        }

        /// Whether `hop` leads to the caller: the hop its side is reached through, or its
        /// host (any port: a Contact refreshed mid-dialog, a new connection's port).
        public func isTowardCaller(_ hop: SIPHostPort) -> Bool {
            check("caller-hop", hop, at: 5) || check("caller-host", SIPHostPort(host: hop.host, port: 0), at: 4)
        }

        private func check(_ label: String, _ hostPort: SIPHostPort, at index: Int) -> Bool {
            let start = DialogRouteToken.partiesLength + index * DialogRouteToken.addressLength
            guard given.count >= start + DialogRouteToken.addressLength else { return false }
            let expected = Array(DialogRouteToken.address(label, hostPort, callID: callID, tag: tag).utf8)
            return constantTimeEquals(expected, Array(given[start..<start + DialogRouteToken.addressLength]))
        }
    }

    /// The match when `token` is of the request's dialog: the Call-ID with the From tag,
    /// From and To (a request from the caller), or the To tag, To and From (a request from
    /// the callee: tags and URIs swapped); nil otherwise.
    public static func verify(_ token: String, request: SIPRequest) -> Match? {
        let given = Array(token.utf8)
        guard given.count == partiesLength + 6 * addressLength else { return nil }
        let callID = request.callID ?? ""
        let from = addressOfRecord(request.from), to = addressOfRecord(request.to)
        let parties = Array(given[..<partiesLength])
        func matches(_ tag: String?, _ originator: String, _ target: String) -> Bool {
            guard let tag else { return false }
            return constantTimeEquals(Array(Self.token(callID: callID, tag: tag, originator: originator, target: target).utf8), parties)
        }
        if let tag = request.from?.tag ?? nil, matches(tag, from, to) {
            return Match(sender: .caller, callID: callID, tag: tag, given: given)
        }
        if let tag = request.to?.tag ?? nil, matches(tag, to, from) {
            return Match(sender: .callee, callID: callID, tag: tag, given: given)
        }
        return nil
    }

    /// The party's address of record (RFC 3261 §10.3: scheme, user and host, host
    /// lower-cased), so that a display name or a URI parameter written differently in a later
    /// request still matches.
    static func addressOfRecord(_ party: NameAddr?) -> String {
        guard let party else { return "" }
        return party.uri.sipURI?.addressOfRecord ?? party.uri.description
    }

    static func token(callID: String, tag: String, originator: String, target: String) -> String {
        let mac = self.mac(callID, [tag, originator, target])
        // 96 bits as 24 hex digits: the first 8 bytes, then the next 4.
        let high = mac[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = mac[8..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return lowercaseHex(high, digits: 16) + lowercaseHex(low, digits: 8)
    }

    /// 48 bits naming one address of the dialog; dashes for an unknown one (which no
    /// address matches: a MAC is hex).
    static func address(_ label: String, _ hostPort: SIPHostPort?, callID: String, tag: String) -> String {
        guard let hostPort else { return String(repeating: "-", count: addressLength) }
        let mac = self.mac(callID, [tag, label, DialogDestination.bareHost(hostPort.host), String(hostPort.port)])
        return lowercaseHex(mac[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }, digits: addressLength)
    }

    private static func mac(_ callID: String, _ parts: [String]) -> [UInt8] {
        var message = Array(callID.utf8)
        for part in parts {
            message.append(0)
            message += Array(part.utf8)
        }
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }
}
