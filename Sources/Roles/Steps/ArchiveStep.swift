import Archive
import Logging
import SIPCore
import SIPTransaction

/// The archiving agent as a routing step (ARCHITECTURE.md "Archiving"; `--archive`): any
/// role adds it (``RoleServices/archiveStep``) near the front of its chain. It never decides:
/// for a MESSAGE (RFC 3428) it sets an ``ArchiveGate`` on the context, which the proxy core
/// consults only if the policy forwards the request, so MESSAGEs answered locally or
/// refused (407, 403, 480) are not archived: only relayed ones are.
public struct ArchiveStep: RoutingStep {
    public let name = "archive"
    public let gate: ArchiveGate

    public init(agent: ArchiveAgent, required: Bool, logger: Logger = Logger(label: "sip.archive")) {
        gate = ArchiveGate(agent: agent, required: required, logger: logger)
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        if context.request.method == .message { context.forwardGate = gate }
        return nil
    }
}

/// Records a MESSAGE about to be relayed (from, to, time, Call-ID, CSeq, content type, body,
/// server) in the archive agent's queue, and lets the proxy forward it once the record is
/// durable in the archive (or its spool; group commit: the event loop never waits on the disk). The final
/// status is queued once the proxy returns it upstream.
///
/// When the archive cannot be written: with `required` (`--archive-required`) the MESSAGE is
/// refused with 503 and Retry-After, as LCS offered; without, it is relayed and an error
/// line says it was not archived. A full queue (the disk cannot keep up) is answered 503
/// with Retry-After either way: shedding load is better than an unbounded queue.
public struct ArchiveGate: ForwardGate {
    public let agent: ArchiveAgent
    public let required: Bool
    let logger: Logger

    public init(agent: ArchiveAgent, required: Bool, logger: Logger) {
        self.agent = agent
        self.required = required
        self.logger = logger
    }

    static let unavailable = StatusAnswer(503, "Archive Unavailable",
                                          headers: [SIPHeaderField(name: "Retry-After", value: "5")])
    static let busy = StatusAnswer(503, "Archive Busy", headers: [SIPHeaderField(name: "Retry-After", value: "1")])

    public func admit(_ plan: ForwardPlan, context: RoutingContext, transaction: ServerTransaction,
                      proceed: @escaping @Sendable (ForwardAdmission) -> Void) {
        let request = context.received
        let id = agent.nextMessageID()
        let record = ArchiveRecord(
            messageID: id, server: agent.serverName,
            from: request.from.map { "\($0.uri)" } ?? "", to: request.to.map { "\($0.uri)" } ?? "",
            time: ArchiveTime.now(), callID: request.callID ?? "", cseq: Int64(((try? request.cseq) ?? nil)?.sequence ?? 0),
            contentType: request.headers.first("Content-Type") ?? "", body: request.body)
        let agent = self.agent
        let required = self.required
        let logger = self.logger
        let queued = agent.archive(record) { durable in
            if durable {
                proceed(.forward(onFinal: { status in agent.recordStatus(messageID: id, status: status) }))
            } else if required {
                logger.warning("MESSAGE refused: the archive cannot be written (--archive-required)",
                               metadata: ["sip.call_id": "\(record.callID)"])
                proceed(.refuse(Self.unavailable))
            } else {
                logger.error("MESSAGE relayed UNARCHIVED: the archive cannot be written",
                             metadata: ["sip.call_id": "\(record.callID)"])
                proceed(.forward(onFinal: nil))
            }
        }
        if !queued {
            logger.warning("MESSAGE refused: archive queue full", metadata: ["sip.call_id": "\(record.callID)"])
            proceed(.refuse(Self.busy))
        }
    }
}
