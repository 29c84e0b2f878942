/// Roles: the RFC 3261 §16 proxy core, routing policies and the server assembly.
import SIPCore
public enum RolesModule {}
