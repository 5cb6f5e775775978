/*
 * proxy/redis.c - Redis pools: RESP2 requests from clients (multibulk and
 * inline), routing by the command table, RESP2 replies from servers, and
 * the merge of commands split over several servers.
 *
 *   multibulk: "*<n>" then n x ("$<len>", <len> bytes, "\r\n"); arguments
 *     stay where they were read and are known by offset within req->in
 *   one server: the request's own bytes are forwarded and the reply passed
 *     through; MGET/MSET/DEL/UNLINK/EXISTS/TOUCH over several servers are
 *     re-encoded per server and merged (MGET in key order, counts summed)
 *   keys that must live together but do not: refused, never sent
 *   PING ECHO QUIT SELECT AUTH COMMAND HELLO INFO CLIENT SCRIPT: answered
 *     here (SCRIPT LOAD goes to every server of the pool)
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "protocols/redis_cmds.h"
#include "protocols/redis_resp.h"
#include "proxy/conn.h"
#include "proxy/dual.h"
#include "proxy/instance.h"
#include "proxy/proto.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* the version ketch reports as "redis_version" and in HELLO: the RESP2 feature set it serves */
#define RD_COMPAT_VERSION "7.0.0"
/* a server's status or error line longer than this is not a Redis server talking */
#define RD_REPLY_LINE_MAX (1024 * 1024)
/* key positions and servers of a request with at most this many arguments stay on the stack */
#define RD_ROUTE_STACK 16
/* a request of at most this many arguments, all read already, is parsed in one pass */
#define RD_WHOLE_ARGS 64

static void
rd_put(struct worker *w, struct spans *s, const void *p, size_t n)
{
    buf_writer_put(&w->writer, s, p, n);
}

void
rd_putf(struct worker *w, struct spans *s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    rd_put(w, s, line, (size_t)KT_MIN((size_t)n, sizeof(line) - 1));
}

void
rd_put_bulk(struct worker *w, struct spans *s, const void *p, size_t n)
{
    rd_putf(w, s, "$%zu\r\n", n);
    rd_put(w, s, p, n);
    rd_put(w, s, "\r\n", 2);
}

static void
rd_put_str(struct worker *w, struct spans *s, const char *str)
{
    rd_put_bulk(w, s, str, strlen(str));
}

static void
rd_error(struct worker *w, struct spans *out, const char *msg)
{
    rd_putf(w, out, "-ERR %s\r\n", msg);
}

