import Testing
@testable import SIPDialog
