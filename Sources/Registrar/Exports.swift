// The digest computations moved down to SIPDigest (so a user agent can answer challenges
// without the store); code that imports Registrar keeps seeing them.
@_exported import SIPDigest
