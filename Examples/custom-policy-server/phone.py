#!/usr/bin/env python3
"""A SIP "phone" for the demo (README): listens on UDP 127.0.0.1:PORT, prints every request
that arrives and answers it 200 OK (Via, From, To with a tag, Call-ID and CSeq copied,
RFC 3261 §8.2.6), sent back to where the request came from (RFC 3581)."""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5099
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
print(f"phone listening on udp 127.0.0.1:{port}", flush=True)
copied = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
while True:
    data, peer = sock.recvfrom(65535)
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    if lines[0].startswith("SIP/2.0"):
        continue  # a response: nothing to answer
    print(f"{head}\r\n\r\n{body}\n", flush=True)
    answer = ["SIP/2.0 200 OK"]
    for line in lines[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in copied:
            if name in ("to", "t") and "tag=" not in line:
                line += ";tag=phone"
            answer.append(line)
    answer += ["Content-Length: 0", "", ""]
    sock.sendto("\r\n".join(answer).encode(), peer)
