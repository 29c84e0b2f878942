/// SIPTransport: UDP, TCP and TLS on SwiftNIO (RFC 3261 §18, RFC 3581, RFC 5626, RFC 5923).
import SIPCore
public enum SIPTransportModule {}
