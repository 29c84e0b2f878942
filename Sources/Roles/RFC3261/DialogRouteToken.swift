import Crypto
import Registrar
import SIPCore

/// The proof that a request is inside a dialog this proxy record-routed (RFC 3261 §12.2,
/// §16.6 step 4): our Record-Route URI carries `dlg=` an HMAC-SHA-256 (truncated to 96
/// bits) of the dialog's Call-ID and the originator's From tag, keyed with a secret of this
/// process. In-dialog requests bring it back in their Route; an attacker who writes a To tag
/// and a Route naming us cannot make a valid one, so a forged "in-dialog" request is
/// authenticated and relay-checked like any other.
///
/// The key is random per process: after a restart, requests in older dialogs are simply
/// treated as out-of-dialog (challenged, relay-checked), never trusted.
public enum DialogRouteToken {
    /// The Record-Route URI parameter that carries the token.
    public static let parameter = "dlg"
    static let key = SymmetricKey(size: .bits256)

    /// The token for an initial request: over its Call-ID and From tag.
    public static func make(for request: SIPRequest) -> String {
        token(callID: request.callID ?? "", tag: (request.from?.tag ?? nil) ?? "")
    }

    /// True when `token` matches the request's dialog: the Call-ID with the From tag (a
    /// request from the caller) or the To tag (a request from the callee, tags swapped).
    public static func verify(_ token: String, request: SIPRequest) -> Bool {
        let callID = request.callID ?? ""
        let candidates = [(request.from?.tag ?? nil), (request.to?.tag ?? nil)].compactMap { $0 }
        let given = Array(token.utf8)
        return candidates.contains { tag in constantTimeEquals(Array(Self.token(callID: callID, tag: tag).utf8), given) }
    }

    static func token(callID: String, tag: String) -> String {
        var message = Array(callID.utf8)
        message.append(0)
        message += Array(tag.utf8)
        let mac = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        // 96 bits as 24 hex digits: the first 8 bytes, then the next 4.
        let high = mac[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = mac[8..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return lowercaseHex(high, digits: 16) + lowercaseHex(low, digits: 8)
    }
}
