import Testing
@testable import Presence
