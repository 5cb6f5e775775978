/*
 * proxy/dual.c - the steps of an expansion's two rings (see dual.h): the
 * proxy's own requests to the old and new servers, chained through their
 * completions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/util.h"
#include "conf/conf.h"
#include "hashring/ring.h"
#include "protocols/memcache_text.h"
#include "protocols/redis_cmds.h"
#include "proxy/conn.h"
#include "proxy/dual.h"
#include "proxy/proto.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* A memcached TTL above this many seconds is read as a unix time */
#define DUAL_MC_RELATIVE_MAX (30 * 24 * 3600)

struct dual_job {
    struct worker *w;
    uint32_t pool; /* listening pool */
    enum dual_mode mode;
    struct req *req; /* waiting client request, or NULL */
    void (*send)(struct req *req, uint32_t dst);
    char *key; /* (owned) */
    uint32_t klen;
    uint32_t old, dst;
    int redis;
    struct spans value; /* Redis: the DUMP reply; memcached: the value and its CRLF */
    int64_t ttl;        /* Redis: PTTL ms; memcached: seconds, -1 = none */
    uint32_t flags;     /* memcached */
};

static void dual_delete_old(struct dual_job *job);

uint32_t
dual_old(struct req *req, uint32_t sgidx, const char *key, uint32_t len)
{
    struct worker *w = req->w;
    const struct pool *pool = &w->topo->pools[w->topo->pools[req->pool].chain[0]];
    uint32_t id, old;

    /* only a key on the first hop: a gutter's copy is not the pool's to move */
    if (pool->prev_ring == NULL || req->internal || sgidx >= ROUTE_TKO ||
        w->topo->by_gidx[sgidx]->owner != pool) {
        return ROUTE_NONE;
    }
    id = ring_lookup(pool->prev_ring, pool_key_hash(pool, key, len));
    if (id == RING_NONE) {
        return ROUTE_NONE;
    }
    old = pool->servers[id].gidx;
    if (old == sgidx || health_is_tko(&w->topo->health[old])) {
        return ROUTE_NONE;
    }
    return old;
}

static void
dual_finish(struct dual_job *job)
{
    struct worker *w = job->w;

    if (job->req != NULL) {
        if (w->servers[job->dst] == NULL) {
            /* the new server left meanwhile: where the key goes now */
            job->dst = worker_route_key(w, job->req->pool, 0, job->key, job->klen);
        }
        job->send(job->req, job->dst);
    }
    spans_free(&job->value);
    kt_free(job->key);
    kt_free(job);
}

/* A request of the proxy's own to <sgidx>, its bytes to be put in frag1.out; <done> follows. */
static struct req *
dual_cmd(struct dual_job *job, void (*done)(struct req *req), int cmd)
{
    struct req *req = req_create(job->w, NULL, job->pool);

    req->internal = 1;
    req->on_done = done;
    req->job = job;
    req->cmd = cmd;
    return req;
}

static void
dual_send(struct req *req, uint32_t sgidx)
{
    req->frags = &req->frag1;
    req->nfrags = 1;
    req->npending = 1;
    req->frag1.req = req;
    req->frag1.hop = 0;
    if (req->w->servers[sgidx] == NULL) {
        frag_fail(&req->frag1, "server left the pool"); /* a swap took it: the step fails */
        return;
    }
    backend_send(req->w, sgidx, &req->frag1, 0);
}

/* Whether the reply of <req> (the proxy's own: it is in req->reply) begins with <text>. */
static int
rsp_is(const struct req *req, const char *text)
{
    const struct spans *rsp = &req->reply;
    size_t n = strlen(text);

    return !req->frag1.failed && rsp->n > 0 && rsp->v[0].len >= n &&
           memcmp(rsp->v[0].b->data + rsp->v[0].off, text, n) == 0;
}

/* Redis: "<name> <key>". */
static void
rd_cmd2(struct dual_job *job, struct req *req, const char *name)
{
    rd_putf(job->w, &req->frag1.out, "*2\r\n");
    rd_put_bulk(job->w, &req->frag1.out, name, strlen(name));
    rd_put_bulk(job->w, &req->frag1.out, job->key, job->klen);
}

static void
on_deleted(struct req *req)
{
    dual_finish(req->job);
}

