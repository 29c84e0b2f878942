/// Registrar: RFC 3261 §10 registrar and location service; RFC 3261 §22 / RFC 8760 digest.
import Store
public enum RegistrarModule {}