/* Reply to <req> with a formatted line (a whole RESP value, without "\r\n"). */
static void rd_reply(struct req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
rd_reply(struct req *req, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    n = KT_MIN(n, (int)sizeof(line) - 3);
    line[n++] = '\r';
    line[n++] = '\n';
    req_reply_text(req, line, (size_t)n);
}

/* ---------------------------------------------------------------- arguments */

/*
 * Argument <i> of <req> as contiguous bytes: a pointer into its chunk when
 * it lies in one span (the usual case), else NULL.
 */
static const uint8_t *
rd_arg_direct(const struct req *req, uint32_t i)
{
    uint64_t off = req->args[i].off;

    if (req->in.n == 1) { /* the whole request in one span */
        return req->in.v[0].b->data + req->in.v[0].off + off;
    }

    for (uint32_t s = 0; s < req->in.n; s++) {
        const struct span *sp = &req->in.v[s];

        if (off < sp->len) {
            return off + req->args[i].len <= sp->len ? sp->b->data + sp->off + off : NULL;
        }
        off -= sp->len;
    }
    return NULL;
}

/* Copy up to <cap> bytes of argument <i> into <dst>; returns the argument's length. */
static uint32_t
rd_arg_copy(const struct req *req, uint32_t i, char *dst, size_t cap)
{
    size_t n = KT_MIN((size_t)req->args[i].len, cap);

    spans_peek(&req->in, req->args[i].off, (uint8_t *)dst, n);
    return req->args[i].len;
}

/* Argument <i> as a NUL-terminated string in <dst>, cut at <cap> - 1 bytes. */
static const char *
rd_arg_str(const struct req *req, uint32_t i, char *dst, size_t cap)
{
    uint32_t len = rd_arg_copy(req, i, dst, cap - 1);

    dst[KT_MIN((size_t)len, cap - 1)] = '\0';
    return dst;
}

static int
rd_arg_is(const struct req *req, uint32_t i, const char *word)
{
    char buf[32];
    size_t wl = strlen(word);

    if (req->args[i].len != wl || wl >= sizeof(buf)) {
        return 0;
    }
    rd_arg_copy(req, i, buf, sizeof(buf));
    return strncasecmp(buf, word, wl) == 0;
}

static int
rd_arg_int(const struct req *req, uint32_t i, int64_t *out)
{
    char buf[32], *end;

    if (req->args[i].len == 0 || req->args[i].len >= sizeof(buf)) {
        return -1;
    }
    rd_arg_str(req, i, buf, sizeof(buf));
    *out = strtoll(buf, &end, 10);
    return *end == '\0' ? 0 : -1;
}

/* Append argument <i> to <out> as a bulk string, by reference. */
static void
rd_put_arg(struct worker *w, struct spans *out, const struct req *req, uint32_t i)
{
    rd_putf(w, out, "$%u\r\n", req->args[i].len);
    spans_slice(out, &req->in, req->args[i].off, req->args[i].len);
    rd_put(w, out, "\r\n", 2);
}

/* ---------------------------------------------------------------- routing */

/*
 * The key positions of <req> into <pos> (room for nargs); returns how many,
 * or -1 after replying with the error (a bad numkeys).
 */
static int
rd_key_positions(struct req *req, const struct redis_cmd_desc *d, uint32_t *pos)
{
    uint32_t n = 0;

    if (d->first > 0) {
        int64_t last = d->last < 0 ? (int64_t)req->nargs + d->last : d->last;

        for (int64_t i = d->first; i <= last && i < (int64_t)req->nargs; i += d->step) {
            pos[n++] = (uint32_t)i;
        }
    }
    if (d->numkeys > 0 && (uint32_t)d->numkeys < req->nargs) {
        int64_t nk;

        if (rd_arg_int(req, (uint32_t)d->numkeys, &nk) != 0) {
            rd_reply(req, "-ERR value is not an integer or out of range");
            return -1;
        }
        if (nk < 0) {
            rd_reply(req, "-ERR Number of keys can't be negative");
            return -1;
        }
        if (nk > (int64_t)req->nargs - d->numkeys - 1) {
            rd_reply(req, "-ERR Number of keys can't be greater than number of args");
            return -1;
        }
        for (int64_t i = 0; i < nk; i++) {
            pos[n++] = (uint32_t)(d->numkeys + 1 + i);
        }
    }
    return (int)n;
}

/* Point req->keys at the key arguments; keys split across chunks are copied. */
static void
rd_set_keys(struct req *req, const uint32_t *pos, uint32_t n)
{
    size_t copied = 0, used = 0;

    req->nkeys = n;
    req->keys = n > 1 ? kt_malloc(n * sizeof(*req->keys)) : &req->key1;
    for (uint32_t k = 0; k < n; k++) {
        req->keys[k].len = req->args[pos[k]].len;
        req->keys[k].p = (const char *)rd_arg_direct(req, pos[k]);
        if (req->keys[k].p == NULL) {
            copied += req->keys[k].len;
        }
    }
    if (copied == 0) {
        return;
    }
    req->copies = kt_malloc(copied);
    for (uint32_t k = 0; k < n; k++) {
        if (req->keys[k].p == NULL) {
            rd_arg_copy(req, pos[k], (char *)req->copies + used, req->keys[k].len);
            req->keys[k].p = (const char *)req->copies + used;
            used += req->keys[k].len;
        }
    }
}

/* Encode fragment <f> of a split command: the command with its keys (and MSET's values). */
static void
rd_encode_split(struct req *req, struct frag *f)
{
    const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)req->cmd);
    struct worker *w = req->w;
    uint32_t per_key = d->step; /* MSET carries key and value */

    rd_putf(w, &f->out, "*%u\r\n", 1 + f->nkeys * per_key);
    rd_put_str(w, &f->out, d->name);
    for (uint32_t k = 0; k < f->nkeys; k++) {
        uint32_t arg = (uint32_t)d->first + f->keyidx[k] * d->step;

        for (uint32_t j = 0; j < per_key; j++) {
            rd_put_arg(w, &f->out, req, arg + j);
        }
    }
}

static void
rd_send_to(struct req *req, uint32_t sgidx)
{
    uint32_t hint =
        req->nkeys > 0 && req->keys[0].len > 0 ? (uint8_t)req->keys[0].p[req->keys[0].len - 1] : 0;

    req_forward(req, sgidx, hint);
}

/*
 * During an expansion (proxy/dual.c): a read may miss and ask the old ring;
 * a write or delete of a key whose old server differs goes there first.
 * Returns 1 when it took <req>.
 */
static int __attribute__((noinline))
rd_dual(struct req *req, const struct redis_cmd_desc *d, uint32_t sgidx)
{
    uint32_t old;
    int plain;

    if (d->class == REDIS_CLASS_READ) {
        req->dual = req->nkeys == 1;
        return 0;
    }
    if (req->nkeys != 1 || (d->class != REDIS_CLASS_WRITE && d->class != REDIS_CLASS_DELETE) ||
        (old = dual_old(req, sgidx, req->keys[0].p, req->keys[0].len)) == ROUTE_NONE) {
        return 0;
    }
    /* only what does not care what is there (SET without NX/XX/GET/KEEPTTL...) skips the copy */
    plain = (req->cmd == REDIS_CMD_SET && req->nargs == 3) || req->cmd == REDIS_CMD_SETEX ||
            req->cmd == REDIS_CMD_PSETEX || d->class == REDIS_CLASS_DELETE;
    dual_start(req->w, req->pool, plain ? DUAL_DELETE : DUAL_MIGRATE, req, req->keys[0].p,
               req->keys[0].len, old, sgidx, rd_send_to);
    return 1;
}

/*
 * MSET, DEL, UNLINK of several keys during an expansion: the keys are
 * deleted on their old servers too (nothing there is needed). Other
 * multi-key writes run on the new ring only.
 */
static void
rd_dual_multi(struct req *req, const uint32_t *sg)
{
    if (req->cmd != REDIS_CMD_MSET && req->cmd != REDIS_CMD_DEL && req->cmd != REDIS_CMD_UNLINK) {
        return;
    }
    for (uint32_t k = 0; k < req->nkeys; k++) {
        uint32_t old = dual_old(req, sg[k], req->keys[k].p, req->keys[k].len);

        if (old != ROUTE_NONE) {
            dual_start(req->w, req->pool, DUAL_DELETE, NULL, req->keys[k].p, req->keys[k].len, old,
                       sg[k], NULL);
        }
    }
}

