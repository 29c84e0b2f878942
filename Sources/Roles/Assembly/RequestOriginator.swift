import Logging
import SIPCore
import SIPTransaction
import Synchronization

/// Requests the server itself originates, acting as a UAC (RFC 3261 §8.1): an automatic
/// MESSAGE, a notice to a user. A step of a package user's policy gets it from
/// ``RoleServices/originator`` and sends from inside its `process` (it never blocks: the
/// client transactions run on their own).
///
/// A request goes to every registered contact of a user homed on this server, the way the
/// `location` step forks (RFC 3261 §16.5, §16.6): each contact's RFC 3327 Path becomes the
/// first Route values, and the flow the contact registered over is reused while it is open
/// (RFC 5626). It does not go through the routing policy: the server vouches for it, so
/// it is not challenged. Users homed on other servers, and foreign users, are not reached.
public final class RequestOriginator: Sendable {
    let location: any LocationService
    let identity: ProxyIdentity
    let logger: Logger
    let layerCell = Mutex<TransactionLayer?>(nil)

    init(location: any LocationService, identity: ProxyIdentity, logger: Logger) {
        self.location = location
        self.identity = identity
        self.logger = logger
    }

    /// Connects it to the transaction layer once the server has one (before any request is
    /// routed, so a step never sees it unattached in a running server).
    func attach(_ layer: TransactionLayer) {
        layerCell.withLock { $0 = layer }
    }

    /// An out-of-dialog request from `from` to `to` (both `user@domain` AORs), with a fresh
    /// From tag and Call-ID and CSeq 1 (RFC 3261 §8.1.1); nil when `to` is not a SIP URI.
    ///
    /// - Parameters:
    ///   - method: MESSAGE for an instant message (RFC 3428).
    ///   - from: the AOR the request is from (From; a user of ours).
    ///   - to: the AOR it is for (To and Request-URI).
    ///   - body: the body.
    ///   - contentType: its Content-Type, written when the body is not empty.
    ///   - extra: extra header fields, appended in order.
    public static func request(_ method: SIPMethod, from: String, to: String, body: [UInt8] = [],
                               contentType: String = "text/plain;charset=UTF-8",
                               headers extra: [SIPHeaderField] = []) -> SIPRequest? {
        guard let uri = URI("sip:\(to)") else { return nil }
        var headers = SIPHeaders()
        headers.append("Max-Forwards", "70")
        headers.append("From", "<sip:\(from)>;tag=\(LocalTag.make())")
        headers.append("To", "<sip:\(to)>")
        headers.append("Call-ID", "\(LocalTag.make())@\(identity(for: from))")
        headers.append("CSeq", "1 \(method.rawValue)")
        for field in extra { headers.append(field.name, field.value) }
        if !body.isEmpty { headers.append("Content-Type", contentType) }
        headers.append("Content-Length", "\(body.count)")
        return SIPRequest(method: method, uri: uri, headers: headers, body: body)
    }

    private static func identity(for aor: String) -> Substring {
        aor.lastIndex(of: "@").map { aor[aor.index(after: $0)...] } ?? Substring(aor)
    }

    /// Sends `request` to every registered contact of `aor` (`user@domain`, a user homed
    /// here): one client transaction per contact, its Request-URI the contact.
    ///
    /// - Parameters:
    ///   - request: an out-of-dialog request (``request(_:from:to:body:contentType:headers:)``
    ///     makes one); each copy gets the contact as its Request-URI and a Via of ours.
    ///   - aor: the user whose registered contacts it goes to.
    ///   - onFinal: told each contact's final status (408 when it timed out, 503
    ///     when the transport failed), on whatever thread learned it.
    /// - Returns: how many contacts it went to; 0 for an unknown user, one with no binding,
    ///   or a server not running yet.
    @discardableResult
    public func send(_ request: SIPRequest, toContactsOf aor: String,
                     onFinal: (@Sendable (Int) -> Void)? = nil) -> Int {
        guard let layer = layerCell.withLock({ $0 }), let at = aor.lastIndex(of: "@") else { return 0 }
        let user = String(aor[..<at])
        let domain = aor[aor.index(after: at)...].lowercased()
        guard case .targets(let targets) = location.lookup(user: user, domain: domain) else { return 0 }
        let callID = request.callID ?? LocalTag.make()
        let loopHash = BranchParameter.loopHash(of: request)
        var sent = 0
        for (index, target) in targets.enumerated() {
            guard let forwarded = RequestForwarding.forward(request, to: target, identity: identity, inbound: .udp,
                                                            recordRoute: false, loopHash: loopHash, seed: callID,
                                                            fork: index) else { continue }
            do {
                try layer.start(forwarded.request, to: SIPDestination(forwarded.nextHop), pushVia: false) { report in
                    guard case .outcome(let outcome) = report else { return }
                    switch outcome {
                    case .response(let response) where response.statusCode >= 200: onFinal?(response.statusCode)
                    case .response: break
                    case .failed(let error): onFinal?(error.status ?? 408)
                    }
                }
                sent += 1
            } catch {
                logger.notice("originated request not sent", metadata: ["sip.aor": "\(aor)", "sip.error": "\(error)"])
            }
        }
        return sent
    }
}
