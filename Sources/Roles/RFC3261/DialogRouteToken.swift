import Crypto
import Registrar
import SIPCore

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
/// The key is random per process: after a restart, requests in older dialogs are simply
/// treated as out-of-dialog (challenged, relay-checked), never trusted.
public enum DialogRouteToken {
    /// The Record-Route URI parameter that carries the token.
    public static let parameter = "dlg"
    static let key = SymmetricKey(size: .bits256)

    /// The token for an initial request: over its Call-ID, From tag, From and To.
    public static func make(for request: SIPRequest) -> String {
        token(callID: request.callID ?? "", tag: (request.from?.tag ?? nil) ?? "",
              originator: addressOfRecord(request.from), target: addressOfRecord(request.to))
    }

    /// True when `token` matches the request's dialog: the Call-ID with the From tag, From
    /// and To (a request from the caller), or the To tag, To and From (a request from the
    /// callee: tags and URIs swapped).
    public static func verify(_ token: String, request: SIPRequest) -> Bool {
        let callID = request.callID ?? ""
        let from = addressOfRecord(request.from), to = addressOfRecord(request.to)
        let given = Array(token.utf8)
        func matches(_ tag: String?, _ originator: String, _ target: String) -> Bool {
            guard let tag else { return false }
            return constantTimeEquals(Array(Self.token(callID: callID, tag: tag, originator: originator, target: target).utf8), given)
        }
        return matches(request.from?.tag ?? nil, from, to) || matches(request.to?.tag ?? nil, to, from)
    }

    /// The party's address of record (RFC 3261 §10.3: scheme, user and host, host
    /// lower-cased), so that a display name or a URI parameter written differently in a later
    /// request still matches.
    static func addressOfRecord(_ party: NameAddr?) -> String {
        guard let party else { return "" }
        return party.uri.sipURI?.addressOfRecord ?? party.uri.description
    }

    static func token(callID: String, tag: String, originator: String, target: String) -> String {
        var message = Array(callID.utf8)
        for part in [tag, originator, target] {
            message.append(0)
            message += Array(part.utf8)
        }
        let mac = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        // 96 bits as 24 hex digits: the first 8 bytes, then the next 4.
        let high = mac[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = mac[8..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return lowercaseHex(high, digits: 16) + lowercaseHex(low, digits: 8)
    }
}
