import Foundation
import Testing
@testable import SIPCore

/// PROTOS c07-sip (University of Oulu) robustness cases, filled the way
/// `../shared/tools/protos-replay` fills them. The case files are not part of this package
/// (their licence differs); the test runs when `../shared` sits beside the package root.
enum Protos {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let casesDirectory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/conformance/protos-c07-sip/cases")
    static var available: Bool { FileManager.default.fileExists(atPath: casesDirectory.path) }
    static let caseCount = 4527

    /// A case file holds `<len> <template>` twice: the INVITE and the teardown.
    static func split(_ raw: [UInt8]) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var i = 0
        while i < raw.count {
            guard let sp = raw[i...].firstIndex(of: 0x20), let n = Int(String(decoding: raw[i..<sp], as: UTF8.self)) else { break }
            let end = min(sp + 1 + n, raw.count)
            parts.append(Array(raw[(sp + 1)..<end]))
            i = end
        }
        return parts
    }

    static func replace(_ data: [UInt8], _ what: String, _ with: String) -> [UInt8] {
        let w = Array(what.utf8), r = Array(with.utf8)
        guard !w.isEmpty, data.count >= w.count else { return data }
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var i = 0
        while i < data.count {
            if i + w.count <= data.count, data[i] == w[0], Array(data[i..<(i + w.count)]) == w {
                out += r
                i += w.count
            } else {
                out.append(data[i])
                i += 1
            }
        }
        return out
    }

    /// protos-replay's `fill`: the placeholders, then Content-Length = bytes after the first CRLFCRLF.
    static func fill(_ template: [UInt8], n: Int) -> [UInt8] {
        let values: [(String, String)] = [
            ("To", "protos@example.com"), ("From", "protos@127.0.0.1"), ("From-Address", "127.0.0.1"),
            ("From-IP", "127.0.0.1"), ("Local-Port", "5060"), ("Branch-ID", String(format: "%06d", n)),
            ("Call-ID", String(format: "protos%07d", n)), ("CSeq", String(n + 1)), ("Teardown-Method", "CANCEL"),
        ]
        var out = template
        for (k, v) in values { out = replace(out, "<\(k)>", v) }
        let sep = Array("\r\n\r\n".utf8)
        var length = "0"
        if let r = firstRange(of: sep, in: out) { length = String(out.count - r.upperBound) }
        return replace(out, "<Content-Length>", length)
    }

    static func firstRange(of needle: [UInt8], in hay: [UInt8]) -> Range<Int>? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i..<(i + needle.count)
        }
        return nil
    }
}

/// CPU time of this thread, so that a loaded machine does not count against the parser.
func threadCPUTime() -> Duration {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
}

@Suite("Robustness: PROTOS c07-sip")
struct ProtosTests {
    /// Each filled case is parsed or rejected (never a crash), each in well under the
    /// generous bound (the target is 1 ms; the maximum seen is printed).
    @Test(.enabled(if: Protos.available, "../shared/conformance/protos-c07-sip/cases is absent: PROTOS test skipped"),
          arguments: 0..<10)
    func protosCases(_ slice: Int) throws {
        var worst: Duration = .zero, worstCase = -1
        var parsed = 0, rejected = 0, files = 0
        let per = (Protos.caseCount + 9) / 10
        for n in (slice * per)..<min((slice + 1) * per, Protos.caseCount) {
            let path = Protos.casesDirectory.appendingPathComponent(String(format: "%07d", n)).path
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            files += 1
            let parts = Protos.split([UInt8](data))
            #expect(parts.count >= 2, "case \(n): unreadable")
            for part in parts.prefix(2) {
                let message = Protos.fill(part, n: n)
                let start = threadCPUTime()
                let result = Result { () throws(SIPParseError) in try SIPParser.parseDatagram(message) }
                let elapsed = threadCPUTime() - start
                if elapsed > worst { worst = elapsed; worstCase = n }
                switch result {
                case .success(let m):
                    parsed += 1
                    #expect(try SIPParser.parseDatagram(m.serialized()) == m, "case \(n): round trip")
                case .failure(let e):
                    rejected += 1
                    #expect(!e.reason.isEmpty)
                }
                // Release builds take microseconds (see the benchmarks); an unoptimised debug
                // build on a loaded machine is far slower, hence the generous CPU-time bound.
                #expect(elapsed < .milliseconds(250), "case \(n) took \(elapsed)")
            }
        }
        #expect(files > 0)
        print("PROTOS slice \(slice): \(files) cases, \(parsed) parsed, \(rejected) rejected, slowest \(worst) (case \(worstCase))")
    }
}
