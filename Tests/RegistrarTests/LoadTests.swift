import Foundation
import SIPCore
import Testing
@testable import Registrar
@testable import Store

@Suite("Registrar under load")
struct LoadTests {
    /// Many REGISTERs in flight at once (as sipp -l 200 does): every one is answered 200 only
    /// once durable, and all of them are in the file afterwards. Prints the rate it reached
    /// (information only; SIP_REGISTRAR_LOAD sets the count, default 2000;
    /// SIP_REGISTRAR_DURABILITY=fsync measures an fsync per commit).
    @Test func concurrentRegistrationsAreAllDurable() async throws {
        let count = ProcessInfo.processInfo.environment["SIP_REGISTRAR_LOAD"].flatMap(Int.init) ?? 2000
        var storeConfiguration = SQLiteStore.Configuration()
        if ProcessInfo.processInfo.environment["SIP_REGISTRAR_DURABILITY"] == "fsync" { storeConfiguration.durability = .fsync }
        let h = try await Harness(storeConfiguration: storeConfiguration, extraUsers: count)
        defer { h.remove() }
        let requests = try (0..<count).map { i in
            try registerRequest("user\(i)", callID: "load-\(i)", contacts: ["<sip:user\(i)@127.0.0.1:5090;transport=tcp>"])
        }
        let rssBefore = residentKiB()
        let started = ContinuousClock.now
        let statuses = await withTaskGroup(of: Int.self, returning: [Int].self) { group in
            var statuses: [Int] = []
            var next = 0
            while next < min(200, count) {
                let request = requests[next]
                group.addTask { await h.register(request).statusCode }
                next += 1
            }
            while let status = await group.next() {
                statuses.append(status)
                if next < count {
                    let request = requests[next]
                    group.addTask { await h.register(request).statusCode }
                    next += 1
                }
            }
            return statuses
        }
        let elapsed = ContinuousClock.now - started
        #expect(statuses.count == count)
        #expect(statuses.allSatisfy { $0 == 200 })
        let batches = await h.location.committedBatches
        #expect(batches < count, "group commit batched nothing")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("registrar load: \(count) REGISTERs in \(String(format: "%.2f", seconds)) s "
            + "(\(Int(Double(count) / seconds))/s), \(batches) commits, "
            + "resident growth \((residentKiB() - rssBefore) * 1024 / count) bytes per binding")
        try h.store.close()
        let reopened = try SQLiteStore(directory: h.dir)
        #expect(try await reopened.loadBindings(now: 0).count == count)
    }
}

/// VmRSS of this process in KiB (Linux), 0 elsewhere.
func residentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
