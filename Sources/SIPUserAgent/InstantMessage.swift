import Synchronization

/// An incoming instant message (RFC 3428 MESSAGE), as ``SIPUserAgent/messages`` yields it.
public struct InstantMessage: Hashable, Sendable {
    /// The sender's address of record, `bob@example.com` (the From URI without `sip:`).
    public var from: String
    /// The sender's display name, if From has one.
    public var fromDisplayName: String?
    /// The address it was sent to (the To URI without `sip:`).
    public var to: String
    /// The text: the body as UTF-8 (for `message/cpim`, the content inside, RFC 3862).
    public var text: String
    /// The media type of the text, lowercased without parameters (`text/plain`).
    public var contentType: String
    /// The RFC 5438 `imdn.Message-ID`, when the sender gave one.
    public var messageID: String?
    /// Whether the sender asked for a delivery notification (`imdn.Disposition-Notification:
    /// positive-delivery`, RFC 5438 §5); the user agent sends it unless
    /// ``SIPAccount/sendsDeliveryNotifications`` is off.
    public var requestsDeliveryNotification: Bool

    public init(from: String, fromDisplayName: String? = nil, to: String, text: String, contentType: String = "text/plain",
                messageID: String? = nil, requestsDeliveryNotification: Bool = false) {
        self.from = from
        self.fromDisplayName = fromDisplayName
        self.to = to
        self.text = text
        self.contentType = contentType
        self.messageID = messageID
        self.requestsDeliveryNotification = requestsDeliveryNotification
    }
}

/// A MESSAGE we sent and its final answer (RFC 3428 §7: 200 delivered to a UA, 202 accepted
/// for later delivery).
public struct SentMessage: Hashable, Sendable {
    /// The final status, 2xx.
    public var status: Int
    /// Its reason phrase.
    public var reason: String
    /// The RFC 5438 `imdn.Message-ID` we gave it, when we asked for a delivery notification:
    /// pass the message to ``SIPUserAgent/deliveryNotification(for:timeout:)``.
    public var messageID: String?

    public init(status: Int, reason: String, messageID: String? = nil) {
        self.status = status
        self.reason = reason
        self.messageID = messageID
    }
}

/// An RFC 5438 delivery notification (`message/imdn+xml`) for a message we sent.
public struct DeliveryNotification: Hashable, Sendable {
    /// The `imdn.Message-ID` of our message.
    public var messageID: String
    /// `delivered` (the positive notification), or `failed`, `forbidden`, `error`.
    public var status: String
    /// Who sent the notification, `bob@example.com`.
    public var from: String
    /// The `recipient-uri` of the notification, if any.
    public var recipient: String?
    /// The `datetime` of our message as the recipient saw it.
    public var dateTime: String?

    public init(messageID: String, status: String, from: String, recipient: String? = nil, dateTime: String? = nil) {
        self.messageID = messageID
        self.status = status
        self.from = from
        self.recipient = recipient
        self.dateTime = dateTime
    }
}

/// Delivery notifications by Message-ID: those that arrived (at most 1,024, oldest dropped)
/// and the callers waiting for one.
final class DeliveryNotifications: Sendable {
    private struct State {
        var arrived: [String: DeliveryNotification] = [:]
        var order: [String] = []
        var waiters: [String: [(UInt64, CheckedContinuation<Result<DeliveryNotification, SIPUserAgentError>, Never>)]] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())
    static let capacity = 1024

    /// A notification arrived: to its waiters, else kept.
    func deliver(_ notification: DeliveryNotification) {
        let waiters = state.withLock { s -> [(UInt64, CheckedContinuation<Result<DeliveryNotification, SIPUserAgentError>, Never>)] in
            if let waiting = s.waiters.removeValue(forKey: notification.messageID) { return waiting }
            if s.arrived[notification.messageID] == nil { s.order.append(notification.messageID) }
            s.arrived[notification.messageID] = notification
            if s.order.count > Self.capacity { s.arrived[s.order.removeFirst()] = nil }
            return []
        }
        for (_, waiter) in waiters { waiter.resume(returning: .success(notification)) }
    }

    /// Waits for the notification of `messageID`; `schedule` arms the timeout.
    func wait(for messageID: String, timeout: Duration,
              schedule: (Duration, @escaping @Sendable () -> Void) -> Void) async -> Result<DeliveryNotification, SIPUserAgentError> {
        let id = state.withLock { s in
            s.nextID &+= 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { return continuation.resume(returning: .failure(.cancelled)) }
                let ready = state.withLock { s -> DeliveryNotification? in
                    if let found = s.arrived.removeValue(forKey: messageID) {
                        s.order.removeAll { $0 == messageID }
                        return found
                    }
                    s.waiters[messageID, default: []].append((id, continuation))
                    return nil
                }
                if let ready { return continuation.resume(returning: .success(ready)) }
                schedule(timeout) { [weak self] in self?.fail(messageID, id, .timeout) }
            }
        } onCancel: {
            fail(messageID, id, .cancelled)
        }
    }

    private func fail(_ messageID: String, _ id: UInt64, _ error: SIPUserAgentError) {
        let waiter = state.withLock { s -> CheckedContinuation<Result<DeliveryNotification, SIPUserAgentError>, Never>? in
            guard let index = s.waiters[messageID]?.firstIndex(where: { $0.0 == id }) else { return nil }
            let waiter = s.waiters[messageID]?.remove(at: index).1
            if s.waiters[messageID]?.isEmpty == true { s.waiters[messageID] = nil }
            return waiter
        }
        waiter?.resume(returning: .failure(error))
    }

    /// Fails every waiter (the user agent stopped).
    func failAll(_ error: SIPUserAgentError) {
        let all = state.withLock { s in
            defer { s.waiters = [:] }
            return s.waiters.values.flatMap { $0 }
        }
        for (_, waiter) in all { waiter.resume(returning: .failure(error)) }
    }
}
