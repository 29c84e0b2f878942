// A presence server that does no work, to measure what ../shared/bench/compare-presence's
// sipp processes can drive on this machine. SUBSCRIBE: 200 OK, then a NOTIFY (PIDF body) to
// the watcher's Contact, which is the sipp UAS on 127.0.0.1:5090 (one TCP connection to it).
// PUBLISH: 200 OK, then one NOTIFY to each watcher of the presentity. Answers from the UAS are
// read and dropped. Presentities are named p<N>; at most WATCHERS watchers each are kept.
// Usage: zero-presence PORT PRESENTITIES WATCHERS
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

typedef struct { char *d; size_t len, cap; } buffer;
static void put(buffer *b, const char *s, size_t n) {
    if (b->len + n > b->cap) { b->cap = (b->len + n) * 2; b->d = realloc(b->d, b->cap); }
    memcpy(b->d + b->len, s, n);
    b->len += n;
}
static void putf(buffer *b, const char *fmt, ...) {
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp, n);
}

typedef struct { char from[160], callid[128], contact[96]; int cseq; } subscription;
#define MAX_SUBS 1000000
static subscription *subs;
static int nsubs, watchers, presentities;
static int *watchersOf, *watcherCount;  // presentity p: subs[watchersOf[p * watchers + i]]

typedef struct { int fd; buffer in, out; } connection;
static connection conns[16];
static int nconns, uasIndex = -1;
static long branch;

static const char *header(const char *m, const char *end, const char *name, int *len) {
    size_t n = strlen(name);
    for (const char *p = m; p < end;) {
        const char *e = memmem(p, end - p, "\r\n", 2);
        if (!e) return 0;
        if ((size_t)(e - p) > n && !strncasecmp(p, name, n)) {
            const char *v = p + n;
            while (*v == ' ') v++;
            *len = e - v;
            return v;
        }
        p = e + 2;
    }
    return 0;
}

static int addConnection(int fd) {
    int one = 1;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&conns[nconns], 0, sizeof conns[nconns]);
    conns[nconns].fd = fd;
    return nconns++;
}

static void connectUAS(void) {
    if (uasIndex >= 0) return;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in u = { .sin_family = AF_INET, .sin_port = htons(5090) };
    u.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (void *)&u, sizeof u)) { perror("zero-presence: the watcher UAS on 5090"); exit(1); }
    uasIndex = addConnection(fd);
}

static void notify(int si, const char *name, int nameLength, const char *basic) {
    subscription *s = &subs[si];
    char body[512];
    int bodyLength = snprintf(body, sizeof body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:%.*s@example.com\">\r\n"
        "<tuple id=\"t1\"><status><basic>%s</basic></status></tuple>\r\n</presence>\r\n", nameLength, name, basic);
    putf(&conns[uasIndex].out,
        "NOTIFY %s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5077;branch=z9hG4bKz%ld\r\nMax-Forwards: 70\r\n"
        "From: <sip:%.*s@example.com>;tag=z%d\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d NOTIFY\r\n"
        "Contact: <sip:127.0.0.1:5077;transport=tcp>\r\nEvent: presence\r\nSubscription-State: active;expires=3600\r\n"
        "Content-Type: application/pidf+xml\r\nContent-Length: %d\r\n\r\n%s",
        s->contact, branch++, nameLength, name, si, s->from, s->callid, ++s->cseq, bodyLength, body);
}

