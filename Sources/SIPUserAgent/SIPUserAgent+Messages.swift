import Foundation
import SIPCore
import SIPTransaction

extension SIPUserAgent {
    /// Sends `text` as an instant message (RFC 3428 MESSAGE, `text/plain`) to `target`
    /// (`bob@example.com`, `sip:bob@example.com`, or `bob` in our domain) through the proxy,
    /// answering a digest challenge, and returns the final 2xx.
    ///
    /// With `requestingDeliveryNotification`, the text goes inside a `message/cpim` body
    /// (RFC 3862) with `imdn.Message-ID`, `DateTime` and `imdn.Disposition-Notification:
    /// positive-delivery` (RFC 5438 §6); wait for the answer with
    /// ``deliveryNotification(for:timeout:)``.
    /// - Throws: ``SIPUserAgentError/rejected(status:reason:)`` for a final response that is
    ///   not 2xx (480 when the peer is not signed in), ``SIPUserAgentError/timeout``,
    ///   ``SIPUserAgentError/transport(_:)``, ``SIPUserAgentError/notRunning``.
    @discardableResult
    public func send(text: String, to target: String,
                     requestingDeliveryNotification: Bool = false) async throws(SIPUserAgentError) -> SentMessage {
        guard state.withLock({ $0.phase == .running }) else { throw .notRunning }
        let aor = try normalizedAOR(target)
        var messageID: String?
        let body: [UInt8]
        let contentType: String
        if requestingDeliveryNotification {
            let id = Self.randomToken() + Self.randomToken()
            messageID = id
            let cpim = CPIMMessage(
                headers: [("From", "<sip:\(account.aor)>"), ("To", "<sip:\(aor)>"), ("NS", "imdn <\(IMDN.cpimNamespace)>"),
                          ("imdn.Message-ID", id), ("DateTime", Self.now()),
                          ("imdn.Disposition-Notification", "positive-delivery")],
                contentHeaders: [("Content-Type", "text/plain;charset=utf-8")], content: Array(text.utf8))
            body = cpim.serialized()
            contentType = IMDN.cpimContentType
        } else {
            body = Array(text.utf8)
            contentType = "text/plain;charset=utf-8"
        }
        let request = makeRequest(.message, to: aor, headers: [("Content-Type", contentType)], body: body)
        let (_, response) = try await stack.send(request, digest: digest)
        guard (200..<300).contains(response.statusCode) else {
            throw .rejected(status: response.statusCode, reason: response.reasonPhrase)
        }
        return SentMessage(status: response.statusCode, reason: response.reasonPhrase, messageID: messageID)
    }

    /// Waits for the RFC 5438 delivery notification of `message` (sent with
    /// `requestingDeliveryNotification`); one that arrived before the call is returned at once.
    /// - Throws: ``SIPUserAgentError/timeout`` when none arrives within `timeout`,
    ///   ``SIPUserAgentError/invalidArgument(_:)`` for a message sent without asking for one,
    ///   ``SIPUserAgentError/cancelled``, ``SIPUserAgentError/notRunning`` when stopped meanwhile.
    public func deliveryNotification(for message: SentMessage,
                                     timeout: Duration = .seconds(30)) async throws(SIPUserAgentError) -> DeliveryNotification {
        guard let id = message.messageID else { throw .invalidArgument("the message was sent without asking for a notification") }
        let layer = stack.layer
        return try await deliveries.wait(for: id, timeout: timeout) { delay, body in layer.schedule(after: delay, body) }.get()
    }

    /// An out-of-dialog request from us to `aor` through the proxy: a new Call-ID and From
    /// tag, CSeq 1 (RFC 3261 §8.1.1), `headers`, `body` and its Content-Length.
    func makeRequest(_ method: SIPMethod, to aor: String, headers: [(String, String)], body: [UInt8] = [],
                     callID: String? = nil, fromTag: String? = nil) -> SIPRequest {
        var request = SIPRequest(method: method, uri: URI("sip:\(aor)") ?? .sip(SIPURI(host: account.domain)))
        let name = account.displayName.map { "\"\($0)\" " } ?? ""
        request.headers.append("Max-Forwards", "70")
        request.headers.append("From", "\(name)<sip:\(account.aor)>;tag=\(fromTag ?? Self.randomToken())")
        request.headers.append("To", "<sip:\(aor)>")
        request.headers.append("Call-ID", callID ?? Self.randomToken() + "@" + account.domain)
        request.headers.append("CSeq", "1 \(method.rawValue)")
        request.headers.append("User-Agent", Self.product)
        for (name, value) in headers { request.headers.append(name, value) }
        request.headers.append("Content-Length", "\(body.count)")
        request.body = body
        return request
    }

