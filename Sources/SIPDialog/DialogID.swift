import SIPCore

/// A dialog's identity (RFC 3261 §12): the Call-ID, the local tag and the remote tag.
/// For a UAS the local tag is the To tag of the requests it receives; for a UAC, the From tag.
public struct DialogID: Hashable, Sendable, CustomStringConvertible {
    public var callID: String
    public var localTag: String
    public var remoteTag: String

    public init(callID: String, localTag: String, remoteTag: String) {
        self.callID = callID
        self.localTag = localTag
        self.remoteTag = remoteTag
    }

    /// The dialog an incoming request belongs to, seen from the element that receives it
    /// (§12.2.2): local tag = To tag, remote tag = From tag. Nil when any of the three is
    /// missing (no To tag: the request is outside any dialog).
    public init?(incoming request: SIPRequest) {
        guard let callID = request.callID, let localTag = request.to?.tag, let remoteTag = request.from?.tag else { return nil }
        self.init(callID: callID, localTag: localTag, remoteTag: remoteTag)
    }

    public var description: String { "\(callID);local=\(localTag);remote=\(remoteTag)" }
}
