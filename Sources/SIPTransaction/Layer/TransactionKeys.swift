import SIPCore

/// The RFC 3261 magic cookie: a branch starting with it was made by an RFC 3261 element
/// and is unique across space and time (§8.1.1.7).
public let sipMagicCookie = "z9hG4bK"

/// Client transaction identity, §17.1.3: the top Via branch and the CSeq method.
public struct ClientTransactionKey: Hashable, Sendable {
    public var branch: String
    public var method: SIPMethod
    public init(branch: String, method: SIPMethod) {
        self.branch = branch
        self.method = method
    }

    /// The key a response matches (§17.1.3): its top Via branch and its CSeq method.
    public init?(response: SIPResponse) {
        guard let via = (try? response.topVia), let branch = via.branch, let cseq = (try? response.cseq) else { return nil }
        self.init(branch: branch, method: cseq.method)
    }
}

/// Server transaction identity, §17.2.3. ACK is keyed as INVITE so that it finds the
/// INVITE's transaction; CANCEL keeps its own method (it is a transaction of its own, and
/// `matchingInvite` finds the INVITE it cancels, §9.2).
public enum ServerTransactionKey: Hashable, Sendable {
    /// Magic-cookie branch, sent-by of the top Via, method.
    case rfc3261(branch: String, sentBy: String, method: SIPMethod)
    /// RFC 2543 fallback (§17.2.3): Request-URI, From tag, Call-ID, CSeq number, top Via,
    /// method. The To tag is compared separately (the ACK's carries our response's tag).
    case rfc2543(requestURI: String, fromTag: String, callID: String, cseq: UInt32, topVia: String, method: SIPMethod)

    /// The key of `request`, or nil when it lacks a top Via or CSeq (no transaction can
    /// be made; §8.2: answer 400 where possible).
    public init?(request: SIPRequest) {
        guard let via = (try? request.topVia), let cseq = (try? request.cseq) else { return nil }
        let method: SIPMethod = request.method == .ack ? .invite : request.method
        if let branch = via.branch, branch.hasPrefix(sipMagicCookie) {
            let sentBy = via.port.map { "\(via.host.lowercased()):\($0)" } ?? via.host.lowercased()
            self = .rfc3261(branch: branch, sentBy: sentBy, method: method)
        } else {
            guard let callID = request.callID else { return nil }
            let fromTag = request.from?.tag ?? ""
            // The top Via without the received/rport our transport added (§18.2.1).
            var clean = via
            clean.parameters.removeAll { $0.name.lowercased() == "received" || $0.name.lowercased() == "rport" }
            self = .rfc2543(requestURI: request.uri.description, fromTag: fromTag, callID: callID,
                            cseq: cseq.sequence, topVia: clean.description, method: method)
        }
    }

    /// The key of the INVITE transaction a CANCEL with this key cancels (§9.2).
    public var matchingInvite: ServerTransactionKey {
        switch self {
        case .rfc3261(let branch, let sentBy, _):
            .rfc3261(branch: branch, sentBy: sentBy, method: .invite)
        case .rfc2543(let uri, let fromTag, let callID, let cseq, let topVia, _):
            .rfc2543(requestURI: uri, fromTag: fromTag, callID: callID, cseq: cseq, topVia: topVia, method: .invite)
        }
    }

    public var isRFC2543: Bool {
        if case .rfc2543 = self { return true }
        return false
    }
}
