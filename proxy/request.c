/*
 * proxy/request.c - the protocol-neutral part of a request's life: sending
 * fragments, accounting for their replies, finishing in order. How keys
 * are routed and replies merged is the protocol's (proxy/memcache.c,
 * proxy/redis.c).
 *
 *   one server: the request's own bytes are sent (by reference) and the
 *     server's reply is passed through as it came
 *   several servers: one fragment per server (req_group); the protocol
 *     files each value under its key and merges them in key order
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "conf/conf.h"
#include "proxy/conn.h"
#include "proxy/proto.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* finished requests a worker keeps: enough for every client's next request in a burst */
#define REQ_CACHE_MAX 1024

struct req *
req_create(struct worker *w, struct client *client, uint32_t pool)
{
    struct req *req = w->req_cache;

    if (req != NULL) {
        /* a reused request keeps its span arrays (emptied by req_free) */
        w->req_cache = req->cache_next;
        w->nreq_cache--;
        memset(req, 0, offsetof(struct req, frag1));
        memset(&req->frag1, 0, offsetof(struct frag, out));
    } else {
        req = kt_calloc(1, sizeof(*req));
    }
    req->w = w;
    req->client = client;
    req->pool = pool;
    req->proto = w->topo->pools[pool].cf->redis ? &proto_redis : &proto_memcache;
    return req;
}

static void
frag_release(struct frag *frag)
{
    spans_free(&frag->out);
    spans_free(&frag->rsp);
    kt_free(frag->keyidx);
}

void
req_free(struct req *req)
{
    struct worker *w = req->w;

    spans_reset(&req->in);
    spans_reset(&req->reply);
    spans_reset(&req->frag1.out);
    spans_reset(&req->frag1.rsp);
    if (req->frag1.keyidx != NULL) {
        kt_free(req->frag1.keyidx);
    }
    if (req->frags != &req->frag1) {
        for (uint32_t i = 0; i < req->nfrags; i++) {
            frag_release(&req->frags[i]);
        }
        kt_free(req->frags);
    }
    if (req->kv != NULL) {
        for (uint32_t i = 0; i < req->nkeys; i++) {
            spans_free(&req->kv[i]);
        }
        kt_free(req->kv);
    }
    if (req->keys != &req->key1) {
        kt_free(req->keys);
    }
    if (req->copies != NULL) {
        kt_free(req->copies);
    }
    if (w->nreq_cache < REQ_CACHE_MAX) {
        req->cache_next = w->req_cache;
        w->req_cache = req;
        w->nreq_cache++;
        return;
    }
    spans_free(&req->in);
    spans_free(&req->reply);
    spans_free(&req->frag1.out);
    spans_free(&req->frag1.rsp);
    kt_free(req->args);
    kt_free(req);
}

static void
req_finish(struct req *req)
{
    req->done = 1;
    if (req->client != NULL) {
        client_reply_ready(req->client);
        return;
    }
    if (req->on_done != NULL) {
        req->on_done(req); /* the proxy's own request (it has no client) */
    }
    req_free(req);
}

void
req_reply_text(struct req *req, const char *text, size_t len)
{
    if (len > 0) {
        buf_writer_put(&req->w->writer, &req->reply, text, len);
    }
    req->done = 1;
}

void
req_reply_error(struct req *req, const char *msg)
{
    req->proto->error(req->w, &req->reply, msg);
    req->done = 1;
}

void
frag_done(struct frag *frag)
{
    struct req *req = frag->req;

    if (--req->npending > 0) {
        return;
    }
    if (req->split) {
        req->proto->merge(req);
    } else {
        spans_move(&req->reply, &req->frags[0].rsp);
    }
    if (req->noreply) {
        spans_reset(&req->reply);
    }
    req_finish(req);
}

void
frag_reset(struct frag *frag)
{
    frag->failed = 0;
    frag->error = 0;
    frag->main_done = 0;
    frag->nextra = 0;
    frag->kpos = 0;
    frag->ival = 0;
    spans_reset(&frag->out);
    spans_reset(&frag->rsp);
}

/*
 * New fragments for the keys <keyidx> (<n> of them), key keyidx[i] going
 * to server sg[i]: one fragment per distinct server. Returns the first.
 */
static uint32_t
req_add_frags(struct req *req, const uint32_t *keyidx, uint32_t n, const uint32_t *sg)
{
    uint32_t first = req->nfrags;

    /* the array never grows: backends' FIFOs point into it (req_make_split sized it) */
    KT_BUG_ON(req->nfrags + n > req->frags_cap);
    for (uint32_t i = 0; i < n; i++) {
        struct frag *f = NULL;

        for (uint32_t j = first; j < req->nfrags; j++) {
            if (req->frags[j].sgidx == sg[i]) {
                f = &req->frags[j];
                break;
            }
        }
        if (f == NULL) {
            f = &req->frags[req->nfrags++];
            f->req = req;
            f->sgidx = sg[i];
            f->keyidx = kt_malloc(n * sizeof(*f->keyidx));
        }
        f->keyidx[f->nkeys++] = keyidx[i];
    }
    STATS_ADD(req->w->pstats[req->pool].fragments, req->nfrags - first);
    return first;
}

uint32_t
req_more_frags(struct req *req, const uint32_t *keyidx, uint32_t n, const uint32_t *sg)
{
    if (req->nfrags + n > req->frags_cap) {
        return UINT32_MAX;
    }
    return req_add_frags(req, keyidx, n, sg);
}

