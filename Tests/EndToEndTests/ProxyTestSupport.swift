import Crypto
import NIOCore
import NIOPosix
import SIPCore

/// Messages a test UA has received, awaited with a timeout.
actor Mailbox {
    private var queue: [SIPMessage] = []
    private var waiter: CheckedContinuation<SIPMessage?, Never>?

    func deliver(_ message: SIPMessage) {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: message)
        } else {
            queue.append(message)
        }
    }

    fileprivate func take() -> SIPMessage? { queue.isEmpty ? nil : queue.removeFirst() }

    fileprivate func wait() async -> SIPMessage? {
        if let m = take() { return m }
        return await withCheckedContinuation { waiter = $0 }
    }

    fileprivate func timeOut() {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    /// The next message, or nil after `timeout` (generous: the machine is loaded).
    func next(timeout: Duration = .seconds(20)) async -> SIPMessage? {
        if let m = take() { return m }
        let timer = Task { [weak self] in
            do { try await Task.sleep(for: timeout) } catch { return }  // cancelled: a message came
            await self?.timeOut()
        }
        defer { timer.cancel() }
        return await wait()
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
            let mailbox = self.mailbox
            Task { await mailbox.deliver(message) }
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
        for _ in 1...attempts {
            try await send(text, to: port)
            let deadline = ContinuousClock.now + every
            while ContinuousClock.now < deadline {
                guard let message = await mailbox.next(timeout: deadline - ContinuousClock.now) else { break }
                if case .response(let response) = message, response.statusCode >= 200 { return response }
            }
        }
        return nil
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

