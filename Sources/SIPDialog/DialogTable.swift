import SIPCore
import Synchronization

/// The dialogs an element takes part in, each with what it is used for (`Usage`: a
/// subscription, a call, ...), keyed by ``DialogID`` under one short lock.
///
/// Requests of one dialog are handled in order because the caller checks and updates the
/// dialog inside ``withDialog(_:_:)``, holding the lock (RFC 3261 §12.2.2: the CSeq check
/// and the update of the remote sequence number are one step). Keep the body short: no I/O,
/// no sends (build the request inside, send it after).
///
/// The table has a cap (ARCHITECTURE.md: every table has a cap): ``insert(_:usage:)`` over it
/// throws a ``DialogError`` with status 503.
public final class DialogTable<Usage: Sendable>: Sendable {
    private struct Entry {
        var dialog: Dialog
        var usage: Usage
    }

    /// The most dialogs the table holds.
    public let maxDialogs: Int
    private let entries: Mutex<[DialogID: Entry]>

    public init(maxDialogs: Int = 1_000_000) {
        self.maxDialogs = maxDialogs
        entries = Mutex([:])
    }

    /// The dialog an incoming request belongs to, seen from the element that receives it
    /// (§12.2.2): local tag = To tag, remote tag = From tag; nil without a To tag (a request
    /// outside any dialog), a From tag or a Call-ID.
    public static func id(ofIncoming request: SIPRequest) -> DialogID? {
        DialogID(incoming: request)
    }

    /// Number of dialogs.
    public var count: Int { entries.withLock { $0.count } }

    /// Adds a dialog. Throws with status 503 when the table is full (answer the request that
    /// would create it with 503 and Retry-After), and with status 500 when a dialog with the
    /// same ID exists (a local tag used twice).
    public func insert(_ dialog: Dialog, usage: Usage) throws(DialogError) {
        let failure: DialogError? = entries.withLock { table in
            guard table[dialog.id] == nil else {
                return DialogError(.duplicateDialog, "dialog \(dialog.id) exists", status: 500)
            }
            guard table.count < maxDialogs else {
                return DialogError(.tableFull, "dialog table full (\(maxDialogs))", status: 503)
            }
            table[dialog.id] = Entry(dialog: dialog, usage: usage)
            return nil
        }
        if let failure { throw failure }
    }

    /// Removes a dialog; returns it and its usage, nil when it was not there.
    @discardableResult
    public func remove(_ id: DialogID) -> (dialog: Dialog, usage: Usage)? {
        entries.withLock { table in
            table.removeValue(forKey: id).map { ($0.dialog, $0.usage) }
        }
    }

    /// Runs `body` on the dialog `id` and its usage, holding the table's lock, and keeps
    /// what it changed. Nil when there is no such dialog: answer the request with
    /// **481 Call/Transaction Does Not Exist** (RFC 3261 §12.2.2).
    public func withDialog<R: Sendable>(_ id: DialogID, _ body: (inout Dialog, inout Usage) -> R) -> R? {
        entries.withLock { table -> R? in
            guard let index = table.index(forKey: id) else { return nil }
            // In place (Dictionary.Values is mutable): no copy of the dialog's arrays.
            func run(_ entry: inout Entry) -> R { body(&entry.dialog, &entry.usage) }
            return run(&table.values[index])
        }
    }

    /// A copy of the dialog `id` and its usage, nil when there is none.
    public func get(_ id: DialogID) -> (dialog: Dialog, usage: Usage)? {
        entries.withLock { table in table[id].map { ($0.dialog, $0.usage) } }
    }
}
