import SIPTransaction

/// What a ``ForwardGate`` concluded about a request the policy decided to forward.
public enum ForwardAdmission: Sendable {
    /// Forward it; `onFinal`, when set, is told the final status returned upstream
    /// (RFC 3261 §16.7 step 5-10: the best final response, or 408/503 from the proxy).
    case forward(onFinal: (@Sendable (Int) -> Void)?)
    /// Answer it with this status instead of forwarding.
    case refuse(StatusAnswer)
}

/// Work that must complete before a request is forwarded (the archive agent: the MESSAGE is
/// durable in the spool first). A step sets it on the ``RoutingContext``; the proxy core
/// consults it only when the policy's decision is to forward, and forwards when the gate
/// calls `proceed` (at once, or once its waiting work completes, from whatever thread
/// completed it: the transaction layer is safe to use from any thread). The gate must never
/// block the event loop it is called on, and must call `proceed` exactly once.
public protocol ForwardGate: Sendable {
    func admit(_ plan: ForwardPlan, context: RoutingContext, transaction: ServerTransaction,
               proceed: @escaping @Sendable (ForwardAdmission) -> Void)
}
