import Benchmark
import SIPCore

/// Parse and serialize of typical messages (issue 2 §9: target under 1 µs median parse).
enum Samples {
    static let register = """
        REGISTER sip:example.com SIP/2.0\r
        Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---a4d1f0e0c2b1;rport\r
        Max-Forwards: 70\r
        Contact: <sip:alice@192.0.2.10:5060;transport=udp>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1\r
        To: <sip:alice@example.com>\r
        From: <sip:alice@example.com>;tag=9fxced76sl\r
        Call-ID: 3848276298220188511@192.0.2.10\r
        CSeq: 2 REGISTER\r
        Expires: 3600\r
        Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r
        Supported: path, outbound, gruu\r
        User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)\r
        Content-Length: 0\r
        \r

        """
    static let message = """
        MESSAGE sip:bob@example.com SIP/2.0\r
        Via: SIP/2.0/TCP 192.0.2.10:54321;branch=z9hG4bK776asdhds;rport\r
        Max-Forwards: 70\r
        To: "Bob" <sip:bob@example.com>\r
        From: "Alice" <sip:alice@example.com>;tag=49583\r
        Call-ID: asd88asd77a@192.0.2.10\r
        CSeq: 1 MESSAGE\r
        Content-Type: text/plain\r
        Content-Length: 18\r
        \r
        Watson, come here.
        """
    static let invite = """
        INVITE sip:bob@biloxi.example.com SIP/2.0\r
        Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r
        Max-Forwards: 70\r
        From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r
        To: Bob <sip:bob@biloxi.example.com>\r
        Call-ID: 3848276298220188511@atlanta.example.com\r
        CSeq: 1 INVITE\r
        Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r
        Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r
        Supported: timer, replaces\r
        Content-Type: application/sdp\r
        Content-Length: 151\r
        \r
        v=0\r
        o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r
        s=-\r
        c=IN IP4 192.0.2.101\r
        t=0 0\r
        m=audio 49172 RTP/AVP 0\r
        a=rtpmap:0 PCMU/8000\r

        """
    static let ok = """
        SIP/2.0 200 OK\r
        Via: SIP/2.0/UDP server10.biloxi.example.com;branch=z9hG4bKnashds8;received=192.0.2.3\r
        Via: SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\r
        Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r
        To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r
        From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r
        Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r
        CSeq: 314159 INVITE\r
        Contact: <sip:bob@192.0.2.4>\r
        Content-Length: 0\r
        \r

        """
    static let all: [(String, [UInt8])] = [
        ("REGISTER", Array(register.utf8)), ("MESSAGE", Array(message.utf8)),
        ("INVITE+SDP", Array(invite.utf8)), ("200 OK", Array(ok.utf8)),
    ]
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )
    for (name, bytes) in Samples.all {
        Benchmark("Parse \(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try SIPParser.parseDatagram(bytes))
            }
        }
        let parsed = try! SIPParser.parseDatagram(bytes)
        Benchmark("Serialize \(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(parsed.serialized())
            }
        }
    }
    let register = try! SIPParser.parseDatagram(Samples.all[0].1)
    Benchmark("Typed REGISTER (Via, From, To, CSeq, Contact)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try register.topVia)
            blackHole(register.from)
            blackHole(register.to)
            blackHole(try register.cseq)
            blackHole(register.contacts)
        }
    }
    // What a proxy pays per message (the parse-peers "parse + hot headers typed" line).
    let registerBytes = Samples.all[0].1
    Benchmark("Parse + typed REGISTER (Via, From, To, CSeq, Contact)") { benchmark in
        for _ in benchmark.scaledIterations {
            let m = try SIPParser.parseDatagram(registerBytes)
            blackHole(try m.topVia)
            blackHole(m.from)
            blackHole(m.to)
            blackHole(try m.cseq)
            blackHole(m.contacts)
        }
    }
}
