import SIPCore
import SIPTransaction
import Store

/// `SERVICE` requests ([MS-SIP] §2.2.4): SOAP operations on the caller's own roaming data,
/// and directory searches ([MS-PRES] §2.2.1). Validation happens on the event loop (a bad
/// body is answered 400 with the reason, nothing stored); the change leaves the loop for the
/// store's commit and the 200 is sent once it is durable, then the user's other devices get
/// a NOTIFY with the new list.
extension RoamingAgent {
    func service(_ transaction: ServerTransaction, user: String) {
        let request = transaction.request
        // To oneself, or to one's domain (sipe sends directory searches to sip:DOMAIN).
        if let sip = request.uri.sipURI, sip.user != nil, Self.aor(of: request.uri) != user {
            respond(transaction, 403, reason: "Roaming Data Is Private")
            return
        }
        guard request.body.count <= SOAPOperation.maxBodyBytes else {
            respond(transaction, 413, reason: "SOAP Body Too Large")
            return
        }
        let operation: SOAPOperation
        do { operation = try SOAPOperation.parse(request.body) } catch {
            logger.info("SERVICE refused", metadata: ["sip.aor": "\(user)", "sip.status": "\(error.status)",
                                                      "roaming.reason": "\(error.reason)"])
            respond(transaction, error.status, reason: error.reason)
            return
        }
        let source = transaction.source
        let deviceContact = request.contacts.first?.nameAddr?.uri.description
        let clientDeltaNum = ContactDelta.clientDeltaNum(request.body)
        if case .contacts = operation {} else {
            noteDevice(user: user, source: source, contact: deviceContact, deltaNum: clientDeltaNum, changed: nil)
        }
        switch operation {
        case .contacts(let change):
            Task { [self] in
                do throws(StoreError) {
                    let update = try await contacts.apply(user: user, change)
                    noteDevice(user: user, source: source, contact: deviceContact, deltaNum: clientDeltaNum, changed: update.list)
                    answer(transaction, RoamingDocuments.contactsAnswer(ContactLists.name(of: change), update: update))
                    listChanged(user, package: .contacts, except: source, exceptContact: deviceContact)
                } catch {
                    refuse(transaction, RoamingError(error), user: user)
                }
            }
        case .setACE(let watcher, let rule):
            Task { [self] in
                do throws(StoreError) {
                    try await store.setAccess(user: user, watcher: watcher, rule: rule)
                    // Applied here at once (not a second later by the presence agent's
                    // refresher): the agent re-decides the watchers of what changed.
                    var changed = (try? await access.refreshIfChanged()) ?? []
                    changed.insert(user)
                    environment.accessChanged(changed)
                    answer(transaction, RoamingDocuments.soap("setACE", [("deltaNum", "\(contacts.list(user: user).deltaNum)")]))
                    listChanged(user, package: .acl, except: source, exceptContact: deviceContact)
                    logger.info("access list changed by SERVICE", metadata: [
                        "sip.aor": "\(user)", "presence.watcher": "\(watcher)", "presence.rule": "\(rule.rawValue)",
                    ])
                } catch {
                    refuse(transaction, RoamingError(error), user: user)
                }
            }
        case .setPresence(let presence):
            setPresence(transaction, presence, user: user)
        case .directorySearch(var query):
            // Results never leave the caller's domain.
            query.domain = String(user[user.index(after: user.lastIndex(of: "@")!)...])
            let search = query
            Task { [self] in
                do throws(StoreError) {
                    let result = try await store.searchDirectory(search)
                    answer(transaction, RoamingDocuments.searchAnswer(result.entries, more: result.more))
                } catch {
                    refuse(transaction, RoamingError(error), user: user)
                }
            }
        }
    }