static void
rd_route(struct req *req)
{
    const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)req->cmd);
    struct worker *w = req->w;
    uint32_t stack[RD_ROUTE_STACK], *pos, *sg, hint = 0;
    int n, same = 1, expanding;

    if (d->first == 1 && d->last == 1 && d->numkeys == 0 && req->nargs >= 2) {
        /* one key, the first argument (GET, SET, HGET, INCR, ...): the short way */
        const uint8_t *key = rd_arg_direct(req, 1);

        if (key != NULL) {
            req->nkeys = 1;
            req->keys = &req->key1;
            req->key1.p = (const char *)key;
            req->key1.len = req->args[1].len;
            hint = req->key1.len > 0 ? key[req->key1.len - 1] : 0;
            uint32_t one = worker_route_key(w, req->pool, 0, req->key1.p, req->key1.len);

            if (!w->topo->pools[req->pool].expanding || !rd_dual(req, d, one)) {
                req_forward(req, one, hint);
            }
            return;
        }
    }
    pos = req->nargs <= RD_ROUTE_STACK ? stack : kt_malloc(req->nargs * sizeof(*pos));
    n = rd_key_positions(req, d, pos);
    if (n > 0) {
        rd_set_keys(req, pos, (uint32_t)n);
    }
    if (pos != stack) {
        kt_free(pos);
    }
    if (n <= 0) {
        if (n == 0) {
            /* no key (EVAL with numkeys 0, LOLWUT): any server will do */
            req_forward(req, worker_route_key(w, req->pool, 0, "", 0), 0);
        }
        return;
    }
    sg = req->nkeys <= RD_ROUTE_STACK ? stack : kt_malloc(req->nkeys * sizeof(*sg));
    for (uint32_t k = 0; k < req->nkeys; k++) {
        sg[k] = worker_route_key(w, req->pool, 0, req->keys[k].p, req->keys[k].len);
        same &= sg[k] == sg[0];
    }
    if (req->keys[0].len > 0) {
        hint = (uint8_t)req->keys[0].p[req->keys[0].len - 1];
    }
    expanding = w->topo->pools[req->pool].expanding;
    if (expanding && req->nkeys > 1 && (same || (d->flags & RC_SPLIT))) {
        rd_dual_multi(req, sg);
    }
    if (same) {
        if (!expanding || !rd_dual(req, d, sg[0])) {
            req_forward(req, sg[0], hint);
        }
    } else if (d->flags & RC_SPLIT) {
        req_group(req, sg);
        for (uint32_t j = 0; j < req->nfrags; j++) {
            rd_encode_split(req, &req->frags[j]);
        }
        req_send_frags(req, 0);
    } else {
        rd_reply(req, "-ERR keys in '%s' command hash to different servers", d->name);
    }
    if (sg != stack) {
        kt_free(sg);
    }
}

/* SCRIPT LOAD: every server of the pool gets the script, so EVALSHA works anywhere. */
static void
rd_broadcast(struct req *req)
{
    const struct topology *topo = req->w->topo;
    const struct pool *pool = &topo->pools[topo->pools[req->pool].chain[0]];

    req->nfrags = pool->nservers;
    req->npending = pool->nservers;
    req->frags = kt_calloc(pool->nservers, sizeof(*req->frags));
    req->split = 1;
    req->broadcast = 1;
    /* each fragment's out stays empty: every server gets the request as read */
    for (uint32_t s = 0; s < pool->nservers; s++) {
        req_send(req, &req->frags[s], pool->servers[s].gidx, 0);
    }
}

static void
rd_merge(struct req *req)
{
    struct worker *w = req->w;
    int64_t sum = 0;

    for (uint32_t j = 0; j < req->nfrags; j++) {
        if (req->frags[j].retired) {
            continue; /* its keys were sent on to the gutter */
        }
        if (req->frags[j].failed || req->frags[j].error) {
            spans_move(&req->reply, &req->frags[j].rsp);
            return;
        }
        sum += req->frags[j].ival;
    }
    switch (req->cmd) {
    case REDIS_CMD_MGET:
        rd_putf(w, &req->reply, "*%u\r\n", req->nkeys);
        for (uint32_t k = 0; k < req->nkeys; k++) {
            if (req->kv[k].n == 0) {
                rd_put(w, &req->reply, "$-1\r\n", 5); /* a reply short of elements */
            }
            spans_move(&req->reply, &req->kv[k]);
        }
        break;
    case REDIS_CMD_MSET:
        rd_put(w, &req->reply, "+OK\r\n", 5);
        break;
    case REDIS_CMD_SCRIPT:
        spans_move(&req->reply, &req->frags[0].rsp);
        break;
    default: /* DEL, UNLINK, EXISTS, TOUCH: counts add up */
        rd_putf(w, &req->reply, ":%lld\r\n", (long long)sum);
        break;
    }
}

/* Give key <k> of <req> at most <ttl> s to live: PEXPIRE ... LT keeps a shorter TTL. */
static void
rd_put_pexpire(struct req *req, struct frag *frag, uint32_t k, uint32_t ttl)
{
    struct worker *w = req->w;
    char ms[24];
    int n = snprintf(ms, sizeof(ms), "%llu", (unsigned long long)ttl * 1000);

    rd_put(w, &frag->out, "*4\r\n", 4);
    rd_put_str(w, &frag->out, "PEXPIRE");
    rd_put_bulk(w, &frag->out, req->keys[k].p, req->keys[k].len);
    rd_put_bulk(w, &frag->out, ms, (size_t)n);
    rd_put_str(w, &frag->out, "LT");
    frag->nextra++;
}

