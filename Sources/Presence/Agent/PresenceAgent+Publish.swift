import SIPCore
import SIPTransaction
import Store

/// RFC 3903 §6: the event state compositor's handling of PUBLISH (presence only).
extension PresenceAgent {
    func publish(_ transaction: ServerTransaction, authenticatedUser: String?) {
        let request = transaction.request
        // Only the presentity publishes its own state (a From outside our domains is never
        // authenticated, so with authentication on it cannot publish for our users). Checked
        // before the user is looked up: the answer must not tell who exists.
        if configuration.authenticationRequired, authenticatedUser == nil {
            respond(transaction, 403, reason: "Not Your Presence")
            return
        }
        guard let presentity = Self.aor(of: request.uri), environment.isLocalUser(presentity) else {
            respond(transaction, 480)
            return
        }
        if let authenticatedUser, authenticatedUser != presentity {
            respond(transaction, 403, reason: "Not Your Presence")
            return
        }
        // §6 step 5: Expires — too short is 423, too long is shortened.
        var expires = request.expires ?? configuration.defaultPublishExpires
        if expires != 0, expires < configuration.minPublishExpires {
            respond(transaction, 423, headers: [("Min-Expires", "\(configuration.minPublishExpires)")])
            return
        }
        expires = min(expires, configuration.maxPublishExpires)
        // §6 step 4 / RFC 3856: the body is PIDF, parsed and checked before anything changes.
        var document: PIDFDocument?
        if !request.body.isEmpty {
            let type = request.contentType?.mediaType
            guard type == PresenceContentType.pidf else {
                respond(transaction, 415, headers: [("Accept", PresenceContentType.pidf)])
                return
            }
            do {
                document = try PIDFDocument.parse(request.body)
            } catch {
                respond(transaction, error.status, reason: "Bad PIDF: \(error.reason)")
                return
            }
        }
        let ifMatch = request.headers.first("SIP-If-Match")
        if ifMatch == nil, document == nil {
            respond(transaction, 400, reason: "Initial PUBLISH Without Body")  // §6 step 6
            return
        }
        let now = environment.clock.now()
        var sends: [PendingNotify] = []
        enum Outcome { case ok(etag: String?), refuse(Int, String?) }
        let outcome: Outcome = state.withLock { s -> Outcome in
            var publications = s.publications[presentity] ?? []
            var index: Int?
            if let ifMatch {
                // §6 step 3: the ETag must name one of this presentity's publications.
                guard s.etags[ifMatch] == presentity, let i = publications.firstIndex(where: { $0.etag == ifMatch })
                else { return .refuse(412, nil) }
                index = i
            }
            if expires == 0 {
                guard let index else { return .refuse(400, "Expires 0 Without SIP-If-Match") }
                let removed = publications.remove(at: index)
                guard journal.record([.removePublication(etag: removed.etag)]) else { return .refuse(503, nil) }
                s.etags[removed.etag] = nil
                s.publications[presentity] = publications.isEmpty ? nil : publications
                presentityChanged(presentity, &s, now: now, &sends)
                return .ok(etag: nil)
            }
            let etag = Self.makeTag()
            var changes: [PresenceChange] = []
            var publication: Publication
            if let index {
                publication = publications[index]
                changes.append(.removePublication(etag: publication.etag))
                s.etags[publication.etag] = nil
                publication.etag = etag
                publication.expiresAt = now + Int64(expires)
                if let document {  // modify (§6 step 7); else a refresh keeps the state
                    publication.document = document
                    publication.body = request.body
                    publication.publishedAt = now
                    s.publicationSequence += 1
                    publication.sequence = s.publicationSequence
                }
                publications[index] = publication
            } else {
                guard publications.count < configuration.maxPublicationsPerPresentity else { return .refuse(503, nil) }
                s.publicationSequence += 1
                publication = Publication(etag: etag, presentity: presentity, expiresAt: now + Int64(expires),
                                          document: document!, body: request.body, publishedAt: now,
                                          sequence: s.publicationSequence)
                publications.append(publication)
            }
            changes.append(.upsertPublication(publication.record))
            guard journal.record(changes) else { return .refuse(503, nil) }
            publications.sort { $0.sequence < $1.sequence }
            s.publications[presentity] = publications
            s.etags[etag] = presentity
            s.publicationExpiry[publication.expiresAt, default: []].append(etag)
            if document != nil { presentityChanged(presentity, &s, now: now, &sends) }
            return .ok(etag: etag)
        }
        switch outcome {
        case .refuse(let status, let reason):
            respond(transaction, status, reason: reason,
                    headers: status == 503 ? [("Retry-After", "\(configuration.retryAfter)")] : [])
        case .ok(let etag):
            var headers = [("Expires", "\(etag == nil ? 0 : expires)")]
            if let etag { headers.append(("SIP-ETag", etag)) }
            respond(transaction, 200, headers: headers)
            send(sends)
        }
    }
}
