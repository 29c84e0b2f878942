import Logging
import PostgresNIO
import Store

/// Directory fields of users (`sipctl user set`, `directory search`, LCS directorySearch) in
/// the shared directory, with the embedded store's semantics (``SQLiteStore``).
extension PostgresDirectory {
    static let entryColumns = "aor, display_name, title, office, phone, company, email, searchable"

    static func directoryEntries(_ rows: PostgresRowSequence) async throws -> [DirectoryEntry] {
        var result: [DirectoryEntry] = []
        for try await (aor, name, title, office, phone, company, email, searchable) in rows.decode(
            (String, String?, String?, String?, String?, String?, String?, Bool).self) {
            result.append(DirectoryEntry(aor: aor, displayName: name ?? "", title: title ?? "", office: office ?? "",
                                         phone: phone ?? "", company: company ?? "", email: email ?? "",
                                         searchable: searchable))
        }
        return result
    }

    public func directoryEntry(_ aor: String) async throws(StoreError) -> DirectoryEntry {
        let aor = try Self.normalizedAOR(aor, "user")
        let found = try await session.run("read directory entry") { c in
            try await Self.directoryEntries(c.query("SELECT \(unescaped: Self.entryColumns) FROM sip_user WHERE aor = \(aor)",
                                           logger: self.logger)).first
        }
        guard let found else { throw StoreError(.unknownUser, "no user \(aor)") }
        return found
    }

    public func updateDirectory(_ aor: String, _ update: DirectoryUpdate) async throws(StoreError) {
        let aor = try Self.normalizedAOR(aor, "user")
        let texts: [(String, String?)] = [("display_name", update.displayName), ("title", update.title),
                                          ("office", update.office), ("phone", update.phone),
                                          ("company", update.company), ("email", update.email)]
        var query = PostgresQuery.StringInterpolation(literalCapacity: 128, interpolationCount: 8)
        query.appendLiteral("UPDATE sip_user SET ")
        var first = true
        for (column, value) in texts {
            guard let value else { continue }
            try SQLiteStore.checkName(value, column.replacingOccurrences(of: "_", with: " "))
            query.appendLiteral(first ? "\(column) = " : ", \(column) = ")
            query.appendInterpolation(value)
            first = false
        }
        if let searchable = update.searchable {
            query.appendLiteral(first ? "searchable = " : ", searchable = ")
            query.appendInterpolation(searchable)
            first = false
        }
        guard !first else { return }
        query.appendLiteral(" WHERE aor = ")
        query.appendInterpolation(aor)
        query.appendLiteral(" RETURNING 1")
        try await change(aor, "set directory fields", "users", PostgresQuery(stringInterpolation: query))
    }

    public func searchDirectory(_ query: DirectoryQuery) async throws(StoreError) -> (entries: [DirectoryEntry], more: Bool) {
        let limit = max(1, min(query.limit, DirectoryQuery.maxLimit))
        var sql = PostgresQuery.StringInterpolation(literalCapacity: 256, interpolationCount: 8)
        sql.appendLiteral("SELECT \(Self.entryColumns) FROM sip_user WHERE searchable AND enabled")
        func like(_ expression: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            sql.appendLiteral(" AND \(expression) LIKE ")
            sql.appendInterpolation(SQLiteStore.containsPattern(value))
            sql.appendLiteral(" ESCAPE '\\'")
        }
        like("(lower(coalesce(display_name, '')) || ' ' || lower(aor) || ' ' || lower(coalesce(email, '')))", query.text)
        like("lower(coalesce(display_name, ''))", query.givenName)
        like("lower(coalesce(display_name, ''))", query.surname)
        like("lower(coalesce(email, ''))", query.email)
        like("lower(aor)", query.uri.map { AOR.normalize($0) ?? $0 })
        if let domain = query.domain {
            sql.appendLiteral(" AND aor LIKE ")
            sql.appendInterpolation("%@" + String(SQLiteStore.containsPattern(domain).dropFirst().dropLast()))
            sql.appendLiteral(" ESCAPE '\\'")
        }
        sql.appendLiteral(" ORDER BY aor LIMIT ")
        sql.appendInterpolation(limit + 1)
        let statement = PostgresQuery(stringInterpolation: sql)
        let rows = try await session.run("search directory") { c in
            try await Self.directoryEntries(c.query(statement, logger: self.logger))
        }
        return (Array(rows.prefix(limit)), rows.count > limit)
    }
}