/*
 * <frag>'s bytes for a gutter: a split fragment's command, or the request
 * as read; a write is followed by a PEXPIRE of each of its keys, whose
 * replies the proxy reads and drops (frag->nextra).
 */
static void
rd_encode(struct req *req, struct frag *frag, uint32_t ttl)
{
    const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)req->cmd);

    if (req->split) {
        rd_encode_split(req, frag);
    } else {
        spans_copy(&frag->out, &req->in);
    }
    if (ttl == 0 || d->class != REDIS_CLASS_WRITE) {
        return;
    }
    for (uint32_t k = 0, n = req->split ? frag->nkeys : req->nkeys; k < n; k++) {
        rd_put_pexpire(req, frag, req->split ? frag->keyidx[k] : k, ttl);
    }
}

static int
rd_can_split(const struct req *req)
{
    return (redis_cmd((enum redis_cmd)req->cmd)->flags & RC_SPLIT) != 0;
}

/* ---------------------------------------------------------------- local commands */

/* A number for HELLO and CLIENT ID: stable for the connection, meaningless otherwise. */
static unsigned long long
rd_client_id(const struct client *cl)
{
    return (unsigned long long)((uintptr_t)cl >> 4) % 1000000007u;
}

/* AUTH [user] pass: replies to <req>; returns 0 when the password was right. */
static int
rd_auth(struct client *cl, struct req *req, uint32_t user, uint32_t pass)
{
    const char *pw = cl->c.w->topo->pools[cl->pool].cf->redis_auth;
    char given[512];

    if (pw == NULL) {
        rd_reply(req, "-ERR AUTH <password> called without any password configured for the "
                      "default user. Are you sure your configuration is correct?");
        return -1;
    }
    rd_arg_str(req, pass, given, sizeof(given));
    if ((user != 0 && !rd_arg_is(req, user, "default")) || req->args[pass].len != strlen(pw) ||
        strcmp(given, pw) != 0) {
        rd_reply(req, "-WRONGPASS invalid username-password pair or user is disabled.");
        return -1;
    }
    cl->authed = 1;
    rd_reply(req, "+OK");
    return 0;
}

static void
rd_hello(struct client *cl, struct req *req)
{
    struct worker *w = req->w;
    int64_t proto = 2;
    uint32_t i = 2;

    if (req->nargs > 1 && rd_arg_int(req, 1, &proto) != 0) {
        rd_reply(req, "-ERR Protocol version is not an integer or out of range");
        return;
    }
    if (proto != 2) {
        rd_reply(req, "-NOPROTO sorry, this protocol version is not supported");
        return;
    }
    for (; i < req->nargs; i++) {
        if (rd_arg_is(req, i, "auth") && i + 2 < req->nargs) {
            if (rd_auth(cl, req, i + 1, i + 2) != 0) {
                return; /* rd_auth replied with the error */
            }
            spans_reset(&req->reply); /* HELLO answers with its map, not +OK */
            req->done = 0;
            i += 2;
        } else if (rd_arg_is(req, i, "setname") && i + 1 < req->nargs) {
            i++;
        } else {
            rd_reply(req, "-ERR Syntax error in HELLO option");
            return;
        }
    }
    if (!cl->authed) {
        rd_reply(req, "-NOAUTH HELLO must be called with the client already authenticated, "
                      "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                      "authenticate the client and select the RESP protocol version at the "
                      "same time");
        return;
    }
    rd_put(w, &req->reply, "*14\r\n", 5);
    rd_put_str(w, &req->reply, "server");
    rd_put_str(w, &req->reply, "redis");
    rd_put_str(w, &req->reply, "version");
    rd_put_str(w, &req->reply, RD_COMPAT_VERSION);
    rd_put_str(w, &req->reply, "proto");
    rd_put(w, &req->reply, ":2\r\n", 4);
    rd_put_str(w, &req->reply, "id");
    rd_putf(w, &req->reply, ":%llu\r\n", rd_client_id(cl));
    rd_put_str(w, &req->reply, "mode");
    rd_put_str(w, &req->reply, "standalone");
    rd_put_str(w, &req->reply, "role");
    rd_put_str(w, &req->reply, "master");
    rd_put_str(w, &req->reply, "modules");
    rd_put(w, &req->reply, "*0\r\n", 4);
    req->done = 1;
}

static const char *
rd_class_flag(enum redis_class c)
{
    switch (c) {
    case REDIS_CLASS_READ:
        return "readonly";
    case REDIS_CLASS_WRITE:
    case REDIS_CLASS_DELETE:
        return "write";
    default:
        return "admin";
    }
}

/* One COMMAND entry as Redis 2.8 - 7 give its first six fields. */
static void
rd_put_command(struct worker *w, struct spans *out, const struct redis_cmd_desc *d)
{
    rd_put(w, out, "*6\r\n", 4);
    rd_put_str(w, out, d->name);
    rd_putf(w, out, ":%d\r\n*1\r\n+%s\r\n:%d\r\n:%d\r\n:%d\r\n", d->arity, rd_class_flag(d->class),
            d->first, d->last, d->step);
}

