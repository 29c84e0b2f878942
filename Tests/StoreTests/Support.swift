import Foundation
import Synchronization
@testable import Store

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TempDir {
    let path: String
    init() throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("storetests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let seconds: Mutex<Int64>
    init(_ start: Int64 = 1_800_000_000) { seconds = Mutex(start) }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
    var storeClock: StoreClock { StoreClock { self.seconds.withLock { $0 } } }
    var now: Int64 { seconds.withLock { $0 } }
}

func user(_ aor: String, enabled: Bool = true, home: String? = nil) -> UserRecord {
    UserRecord(aor: aor, displayName: nil, enabled: enabled, homeServer: home,
               ha1MD5: Array(repeating: 1, count: 16), ha1SHA256: Array(repeating: 2, count: 32))
}

func binding(_ aor: String, _ contact: String, expiresAt: Int64, callID: String = "c1", cseq: UInt32 = 1) -> Binding {
    Binding(aor: aor, contact: contact, expiresAt: expiresAt, qThousandths: 500, callID: callID, cseq: cseq,
            flow: "tcp:192.0.2.1:5080", instance: "\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"", regID: 1,
            path: ["<sip:edge.example.net;lr>", "<sip:p2.example.net;lr>"])
}

/// Adds `binding` to the table (replacing one with the same contact).
func register(_ table: LocationTable, _ binding: Binding) async throws(StoreError) {
    try await table.update(aor: binding.aor) { bindings, _ in
        bindings.removeAll { $0.contact == binding.contact }
        bindings.append(binding)
    }
}

/// A binding store in memory whose first `apply` waits until the test opens the gate.
actor GatedBindingStore: BindingStore {
    private(set) var applied: [[BindingChange]] = []
    private var gate: CheckedContinuation<Void, Never>?
    private var open = false
    /// Changes in the batch held at the gate (0 while none is).
    private(set) var heldChanges = 0

    func openGate() {
        open = true
        gate?.resume()
        gate = nil
    }

    func loadBindings(now: Int64) async throws(StoreError) -> [Binding] { [] }
    func apply(_ changes: [BindingChange]) async throws(StoreError) {
        if !open {
            heldChanges = changes.count
            await withCheckedContinuation { gate = $0 }
        }
        applied.append(changes)
    }
    func purgeExpired(now: Int64) async throws(StoreError) -> Int { 0 }
}

/// Polls `condition` (yielding) for up to `seconds`; generous for a loaded machine.
func eventually(_ seconds: Double = 30, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return await condition()
}