/* Make <req> a split request with room for every key on every hop (and an old ring). */
static void
req_make_split(struct req *req)
{
    uint32_t nchain = req->w->topo->pools[req->pool].nchain;

    req->frags_cap = req->nkeys * (nchain + req->dual);
    req->frags = kt_calloc(req->frags_cap, sizeof(*req->frags));
    req->nfrags = 0; /* a request that was not split counted its frag1 */
    req->kv = kt_calloc(req->nkeys, sizeof(*req->kv));
    req->split = 1;
}

/*
 * Send the keys of failed fragment <frag> to hop <hop> and on. Returns 1
 * when they went (the fragment is then done with), 0 when they cannot.
 */
static int
req_failover(struct req *req, struct frag *frag, uint32_t hop, int encode)
{
    struct worker *w = req->w;
    uint32_t n = req->split ? frag->nkeys : req->nkeys, *sg, *keyidx, first, same = 1;

    sg = kt_malloc((n > 0 ? n : 1) * 2 * sizeof(*sg));
    keyidx = sg + (n > 0 ? n : 1);
    if (n == 0) {
        sg[0] = worker_route_key(w, req->pool, hop, "", 0); /* a command without a key */
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct req_key *key;

        keyidx[i] = req->split ? frag->keyidx[i] : i;
        key = &req->keys[keyidx[i]];
        sg[i] = worker_route_key(w, req->pool, hop, key->p, key->len);
        same &= sg[i] == sg[0];
    }
    if (!req->split && same) {
        /* the usual case: one key, or keys that meet again on one server */
        frag_reset(frag);
        if (encode) {
            req->proto->encode(req, frag, 0);
        }
        req_send(req, frag, sg[0], 0);
        kt_free(sg);
        return 1;
    }
    if (!req->proto->can_split(req) ||
        (req->split &&
         req->nfrags + n > req->frags_cap)) { /* no room: a swap lengthened the chain */
        kt_free(sg);
        return 0;
    }
    if (!req->split) {
        /* frag1 stays out of the array: the new fragments take its place */
        frag_reset(frag);
        req_make_split(req);
    } else {
        frag->retired = 1;
        for (uint32_t i = 0; i < n; i++) {
            spans_reset(&req->kv[keyidx[i]]); /* anything it filed before failing */
        }
    }
    first = req_add_frags(req, keyidx, n, sg);
    kt_free(sg);
    for (uint32_t j = first; encode && j < req->nfrags; j++) {
        req->proto->encode(req, &req->frags[j], 0);
    }
    req->npending += req->nfrags - first - 1;
    req_send_frags(req, first);
    return 1;
}

int
frag_retry(struct frag *frag)
{
    struct req *req = frag->req;
    uint32_t nchain = req->w->topo->pools[req->pool].nchain;

    return frag->hop + 1 < nchain && !req->internal && !req->broadcast &&
           req_failover(req, frag, frag->hop + 1, 0);
}

void
frag_resend(struct frag *frag)
{
    struct req *req = frag->req;

    if (req->internal || req->broadcast || !req_failover(req, frag, 0, 1)) {
        frag_fail(frag, "server left the pool");
    }
}

void
frag_fail(struct frag *frag, const char *msg)
{
    struct req *req = frag->req;

    if (frag_retry(frag)) {
        return;
    }
    STATS_INC(req->w->pstats[req->pool].forward_error);
    frag->failed = 1;
    spans_reset(&frag->rsp);
    req->proto->error(req->w, &frag->rsp, msg);
    frag_done(frag);
}

/* req_send() past the first hop, or nowhere to send. */
static void __attribute__((noinline))
req_send_on(struct req *req, struct frag *frag, uint32_t sgidx, uint32_t hint)
{
    struct worker *w = req->w;
    const struct pool *lp = &w->topo->pools[req->pool];

    if (sgidx == ROUTE_TKO || sgidx == ROUTE_NONE) {
        frag->hop = lp->nchain; /* nowhere further to go */
        if (sgidx == ROUTE_TKO) {
            STATS_INC(w->pstats[req->pool].tko_fail_fast);
        }
        frag_fail(frag, sgidx == ROUTE_TKO ? "server marked down" : "no server available");
        return;
    }
    frag->hop = worker_hop_of(w, req->pool, sgidx);
    if (frag->hop > 0) {
        STATS_INC(w->pstats[req->pool].gutter_requests);
        spans_reset(&frag->out);
        frag->nextra = 0; /* encode counts the replies it adds */
        req->proto->encode(req, frag, lp->gutter_ttl_s);
    }
    backend_send(w, sgidx, frag, hint);
}

void
req_send(struct req *req, struct frag *frag, uint32_t sgidx, uint32_t hint)
{
    frag->req = req;
    if (sgidx >= ROUTE_TKO || req->w->topo->pools[req->pool].nchain > 1) {
        req_send_on(req, frag, sgidx, hint);
        return;
    }
    frag->hop = 0; /* a pool without a gutter: the only hop */
    backend_send(req->w, sgidx, frag, hint);
}

void
req_send_frags(struct req *req, uint32_t first)
{
    for (uint32_t j = first, end = req->nfrags; j < end; j++) {
        req_send(req, &req->frags[j], req->frags[j].sgidx, j);
    }
}

void
req_group(struct req *req, const uint32_t *sg)
{
    uint32_t *all = kt_malloc(req->nkeys * sizeof(*all));

    for (uint32_t i = 0; i < req->nkeys; i++) {
        all[i] = i;
    }
    req_make_split(req);
    req_add_frags(req, all, req->nkeys, sg);
    req->npending = req->nfrags;
    kt_free(all);
}

void
req_forward(struct req *req, uint32_t sgidx, uint32_t hint)
{
    req->frags = &req->frag1;
    req->nfrags = 1;
    req->npending = 1;
    req_send(req, &req->frag1, sgidx, hint);
}