static uint32_t
rd_ncommands(void)
{
    uint32_t n = 0;

    for (int c = 0; c < REDIS_NCMDS; c++) {
        n += !(redis_cmd((enum redis_cmd)c)->flags & RC_UNSUPPORTED);
    }
    return n;
}

static void
rd_command(struct req *req)
{
    struct worker *w = req->w;
    char name[64];

    if (req->nargs == 1 || rd_arg_is(req, 1, "list")) {
        int list = req->nargs > 1;

        rd_putf(w, &req->reply, "*%u\r\n", rd_ncommands());
        for (int c = 0; c < REDIS_NCMDS; c++) {
            const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)c);

            if (d->flags & RC_UNSUPPORTED) {
                continue;
            }
            if (list) {
                rd_put_str(w, &req->reply, d->name);
            } else {
                rd_put_command(w, &req->reply, d);
            }
        }
        req->done = 1;
    } else if (rd_arg_is(req, 1, "count")) {
        rd_reply(req, ":%u", rd_ncommands());
    } else if (rd_arg_is(req, 1, "info")) {
        rd_putf(w, &req->reply, "*%u\r\n", req->nargs - 2);
        for (uint32_t i = 2; i < req->nargs; i++) {
            char buf[64];
            uint32_t len = rd_arg_copy(req, i, buf, sizeof(buf));
            int c = redis_cmd_lookup((const uint8_t *)buf, KT_MIN(len, (uint32_t)sizeof(buf)));

            if (c < 0 || len > sizeof(buf) ||
                (redis_cmd((enum redis_cmd)c)->flags & RC_UNSUPPORTED)) {
                rd_put(w, &req->reply, "*-1\r\n", 5);
            } else {
                rd_put_command(w, &req->reply, redis_cmd((enum redis_cmd)c));
            }
        }
        req->done = 1;
    } else if (rd_arg_is(req, 1, "docs")) {
        rd_reply(req, "*0");
    } else {
        rd_reply(req, "-ERR unknown subcommand '%s'. Try COMMAND HELP.",
                 rd_arg_str(req, 1, name, sizeof(name)));
    }
}

static void
rd_info(struct req *req)
{
    struct worker *w = req->w;
    struct instance *inst = w->inst;
    char body[1024];
    int n;

    n = snprintf(body, sizeof(body),
                 "# Server\r\n"
                 "redis_version:%s\r\n"
                 "ketch_version:%s\r\n"
                 "redis_mode:proxy\r\n"
                 "process_id:%d\r\n"
                 "tcp_port:%d\r\n"
                 "uptime_in_seconds:%lld\r\n"
                 "pool:%s\r\n"
                 "pool_servers:%u\r\n"
                 "worker_threads:%u\r\n",
                 RD_COMPAT_VERSION, PACKAGE_VERSION, (int)getpid(),
                 w->topo->pools[req->pool].cf->listen.port,
                 (long long)(time(NULL) - inst->start_time), w->topo->pools[req->pool].name,
                 w->topo->pools[req->pool].nservers, inst->nworkers);
    rd_put_bulk(w, &req->reply, body, (size_t)KT_MIN((size_t)n, sizeof(body) - 1));
    req->done = 1;
}

/* CLIENT: the subcommands about the client's own connection. */
static void
rd_client_cmd(struct client *cl, struct req *req)
{
    struct worker *w = req->w;
    char sub[32];

    if (rd_arg_is(req, 1, "setname") && req->nargs == 3) {
        char name[256];
        uint32_t len = rd_arg_copy(req, 2, name, sizeof(name));

        for (uint32_t i = 0; i < KT_MIN(len, (uint32_t)sizeof(name)); i++) {
            if (name[i] <= ' ' || name[i] > '~') {
                rd_reply(req, "-ERR Client names cannot contain spaces, newlines or special "
                              "characters.");
                return;
            }
        }
        kt_free(cl->name);
        cl->name = len == 0 ? NULL : kt_strndup(name, KT_MIN(len, (uint32_t)sizeof(name)));
        rd_reply(req, "+OK");
    } else if (rd_arg_is(req, 1, "getname") && req->nargs == 2) {
        if (cl->name == NULL) {
            rd_reply(req, "$-1");
        } else {
            rd_put_str(w, &req->reply, cl->name);
            req->done = 1;
        }
    } else if (rd_arg_is(req, 1, "setinfo") && req->nargs == 4) {
        rd_reply(req, "+OK");
    } else if (rd_arg_is(req, 1, "id") && req->nargs == 2) {
        rd_reply(req, ":%llu", rd_client_id(cl));
    } else {
        rd_arg_str(req, 1, sub, sizeof(sub));
        for (char *c = sub; *c != '\0'; c++) {
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + ('a' - 'A') : *c);
        }
        rd_reply(req, "-ERR unsupported command 'client %s'", sub);
    }
}

