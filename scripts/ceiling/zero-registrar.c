// A SIP "registrar" that does no work, to measure what ../shared/bench/compare's sipp client
// can drive on this machine: it answers each REGISTER on one TCP connection with 200 OK, or,
// given a second argument, the first REGISTER of each call (CSeq 1) with a fixed 401 digest
// challenge and the second with 200 OK (no check: sipp computes the answer either way).
// Usage: zero-registrar PORT [challenge]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

// The value of header `name` (with its colon) in m..end; its length in *len.
static const char *header(const char *m, const char *end, const char *name, int *len) {
    size_t n = strlen(name);
    for (const char *p = m; p < end;) {
        const char *e = memmem(p, end - p, "\r\n", 2);
        if (!e) return 0;
        if ((size_t)(e - p) > n && !strncasecmp(p, name, n)) { *len = e - p; return p; }
        p = e + 2;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: zero-registrar PORT [challenge]\n"); return 2; }
    int challenge = argc > 2;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (void *)&a, sizeof a) || listen(s, 16)) { perror("zero-registrar"); return 1; }
    static char in[1 << 20], out[1 << 20];
    for (;;) {
        int c = accept(s, 0, 0);
        size_t have = 0;
        for (;;) {
            ssize_t r = read(c, in + have, sizeof in - have);
            if (r <= 0) break;
            have += r;
            size_t olen = 0;
            char *p = in;
            for (char *e; (e = memmem(p, in + have - p, "\r\n\r\n", 4)); p = e) {
                e += 4;  // REGISTERs carry no body
                int l, csl;
                const char *cseq = header(p, e, "CSeq:", &csl);
                int first = cseq && memmem(cseq, csl, " 1 ", 3);
                olen += sprintf(out + olen, challenge && first ? "SIP/2.0 401 Unauthorized\r\n" : "SIP/2.0 200 OK\r\n");
                const char *names[] = { "Via:", "From:", "To:", "Call-ID:", "CSeq:" };
                for (int i = 0; i < 5; i++) {
                    const char *h = header(p, e, names[i], &l);
                    if (!h) continue;
                    memcpy(out + olen, h, l); olen += l;
                    if (i == 2) { memcpy(out + olen, ";tag=z1", 7); olen += 7; }
                    memcpy(out + olen, "\r\n", 2); olen += 2;
                }
                if (challenge && first)
                    olen += sprintf(out + olen, "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"0123456789abcdef\", qop=\"auth\", algorithm=MD5\r\n");
                olen += sprintf(out + olen, "Content-Length: 0\r\n\r\n");
            }
            if (olen && write(c, out, olen) != (ssize_t)olen) break;
            memmove(in, p, in + have - p);
            have = in + have - p;
        }
        close(c);
    }
}
