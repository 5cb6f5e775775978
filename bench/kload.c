/*
 * kload - a small closed-loop load generator for ketch's benchmark harness.
 *
 * Speaks the memcached text protocol and Redis RESP over N TCP connections
 * driven by one epoll loop, keeps up to P requests in flight on every
 * connection (pipeline depth), records the latency of every request into a
 * log-linear histogram (1.6% resolution) and prints one line of results:
 *
 *   kload proto=mc op=get conns=50 depth=1 size=32 keys=10000 requests=N
 *         errors=0 misses=0 secs=S ops=X p50_us=A p99_us=B mean_us=C
 *
 * Build: cc -O2 -o kload kload.c
 * Usage: kload -H host -p port [-P mc|redis] [-o get|set|mget] [-c conns]
 *              [-d depth] [-s value_size] [-k keys] [-m keys_per_mget]
 *              [-x key_prefix] [-t seconds | -n requests] [-r ops_per_sec]
 *              [-S]
 *   -t  run for a fixed duration; only requests completed inside it count
 *   -n  send exactly this many requests and wait for all their replies
 *   -r  offered load: never send faster than this rate (all connections)
 *   -S  sequential keys (0, 1, 2, ...) instead of uniformly random ones;
 *       with -o set -n <keys> this fills the key space
 * Exit status 0 on success, 1 on a usage, connection or protocol error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PROTO_MC, PROTO_REDIS };
enum { OP_GET, OP_SET, OP_MGET };

struct buf {
    char *p;
    size_t len, off, cap;
};

struct conn {
    int fd;
    int want_out;
    struct buf r, w;
    uint64_t *sent; /* ring of send times, one per request in flight */
    unsigned head, inflight;
};

static int proto = PROTO_MC, op = OP_GET, nconns = 1, depth = 1, mkeys = 10;
static int sequential;
static size_t vsize = 32;
static long keyspace = 10000;
static const char *prefix = "kload";
static char *value;
static uint64_t seqkey, rng = 88172645463325252ULL;

/* log-linear histogram of nanoseconds: 64 sub-buckets per power of two */
#define HBUCKETS (128 + 58 * 64)
static uint64_t hist[HBUCKETS];
static uint64_t hcount, hsum;

