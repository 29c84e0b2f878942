import SIPCore
import SIPDialog
import Store

/// Roaming subscriptions are persisted like presence subscriptions (``PresenceJournal``:
/// write-behind, the same `subscriptions` records), so that after a restart a device's
/// in-dialog refresh is accepted (not 481) and its next NOTIFY goes out in the same dialog.
///
/// A record's `event` is the package (`vnd-microsoft-roaming-contacts`, ...), or
/// ``RoamingAgent/listEvent`` for an RFC 4662 list subscription; the presence agent skips
/// these events when it restores its own. The flow is not persisted (its id means nothing
/// after a restart): a restored subscription's NOTIFYs go to the remote target until the
/// device's next refresh names the connection it now uses. The local CSeq is written every
/// ``RoamingAgent/seqPersistInterval`` NOTIFYs and a restore jumps twice as far (RFC 3261
/// §12.2.2: gaps are allowed, going back is not).
extension RoamingAgent {
    /// The `event` of a persisted list subscription (never a package the presence agent restores).
    static let listEvent = "eventlist.presence"
    /// Every how many NOTIFYs a subscription's CSeq is written.
    static let seqPersistInterval: UInt32 = 8

    /// Queues the subscription's current state for the store (under the agent's lock).
    @discardableResult
    func persist(_ sub: RoamingSubscription) -> Bool {
        guard let journal else { return true }
        let recorded = journal.record([.upsertSubscription(sub.record)])
        if recorded { sub.persistedSeq = sub.dialog.localSeq }
        return recorded
    }

    /// Queues the subscription's removal.
    func forget(_ id: String) {
        _ = journal?.record([.removeSubscription(id: id)])
    }

    /// Loads the persisted roaming subscriptions (not expired) back into memory.
    public func restore(from store: any PresenceStateStore) async throws(StoreError) {
        let records = try await store.loadSubscriptions(now: environment.clock.now())
        let restored = state.withLock { s -> Int in
            var count = 0
            for record in records {
                guard let sub = RoamingSubscription.restore(record, seqJump: 2 * Self.seqPersistInterval),
                      s.subscriptions[sub.id] == nil else { continue }
                // What the device was last shown is taken as the current state: only later
                // changes are NOTIFYed (the device's refresh brings the full state again).
                switch sub.package {
                case .acl where !sub.isList: sub.aclSent = access.entries(user: sub.user)
                case .wpending: sub.pendingSent = environment.pendingWatchers(sub.user)
                case .contacts where sub.isList:
                    var shown: [String: Int] = [:]
                    for contact in contacts.list(user: sub.user).contacts.prefix(Self.maxListMembersShown) {
                        shown[contact.uri] = environment.resourceState(contact.uri, sub.user).hashValue
                    }
                    sub.listSent = shown
                default: break
                }
                s.subscriptions[sub.id] = sub
                s.byUser[sub.user, default: []].append(sub.id)
                count += 1
            }
            return count
        }
        logger.info("roaming subscriptions restored", metadata: ["roaming.subscriptions": "\(restored)"])
    }
}

extension RoamingSubscription {
    /// The persisted form: the watcher and the presentity are both the user (a
    /// self-subscription, or the owner of the list subscribed to).
    var record: SubscriptionRecord {
        let event = (isList ? RoamingAgent.listEvent : package.rawValue) + (eventID.map { ";id=\($0)" } ?? "")
        return SubscriptionRecord(
            id: id, event: event, presentity: user, watcher: user, callID: dialog.id.callID,
            localTag: dialog.id.localTag, remoteTag: dialog.id.remoteTag, localURI: dialog.localURI,
            remoteURI: dialog.remoteURI, remoteTarget: dialog.remoteTarget, routeSet: dialog.routeSet,
            localCSeq: dialog.localSeq, remoteCSeq: dialog.remoteSeq ?? 0, expiresAt: expiresAt, flow: nil,
            state: "active", localContact: contact)
    }

    /// A persisted roaming subscription, nil for other records (the presence agent's).
    static func restore(_ r: SubscriptionRecord, seqJump: UInt32) -> RoamingSubscription? {
        let parts = r.event.split(separator: ";", maxSplits: 1)
        guard let first = parts.first else { return nil }
        let isList = first == RoamingAgent.listEvent
        guard let package = isList ? .contacts : RoamingPackage(rawValue: String(first)), package != .provisioning else {
            return nil
        }
        let eventID = parts.count > 1 && parts[1].hasPrefix("id=") ? String(parts[1].dropFirst(3)) : nil
        let dialog = StoredDialog(id: DialogID(callID: r.callID, localTag: r.localTag, remoteTag: r.remoteTag),
                                  localURI: r.localURI, remoteURI: r.remoteURI, remoteTarget: r.remoteTarget,
                                  routeSet: r.routeSet, localSeq: r.localCSeq &+ seqJump, remoteSeq: r.remoteCSeq,
                                  secure: false)
        guard dialog.dialog != nil else { return nil }
        let sub = RoamingSubscription(id: r.id, package: package, user: r.presentity, dialog: dialog, eventID: eventID,
                                      expiresAt: r.expiresAt, flowID: nil, flowAddress: nil,
                                      contact: r.localContact ?? "")
        sub.isList = isList
        sub.persistedSeq = dialog.localSeq
        return sub
    }
}
