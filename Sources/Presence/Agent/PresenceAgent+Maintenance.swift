import SIPCore
import SIPDialog
import Store

/// What changes with time and from outside a request: expiry (RFC 6665 §4.2.2 "timeout",
/// RFC 3903 §5), sign-in and sign-out, access-list changes made by `sipctl`, and restoring
/// the state after a restart.
extension PresenceAgent {
    /// Loads the persisted subscriptions and publications (not expired), as they were: the
    /// watchers keep their dialogs, the next NOTIFY goes out in the same one.
    public func restore(from store: any PresenceStateStore) async throws(StoreError) {
        let now = environment.clock.now()
        let records = try await store.loadSubscriptions(now: now)
        let publications = try await store.loadPublications(now: now)
        var restoredSubscriptions = 0
        var restoredPublications = 0
        state.withLock { s in
            for record in records {
                guard let sub = Subscription.restore(record, seqJump: 2 * Self.seqPersistInterval) else { continue }
                insert(sub, &s)
                restoredSubscriptions += 1
            }
            for record in publications {
                guard let document = try? PIDFDocument.parse(record.body) else { continue }
                s.publicationSequence += 1
                let publication = Publication(etag: record.etag, presentity: record.presentity,
                                              expiresAt: record.expiresAt, document: document, body: record.body,
                                              publishedAt: record.publishedAt, sequence: s.publicationSequence)
                s.publications[record.presentity, default: []].append(publication)
                s.etags[record.etag] = record.presentity
                s.publicationExpiry[record.expiresAt, default: []].append(record.etag)
                restoredPublications += 1
            }
            for key in s.publications.keys {
                s.publications[key]?.sort { ($0.publishedAt, $0.sequence) < ($1.publishedAt, $1.sequence) }
            }
        }
        logger.info("presence state restored", metadata: [
            "presence.subscriptions": "\(restoredSubscriptions)", "presence.publications": "\(restoredPublications)",
        ])
    }

