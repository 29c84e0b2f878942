/// SIPCore: the SIP message grammar (RFC 3261 §7, §19, §20, §25).
/// Sendable value types for requests, responses, headers and URIs; a byte-level parser
/// and a canonical serializer. Imports no NIO.
public enum SIPCoreModule {}
