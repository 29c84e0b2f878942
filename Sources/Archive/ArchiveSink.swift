/// Where the ``ArchiveAgent``'s writer puts each group commit: the durable local
/// ``ArchiveSpool`` when a shipper carries it to a database elsewhere (PostgreSQL), or the
/// embedded ``SQLiteArchive`` itself when the archive is local (`--archive sqlite`, the
/// default): then the record is durable in the archive before the MESSAGE is forwarded, and
/// nothing is written twice or shipped.
public protocol ArchiveSink: Sendable {
    /// Writes `events` in order, in one transaction, before returning (blocking: called on
    /// the agent's writer thread, never on an event loop). A message already there (same
    /// server and message id) is not written twice where the sink can tell.
    func writeNow(_ events: [ArchiveEvent]) throws(ArchiveError)
}
