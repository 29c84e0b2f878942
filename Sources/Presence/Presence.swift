// RFC 6665 subscriptions, RFC 3856 presence, RFC 3903 PUBLISH, RFC 3863 PIDF,
// RFC 3857/3858 watcher info, access lists and pending authorizations.
import SIPCore