static void
rd_local(struct client *cl, struct req *req)
{
    const struct conf_pool *cp = cl->c.w->topo->pools[cl->pool].cf;
    struct worker *w = req->w;
    int64_t db;

    switch (req->cmd) {
    case REDIS_CMD_PING:
        if (req->nargs == 1) {
            rd_reply(req, "+PONG");
            break;
        }
        rd_put_arg(w, &req->reply, req, 1); /* PING <message> answers like ECHO */
        req->done = 1;
        break;
    case REDIS_CMD_ECHO:
        rd_put_arg(w, &req->reply, req, 1);
        req->done = 1;
        break;
    case REDIS_CMD_QUIT:
        rd_reply(req, "+OK");
        req->quit = 1;
        cl->quit = 1;
        break;
    case REDIS_CMD_SELECT:
        if (rd_arg_int(req, 1, &db) != 0) {
            rd_reply(req, "-ERR value is not an integer or out of range");
        } else if (db == 0 || db == cp->redis_db) {
            rd_reply(req, "+OK");
        } else {
            rd_reply(req, "-ERR DB index is out of range: this pool serves database %d",
                     cp->redis_db);
        }
        break;
    case REDIS_CMD_AUTH:
        if (req->nargs > 3) {
            rd_reply(req, "-ERR syntax error");
            break;
        }
        (void)rd_auth(cl, req, req->nargs == 3 ? 1 : 0, req->nargs - 1);
        break;
    case REDIS_CMD_COMMAND:
        rd_command(req);
        break;
    case REDIS_CMD_HELLO:
        rd_hello(cl, req);
        break;
    case REDIS_CMD_INFO:
        rd_info(req);
        break;
    case REDIS_CMD_CLIENT:
        rd_client_cmd(cl, req);
        break;
    case REDIS_CMD_SCRIPT:
        if (req->nargs == 3 && rd_arg_is(req, 1, "load")) {
            rd_broadcast(req);
            break;
        }
        rd_reply(req, "-ERR unsupported command 'script' (only SCRIPT LOAD is served)");
        break;
    default:
        rd_reply(req, "-ERR unsupported command");
        break;
    }
}

/* ---------------------------------------------------------------- client side */

/* A whole request is in: look it up, check it, answer it or route it. */
static void
rd_request(struct client *cl, struct req *req)
{
    const struct redis_cmd_desc *d;
    const uint8_t *direct = rd_arg_direct(req, 0);
    char name[64];
    uint32_t len = req->args[0].len;
    int cmd;

    if (direct == NULL) {
        rd_arg_copy(req, 0, name, sizeof(name) - 1);
    }
    cmd = redis_cmd_lookup(direct != NULL ? direct : (const uint8_t *)name, len);
    if (cmd < 0) {
        rd_arg_str(req, 0, name, sizeof(name));
        if (!cl->authed) {
            rd_reply(req, "-NOAUTH Authentication required.");
        } else {
            rd_reply(req, "-ERR unknown command '%s'", name);
        }
        return;
    }
    req->cmd = cmd;
    d = redis_cmd((enum redis_cmd)cmd);
    if (!cl->authed && cmd != REDIS_CMD_AUTH && cmd != REDIS_CMD_HELLO && cmd != REDIS_CMD_QUIT) {
        rd_reply(req, "-NOAUTH Authentication required.");
        return;
    }
    if (d->flags & RC_UNSUPPORTED) {
        rd_reply(req, "-ERR unsupported command '%s'", d->name);
        return;
    }
    if (!redis_cmd_arity_ok((enum redis_cmd)cmd, req->nargs)) {
        rd_reply(req, "-ERR wrong number of arguments for '%s' command", d->name);
        return;
    }
    if (d->flags & RC_LOCAL) {
        rd_local(cl, req);
        return;
    }
    rd_route(req);
}

/* The stream cannot be followed any more: say why, then close. */
static void
rd_protocol_error(struct client *cl, const char *msg)
{
    struct req *req = cl->cur != NULL ? cl->cur : client_new_req(cl);

    cl->cur = NULL;
    rd_reply(req, "-ERR Protocol error: %s", msg);
    req->quit = 1;
    cl->quit = 1;
}

/* Room for <n> arguments in req->args (kept across reuse of the request). */
static void
rd_args_reserve(struct req *req, uint32_t n)
{
    if (n > req->args_cap) {
        req->args_cap = KT_MAX(n, KT_MIN(req->args_cap * 2, req->nargs_want));
        req->args = kt_realloc(req->args, req->args_cap * sizeof(*req->args));
    }
}

/* An inline command: split it, and give the servers its multibulk form. */
static int
rd_inline(struct client *cl, const uint8_t *p, uint32_t avail)
{
    struct resp_inline *in = &cl->inl;
    struct worker *w = cl->c.w;
    const char *err;
    struct req *req;
    int rc;

    rc = resp_inline_parse(p, KT_MIN(avail, (uint32_t)RESP_LINE_MAX), in, &err);
    if (rc == PARSE_AGAIN) {
        if (avail >= RESP_LINE_MAX) {
            rd_protocol_error(cl, "too big inline request");
        }
        return 1;
    }
    if (rc == PARSE_ERROR) {
        rd_protocol_error(cl, err);
        return 1;
    }
    cl->c.rpos += in->line_len;
    if (in->nargs == 0) {
        return 0; /* an empty line, as redis, is no request */
    }
    req = client_new_req(cl);
    req->nargs = req->nargs_want = in->nargs;
    rd_args_reserve(req, in->nargs);
    rd_putf(w, &req->in, "*%u\r\n", in->nargs);
    for (uint32_t i = 0; i < in->nargs; i++) {
        rd_putf(w, &req->in, "$%u\r\n", in->len[i]);
        req->args[i].off = req->in.bytes;
        req->args[i].len = in->len[i];
        rd_put(w, &req->in, in->buf + in->off[i], in->len[i]);
        rd_put(w, &req->in, "\r\n", 2);
    }
    rd_request(cl, req);
    return 0;
}

