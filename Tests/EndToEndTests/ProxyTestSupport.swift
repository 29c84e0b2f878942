import Crypto
import NIOCore
import NIOPosix
import SIPCore
import Synchronization

/// Messages a test UA has received, in the order they arrived, awaited with a timeout.
/// Delivery is synchronous from the channel handler: a Task per datagram could reorder them.
final class Mailbox: Sendable {
    private struct State {
        var queue: [SIPMessage] = []
        var waiter: (id: UInt64, continuation: CheckedContinuation<SIPMessage?, Never>)?
        var lastID: UInt64 = 0
        var expiredID: UInt64 = 0  // a wait whose timer fired before it was registered
    }
    private let state = Mutex(State())

    func deliver(_ message: SIPMessage) {
        let waiter = state.withLock { s -> CheckedContinuation<SIPMessage?, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w.continuation
            }
            s.queue.append(message)
            return nil
        }
        waiter?.resume(returning: message)
    }

    /// The next message, or nil after `timeout` (generous: the machine is loaded).
    func next(timeout: Duration = .seconds(20)) async -> SIPMessage? {
        let (queued, id) = state.withLock { s -> (SIPMessage?, UInt64) in
            if !s.queue.isEmpty { return (s.queue.removeFirst(), 0) }
            s.lastID += 1
            return (nil, s.lastID)
        }
        if let queued { return queued }
        let timer = Task { [weak self] in
            do { try await Task.sleep(for: timeout) } catch { return }  // cancelled: a message came
            let waiter = self?.state.withLock { s -> CheckedContinuation<SIPMessage?, Never>? in
                guard let w = s.waiter, w.id == id else {
                    s.expiredID = id
                    return nil
                }
                s.waiter = nil
                return w.continuation
            }
            waiter?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let now: SIPMessage?? = state.withLock { s in
                if !s.queue.isEmpty { return .some(s.queue.removeFirst()) }
                if s.expiredID == id { return .some(nil) }
                s.waiter = (id, continuation)
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}

/// A SIP user agent for tests: one UDP socket on 127.0.0.1, messages as text in and parsed
/// messages out.
final class TestUA: Sendable {
    let channel: any Channel
    let mailbox: Mailbox
    let port: Int

    private final class Inbound: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let mailbox: Mailbox
        init(_ mailbox: Mailbox) { self.mailbox = mailbox }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard let message = try? SIPParser.parseDatagram(Array(envelope.data.readableBytesView)) else { return }
            mailbox.deliver(message)
        }
    }

    /// - Parameter host: the loopback address to bind (127.0.0.2 is a second source address).
    init(group: any EventLoopGroup, host: String = "127.0.0.1") async throws {
        let mailbox = Mailbox()
        self.mailbox = mailbox
        channel = try await DatagramBootstrap(group: group)
            .channelInitializer { $0.pipeline.addHandler(Inbound(mailbox)) }
            .bind(host: host, port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    /// Sends `text` (LF line ends become CRLF; Content-Length is computed when the text has
    /// `Content-Length: *`).
    func send(_ text: String, to port: Int) async throws {
        var wire = text.replacing("\r\n", with: "\n").replacing("\n", with: "\r\n")
        if let range = wire.firstRange(of: "\r\n\r\n") {
            let body = wire[range.upperBound...]
            wire = wire.replacing("Content-Length: *", with: "Content-Length: \(body.utf8.count)")
        }
        let buffer = channel.allocator.buffer(string: wire)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer)).get()
    }

    func send(_ message: SIPMessage, to port: Int) async throws {
        let buffer = channel.allocator.buffer(bytes: message.serialized())
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer)).get()
    }

    /// Sends `text` and waits for its final response, sending it again (the same branch) every
    /// `every` as a UDP client does (RFC 3261 §17.1.2.2, Timer E), up to `attempts` times: a
    /// loaded machine may drop a datagram on loopback.
    func exchange(_ text: String, to port: Int, attempts: Int = 5, every: Duration = .seconds(3)) async throws -> SIPResponse? {
        let sent = Self.identity(of: text)
        for _ in 1...attempts {
            try await send(text, to: port)
            let deadline = ContinuousClock.now + every
            while ContinuousClock.now < deadline {
                guard let message = await mailbox.next(timeout: deadline - ContinuousClock.now) else { break }
                // Only this request's answer: a stray datagram (another test's server answering
                // a port this socket now reuses) must not pass for it.
                if case .response(let response) = message, response.statusCode >= 200,
                   response.headers.first("Call-ID") == sent.callID, response.headers.first("CSeq") == sent.cseq {
                    return response
                }
            }
        }
        return nil
    }

    /// The Call-ID and CSeq values a request's text carries (its answer carries the same).
    static func identity(of text: String) -> (callID: String?, cseq: String?) {
        var callID: String?, cseq: String?
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if line.lowercased().hasPrefix("call-id:") { callID = line.dropFirst(8).trimmingCharacters(in: .whitespaces) }
            if line.lowercased().hasPrefix("cseq:") { cseq = line.dropFirst(5).trimmingCharacters(in: .whitespaces) }
            if line.isEmpty { break }
        }
        return (callID, cseq)
    }

    /// The next response, skipping requests and (unless asked for) 100 Trying.
    func response(skipping100: Bool = true) async -> SIPResponse? {
        while let m = await mailbox.next() {
            if case .response(let r) = m, !(skipping100 && r.statusCode == 100) { return r }
        }
        return nil
    }

    func request() async -> SIPRequest? {
        while let m = await mailbox.next() {
            if case .request(let r) = m { return r }
        }
        return nil
    }

    /// Answers `request` with `status`, copying Via, From, To (adding a tag), Call-ID, CSeq.
    func answer(_ request: SIPRequest, _ status: Int, toTag: String = "uas", extra: [(String, String)] = [],
                to port: Int) async throws {
        var r = SIPResponse(responding: request, statusCode: status, toTag: toTag)
        for (n, v) in extra { r.headers.append(n, v) }
        try await send(.response(r), to: port)
    }

    func close() async { try? await channel.close() }
}

