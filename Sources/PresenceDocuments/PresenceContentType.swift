/// The media types of the presence documents, and Accept matching (RFC 3261 §20.1).
public enum PresenceContentType {
    /// RFC 3863 §7.1; the default of the `presence` package (RFC 3856 §6.7).
    public static let pidf = "application/pidf+xml"
    /// RFC 3858 §7.1; the default of the `presence.winfo` package (RFC 3857 §3.6).
    public static let watcherInfo = "application/watcherinfo+xml"

    /// The types that are a package's default, acceptable when a SUBSCRIBE has no Accept.
    public static let packageDefaults: Set<String> = [pidf, watcherInfo]

    /// Whether a request whose Accept header field values are `acceptHeaderValues` (each may
    /// hold several comma-separated media ranges) accepts `type`.
    ///
    /// RFC 3261 §20.1: no Accept header field at all (an empty array) means the event
    /// package's default (RFC 6665 §7.2, RFC 3856 §6.7), so only `pidf` and `watcherInfo`
    /// are accepted, each being its package's default; an Accept field with an empty value
    /// accepts nothing. Media ranges compare case-insensitively; `*/*` and `application/*`
    /// match; the most specific matching range decides, and `q=0` on it means refused.
    public static func accepts(_ acceptHeaderValues: [String], _ type: String) -> Bool {
        // The common case (one value naming exactly the type) without allocating.
        if acceptHeaderValues.count == 1, acceptHeaderValues[0].utf8.elementsEqual(type.utf8) { return true }
        let wanted = bare(type)
        guard !acceptHeaderValues.isEmpty else { return packageDefaults.contains(wanted) }
        let slash = wanted.firstIndex(of: "/")
        let wantedMain = slash.map { String(wanted[..<$0]) } ?? wanted
        var best: (specificity: Int, q: Double)?
        for value in acceptHeaderValues {
            for range in value.split(separator: ",") {
                let parts = range.split(separator: ";")
                guard let first = parts.first else { continue }
                let media = bare(String(first))
                let specificity: Int
                if media == wanted { specificity = 3 }
                else if media == wantedMain + "/*" { specificity = 2 }
                else if media == "*/*" { specificity = 1 }
                else { continue }
                var q = 1.0
                for parameter in parts.dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    if pair.count == 2, trim(String(pair[0])).lowercased() == "q" { q = Double(trim(String(pair[1]))) ?? 1.0 }
                }
                if best == nil || specificity > best!.specificity { best = (specificity, q) }
            }
        }
        return (best?.q ?? 0) > 0
    }

    /// The media type without parameters, trimmed and lowercased.
    private static func bare(_ value: String) -> String {
        let type = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return trim(type).lowercased()
    }

    private static func trim(_ s: String) -> String {
        XML.trimmed(s)
    }
}
