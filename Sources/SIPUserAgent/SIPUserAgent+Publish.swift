import PresenceDocuments
import SIPCore

/// Our publication (RFC 3903): its entity tag, the document, and when to refresh it.
struct Publication {
    var status: PresenceStatus
    var note: String?
    var etag: String
    var expires: Int
    var refreshAt: ContinuousClock.Instant
}

extension SIPUserAgent {
    /// The tuple id of our publications: one per user agent instance.
    var tupleID: String { "ua-" + instanceID.suffix(12) }

    /// Publishes our presence (RFC 3903 PUBLISH, `Event: presence`) as a PIDF document with
    /// RPID activities for `state` and `note` as the tuple's note (RFC 3863, RFC 4480; the
    /// mapping of ``PresenceStatus``). The first call creates the publication; later calls
    /// modify it (`SIP-If-Match` with the entity tag and a new body, §4.4). It is refreshed
    /// before it expires (`SIP-If-Match`, no body, §4.2) and removed by ``unpublish()`` or
    /// ``stop()``. A `412` on a modification or refresh publishes anew.
    /// - Throws: ``SIPUserAgentError/rejected(status:reason:)`` and the transport errors.
    public func publish(state status: PresenceStatus, note: String? = nil) async throws(SIPUserAgentError) {
        guard state.withLock({ $0.phase == .running }) else { throw .notRunning }
        let etag = state.withLock { $0.publication?.etag }
        let response = try await sendPublish(status: status, note: note, etag: etag, expires: account.publicationExpires)
        try recordPublication(response, status: status, note: note)
    }

    /// Removes our publication (PUBLISH with `SIP-If-Match` and `Expires: 0`, RFC 3903 §4.5);
    /// watchers then see what the server composes without it. Nothing when there is none.
    public func unpublish() async throws(SIPUserAgentError) {
        guard let etag = state.withLock({ s -> String? in defer { s.publication = nil }; return s.publication?.etag }) else { return }
        let request = makeRequest(.publish, to: account.aor,
                                  headers: [("Event", "presence"), ("SIP-If-Match", etag), ("Expires", "0")])
        let (_, response) = try await stack.send(request, digest: digest)
        guard (200..<300).contains(response.statusCode) || response.statusCode == 412 else {
            throw .rejected(status: response.statusCode, reason: response.reasonPhrase)
        }
    }

    /// One PUBLISH: with `etag` and a body a modification, with neither an initial one; a 412
    /// for an `etag` the server no longer knows is retried as an initial publication.
    func sendPublish(status: PresenceStatus, note: String?, etag: String?, expires: Int,
                     refreshOnly: Bool = false) async throws(SIPUserAgentError) -> SIPResponse {
        var headers = [("Event", "presence"), ("Expires", "\(expires)")]
        if let etag { headers.append(("SIP-If-Match", etag)) }
        var body: [UInt8] = []
        if !refreshOnly || etag == nil {
            headers.append(("Content-Type", PresenceContentType.pidf))
            body = status.lcsState.document(entity: "sip:\(account.aor)", tupleID: tupleID, note: note).serialized()
        }
        let request = makeRequest(.publish, to: account.aor, headers: headers, body: body)
        let (_, response) = try await stack.send(request, digest: digest)
        if response.statusCode == 412, etag != nil {
            return try await sendPublish(status: status, note: note, etag: nil, expires: expires)
        }
        return response
    }

    /// Keeps the entity tag and interval of a 2xx (RFC 3903 §4.1: `SIP-ETag`, `Expires`).
    func recordPublication(_ response: SIPResponse, status: PresenceStatus, note: String?) throws(SIPUserAgentError) {
        guard (200..<300).contains(response.statusCode), let etag = response.headers.first("SIP-ETag") else {
            throw .rejected(status: response.statusCode, reason: response.reasonPhrase)
        }
        let expires = response.expires ?? account.publicationExpires
        state.withLock { s in
            s.publication = Publication(status: status, note: note, etag: etag, expires: expires,
                                        refreshAt: .now + refreshDelay(granted: expires, margin: account.refreshMargin))
        }
        alarm.ring()
    }

    /// The maintenance task's refresh of our publication (RFC 3903 §4.2).
    func refreshPublication() async {
        guard let publication = state.withLock({ $0.publication }) else { return }
        do {
            let response = try await sendPublish(status: publication.status, note: publication.note, etag: publication.etag,
                                                 expires: account.publicationExpires, refreshOnly: true)
            try recordPublication(response, status: publication.status, note: publication.note)
        } catch {
            logger.notice("publication refresh failed", metadata: ["sip.aor": "\(account.aor)", "sip.error": "\(error)"])
            state.withLock { s in s.publication?.refreshAt = .now + .seconds(5) }
        }
    }
}