static void
die(const char *msg)
{
    fprintf(stderr, "kload: %s%s%s\n", msg, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned
hidx(uint64_t v)
{
    if (v < 128) {
        return (unsigned)v;
    }
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6;
    unsigned i = 128 + (unsigned)(shift - 1) * 64 + (unsigned)((v >> shift) - 64);
    return i < HBUCKETS ? i : HBUCKETS - 1;
}

static double
hvalue(unsigned i) /* midpoint of bucket i, ns */
{
    if (i < 128) {
        return i;
    }
    int shift = (int)(i - 128) / 64 + 1;
    uint64_t lo = ((uint64_t)((i - 128) % 64) + 64) << shift;
    return (double)lo + (double)((1ULL << shift) - 1) / 2.0;
}

static double
percentile(double q)
{
    uint64_t want = (uint64_t)(q * (double)hcount + 0.5), acc = 0;
    if (want < 1) {
        want = 1;
    }
    for (unsigned i = 0; i < HBUCKETS; i++) {
        acc += hist[i];
        if (acc >= want) {
            return hvalue(i);
        }
    }
    return 0;
}

static void
reserve(struct buf *b, size_t extra)
{
    if (b->off > 0 && b->off == b->len) {
        b->off = b->len = 0;
    }
    if (b->len + extra <= b->cap) {
        return;
    }
    if (b->off > 0) { /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) {
            return;
        }
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    b->p = realloc(b->p, cap);
    if (b->p == NULL) {
        die("out of memory");
    }
    b->cap = cap;
}

static void
put(struct buf *b, const void *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void
putf(struct buf *b, const char *fmt, long a, const char *s)
{
    char tmp[256];
    int n = snprintf(tmp, sizeof(tmp), fmt, a, s);
    put(b, tmp, (size_t)n);
}

static int
next_key(char *k, size_t cap)
{
    uint64_t i;
    if (sequential) {
        i = seqkey++ % (uint64_t)keyspace;
    } else { /* xorshift64 */
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        i = rng % (uint64_t)keyspace;
    }
    return snprintf(k, cap, "%s:%llu", prefix, (unsigned long long)i);
}

static void
add_request(struct buf *w)
{
    char k[200];
    int kl;
    if (proto == PROTO_MC) {
        switch (op) {
        case OP_GET:
            kl = next_key(k, sizeof(k));
            put(w, "get ", 4);
            put(w, k, (size_t)kl);
            put(w, "\r\n", 2);
            break;
        case OP_MGET:
            put(w, "get", 3);
            for (int i = 0; i < mkeys; i++) {
                kl = next_key(k, sizeof(k));
                put(w, " ", 1);
                put(w, k, (size_t)kl);
            }
            put(w, "\r\n", 2);
            break;
        default:
            next_key(k, sizeof(k));
            putf(w, "set %2$s 0 0 %1$ld\r\n", (long)vsize, k);
            put(w, value, vsize);
            put(w, "\r\n", 2);
        }
        return;
    }
    switch (op) {
    case OP_GET:
        kl = next_key(k, sizeof(k));
        putf(w, "*2\r\n$3\r\nGET\r\n$%ld\r\n%s\r\n", kl, k);
        break;
    case OP_MGET:
        putf(w, "*%ld\r\n$4\r\nMGET\r\n%s", mkeys + 1, "");
        for (int i = 0; i < mkeys; i++) {
            kl = next_key(k, sizeof(k));
            putf(w, "$%ld\r\n%s\r\n", kl, k);
        }
        break;
    default:
        kl = next_key(k, sizeof(k));
        putf(w, "*3\r\n$3\r\nSET\r\n$%ld\r\n%s\r\n", kl, k);
        putf(w, "$%ld\r\n%s", (long)vsize, "");
        put(w, value, vsize);
        put(w, "\r\n", 2);
    }
}

/* Parsers: return bytes of one complete reply, 0 if incomplete, -1 if bad. */
static long
line_end(const char *p, size_t len, size_t from)
{
    const char *e = memmem(p + from, len - from, "\r\n", 2);
    return e ? (long)(e - p) : -1;
}

static long
parse_mc(const char *p, size_t len, int *miss, int *err)
{
    size_t pos = 0;
    int values = 0;
    for (;;) {
        long e = line_end(p, len, pos);
        if (e < 0) {
            return 0;
        }
        const char *l = p + pos;
        size_t ll = (size_t)e - pos;
        if (ll > 6 && memcmp(l, "VALUE ", 6) == 0) {
            /* VALUE <key> <flags> <bytes> [<cas>] */
            const char *s = l + 6;
            int field = 0;
            unsigned long long bytes = 0;
            while (s < p + e && field < 2) {
                if (*s++ == ' ') {
                    field++;
                }
            }
            while (s < p + e && *s >= '0' && *s <= '9') {
                bytes = bytes * 10 + (unsigned long long)(*s++ - '0');
            }
            size_t need = (size_t)e + 2 + bytes + 2;
            if (need > len) {
                return 0;
            }
            pos = need;
            values++;
            continue;
        }
        pos = (size_t)e + 2;
        if (ll == 3 && memcmp(l, "END", 3) == 0) {
            *miss += (op == OP_MGET ? mkeys : 1) - values;
        } else if (!(ll == 6 && memcmp(l, "STORED", 6) == 0)) {
            (*err)++;
        }
        return (long)pos;
    }
}

static long
parse_resp(const char *p, size_t len, size_t pos, int *miss, int *err)
{
    long e = line_end(p, len, pos);
    if (e < 0) {
        return 0;
    }
    long n = strtol(p + pos + 1, NULL, 10);
    switch (p[pos]) {
    case '+':
    case ':':
        return e + 2;
    case '-':
        (*err)++;
        return e + 2;
    case '$':
        if (n < 0) {
            (*miss)++;
            return e + 2;
        }
        return (size_t)e + 2 + (size_t)n + 2 <= len ? e + 2 + n + 2 : 0;
    case '*': {
        long at = e + 2;
        for (long i = 0; i < n; i++) {
            at = parse_resp(p, len, (size_t)at, miss, err);
            if (at <= 0) {
                return at;
            }
        }
        return at;
    }
    default:
        return -1;
    }
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: kload -H host -p port [-P mc|redis] [-o get|set|mget] [-c conns] [-d depth]\n"
            "             [-s size] [-k keys] [-m mget_keys] [-x prefix] [-t secs | -n reqs]\n"
            "             [-r ops_per_sec] [-S]\n");
    exit(1);
}

int
main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = NULL;
    double secs = 0, rate = 0;
    long total = 0;
    int c;
    while ((c = getopt(argc, argv, "H:p:P:o:c:d:s:k:m:x:t:n:r:S")) != -1) {
        switch (c) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = optarg;
            break;
        case 'P':
            proto = strcmp(optarg, "redis") == 0 ? PROTO_REDIS : PROTO_MC;
            break;
        case 'o':
            op = strcmp(optarg, "set") == 0    ? OP_SET
                 : strcmp(optarg, "mget") == 0 ? OP_MGET
                                               : OP_GET;
            break;
        case 'c':
            nconns = atoi(optarg);
            break;
        case 'd':
            depth = atoi(optarg);
            break;
        case 's':
            vsize = (size_t)atol(optarg);
            break;
        case 'k':
            keyspace = atol(optarg);
            break;
        case 'm':
            mkeys = atoi(optarg);
            break;
        case 'x':
            prefix = optarg;
            break;
        case 't':
            secs = atof(optarg);
            break;
        case 'n':
            total = atol(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'S':
            sequential = 1;
            break;
        default:
            usage();
        }
    }
    if (port == NULL || nconns < 1 || depth < 1 || keyspace < 1 || mkeys < 1 ||
        (secs <= 0) == (total <= 0)) {
        usage();
    }
    value = malloc(vsize + 1);
    memset(value, 'x', vsize);
    rng ^= (uint64_t)getpid() * 2654435761ULL;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        die("cannot resolve host");
    }
    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)nconns, sizeof(*cs));
    for (int i = 0; i < nconns; i++) {
        struct conn *cn = &cs[i];
        int one = 1;
        cn->fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (cn->fd < 0 || connect(cn->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            die("connect");
        }
        setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(cn->fd, F_SETFL, fcntl(cn->fd, F_GETFL) | O_NONBLOCK);
        cn->sent = calloc((size_t)depth, sizeof(uint64_t));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cn};
        epoll_ctl(ep, EPOLL_CTL_ADD, cn->fd, &ev);
    }
    freeaddrinfo(ai);

    uint64_t start = now_ns(), deadline = secs > 0 ? start + (uint64_t)(secs * 1e9) : UINT64_MAX;
    uint64_t drain_limit = UINT64_MAX, last_progress = start;
    long issued = 0, done = 0, counted = 0, inflight = 0;
    int misses = 0, errors = 0;
    struct epoll_event *evs = calloc((size_t)nconns, sizeof(*evs));
    uint64_t now = start;
    int stopping = 0;

    for (;;) {
        /* issue: fill every connection up to the pipeline depth */
        if (!stopping && (now >= deadline || (total > 0 && issued >= total))) {
            stopping = 1;
            drain_limit = now + 2000000000ULL;
        }
        if (!stopping) {
            for (int i = 0; i < nconns; i++) {
                struct conn *cn = &cs[i];
                while ((int)cn->inflight < depth && (total == 0 || issued < total)) {
                    if (rate > 0 && (double)(now - start) < (double)issued * 1e9 / rate) {
                        break;
                    }
                    add_request(&cn->w);
                    cn->sent[(cn->head + cn->inflight) % (unsigned)depth] = now;
                    cn->inflight++;
                    issued++;
                    inflight++;
                }
            }
        }
        /* flush */
        for (int i = 0; i < nconns; i++) {
            struct conn *cn = &cs[i];
            while (cn->w.off < cn->w.len) {
                ssize_t n = write(cn->fd, cn->w.p + cn->w.off, cn->w.len - cn->w.off);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n < 0 && errno == EAGAIN) {
                    break;
                }
                if (n <= 0) {
                    die("write");
                }
                cn->w.off += (size_t)n;
            }
            int want = cn->w.off < cn->w.len;
            if (want != cn->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = cn};
                epoll_ctl(ep, EPOLL_CTL_MOD, cn->fd, &ev);
                cn->want_out = want;
            }
        }
        if (stopping && (inflight == 0 || now > drain_limit)) {
            break;
        }
        if (now - last_progress > 10000000000ULL) {
            errno = 0;
            die("no reply for 10 seconds");
        }
        int timeout = 100;
        if (rate > 0 && !stopping) {
            timeout = 1;
        }
        if (!stopping && deadline != UINT64_MAX) {
            uint64_t left_ms = deadline > now ? (deadline - now) / 1000000 + 1 : 0;
            if (left_ms < (uint64_t)timeout) {
                timeout = (int)left_ms;
            }
        }
        int nev = epoll_wait(ep, evs, nconns, timeout);
        if (nev < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        now = now_ns();
        for (int j = 0; j < nev; j++) {
            struct conn *cn = evs[j].data.ptr;
            if (!(evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                continue;
            }
            for (;;) {
                reserve(&cn->r, 65536);
                ssize_t n = read(cn->fd, cn->r.p + cn->r.len, cn->r.cap - cn->r.len);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n < 0 && errno == EAGAIN) {
                    break;
                }
                if (n <= 0) {
                    errno = n == 0 ? 0 : errno;
                    die(n == 0 ? "connection closed by server" : "read");
                }
                cn->r.len += (size_t)n;
                for (;;) {
                    const char *p = cn->r.p + cn->r.off;
                    size_t len = cn->r.len - cn->r.off;
                    if (len == 0) {
                        break;
                    }
                    long used = proto == PROTO_MC ? parse_mc(p, len, &misses, &errors)
                                                  : parse_resp(p, len, 0, &misses, &errors);
                    if (used < 0 || (used > 0 && cn->inflight == 0)) {
                        errno = 0;
                        die("unexpected reply");
                    }
                    if (used == 0) {
                        break;
                    }
                    cn->r.off += (size_t)used;
                    uint64_t t0 = cn->sent[cn->head];
                    cn->head = (cn->head + 1) % (unsigned)depth;
                    cn->inflight--;
                    inflight--;
                    done++;
                    last_progress = now;
                    if (now <= deadline) {
                        uint64_t lat = now - t0;
                        hist[hidx(lat)]++;
                        hcount++;
                        hsum += lat;
                        counted++;
                    }
                }
                if ((size_t)n < 65536) {
                    break;
                }
            }
        }
    }
    uint64_t end = total > 0 ? now : deadline;
    double el = (double)(end - start) / 1e9;
    static const char *ops[] = {"get", "set", "mget"};
    printf(
        "kload proto=%s op=%s conns=%d depth=%d size=%zu keys=%ld requests=%ld errors=%d misses=%d "
        "secs=%.3f ops=%.1f p50_us=%.1f p99_us=%.1f mean_us=%.1f\n",
        proto == PROTO_MC ? "mc" : "redis", ops[op], nconns, depth, vsize, keyspace, counted,
        errors, misses, el, (double)counted / el, percentile(0.50) / 1000.0,
        percentile(0.99) / 1000.0, hcount ? (double)hsum / (double)hcount / 1000.0 : 0.0);
    return errors > 0 && total > 0 ? 1 : 0;
}
