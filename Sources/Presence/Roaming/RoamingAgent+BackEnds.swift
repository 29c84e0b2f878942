import SIPCore
import SIPDialog
import SIPTransaction

/// RFC 4662 §4.4: the list server's back-end subscriptions to members homed on other
/// servers (``ListBackEnds``), kept in step with the owners' lists and list subscriptions.
extension RoamingAgent {
    /// Connects the list server to the server's routing, which makes back-end subscriptions
    /// to list members homed elsewhere possible (without it they are listed without state).
    public func attachBackEnds(_ routing: ListBackEndRouting) { backEnds.attach(routing) }

    /// True for a NOTIFY inside one of the list server's back-end dialogs.
    public func ownsBackEndDialog(of request: SIPRequest) -> Bool { backEnds.owns(request) }

    /// Back-end subscriptions held (tests, metrics).
    public var backEndCount: Int { backEnds.count }

    /// The state of a remote list member as `owner`'s back-end subscription last heard it.
    func backEndState(owner: String, member: String) -> ResourceState {
        backEnds.resourceState(owner: owner, member: member)
    }

    /// Brings the back-end subscriptions in step: for each owner in `listOwners` (those
    /// holding list subscriptions) whose list changed since the last call, one per remote
    /// member; when `complete` (the sweep's call, naming every such owner), for owners no
    /// longer holding any, none. Called outside the lock.
    func syncBackEnds(listOwners: Set<String>, complete: Bool = true) {
        guard backEnds.isEnabled else { return }
        if complete {
            for owner in backEnds.owners.subtracting(listOwners) where backEnds.takeVersion(owner: owner, nil) {
                backEnds.reconcile(owner: owner, members: [])
            }
        }
        for owner in listOwners {
            let list = contacts.list(user: owner)
            guard backEnds.takeVersion(owner: owner, list.deltaNum) else { continue }
            let members = list.contacts.prefix(Self.maxListMembersShown).map(\.uri).filter { backEnds.isRemote($0) }
            backEnds.reconcile(owner: owner, members: members)
        }
    }

    /// The owners holding list subscriptions. Called under the lock.
    static func listOwners(_ s: borrowing State) -> Set<String> {
        var owners = Set<String>()
        for sub in s.subscriptions.values where sub.isList { owners.insert(sub.user) }
        return owners
    }
}

extension RoamingAgent {
    /// The dialogs of the back-end subscriptions established so far (tests, diagnostics).
    public var backEndDialogIDs: [DialogID] { backEnds.dialogIDs }
}
