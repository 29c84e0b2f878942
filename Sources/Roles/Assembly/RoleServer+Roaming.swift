import Logging
import Presence
import Store

extension RoleServer {
    /// The roaming agent (LCS 2003 contact lists, access lists over SOAP, directory search)
    /// over the store's contact lists and the presence agent's access lists.
    static func makeRoamingAgent(identity: ProxyIdentity, store: SQLiteStore, shared: (any SharedDirectoryStore)?,
                                 directory: UserDirectory, presence: PresenceAgent, journal: PresenceJournal,
                                 authentication: Bool, logger: Logger) async throws -> RoamingAgent {
        let serverName = identity.serverName
        let environment = RoamingAgent.Environment(
            isLocalUser: { aor in
                guard let user = directory.cachedUser(aor), user.enabled else { return false }
                return user.homeServer == nil || user.homeServer == serverName
            },
            contactURI: { transport in presence.contactURI(transport) },
            pendingWatchers: { aor in presence.pendingWatchers(of: aor) },
            accessChanged: { users in presence.accessChanged(users) },
            resourceState: { member, watcher in presence.resourceState(of: member, watcher: watcher) },
            publishState: { document, user, device, expires in
                presence.publishServiceState(document, presentity: user, device: device, expires: expires)
            },
            takeChanges: { presence.takeChanges() })
        do {
            let contacts = try await ContactLists.load(from: store, logger: logger)
            var configuration = RoamingAgent.Configuration()
            configuration.authenticationRequired = authentication
            let agent = RoamingAgent(configuration: configuration, environment: environment, contacts: contacts,
                                     access: presence.accessLists,
                                     store: shared.map { SplitRoamingStore(directory: $0, local: store) } ?? store,
                                     journal: journal, logger: logger)
            try await agent.restore(from: store)
            return agent
        } catch {
            throw RolesError(.startupFailed, "cannot load the contact lists: \(error)")
        }
    }
}
