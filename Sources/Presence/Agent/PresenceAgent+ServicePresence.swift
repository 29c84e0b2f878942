import Store

/// State set by other means than PUBLISH: pidgin-sipe's `SERVICE` `setPresence` (LCS
/// 2003/2005, [MS-PRES] legacy presence, ``SOAPOperation/setPresence(_:)``) goes through the
/// same event state compositor as an RFC 3903 PUBLISH: one publication per device, replaced
/// by the device's next setPresence, persisted by the journal, composed with the user's other
/// publications and NOTIFYed to the watchers.
extension PresenceAgent {
    /// Publishes `document` for `presentity` as its device `device`'s state for `expires`
    /// seconds (replacing what that device set before). False when the journal is full or
    /// the user has too many publications (the caller answers 503).
    public func publishServiceState(_ document: PIDFDocument, presentity: String, device: String, expires: Int) -> Bool {
        // One entity-tag per (user, device): the device's next setPresence replaces it.
        let etag = "svc-" + String(UInt64(truncatingIfNeeded: Self.stableHash(presentity + "\u{0}" + device)), radix: 16)
        let now = environment.clock.now()
        let body = document.serialized()
        var sends: [PendingNotify] = []
        let accepted = state.withLock { s -> Bool in
            var publications = s.publications[presentity] ?? []
            publications.removeAll { $0.etag == etag }
            guard publications.count < configuration.maxPublicationsPerPresentity else { return false }
            s.publicationSequence += 1
            let publication = Publication(etag: etag, presentity: presentity, expiresAt: now + Int64(expires),
                                          document: document, body: body, publishedAt: now,
                                          sequence: s.publicationSequence)
            guard journal.record([.upsertPublication(publication.record)]) else { return false }
            publications.append(publication)
            s.publications[presentity] = publications
            s.etags[etag] = presentity
            s.publicationExpiry[publication.expiresAt, default: []].append(etag)
            presentityChanged(presentity, &s, now: now, &sends)
            return true
        }
        send(sends)
        return accepted
    }

    /// FNV-1a: a hash that is the same in every process (the entity-tag survives a restart).
    static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