static void
dual_delete_old(struct dual_job *job)
{
    struct req *req;

    if (job->redis) {
        req = dual_cmd(job, on_deleted, REDIS_CMD_DEL);
        rd_cmd2(job, req, "DEL");
    } else {
        req = dual_cmd(job, on_deleted, MC_CMD_DELETE);
        buf_writer_put(&job->w->writer, &req->frag1.out, "delete ", 7);
        buf_writer_put(&job->w->writer, &req->frag1.out, job->key, job->klen);
        buf_writer_put(&job->w->writer, &req->frag1.out, "\r\n", 2);
    }
    dual_send(req, job->old);
}

/* The copy is on the new server (or was not needed): delete on old for a write. */
static void
on_copied(struct req *req)
{
    struct dual_job *job = req->job;

    if (job->mode == DUAL_MIGRATE) {
        dual_delete_old(job);
        return;
    }
    dual_finish(job);
}

/* Redis: RESTORE key ttl <DUMP reply as the payload bulk>, no REPLACE. */
static void
on_pttl(struct req *req)
{
    struct dual_job *job = req->job;
    struct req *r;
    char ttl[24];
    int n;

    if (req->frag1.failed || req->frag1.error || req->frag1.ival == -2) {
        on_copied(req); /* gone meanwhile */
        return;
    }
    n = snprintf(ttl, sizeof(ttl), "%lld", (long long)(req->frag1.ival > 0 ? req->frag1.ival : 0));
    r = dual_cmd(job, on_copied, REDIS_CMD_RESTORE);
    rd_putf(job->w, &r->frag1.out, "*4\r\n");
    rd_put_bulk(job->w, &r->frag1.out, "RESTORE", 7);
    rd_put_bulk(job->w, &r->frag1.out, job->key, job->klen);
    rd_put_bulk(job->w, &r->frag1.out, ttl, (size_t)n);
    spans_move(&r->frag1.out, &job->value);
    dual_send(r, job->dst);
}

static void
on_dump(struct req *req)
{
    struct dual_job *job = req->job;
    struct req *r;

    if (req->frag1.failed || req->frag1.error || rsp_is(req, "$-1")) {
        on_copied(req); /* nothing on the old server */
        return;
    }
    spans_move(&job->value, &req->reply);
    r = dual_cmd(job, on_pttl, REDIS_CMD_PTTL);
    rd_cmd2(job, r, "PTTL");
    dual_send(r, job->old);
}

/* memcached: "VA <bytes> t<ttl> f<flags>" then the value, or "EN". */
static void
on_mg(struct req *req)
{
    struct dual_job *job = req->job;
    const struct spans *rsp = &req->reply;
    char line[128], hdr[300];
    uint32_t len, line_len, n;
    int64_t ttl = -1;
    struct req *r;
    char *p;

    if (!rsp_is(req, "VA ")) {
        on_copied(req);
        return;
    }
    n = KT_MIN(rsp->v[0].len, (uint32_t)sizeof(line) - 1);
    memcpy(line, rsp->v[0].b->data + rsp->v[0].off, n);
    line[n] = '\0';
    p = strchr(line, '\n');
    if (p == NULL) {
        on_copied(req);
        return;
    }
    *p = '\0';
    line_len = (uint32_t)(p - line) + 1;
    len = (uint32_t)strtoul(line + 3, &p, 10);
    while ((p = strchr(p, ' ')) != NULL) {
        p++;
        if (*p == 't') {
            ttl = strtoll(p + 1, NULL, 10);
        } else if (*p == 'f') {
            job->flags = (uint32_t)strtoul(p + 1, NULL, 10);
        }
    }
    if (ttl == 0) {
        on_copied(req); /* expiring this very second: not worth it */
        return;
    }
    if (ttl > DUAL_MC_RELATIVE_MAX) {
        ttl += (int64_t)time(NULL);
    }
    r = dual_cmd(job, on_copied, MC_CMD_ADD);
    n = (uint32_t)snprintf(hdr, sizeof(hdr), "add %.*s %u %lld %u\r\n", (int)job->klen, job->key,
                           job->flags, (long long)(ttl < 0 ? 0 : ttl), len);
    buf_writer_put(&job->w->writer, &r->frag1.out, hdr, n);
    spans_slice(&r->frag1.out, rsp, line_len, len + 2);
    dual_send(r, job->dst);
}

