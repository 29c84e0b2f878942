/// SIPTransaction: RFC 3261 §17 client and server transactions.
import SIPCore
public enum SIPTransactionModule {}
