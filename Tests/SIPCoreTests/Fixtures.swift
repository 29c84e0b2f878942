import Foundation
@testable import SIPCore

/// One row of Fixtures/EXPECTED.tsv (RFC 4475 and RFC 5118 torture messages).
struct FixtureRow: Sendable, CustomTestStringConvertible {
    var file: String, section: String, klass: String, parser: String, response: String, note: String
    var testDescription: String { "\(file) (§\(section)) \(parser)" }
    var name: String { String(file.split(separator: "/").last!.dropLast(4)) }
    var bytes: [UInt8] { Fixtures.bytes(file) }
}

enum Fixtures {
    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func bytes(_ relative: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: directory.appendingPathComponent(relative).path) ?? Data())
    }

    static let rows: [FixtureRow] = {
        let text = String(decoding: bytes("EXPECTED.tsv"), as: UTF8.self)
        return text.split(separator: "\n").dropFirst().map { line in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return FixtureRow(file: c[0], section: c[1], klass: c[2], parser: c[3], response: c[4], note: c.count > 5 ? c[5] : "")
        }
    }()

    static func rows(_ parser: String) -> [FixtureRow] { rows.filter { $0.parser == parser } }
}

import Testing

extension Fixtures {
    /// Inputs the fuzzer found (Fixtures/fuzz): each must be rejected or round-trip.
    static let fuzzFindings: [String] = {
        let dir = directory.appendingPathComponent("fuzz").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { "fuzz/" + $0 }
    }()
}