void
dual_start(struct worker *w, uint32_t pool, enum dual_mode mode, struct req *req, const char *key,
           uint32_t klen, uint32_t old, uint32_t dst, void (*send)(struct req *req, uint32_t dst))
{
    struct dual_job *job = kt_calloc(1, sizeof(*job));
    struct req *r;

    job->w = w;
    job->pool = pool;
    job->mode = mode;
    job->req = req;
    job->send = send;
    job->key = kt_malloc(klen + 1);
    memcpy(job->key, key, klen);
    job->key[klen] = '\0';
    job->klen = klen;
    job->old = old;
    job->dst = dst;
    job->redis = w->topo->pools[pool].cf->redis;
    if (req != NULL) {
        req->npending = 1; /* it waits: a client that leaves meanwhile must not free it */
    }
    if (mode == DUAL_DELETE) {
        dual_delete_old(job);
        return;
    }
    if (job->redis) {
        r = dual_cmd(job, on_dump, REDIS_CMD_DUMP);
        rd_cmd2(job, r, "DUMP");
    } else {
        r = dual_cmd(job, on_mg, MC_CMD_GET);
        r->meta = 1;
        buf_writer_put(&w->writer, &r->frag1.out, "mg ", 3);
        buf_writer_put(&w->writer, &r->frag1.out, key, klen);
        buf_writer_put(&w->writer, &r->frag1.out, " t f v\r\n", 8);
    }
    dual_send(r, old);
}

/* Whether the new server's answer to a one-key read is a miss. */
static int
dual_missed(const struct req *req, const struct frag *frag)
{
    static const char *const redis_empty[] = {"$-1", "*-1", "*0\r", ":0\r"};
    const struct spans *rsp = &frag->rsp;
    const uint8_t *p;
    uint32_t len;

    if (rsp->n == 0) {
        return 0;
    }
    p = rsp->v[0].b->data + rsp->v[0].off;
    len = rsp->v[0].len;
    if (!req->w->topo->pools[req->pool].cf->redis) {
        return len >= 3 && memcmp(p, "END", 3) == 0;
    }
    for (size_t i = 0; i < KT_NELEMS(redis_empty); i++) {
        size_t n = strlen(redis_empty[i]);

        if (len >= n && memcmp(p, redis_empty[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A split get: its keys this fragment missed go to their old servers too. */
static int
dual_split_reply(struct req *req, struct frag *frag)
{
    struct worker *w = req->w;
    uint32_t *keyidx = kt_malloc(frag->nkeys * 2 * sizeof(*keyidx)), *sg = keyidx + frag->nkeys;
    uint32_t n = 0, first;

    for (uint32_t k = 0; k < frag->nkeys; k++) {
        const struct req_key *key = &req->keys[frag->keyidx[k]];
        uint32_t old;

        if (req->kv[frag->keyidx[k]].n > 0 ||
            (old = dual_old(req, frag->sgidx, key->p, key->len)) == ROUTE_NONE) {
            continue;
        }
        keyidx[n] = frag->keyidx[k];
        sg[n++] = old;
        dual_start(w, req->pool, DUAL_COPY, NULL, key->p, key->len, old, frag->sgidx, NULL);
    }
    first = n > 0 ? req_more_frags(req, keyidx, n, sg) : UINT32_MAX;
    kt_free(keyidx);
    if (first == UINT32_MAX) {
        return 0;
    }
    req->npending += req->nfrags - first;
    for (uint32_t j = first, end = req->nfrags; j < end; j++) {
        struct frag *f = &req->frags[j];

        f->old_ring = 1;
        req->proto->encode(req, f, 0);
        f->req = req;
        backend_send(w, f->sgidx, f, j);
    }
    return 0; /* this fragment is done; the new ones are pending */
}

int
dual_reply(struct frag *frag)
{
    struct req *req = frag->req;
    uint32_t old;

    if (frag->old_ring || frag->failed || frag->error || req->nkeys == 0) {
        return 0;
    }
    if (req->split) {
        return dual_split_reply(req, frag);
    }
    if (!dual_missed(req, frag) ||
        (old = dual_old(req, frag->sgidx, req->keys[0].p, req->keys[0].len)) == ROUTE_NONE) {
        return 0;
    }
    dual_start(req->w, req->pool, DUAL_COPY, NULL, req->keys[0].p, req->keys[0].len, old,
               frag->sgidx, NULL);
    frag_reset(frag);
    frag->old_ring = 1;
    backend_send(req->w, old, frag, 0);
    return 1;
}
