// The presence documents (PIDF, RPID, watcher info, LCS states) live in PresenceDocuments,
// which has no store, so a user agent can use them; code that imports Presence keeps seeing them.
@_exported import PresenceDocuments
