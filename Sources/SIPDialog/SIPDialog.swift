// RFC 3261 §12 dialogs (UAC and UAS) and in-dialog request building.
import SIPCore