/*
 * The whole multibulk at <p> is already read (the usual case): take every
 * argument in one pass. Returns 1 when it did; 0 leaves the request to the
 * piece-by-piece path, which also reports any error.
 */
static int
rd_client_whole(struct client *cl, const uint8_t *p, uint32_t avail, uint32_t hdr, uint32_t n)
{
    struct conn *c = &cl->c;
    struct req_arg tmp[RD_WHOLE_ARGS];
    uint64_t pos = hdr;
    struct req *req;

    if (n > RD_WHOLE_ARGS) {
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct resp_line bl;
        uint64_t end;

        /* "$<len>\r\n" in its plain form (no sign, no leading zero); else the slow path */
        if (pos >= avail || p[pos] != '$' || !resp_line_plain(p + pos, avail - pos, &bl) ||
            bl.value > RESP_BULK_MAX) {
            return 0;
        }
        end = pos + bl.line_len + (uint64_t)bl.value;
        if (end + 2 > avail || p[end] != '\r' || p[end + 1] != '\n') {
            return 0;
        }
        tmp[i].off = pos + bl.line_len;
        tmp[i].len = (uint32_t)bl.value;
        pos = end + 2;
    }
    req = client_new_req(cl);
    req->nargs = req->nargs_want = n;
    rd_args_reserve(req, n);
    memcpy(req->args, tmp, n * sizeof(*tmp));
    spans_add(&req->in, c->rbuf, c->rpos, (uint32_t)pos);
    c->rpos += (uint32_t)pos;
    rd_request(cl, req);
    return 1;
}

static int
rd_client_line(struct client *cl, const uint8_t *p, uint32_t avail)
{
    struct conn *c = &cl->c;
    struct req *req = cl->cur;
    struct resp_line ln;
    const char *err;
    char msg[64];
    int rc;

    if (req == NULL && p[0] != '*') {
        if (p[0] == '$' || p[0] == '+' || p[0] == '-' || p[0] == ':') {
            /* a RESP value outside a multibulk: a broken client, not an inline command */
            snprintf(msg, sizeof(msg), "expected '*', got '%c'", p[0]);
            rd_protocol_error(cl, msg);
            return 1;
        }
        return rd_inline(cl, p, avail);
    }
    /* a plain "*<n>\r\n" and the whole request read: the one-pass path */
    if (req == NULL && resp_line_plain(p, avail, &ln) && ln.type == '*' && ln.value > 0 &&
        ln.value <= RESP_ARGS_MAX &&
        rd_client_whole(cl, p, avail, ln.line_len, (uint32_t)ln.value)) {
        return 0;
    }
    rc = resp_line_parse(p, KT_MIN(avail, (uint32_t)RESP_LINE_MAX), &ln, &err);
    if (rc == PARSE_AGAIN) {
        if (avail >= RESP_LINE_MAX) {
            rd_protocol_error(cl, req == NULL ? "too big mbulk count string"
                                              : "too big bulk count string");
        }
        return 1;
    }
    if (req == NULL) {
        if (rc == PARSE_ERROR || ln.value > RESP_ARGS_MAX) {
            rd_protocol_error(cl, "invalid multibulk length");
            return 1;
        }
        if (ln.value <= 0) {
            c->rpos += ln.line_len; /* an empty multibulk, as redis, is no request */
            return 0;
        }
        if (rd_client_whole(cl, p, avail, ln.line_len, (uint32_t)ln.value)) {
            return 0;
        }
        req = client_new_req(cl);
        req->nargs_want = (uint32_t)ln.value;
        spans_add(&req->in, c->rbuf, c->rpos, ln.line_len);
        c->rpos += ln.line_len;
        cl->cur = req;
        return 0;
    }
    if (rc == PARSE_ERROR || p[0] != '$') {
        if (p[0] != '$') {
            snprintf(msg, sizeof(msg), "expected '$', got '%c'", p[0]);
            rd_protocol_error(cl, msg);
        } else {
            rd_protocol_error(cl, "invalid bulk length");
        }
        return 1;
    }
    if (ln.value < 0 || ln.value > RESP_BULK_MAX) {
        rd_protocol_error(cl, "invalid bulk length");
        return 1;
    }
    spans_add(&req->in, c->rbuf, c->rpos, ln.line_len);
    c->rpos += ln.line_len;
    rd_args_reserve(req, req->nargs + 1);
    req->args[req->nargs].off = req->in.bytes;
    req->args[req->nargs].len = (uint32_t)ln.value;
    c->rstate = RSTATE_DATA;
    c->remaining = (uint32_t)ln.value + 2;
    return 0;
}

static void
rd_client_data_done(struct client *cl)
{
    struct req *req = cl->cur;

    if (!spans_ends_crlf(&req->in)) {
        rd_protocol_error(cl, "expected CRLF after bulk data");
        return;
    }
    if (++req->nargs < req->nargs_want) {
        return;
    }
    cl->cur = NULL;
    rd_request(cl, req);
}

/* ---------------------------------------------------------------- server side */

static int
rd_is_split_mget(const struct req *req)
{
    return req->split && req->cmd == REDIS_CMD_MGET;
}