    /// RFC 3339 date-time, as CPIM's `DateTime` (RFC 3862 §5.6) and IMDN's `datetime` want.
    static func now() -> String {
        ISO8601DateFormatter().string(from: Date())
    }

    // MARK: incoming MESSAGE (on the event loop)

    /// Answers an incoming MESSAGE and hands it on: a delivery notification to its waiter, an
    /// instant message to ``messages`` (486 when that buffer is full), then, when asked for
    /// and allowed, our own delivery notification back (RFC 5438 §7.2.1).
    func receiveMessage(_ transaction: ServerTransaction) {
        let request = transaction.request
        let from = request.from
        let sender = Self.bareAOR(from?.uri)
        var contentType = CPIMMessage.bareType(request.headers.first("Content-Type") ?? "text/plain")
        var content = request.body
        var cpim: CPIMMessage?
        if contentType == IMDN.cpimContentType, let parsed = CPIMMessage.parse(request.body) {
            cpim = parsed
            contentType = parsed.contentType ?? "text/plain"
            content = parsed.content
        }
        if contentType == IMDN.contentType {
            try? transaction.respond(200)
            guard let document = IMDN.Document.parse(content) else { return }
            deliveries.deliver(DeliveryNotification(messageID: document.messageID, status: document.status, from: sender,
                                                    recipient: document.recipientURI, dateTime: document.dateTime))
            return
        }
        let disposition = cpim?.header("imdn.Disposition-Notification")?.lowercased() ?? ""
        let message = InstantMessage(
            from: sender, fromDisplayName: from?.displayName,
            to: Self.bareAOR(request.to?.uri ?? request.uri),
            text: String(decoding: content, as: UTF8.self), contentType: contentType,
            messageID: cpim?.header("imdn.Message-ID"), requestsDeliveryNotification: disposition.contains("positive-delivery"))
        if case .dropped = messageSink.yield(message) {
            try? transaction.respond(486, reasonPhrase: "Busy Here (too many unread messages)")
            return
        }
        try? transaction.respond(200)
        if message.requestsDeliveryNotification, account.sendsDeliveryNotifications, let id = message.messageID {
            sendDeliveryNotification(messageID: id, to: sender, dateTime: cpim?.header("DateTime"),
                                     recipient: "sip:\(message.to)")
        }
    }

    /// RFC 5438 §7.2.1.1: a positive delivery notification for message `messageID`, a
    /// MESSAGE to its sender carrying `message/cpim` around `message/imdn+xml`. Sent with the
    /// callback form; a failure is logged.
    func sendDeliveryNotification(messageID: String, to sender: String, dateTime: String?, recipient: String) {
        let document = IMDN.Document(messageID: messageID, dateTime: dateTime, recipientURI: recipient,
                                     originalRecipientURI: recipient, status: "delivered")
        let cpim = CPIMMessage(
            headers: [("From", "<sip:\(account.aor)>"), ("To", "<sip:\(sender)>"), ("NS", "imdn <\(IMDN.cpimNamespace)>"),
                      ("imdn.Message-ID", Self.randomToken()), ("DateTime", Self.now())],
            contentHeaders: [("Content-Type", IMDN.contentType), ("Content-Disposition", "notification")],
            content: document.serialized())
        let request = makeRequest(.message, to: sender, headers: [("Content-Type", IMDN.cpimContentType)], body: cpim.serialized())
        let logger = self.logger
        stack.send(request, digest: digest) { result in
            switch result {
            case .success(let answer) where (200..<300).contains(answer.response.statusCode):
                break
            case .success(let answer):
                logger.notice("delivery notification refused", metadata: ["sip.status": "\(answer.response.statusCode)"])
            case .failure(let error):
                logger.notice("delivery notification not sent", metadata: ["sip.error": "\(error)"])
            }
        }
    }
}
