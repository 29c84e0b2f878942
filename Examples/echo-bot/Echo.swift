import SIPUserAgent

/// The echo bot's whole logic: every incoming message is answered with its text reversed.
enum Echo {
    /// `"hello"` → `"olleh"` (by characters, so emoji and accents stay whole).
    static func reply(to text: String) -> String {
        String(text.reversed())
    }

    /// Answers each message `userAgent` receives until it stops; returns how many it answered.
    @discardableResult
    static func serve(_ userAgent: SIPUserAgent, log: @Sendable (String) -> Void = { print($0) }) async -> Int {
        var answered = 0
        for await message in userAgent.messages {
            do {
                try await userAgent.send(text: reply(to: message.text), to: message.from)
                answered += 1
                log("echo-bot: \(message.from): \(message.text)")
            } catch {
                log("echo-bot: could not answer \(message.from): \(error)")
            }
        }
        return answered
    }
}