/* A value of the head's reply is complete: file it, or finish the reply. */
static int
rd_value_done(struct backend *be, struct frag *head)
{
    struct req *req = head->req;
    int top, complete = resp_reply_value_done(&be->resp, &top);

    if (top && rd_is_split_mget(req) && !head->error) {
        if (head->kpos < head->nkeys) {
            spans_move(&req->kv[head->keyidx[head->kpos++]], &be->blk);
        } else {
            spans_reset(&be->blk); /* more elements than keys asked: drop */
        }
    }
    if (!complete) {
        return 0;
    }
    if (head->nextra > 0) {
        /* a write on a gutter: its reply, then the proxy's PEXPIREs', dropped */
        if (!head->main_done) {
            spans_move(&head->rsp, &be->blk);
            head->main_done = 1;
        } else {
            spans_reset(&be->blk);
            if (--head->nextra == 0) {
                backend_complete(be, head);
            }
        }
        return 0;
    }
    spans_move(&head->rsp, &be->blk);
    if (req->internal && req->on_done == NULL && head->error) {
        log_error("server %s refused ketch's AUTH or SELECT",
                  be->c.w->topo->by_gidx[head->sgidx]->addr_text);
        backend_fail(be, UV_EACCES, "server refused AUTH or SELECT");
        return 1;
    }
    backend_complete(be, head);
    return 0;
}

/* Whether error reply <rsp> says the server cannot serve now, so that a gutter may. */
static int
rd_busy(const struct spans *rsp)
{
    static const char *const busy[] = {"-LOADING ", "-BUSY ", "-MASTERDOWN "};
    const struct span *sp = &rsp->v[0];

    if (rsp->n == 0) {
        return 0;
    }

    for (size_t i = 0; i < KT_NELEMS(busy); i++) {
        size_t n = strlen(busy[i]);

        if (sp->len >= n && memcmp(sp->b->data + sp->off, busy[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
rd_backend_line(struct backend *be, const uint8_t *p, uint32_t avail)
{
    struct conn *c = &be->c;
    struct frag *head = TAILQ_FIRST(&be->fifo);
    struct resp_line ln;
    const char *err;
    int rc, top = be->resp.depth == 0;

    rc = resp_line_parse(p, KT_MIN(avail, (uint32_t)RD_REPLY_LINE_MAX), &ln, &err);
    if (rc == PARSE_AGAIN && avail < RD_REPLY_LINE_MAX) {
        return 1;
    }
    if (rc != PARSE_OK || head == NULL || (ln.type == '$' && ln.value > RESP_BULK_MAX) ||
        ((ln.type == '$' || ln.type == '*') && ln.value < -1)) {
        backend_fail(be, UV_EPROTO, "unexpected reply from server");
        return 1;
    }
    STATS_ADD(c->w->sstats[head->sgidx].response_bytes, ln.line_len);
    if (top && !(head->nextra > 0 && head->main_done)) {
        head->error = ln.type == '-';
        head->ival = ln.type == ':' ? ln.value : 0;
    }
    /* a split MGET keeps its elements, not its array header */
    if (!(top && ln.type == '*' && rd_is_split_mget(head->req))) {
        spans_add(&be->blk, c->rbuf, c->rpos, ln.line_len);
    }
    c->rpos += ln.line_len;
    if (ln.type == '*' && ln.value > 0) {
        if (resp_reply_open(&be->resp, ln.value) != 0) {
            backend_fail(be, UV_EPROTO, "reply nested too deep");
            return 1;
        }
        return 0;
    }
    if (ln.type == '$' && ln.value >= 0) {
        uint32_t rest = (uint32_t)ln.value + 2;

        if (rest <= avail - ln.line_len) {
            /* the whole value is here already (the usual case): take it now */
            spans_add(&be->blk, c->rbuf, c->rpos, rest);
            c->rpos += rest;
            STATS_ADD(c->w->sstats[head->sgidx].response_bytes, rest);
            return rd_value_done(be, head);
        }
        c->rstate = RSTATE_DATA;
        c->remaining = rest;
        return 0;
    }
    return rd_value_done(be, head);
}

static void
rd_backend_data_done(struct backend *be)
{
    rd_value_done(be, TAILQ_FIRST(&be->fifo));
}

/* The proxy's own command on a new connection, ahead of every client request. */
static void
rd_internal(struct backend *be, uint32_t pool, const char *cmd, const char *arg)
{
    struct worker *w = be->c.w;
    struct req *req = req_create(w, NULL, pool);

    req->internal = 1;
    rd_put(w, &req->frag1.out, "*2\r\n", 4);
    rd_put_str(w, &req->frag1.out, cmd);
    rd_put_str(w, &req->frag1.out, arg);
    backend_send_internal(be, req);
}

static void
rd_backend_open(struct backend *be)
{
    const struct pool *pool = be->c.w->topo->by_gidx[be->srv->gidx]->owner;
    char db[16];

    if (pool->cf->redis_auth != NULL) {
        rd_internal(be, pool->idx, "AUTH", pool->cf->redis_auth);
    }
    if (pool->cf->redis_db != 0) {
        snprintf(db, sizeof(db), "%d", pool->cf->redis_db);
        rd_internal(be, pool->idx, "SELECT", db);
    }
}

const struct proto_ops proto_redis = {
    .name = "redis",
    .client_line = rd_client_line,
    .client_data_done = rd_client_data_done,
    .backend_line = rd_backend_line,
    .backend_data_done = rd_backend_data_done,
    .error = rd_error,
    .merge = rd_merge,
    .backend_open = rd_backend_open,
    .encode = rd_encode,
    .can_split = rd_can_split,
    .busy = rd_busy,
};
