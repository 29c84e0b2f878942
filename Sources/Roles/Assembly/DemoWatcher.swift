import Foundation
import Logging
import Presence
import Registrar
import ServiceLifecycle
import SIPCore
import SIPDialog
import SIPTransaction
import SIPTransport

/// `--demo` on the home server: alice watches bob's presence over SIP, as any client would.
/// A second SIP stack in the process (its own UDP socket on 127.0.0.1) sends alice's
/// SUBSCRIBE to the server (answering the 407 with her demo password), refreshes it inside
/// its dialog (RFC 6665 §4.1.2.1), answers each NOTIFY and prints what alice sees:
///
///     demo: alice@localhost sees bob@localhost closed
///     demo: alice@localhost sees bob@localhost open "in a meeting" [away]
///
/// Register bob (the printed sipsak command with bob's password, or any client) and the
/// line changes.
final class DemoWatcher: Service, Sendable {
    let watcher: (aor: String, password: String)
    let presentity: String
    let server: SIPHostPort
    let logger: Logger

    init(watcher: (aor: String, password: String), presentity: String, server: SIPHostPort, logger: Logger) {
        self.watcher = watcher
        self.presentity = presentity
        self.server = server
        self.logger = logger
    }

    func run() async throws {
        let transportLayer = try SIPTransportLayer(configuration: SIPTransportConfiguration(tls: nil))
        let adapter = SIPTransportAdapter(transportLayer: transportLayer,
                                          listen: [ListenSpec(transport: .udp, host: "127.0.0.1", port: 0)])
        let port = try await adapter.start().first?.port ?? 0
        let watcher = self.watcher.aor
        let presentity = self.presentity
        let printer = SIPClosureHandler { transaction in
            guard transaction.request.method == .notify else {
                try? transaction.respond(405, headers: [("Allow", "NOTIFY")])
                return
            }
            try? transaction.respond(200)
            Self.show(transaction.request, watcher: watcher, presentity: presentity)
        }
        let stack = SIPServer(transport: adapter, catchAll: printer, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await stack.run() }
            var dialog: Dialog?
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                dialog = await subscribe(layer: stack.layer, localPort: port, dialog: dialog)
                let wait: Duration = dialog == nil ? .seconds(30) : .seconds(3000)
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            }
            stack.stop()
        }
    }

    /// One SUBSCRIBE (a new one, or a refresh in `dialog`), with one digest retry; returns
    /// the dialog to refresh next, nil when it failed.
    private func subscribe(layer: TransactionLayer, localPort: Int, dialog: Dialog?) async -> Dialog? {
        let headers = [
            SIPHeaderField(name: "Contact", value: "<sip:\(watcher.aor.prefix { $0 != "@" })@127.0.0.1:\(localPort)>"),
            SIPHeaderField(name: "Event", value: "presence"),
            SIPHeaderField(name: "Accept", value: PresenceContentType.pidf),
            SIPHeaderField(name: "Expires", value: "3600"),
        ]
        var dialog = dialog
        var request: SIPRequest
        if dialog != nil {
            request = dialog!.makeRequest(.subscribe, headers: headers)
        } else {
            guard let uri = URI("sip:\(presentity)") else { return nil }
            request = SIPRequest(method: .subscribe, uri: uri)
            request.headers.append("Max-Forwards", "70")
            request.headers.append("From", "<sip:\(watcher.aor)>;tag=\(LocalTag.make())")
            request.headers.append("To", "<sip:\(presentity)>")
            request.headers.append("Call-ID", "demo-\(LocalTag.make())@127.0.0.1")
            request.headers.append("CSeq", "1 SUBSCRIBE")
            for header in headers { request.headers.append(header.name, header.value) }
            request.headers.append("Content-Length", "0")
        }
        let destination = SIPDestination(transport: .udp, address: server)
        do {
            var response = try await layer.start(request, to: destination).finalResponse()
            if response.statusCode == 401 || response.statusCode == 407 {
                let (challengeName, answerName) = response.statusCode == 401
                    ? ("WWW-Authenticate", "Authorization") : ("Proxy-Authenticate", "Proxy-Authorization")
                guard let challenge = response.headers.first(challengeName),
                      let answer = DigestClient.answer(challenge: challenge, username: String(watcher.aor.prefix { $0 != "@" }),
                                                       password: watcher.password, method: "SUBSCRIBE",
                                                       uri: request.uri.description) else { return nil }
                request.headers.removeAll("Via")
                request.headers.append(answerName, answer)
                let cseq = ((try? request.cseq?.sequence) ?? 1) + 1
                request.headers.replace("CSeq", with: "\(cseq) SUBSCRIBE")
                if dialog != nil { dialog!.localSeq = cseq }
                response = try await layer.start(request, to: destination).finalResponse()
            }
            guard (200..<300).contains(response.statusCode) else {
                print("demo: \(watcher.aor) could not watch \(presentity): \(response.statusCode) \(response.reasonPhrase)")
                fflush(nil)
                return nil
            }
            if dialog == nil {
                dialog = try? Dialog.uac(request: request, response: response)
                print("demo: \(watcher.aor) watches \(presentity) (SUBSCRIBE answered \(response.statusCode))")
                fflush(nil)
            }
            return dialog
        } catch {
            logger.warning("demo watcher: SUBSCRIBE failed", metadata: ["sip.error": "\(error)"])
            return nil
        }
    }

    static func show(_ notify: SIPRequest, watcher: String, presentity: String) {
        let state = notify.headers.first("Subscription-State") ?? ""
        var line = "demo: \(watcher) sees \(presentity) "
        if let summary = try? PIDFDocument.parse(notify.body).summary {
            line += summary.basic == .open ? "open" : "closed"
            if let note = summary.note { line += " \"\(note)\"" }
            if !summary.activities.isEmpty { line += " [\(summary.activities.joined(separator: ", "))]" }
        } else {
            line += state.hasPrefix("pending") ? "(pending: bob has not allowed alice yet)" : "(no state)"
        }
        if state.hasPrefix("terminated") { line += " (subscription ended: \(state))" }
        print(line)
        fflush(nil)
    }
}