    /// Runs until cancelled: the once-a-second sweep (expiry, sign-in/out) and the access
    /// lists' refresher (a `sipctl acl` change reaches live subscriptions within a second
    /// or two).
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                await access.runRefresher(every: .seconds(1)) { [self] changed in accessChanged(changed) }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: .seconds(1)) } catch { return }
                    sweep()
                }
            }
        }
    }

    /// Expires what is due and notices users who signed in or out (a binding added, removed
    /// or expired) since the last sweep.
    public func sweep() {
        let now = environment.clock.now()
        var sends: [PendingNotify] = []
        state.withLock { s in
            var due: [Int64] = []
            if now - s.sweptUntil > 86_400 {
                due = s.subscriptionExpiry.keys.filter { $0 <= now } + s.publicationExpiry.keys.filter { $0 <= now }
            } else if now > s.sweptUntil {
                due = Array((s.sweptUntil + 1)...now)
                // Entries filed before the first sweep (restored, or at second 0).
                due.append(s.sweptUntil)
            }
            s.sweptUntil = max(s.sweptUntil, now)
            var changed: Set<String> = []
            for second in due {
                for id in s.subscriptionExpiry.removeValue(forKey: second) ?? [] {
                    guard let sub = s.subscriptions[id], sub.filedAt == second else { continue }  // gone, or filed earlier
                    guard sub.expiresAt <= now else {
                        file(sub, at: sub.expiresAt, &s)  // refreshed since it was filed
                        continue
                    }
                    // §4.2.2: the subscription timed out — a last NOTIFY says so.
                    remove(sub, &s)
                    _ = journal.record([.removeSubscription(id: sub.id)])
                    if let notify = makeNotify(sub, &s, now: now, terminated: "timeout") { sends.append(notify) }
                    if sub.package == .presence { winfoChanged(sub.presentity, &s, now: now, &sends) }
                }
                for etag in s.publicationExpiry.removeValue(forKey: second) ?? [] {
                    guard let presentity = s.etags[etag], var list = s.publications[presentity],
                          let i = list.firstIndex(where: { $0.etag == etag }), list[i].expiresAt <= now else { continue }
                    list.remove(at: i)
                    s.publications[presentity] = list.isEmpty ? nil : list
                    s.etags[etag] = nil
                    _ = journal.record([.removePublication(etag: etag)])
                    changed.insert(presentity)
                }
            }
            // Sign-in and sign-out of watched presentities; a presentity removed or disabled
            // in the directory ends its subscriptions (§4.1.3 "noresource").
            var gone: [String] = []
            for (presentity, view) in s.views {
                if !environment.isLocalUser(presentity) {
                    gone.append(presentity)
                } else if view.registered != !environment.registeredContacts(presentity).isEmpty {
                    changed.insert(presentity)
                }
            }
            for presentity in gone {
                changed.remove(presentity)
                let ids = (s.watchers[presentity] ?? []) + (s.winfoWatchers[presentity] ?? [])
                for id in ids {
                    guard let sub = s.subscriptions[id] else { continue }
                    remove(sub, &s)
                    _ = journal.record([.removeSubscription(id: sub.id)])
                    if let notify = makeNotify(sub, &s, now: now, terminated: "noresource") { sends.append(notify) }
                }
                logger.info("subscriptions ended: presentity no longer here",
                            metadata: ["presence.presentity": "\(presentity)", "presence.subscriptions": "\(ids.count)"])
            }
            for presentity in changed { registrationOrStateChanged(presentity, &s, now: now, &sends) }
            retryDeferred(&s, now: now, &sends)
        }
        send(sends)
    }

    /// A registration of `aor` changed (the registrar calls this once the change is durable):
    /// its watchers see it at once rather than at the next sweep.
    public func registrationChanged(_ aor: String) {
        logChanges([aor])  // the list server composes it even when no one watches it directly
        let now = environment.clock.now()
        var sends: [PendingNotify] = []
        state.withLock { s in
            guard s.watchers[aor] != nil || s.publications[aor] != nil else { return }
            registrationOrStateChanged(aor, &s, now: now, &sends)
        }
        send(sends)
    }

    /// Signing out everywhere ends the user's publications too (LCS: signed out is
    /// offline, whatever a device last published).
    func registrationOrStateChanged(_ presentity: String, _ s: inout State, now: Int64, _ sends: inout [PendingNotify]) {
        let registered = !environment.registeredContacts(presentity).isEmpty
        if !registered, s.views[presentity]?.registered == true, let publications = s.publications[presentity] {
            for publication in publications {
                s.etags[publication.etag] = nil
                _ = journal.record([.removePublication(etag: publication.etag)])
            }
            s.publications[presentity] = nil
        }
        presentityChanged(presentity, &s, now: now, &sends)
    }

    /// Access lists changed (`sipctl acl`): re-decide every subscription to these
    /// presentities (`*@domain`: every presentity of the domain) and NOTIFY those whose
    /// decision moved — pending to active with the real state, active to politely blocked
    /// (they see offline), and back.
    public func accessChanged(_ presentities: Set<String>) {
        logChanges(presentities)
        let now = environment.clock.now()
        var sends: [PendingNotify] = []
        state.withLock { s in
            let domains = Set(presentities.filter { $0.hasPrefix("*@") }.map { String($0.dropFirst(2)) })
            let affected = s.watchers.keys.filter { p in
                presentities.contains(p) || (!domains.isEmpty && domains.contains(Self.domain(of: p)))
            }
            for presentity in affected {
                var moved = false
                for id in s.watchers[presentity] ?? [] {
                    guard let sub = s.subscriptions[id] else { continue }
                    let decision = access.decide(presentity: presentity, watcher: sub.watcher)
                    let status: SubscriptionStatus = decision == .pending ? .pending : .active
                    let blocked = decision == .block
                    guard status != sub.status || blocked != sub.blocked else { continue }
                    sub.status = status
                    sub.blocked = blocked
                    moved = true
                    _ = journal.record([.upsertSubscription(sub.record)])
                    logger.info("watcher authorization changed", metadata: [
                        "presence.presentity": "\(presentity)", "presence.watcher": "\(sub.watcher)",
                        "presence.decision": "\(decision)",
                    ])
                    if let notify = requestNotify(sub, &s, now: now) { sends.append(notify) }
                }
                if moved { winfoChanged(presentity, &s, now: now, &sends) }
            }
        }
        send(sends)
    }

    static func domain(of aor: String) -> String {
        guard let at = aor.lastIndex(of: "@") else { return "" }
        return String(aor[aor.index(after: at)...])
    }
}
