import SIPCore

/// The state of a dialog (RFC 3261 §12): what a UA needs to send requests in it and to
/// check the requests it receives in it. A value type: keep it in a ``DialogTable`` (or
/// any store) and change it under that table's lock.
///
/// Both sides are seen from this element: `local*` is us, `remote*` the peer.
public struct Dialog: Hashable, Sendable {
    /// Call-ID, local tag, remote tag (§12).
    public var id: DialogID
    /// Our URI: the From of our requests, without the tag (§12.1.1: the To of the request
    /// that created the dialog, for a UAS; §12.1.2: its From, for a UAC).
    public var localURI: NameAddr
    /// The peer's URI: the To of our requests, without the tag.
    public var remoteURI: NameAddr
    /// The CSeq number of the last request we sent in the dialog; ``makeRequest(_:headers:body:maxForwards:)``
    /// uses one more (§12.2.1.1).
    public var localSeq: UInt32
    /// The CSeq number of the last request the peer sent; nil until it sends one (a UAC,
    /// §12.1.2).
    public var remoteSeq: UInt32?
    /// Where our requests go when there is no route set: the peer's Contact (§12.1).
    public var remoteTarget: URI
    /// The Route values our requests carry, first hop first (§12.1).
    public var routeSet: [NameAddr]
    /// A sips dialog: every hop must be TLS (§12.1.1, §12.1.2, §26.2.2).
    public var secure: Bool

    /// A dialog restored from a store (every field as it was saved).
    public init(id: DialogID, localURI: NameAddr, remoteURI: NameAddr, localSeq: UInt32, remoteSeq: UInt32?,
                remoteTarget: URI, routeSet: [NameAddr], secure: Bool) {
        self.id = id
        self.localURI = localURI
        self.remoteURI = remoteURI
        self.localSeq = localSeq
        self.remoteSeq = remoteSeq
        self.remoteTarget = remoteTarget
        self.routeSet = routeSet
        self.secure = secure
    }

    /// The largest initial local sequence number a UAS picks (2³⁰): RFC 3261 §12.2.1.1 wants
    /// CSeq numbers below 2³¹, and the remaining 2³⁰ leave room both for the requests of a
    /// long dialog and for a dialog restored from a store to jump ahead of what it may have
    /// sent after it was saved.
    public static let maxInitialLocalSeq: UInt32 = 1 << 30

    /// A random first local CSeq in 1...``maxInitialLocalSeq`` (kernel randomness, buffered).
    static func initialLocalSeq() -> UInt32 {
        var generator = KernelRandom()
        return UInt32.random(in: 1...maxInitialLocalSeq, using: &generator)
    }

    /// The dialog a UAS creates when it answers `request` with a 2xx (or a 101-199 with a To
    /// tag) (RFC 3261 §12.1.1; RFC 6665 §4.2.1 for SUBSCRIBE):
    /// - route set = the Record-Route values in order (empty when there are none);
    /// - remote target = the one Contact URI (400 when there is none or more than one);
    /// - remote sequence number = the request's CSeq number;
    /// - remote tag = the From tag (400 when absent: RFC 2543 peers are not supported);
    ///   local tag = `localTag`, the tag our responses carry in To;
    /// - local sequence number: §12.1.1 leaves it empty; we pick a random start in
    ///   1...``maxInitialLocalSeq`` now, so the first request we send has a valid number
    ///   and a restored dialog can jump ahead of it;
    /// - secure when the Request-URI is sips and the request came over TLS
    ///   (`secureTransport`).
    ///
    /// The creating request has been taken in: do not pass it to ``receive(_:)`` (its CSeq
    /// number equals the remote sequence number, so it would be rejected as out of order).
    public static func uas(request: SIPRequest, localTag: String, secureTransport: Bool = false) throws(DialogError) -> Dialog {
        guard let callID = request.callID else { throw DialogError(.missingCallID, "no Call-ID", status: 400) }
        guard let cseq = try? request.cseq else { throw DialogError(.missingCSeq, "no valid CSeq", status: 400) }
        guard let from = request.from, let to = request.to else {
            throw DialogError(.missingFromOrTo, "From or To missing or malformed", status: 400)
        }
        guard let remoteTag = from.tag, !remoteTag.isEmpty else {
            throw DialogError(.missingFromTag, "From has no tag", status: 400)
        }
        let remoteTarget = try contactURI(request.contacts, status: 400)
        let secure = secureTransport && request.uri.sipURI?.secure == true
        return Dialog(id: DialogID(callID: callID, localTag: localTag, remoteTag: remoteTag),
                      localURI: to.withoutTag, remoteURI: from.withoutTag,
                      localSeq: Self.initialLocalSeq(), remoteSeq: cseq.sequence,
                      remoteTarget: remoteTarget, routeSet: request.recordRoutes, secure: secure)
    }

    /// The dialog a UAC creates from its `request` and a 2xx (or a 101-199 with a To tag)
    /// `response` to it (RFC 3261 §12.1.2):
    /// - route set = the response's Record-Route values in reverse order;
    /// - remote target = the response's one Contact URI;
    /// - local sequence number = the request's CSeq number; remote sequence number empty;
    /// - local tag = the request's From tag, remote tag = the response's To tag;
    /// - secure when the request's Request-URI is sips.
    ///
    /// Errors carry no status: no request waits for an answer.
    public static func uac(request: SIPRequest, response: SIPResponse) throws(DialogError) -> Dialog {
        guard let callID = request.callID else { throw DialogError(.missingCallID, "no Call-ID") }
        guard let cseq = try? request.cseq else { throw DialogError(.missingCSeq, "no valid CSeq") }
        guard let from = request.from, let to = response.to else {
            throw DialogError(.missingFromOrTo, "From of the request or To of the response missing or malformed")
        }
        guard let localTag = from.tag, !localTag.isEmpty else { throw DialogError(.missingFromTag, "the request's From has no tag") }
        guard let remoteTag = to.tag, !remoteTag.isEmpty else { throw DialogError(.missingToTag, "the response's To has no tag") }
        let remoteTarget = try contactURI(response.contacts, status: nil)
        return Dialog(id: DialogID(callID: callID, localTag: localTag, remoteTag: remoteTag),
                      localURI: from.withoutTag, remoteURI: to.withoutTag,
                      localSeq: cseq.sequence, remoteSeq: nil,
                      remoteTarget: remoteTarget, routeSet: response.recordRoutes.reversed(),
                      secure: request.uri.sipURI?.secure == true)
    }

    /// The URI of the one Contact value (§12.1.1, §12.1.2), for a remote target.
    static func contactURI(_ contacts: [ContactValue], status: Int?) throws(DialogError) -> URI {
        guard contacts.count == 1, let only = contacts.first, let nameAddr = only.nameAddr else {
            throw DialogError(.badContact, contacts.isEmpty ? "no Contact" : "a dialog needs exactly one Contact URI",
                              status: status)
        }
        return nameAddr.uri
    }
}

extension NameAddr {
    /// The same name-addr without its `tag` parameter (a dialog's local or remote URI).
    var withoutTag: NameAddr {
        var copy = self
        copy.tag = nil
        return copy
    }
}
