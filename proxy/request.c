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
    } else {
        req_free(req);
    }
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
frag_fail(struct frag *frag, const char *msg)
{
    struct req *req = frag->req;

    STATS_INC(req->w->pstats[req->pool].forward_error);
    frag->failed = 1;
    spans_reset(&frag->rsp);
    req->proto->error(req->w, &frag->rsp, msg);
    frag_done(frag);
}

void
req_send(struct req *req, struct frag *frag, uint32_t sgidx, uint32_t hint)
{
    frag->req = req;
    if (sgidx == UINT32_MAX) {
        frag_fail(frag, "no server available");
        return;
    }
    backend_send(req->w, sgidx, frag, hint);
}

void
req_group(struct req *req, const uint32_t *sg)
{
    uint32_t nfrags = 0;

    req->frags = kt_calloc(req->nkeys, sizeof(*req->frags));
    req->kv = kt_calloc(req->nkeys, sizeof(*req->kv));
    req->split = 1;
    for (uint32_t i = 0; i < req->nkeys; i++) {
        struct frag *f = NULL;

        for (uint32_t j = 0; j < nfrags; j++) {
            if (req->frags[j].sgidx == sg[i]) {
                f = &req->frags[j];
                break;
            }
        }
        if (f == NULL) {
            f = &req->frags[nfrags++];
            f->req = req;
            f->sgidx = sg[i];
            f->keyidx = kt_malloc(req->nkeys * sizeof(*f->keyidx));
        }
        f->keyidx[f->nkeys++] = i;
    }
    req->nfrags = nfrags;
    req->npending = nfrags;
    STATS_ADD(req->w->pstats[req->pool].fragments, nfrags);
}

void
req_forward(struct req *req, uint32_t sgidx, uint32_t hint)
{
    req->frags = &req->frag1;
    req->nfrags = 1;
    req->npending = 1;
    req_send(req, &req->frag1, sgidx, hint);
}