    /// `setPresence`: the caller's own state only, published like a PUBLISH from this device
    /// (its deviceId, else its Contact) for ``Configuration/defaultExpires`` seconds; LCS
    /// clients set it again on every change.
    func setPresence(_ transaction: ServerTransaction, _ presence: ServicePresence, user: String) {
        guard presence.presentity == user else {
            respond(transaction, 403, reason: "Not Your Presence")
            return
        }
        let device = presence.device ?? transaction.request.contacts.first?.nameAddr?.uri.description ?? user
        let tupleID = "lcs-" + String(PresenceAgent.stableHash(device), radix: 16)
        let document = presence.state.document(entity: "sip:\(user)", tupleID: tupleID)
        guard environment.publishState(document, user, device, configuration.defaultExpires) else {
            respond(transaction, 503, headers: [("Retry-After", "\(configuration.retryAfter)")])
            return
        }
        logger.debug("presence set by SERVICE", metadata: ["sip.aor": "\(user)", "presence.state": "\(presence.state.rawValue)"])
        answer(transaction, RoamingDocuments.soap("setPresence", []))
    }

    func answer(_ transaction: ServerTransaction, _ body: [UInt8]) {
        respond(transaction, 200, headers: [("Content-Type", RoamingDocuments.soapContentType)], body: body)
    }

    func refuse(_ transaction: ServerTransaction, _ error: RoamingError, user: String) {
        logger.info("SERVICE refused", metadata: ["sip.aor": "\(user)", "sip.status": "\(error.status)",
                                                  "roaming.reason": "\(error.reason)"])
        var headers: [(String, String)] = []
        if error.status >= 500 { headers.append(("Retry-After", "\(configuration.retryAfter)")) }
        respond(transaction, error.status, reason: error.reason, headers: headers)
    }
}

extension PresenceAgent {
    /// The watchers of `presentity` waiting for its consent (pending subscriptions, RFC 3857
    /// §5.2), sorted: what `presence.wpending` shows.
    public func pendingWatchers(of presentity: String) -> [String] {
        let watchers = state.withLock { s -> [String] in
            (s.watchers[presentity] ?? []).compactMap { id in
                guard let sub = s.subscriptions[id], sub.status == .pending else { return nil }
                return sub.watcher
            }
        }
        return Array(Set(watchers)).sorted()
    }

    /// What `watcher` may see of `presentity` (a member of its RFC 4662 list): the composed
    /// state when allowed, offline when politely blocked, pending while the presentity has
    /// not decided; unknown for users not homed here.
    public func resourceState(of presentity: String, watcher: String) -> ResourceState {
        guard environment.isLocalUser(presentity) else { return .unknown }
        switch access.decide(presentity: presentity, watcher: watcher) {
        case .pending: return .pending
        case .block: return .active(Self.offlineBody(presentity))
        case .allow: return .active(state.withLock { s in view(of: presentity, &s).body })
        }
    }

    /// The presentities whose view may have changed since the last call (a state recomposed,
    /// an access decision moved), lowercased; `.all` when too many to list or a whole domain.
    public func takeChanges() -> PresenceChanges {
        changes.withLock { log in
            defer { log = .some([]) }
            return log
        }
    }

    func logChanges(_ presentities: Set<String>) {
        changes.withLock { log in
            guard case .some(var set) = log else { return }
            log = .all  // no copy of the set while it grows
            for p in presentities {
                if p.hasPrefix("*@") { return }  // a domain's default: every presentity of it
                set.insert(PresenceChanges.folded(p))
            }
            if set.count <= Self.maxLoggedChanges { log = .some(set) }
        }
    }

    /// The access lists this agent decides with (a `setACE` writes through them).
    public var accessLists: AccessLists { access }
}

/// What ``PresenceAgent/takeChanges()`` reports.
public enum PresenceChanges: Sendable, Equatable {
    /// Anything may have changed.
    case all
    /// These presentities (lowercased) may have changed; nothing else did.
    case some(Set<String>)

    /// Whether any of `presentities` may have changed.
    public func touches<S: Sequence>(_ presentities: S) -> Bool where S.Element == String {
        switch self {
        case .all: true
        case .some(let set): !set.isEmpty && presentities.contains { set.contains(Self.folded($0)) }
        }
    }

    /// `aor` lowercased, without a copy when it has no capital (the common case: AORs are
    /// stored normalized), since both sides run per REGISTER and per list member.
    static func folded(_ aor: String) -> String {
        aor.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? aor.lowercased() : aor
    }
}
