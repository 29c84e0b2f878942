import SIPDigest
import SIPCore
import Store

/// What one REGISTER asks for, validated (RFC 3261 §10.3 steps 5-7), ready to be applied to
/// the address-of-record's bindings inside ``LocationTable/update(aor:_:)``.
struct RegistrationPlan: Sendable {
    /// One Contact of the request with its resolved expiration.
    struct ContactUpdate: Sendable {
        var uri: URI
        var uriText: String
        /// Seconds; 0 = remove.
        var expires: Int
        var qThousandths: UInt16?
        var instance: String?
        var regID: UInt32?
    }

    enum Action: Sendable {
        /// `Contact: *` with `Expires: 0`: remove every binding (§10.2.2).
        case removeAll
        /// Add, refresh or remove these contacts.
        case update([ContactUpdate])
        /// No Contact: only list the current bindings (§10.2.3).
        case query
    }

    var aor: String
    var callID: String
    var cseq: UInt32
    var action: Action
    var flow: String?
    var path: [String]
    var maxBindings: Int

    /// Applies the plan to `bindings` (the AOR's unexpired bindings) at `now`. On success,
    /// `bindings` is the new set; on failure it is left as it was, so nothing is written
    /// (§10.3 step 7: all binding updates succeed or none does).
    func apply(to bindings: inout [Binding], now: Int64) -> Result<[Binding], RegistrarError> {
        var working = bindings
        switch action {
        case .query:
            return .success(bindings)
        case .removeAll:
            // §10.3 step 6: a binding with the same Call-ID is removed only for a higher CSeq.
            if working.contains(where: { $0.callID == callID && cseq <= $0.cseq }) { return .failure(outOfOrder) }
            working = []
        case .update(let updates):
            var touched: Set<String> = []
            for update in updates {
                if let i = working.firstIndex(where: { matches($0, update) }) {
                    let existing = working[i]
                    // §10.3 step 7: same Call-ID and a CSeq not higher: the request fails.
                    if existing.callID == callID, cseq <= existing.cseq, !touched.contains(existing.contact) {
                        return .failure(outOfOrder)
                    }
                    if update.expires == 0 {
                        working.remove(at: i)
                    } else {
                        working[i] = binding(update, now: now)
                        touched.insert(update.uriText)
                    }
                } else if update.expires > 0 {
                    working.append(binding(update, now: now))
                    touched.insert(update.uriText)
                }
            }
            if working.count > maxBindings, working.count > bindings.count {
                return .failure(RegistrarError(.tooManyBindings, status: 403,
                                               "Forbidden (more than \(maxBindings) bindings for \(aor))"))
            }
        }
        bindings = working
        return .success(working)
    }

    var outOfOrder: RegistrarError {
        // RFC 3261 §10.3 step 7 says only that "the request fails"; 500 is the status the same
        // step names for a failed update.
        RegistrarError(.outOfOrder, status: 500, "Server Internal Error (CSeq out of order for this Call-ID)")
    }

    /// RFC 5626 §6: a Contact with +sip.instance and reg-id replaces the binding with the same
    /// pair; otherwise bindings are matched by URI equivalence (RFC 3261 §10.3 step 7, §19.1.4).
    func matches(_ binding: Binding, _ update: ContactUpdate) -> Bool {
        if let instance = update.instance, let regID = update.regID {
            return binding.instance == instance && binding.regID == regID
        }
        if binding.contact == update.uriText { return true }
        switch (update.uri, URI(binding.contact)) {
        case (.sip(let a), .sip(let b)?): return a.isEquivalent(to: b)
        default: return false
        }
    }

    func binding(_ update: ContactUpdate, now: Int64) -> Binding {
        Binding(aor: aor, contact: update.uriText, expiresAt: now + Int64(update.expires), qThousandths: update.qThousandths,
                callID: callID, cseq: cseq, flow: flow, instance: update.instance, regID: update.regID, path: path)
    }
}