static void handle(int ci, const char *m, const char *end, const char *body, int bodyLength) {
    if (!strncmp(m, "SIP/2.0", 7)) return;  // the UAS's answer to a NOTIFY
    connectUAS();
    buffer *o = &conns[ci].out;
    int isSubscribe = !strncmp(m, "SUBSCRIBE", 9), isPublish = !strncmp(m, "PUBLISH", 7);
    // Request-URI sip:p<N>@domain
    const char *uri = strchr(m, ' ') + 1, *colon = memchr(uri, ':', end - uri), *at = colon ? memchr(colon, '@', end - colon) : 0;
    const char *name = colon ? colon + 1 : "";
    int nameLength = at ? (int)(at - name) : 0, p = nameLength > 1 ? atoi(name + 1) : -1;
    if (p >= presentities) p = -1;
    int l, fromLength, callIDLength;
    putf(o, "SIP/2.0 200 OK\r\n");
    const char *v = header(m, end, "Via:", &l);
    putf(o, "Via: %.*s\r\n", l, v);
    const char *from = header(m, end, "From:", &fromLength);
    putf(o, "From: %.*s\r\n", fromLength, from);
    v = header(m, end, "To:", &l);
    putf(o, "To: %.*s;tag=z%d\r\n", l, v, nsubs);
    const char *callID = header(m, end, "Call-ID:", &callIDLength);
    putf(o, "Call-ID: %.*s\r\n", callIDLength, callID);
    v = header(m, end, "CSeq:", &l);
    putf(o, "CSeq: %.*s\r\n", l, v);
    if (isSubscribe && nsubs < MAX_SUBS) {
        putf(o, "Contact: <sip:127.0.0.1:5077;transport=tcp>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n");
        int si = nsubs++;
        subscription *s = &subs[si];
        snprintf(s->from, sizeof s->from, "%.*s", fromLength, from);
        snprintf(s->callid, sizeof s->callid, "%.*s", callIDLength, callID);
        v = header(m, end, "Contact:", &l);
        const char *lt = v ? memchr(v, '<', l) : 0, *gt = lt ? memchr(lt, '>', v + l - lt) : 0;
        snprintf(s->contact, sizeof s->contact, "%.*s", gt ? (int)(gt - lt - 1) : 0, lt ? lt + 1 : "");
        if (p >= 0 && watcherCount[p] < watchers) watchersOf[p * watchers + watcherCount[p]++] = si;
        notify(si, name, nameLength, "closed");
    } else if (isPublish) {
        putf(o, "SIP-ETag: z%ld\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n", branch);
        const char *basic = memmem(body, bodyLength, ">open<", 6) ? "open" : "closed";
        if (p >= 0) for (int i = 0; i < watcherCount[p]; i++) notify(watchersOf[p * watchers + i], name, nameLength, basic);
    } else {
        putf(o, "Content-Length: 0\r\n\r\n");
    }
}

static void consume(int ci) {
    char *p = conns[ci].in.d, *end = p + conns[ci].in.len;
    for (char *e; (e = memmem(p, end - p, "\r\n\r\n", 4)); ) {
        e += 4;
        int l;
        const char *v = header(p, e, "Content-Length:", &l);
        int length = v ? atoi(v) : 0;
        if (e + length > end) break;
        handle(ci, p, e, e, length);
        p = e + length;
    }
    connection *c = &conns[ci];
    memmove(c->in.d, p, c->in.d + c->in.len - p);
    c->in.len = c->in.d + c->in.len - p;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: zero-presence PORT PRESENTITIES WATCHERS\n"); return 2; }
    presentities = atoi(argv[2]);
    watchers = atoi(argv[3]);
    subs = calloc(MAX_SUBS, sizeof *subs);
    watchersOf = calloc((size_t)presentities * watchers, sizeof(int));
    watcherCount = calloc(presentities, sizeof(int));
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (void *)&a, sizeof a) || listen(s, 16)) { perror("zero-presence"); return 1; }
    for (;;) {
        struct pollfd pf[17] = { { .fd = s, .events = POLLIN } };
        int n = nconns;
        for (int i = 0; i < n; i++) pf[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN | (conns[i].out.len ? POLLOUT : 0) };
        if (poll(pf, n + 1, -1) < 0) continue;
        for (int i = 0; i < n; i++) {
            if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char tmp[65536];
            ssize_t r = read(conns[i].fd, tmp, sizeof tmp);
            if (r > 0) { put(&conns[i].in, tmp, r); consume(i); }
            else if (r == 0) { close(conns[i].fd); conns[i].fd = -1; }
        }
        for (int i = 0; i < nconns; i++) {
            connection *c = &conns[i];
            if (c->fd < 0 || !c->out.len) continue;
            ssize_t w = write(c->fd, c->out.d, c->out.len);
            if (w > 0) { memmove(c->out.d, c->out.d + w, c->out.len - w); c->out.len -= w; }
        }
        if ((pf[0].revents & POLLIN) && nconns < 15) addConnection(accept(s, 0, 0));
        // Closed connections leave their slot (and buffers) behind; the UAS keeps its index.
    }
}
