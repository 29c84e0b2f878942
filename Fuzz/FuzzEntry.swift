// libFuzzer entry point over the SIPCore parser (built by Fuzz/run.sh together with the
// SIPCore sources into one module). Besides "never crash", it checks the round-trip property:
// every accepted message re-serializes to a message that parses back equal.

@_cdecl("LLVMFuzzerTestOneInput")
public func sipFuzzOne(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: count)
    if let m = try? SIPParser.parseDatagram(bytes) {
        let wire = m.serialized()
        guard let again = try? SIPParser.parseDatagram(wire) else {
            fatalError("accepted message does not re-parse: \(String(decoding: wire, as: UTF8.self))")
        }
        precondition(again == m, "round trip differs: \(String(decoding: wire, as: UTF8.self))")
        precondition(again.serialized() == wire, "serialization not stable")
        // Typed accessors on whatever was accepted.
        _ = try? m.vias
        _ = try? m.cseq
        _ = (m.from, m.to, m.contacts, m.routes, m.recordRoutes, m.maxForwards, m.expires, m.contentType)
        _ = (m.event, m.subscriptionState, m.authorizations, m.wwwAuthenticates, m.allow, m.require)
        if case .request(let r) = m {
            _ = SIPResponse(responding: r, statusCode: 200, toTag: "t").serialized()
            if case .sip(let u) = r.uri { precondition(u.isEquivalent(to: u)); _ = u.addressOfRecord }
        }
    }
    switch SIPParser.frameStream(UnsafeRawBufferPointer(bytes)) {
    case .message(_, let consumed), .error(_, consumed: let consumed?):
        precondition(consumed > 0 && consumed <= count)
    default: break
    }
    return 0
}
