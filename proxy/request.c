/*
 * proxy/request.c - route a memcached request to its servers and build the
 * client's reply from theirs.
 *
 *   one key, or every key on one server: the request's own bytes are sent
 *     (by reference) and the server's reply is passed through as it came
 *   keys on several servers: one "get k1 k2 ..." per server; each VALUE
 *     block returned is filed under its key, and the reply is rebuilt in
 *     the client's key order, followed by one END
 *   noreply: sent without it, so the server's stream stays in step; the
 *     reply is dropped here
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "conf/conf.h"
#include "proxy/conn.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

struct req *
req_create(struct worker *w, struct client *client, uint32_t pool)
{
    struct req *req = kt_calloc(1, sizeof(*req));

    req->w = w;
    req->client = client;
    req->pool = pool;
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
    spans_free(&req->in);
    spans_free(&req->reply);
    for (uint32_t i = 0; i < req->nfrags; i++) {
        frag_release(&req->frags[i]);
    }
    if (req->frags != &req->frag1) {
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

/* Build the reply of a split get from the blocks filed under each key. */
static void
req_merge(struct req *req)
{
    uint32_t nfailed = 0;

    for (uint32_t i = 0; i < req->nfrags; i++) {
        nfailed += req->frags[i].failed;
    }
    if (nfailed == req->nfrags) {
        /* nothing answered: the client learns why, as for a single key */
        spans_move(&req->reply, &req->frags[0].rsp);
        return;
    }
    /* a failed server's keys read as misses: one bad server must not fail every key */
    for (uint32_t i = 0; i < req->nkeys; i++) {
        spans_move(&req->reply, &req->kv[i]);
    }
    buf_writer_put(&req->w->writer, &req->reply, "END\r\n", 5);
}

void
frag_done(struct frag *frag)
{
    struct req *req = frag->req;

    if (--req->npending > 0) {
        return;
    }
    if (req->split) {
        req_merge(req);
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
    struct worker *w = frag->req->w;
    char line[256];
    int n;

    STATS_INC(w->pstats[frag->req->pool].forward_error);
    frag->failed = 1;
    spans_reset(&frag->rsp);
    n = snprintf(line, sizeof(line), "SERVER_ERROR %s\r\n", msg);
    buf_writer_put(&w->writer, &frag->rsp, line, (size_t)n);
    frag_done(frag);
}

/* The request's bytes for the server: its own, or without " noreply". */
static void
req_encode_single(struct req *req, struct frag *frag)
{
    if (!req->noreply) {
        spans_copy(&frag->out, &req->in);
        return;
    }
    spans_add(&frag->out, req->line_buf, req->line_off, req->args_end);
    buf_writer_put(&req->w->writer, &frag->out, "\r\n", 2);
    spans_slice(&frag->out, &req->in, req->line_len, req->in.bytes - req->line_len);
}

static void
req_send(struct req *req, struct frag *frag, uint32_t sgidx, uint32_t hint)
{
    frag->req = req;
    if (sgidx == UINT32_MAX) {
        frag_fail(frag, "no server available");
        return;
    }
    backend_send(req->w, sgidx, frag, hint);
}

/* Fan a get out over several servers: one request line per server. */
static void
req_split(struct req *req, const uint32_t *sg)
{
    struct buf_writer *wr = &req->w->writer;
    const char *name = mc_cmd_name(req->cmd);
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
            f->sgidx = sg[i];
            f->keyidx = kt_malloc(req->nkeys * sizeof(*f->keyidx));
            buf_writer_put(wr, &f->out, name, strlen(name));
            if (req->exptime_len > 0) {
                buf_writer_put(wr, &f->out, " ", 1);
                buf_writer_put(wr, &f->out, req->line_buf->data + req->line_off + req->exptime_off,
                               req->exptime_len);
            }
        }
        f->keyidx[f->nkeys++] = i;
        buf_writer_put(wr, &f->out, " ", 1);
        buf_writer_put(wr, &f->out, req->keys[i].p, req->keys[i].len);
    }
    req->nfrags = nfrags;
    req->npending = nfrags;
    STATS_ADD(req->w->pstats[req->pool].fragments, nfrags);
    for (uint32_t j = 0; j < nfrags; j++) {
        buf_writer_put(wr, &req->frags[j].out, "\r\n", 2);
    }
    for (uint32_t j = 0; j < nfrags; j++) {
        req_send(req, &req->frags[j], req->frags[j].sgidx, j);
    }
}

void
req_dispatch(struct req *req)
{
    struct worker *w = req->w;
    const struct pool *pool = &w->topo->pools[req->pool];
    enum mc_kind kind = mc_cmd_kind(req->cmd);
    uint32_t sgidx, *sg;
    uint32_t hint = 0;
    int same = 1;

    if (kind == MC_KIND_VERSION) {
        sgidx = pool->nservers > 0 ? pool->servers[0].gidx : UINT32_MAX;
    } else {
        sgidx = worker_route_key(w, req->pool, req->keys[0].p, req->keys[0].len);
        hint = req->keys[0].len > 0 ? (uint32_t)(uint8_t)req->keys[0].p[req->keys[0].len - 1] : 0;
    }
    if (req->nkeys > 1) {
        sg = kt_malloc(req->nkeys * sizeof(*sg));
        sg[0] = sgidx;
        for (uint32_t i = 1; i < req->nkeys; i++) {
            sg[i] = worker_route_key(w, req->pool, req->keys[i].p, req->keys[i].len);
            same &= sg[i] == sgidx;
        }
        if (!same) {
            req_split(req, sg);
            kt_free(sg);
            return;
        }
        kt_free(sg);
    }
    req->frags = &req->frag1;
    req->nfrags = 1;
    req->npending = 1;
    req_encode_single(req, &req->frag1);
    req_send(req, &req->frag1, sgidx, hint);
}