/// RFC 7616 / RFC 3261 §22.4 digest with qop=auth, for the test UAs.
enum TestDigest {
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    static func hash(_ algorithm: String, _ text: String) -> String {
        algorithm.uppercased().hasPrefix("SHA-256") ? hex(SHA256.hash(data: Array(text.utf8)))
                                                    : hex(Insecure.MD5.hash(data: Array(text.utf8)))
    }

    /// The parameters of a challenge (`Digest realm="x", nonce="y", ...`).
    static func parameters(_ challenge: String) -> [String: String] {
        var text = Substring(challenge)
        if text.lowercased().hasPrefix("digest") { text = text.dropFirst(6) }
        var out: [String: String] = [:]
        var i = text.startIndex
        while i < text.endIndex {
            while i < text.endIndex, text[i] == " " || text[i] == "," { i = text.index(after: i) }
            guard let eq = text[i...].firstIndex(of: "=") else { break }
            let name = text[i..<eq].trimmingCharacters()
            var j = text.index(after: eq)
            var value = ""
            if j < text.endIndex, text[j] == "\"" {
                j = text.index(after: j)
                while j < text.endIndex, text[j] != "\"" { value.append(text[j]); j = text.index(after: j) }
                if j < text.endIndex { j = text.index(after: j) }
            } else {
                while j < text.endIndex, text[j] != "," { value.append(text[j]); j = text.index(after: j) }
            }
            out[name.lowercased()] = value.trimmingCharacters()
            i = j
        }
        return out
    }

    /// An Authorization value answering `challenge` for `method uri`.
    static func authorization(challenge: String, user: String, password: String, method: String, uri: String,
                              nc: Int = 1, cnonce: String = "0a4f113b") -> String {
        let p = parameters(challenge)
        let algorithm = p["algorithm"] ?? "MD5"
        let realm = p["realm"] ?? ""
        let nonce = p["nonce"] ?? ""
        let ncHex = String(nc, radix: 16)
        let ncText = String(repeating: "0", count: max(0, 8 - ncHex.count)) + ncHex
        let ha1 = hash(algorithm, "\(user):\(realm):\(password)")
        let ha2 = hash(algorithm, "\(method):\(uri)")
        let response = hash(algorithm, "\(ha1):\(nonce):\(ncText):\(cnonce):auth:\(ha2)")
        var value = "Digest username=\"\(user)\", realm=\"\(realm)\", nonce=\"\(nonce)\", uri=\"\(uri)\", "
            + "response=\"\(response)\", algorithm=\(algorithm), cnonce=\"\(cnonce)\", qop=auth, nc=\(ncText)"
        if let opaque = p["opaque"] { value += ", opaque=\"\(opaque)\"" }
        return value
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

