/*
 * proxy/memcache.c - the memcached text protocol in the proxy: request
 * lines from clients, routing (one key, or a multi-key get split per
 * server), reply lines from servers, and the merge of a split get.
 *
 *   noreply: sent without it, so the server's stream stays in step; the
 *     reply is dropped here
 *   split get: one "get k1 k2 ..." per server; each VALUE block returned
 *     is filed under its key, and the reply is rebuilt in the client's key
 *     order, followed by one END
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/util.h"
#include "conf/conf.h"
#include "protocols/memcache_text.h"
#include "proxy/conn.h"
#include "proxy/dual.h"
#include "proxy/proto.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

static void
mc_error(struct worker *w, struct spans *out, const char *msg)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "SERVER_ERROR %s\r\n", msg);

    buf_writer_put(&w->writer, out, line, (size_t)KT_MIN((size_t)n, sizeof(line) - 1));
}

/* Build the reply of a split get from the blocks filed under each key. */
static void
mc_merge(struct req *req)
{
    struct frag *failed = NULL;
    uint32_t nfailed = 0, nlive = 0;

    for (uint32_t i = 0; i < req->nfrags; i++) {
        struct frag *f = &req->frags[i];

        if (f->retired) {
            continue; /* its keys were sent on to the gutter */
        }
        nlive++;
        if (f->failed || f->error) {
            nfailed++;
            failed = failed != NULL ? failed : f;
        }
    }
    if (nfailed == nlive) {
        /* nothing answered: the client learns why, as for a single key */
        spans_move(&req->reply, &failed->rsp);
        return;
    }
    /* a failed server's keys read as misses: one bad server must not fail every key */
    for (uint32_t i = 0; i < req->nkeys; i++) {
        spans_move(&req->reply, &req->kv[i]);
    }
    buf_writer_put(&req->w->writer, &req->reply, "END\r\n", 5);
}

/* The exptime of <req>'s line clamped to <ttl>, as text in <num>; returns its length, or -1. */
static int
mc_clamped_exptime(const struct req *req, uint32_t ttl, char *num, size_t cap, uint32_t *off,
                   uint32_t *len)
{
    int64_t exptime;

    if (ttl == 0 || mc_exptime_find((enum mc_cmd)req->cmd, req->line_buf->data + req->line_off,
                                    req->args_end, off, len, &exptime) != 0) {
        return -1;
    }
    return snprintf(num, cap, "%lld",
                    (long long)mc_exptime_clamp(exptime, ttl, (int64_t)time(NULL)));
}

/* The line of split fragment <f>: "<cmd>[ <exptime>] k1 k2 ...\r\n", the exptime clamped to <ttl>.
 */
static void
mc_encode_frag(struct req *req, struct frag *f, uint32_t ttl)
{
    struct buf_writer *wr = &req->w->writer;
    const char *name = mc_cmd_name((enum mc_cmd)req->cmd);

    buf_writer_put(wr, &f->out, name, strlen(name));
    if (req->exptime_len > 0) {
        char num[24];
        uint32_t off, len;
        int n = mc_clamped_exptime(req, ttl, num, sizeof(num), &off, &len);

        buf_writer_put(wr, &f->out, " ", 1);
        if (n > 0) {
            buf_writer_put(wr, &f->out, num, (size_t)n);
        } else {
            buf_writer_put(wr, &f->out, req->line_buf->data + req->line_off + req->exptime_off,
                           req->exptime_len);
        }
    }
    for (uint32_t k = 0; k < f->nkeys; k++) {
        const struct req_key *key = &req->keys[f->keyidx[k]];

        buf_writer_put(wr, &f->out, " ", 1);
        buf_writer_put(wr, &f->out, key->p, key->len);
    }
    buf_writer_put(wr, &f->out, "\r\n", 2);
}

/*
 * <frag>'s bytes made by the proxy: a split fragment's line, or the whole
 * request without " noreply" (the proxy drops the reply itself); the
 * exptime of writes clamped to <ttl> (0: as asked).
 */
static void
mc_encode(struct req *req, struct frag *frag, uint32_t ttl)
{
    struct buf_writer *wr = &req->w->writer;
    char num[24];
    uint32_t off, len;
    int n;

    if (req->split) {
        mc_encode_frag(req, frag, ttl);
        return;
    }
    n = mc_clamped_exptime(req, ttl, num, sizeof(num), &off, &len);
    if (n > 0) {
        spans_add(&frag->out, req->line_buf, req->line_off, off);
        buf_writer_put(wr, &frag->out, num, (size_t)n);
        spans_add(&frag->out, req->line_buf, req->line_off + off + len, req->args_end - off - len);
    } else {
        spans_add(&frag->out, req->line_buf, req->line_off, req->args_end);
    }
    buf_writer_put(wr, &frag->out, "\r\n", 2);
    spans_slice(&frag->out, &req->in, req->line_len, req->in.bytes - req->line_len);
}

static int
mc_can_split(const struct req *req)
{
    enum mc_kind kind = mc_cmd_kind((enum mc_cmd)req->cmd);

    return kind == MC_KIND_RETRIEVE || kind == MC_KIND_GAT;
}

/* Send a request with one key, or on one server, to <sgidx>. */
static void
mc_send(struct req *req, uint32_t sgidx)
{
    uint32_t hint = req->nkeys > 0 ? (uint8_t)req->keys[0].p[req->keys[0].len - 1] : 0;

    if (!req->noreply) {
        req_forward(req, sgidx, hint);
        return;
    }
    /* the server gets the request without " noreply" and its reply is dropped */
    req->frags = &req->frag1;
    req->nfrags = 1;
    req->npending = 1;
    mc_encode(req, &req->frag1, 0);
    req_send(req, &req->frag1, sgidx, hint);
}

/*
 * During an expansion: a write whose key's old server differs goes there
 * first (proxy/dual.c). Returns 1 when it took <req>.
 */
static int
mc_dual_write(struct req *req, uint32_t sgidx)
{
    enum mc_kind kind = mc_cmd_kind((enum mc_cmd)req->cmd);
    uint32_t old;
    int plain;

    if (kind == MC_KIND_RETRIEVE || kind == MC_KIND_GAT || kind == MC_KIND_VERSION ||
        req->nkeys != 1 ||
        (old = dual_old(req, sgidx, req->keys[0].p, req->keys[0].len)) == ROUTE_NONE) {
        return 0;
    }
    /* only set and delete do not care what is there: the rest must see the old value */
    plain = req->cmd == MC_CMD_SET || kind == MC_KIND_DELETE;
    dual_start(req->w, req->pool, plain ? DUAL_DELETE : DUAL_MIGRATE, req, req->keys[0].p,
               req->keys[0].len, old, sgidx, mc_send);
    return 1;
}

static void
mc_dispatch(struct req *req)
{
    struct worker *w = req->w;
    uint32_t sgidx, *sg;
    int same = 1;

    if (mc_cmd_kind((enum mc_cmd)req->cmd) == MC_KIND_VERSION) {
        sgidx = worker_route_key(w, req->pool, 0, "", 0); /* any one server answers */
    } else {
        sgidx = worker_route_key(w, req->pool, 0, req->keys[0].p, req->keys[0].len);
    }
    if (w->topo->pools[req->pool].expanding) {
        enum mc_kind kind = mc_cmd_kind((enum mc_cmd)req->cmd);

        /* a multi-key read is split even on one server: each key may miss on its own */
        req->dual = kind == MC_KIND_RETRIEVE || kind == MC_KIND_GAT;
        if (mc_dual_write(req, sgidx)) {
            return;
        }
    }
    if (req->nkeys > 1) {
        sg = kt_malloc(req->nkeys * sizeof(*sg));
        sg[0] = sgidx;
        for (uint32_t i = 1; i < req->nkeys; i++) {
            sg[i] = worker_route_key(w, req->pool, 0, req->keys[i].p, req->keys[i].len);
            same &= sg[i] == sgidx;
        }
        if (!same || req->dual) {
            req_group(req, sg);
            kt_free(sg);
            for (uint32_t j = 0; j < req->nfrags; j++) {
                mc_encode_frag(req, &req->frags[j], 0);
            }
            req_send_frags(req, 0);
            return;
        }
        kt_free(sg);
    }
    mc_send(req, sgidx);
}

static void
mc_error_reply(struct client *cl, struct req *req, const struct mc_req *p)
{
    char line[256];
    int n;

    switch (p->err) {
    case MC_ERR_UNKNOWN:
        req_reply_text(req, "ERROR\r\n", 7);
        break;
    case MC_ERR_TOO_LARGE:
        req_reply_error(req, p->errmsg);
        cl->c.rstate = RSTATE_SWALLOW;
        cl->c.remaining = p->vlen + 2;
        break;
    default:
        n = snprintf(line, sizeof(line), "CLIENT_ERROR %s\r\n", p->errmsg);
        req_reply_text(req, line, (size_t)n);
        break;
    }
}

/* The value of a storage request is in: check its terminator, then send it. */
static void
mc_client_data_done(struct client *cl)
{
    static const char bad_chunk[] = "CLIENT_ERROR bad data chunk\r\n";
    struct req *req = cl->cur;

    cl->cur = NULL;
    if (!spans_ends_crlf(&req->in)) {
        req_reply_text(req, bad_chunk, sizeof(bad_chunk) - 1);
        return;
    }
    mc_dispatch(req);
}

static void
mc_take_request(struct client *cl, struct req *req, const struct mc_req *p)
{
    struct conn *c = &cl->c;
    struct buf *b = c->rbuf;

    req->cmd = p->cmd;
    req->line_buf = b;
    req->line_off = c->rpos;
    req->line_len = p->line_len;
    req->args_end = p->args_end;
    req->exptime_off = p->exptime_off;
    req->exptime_len = p->exptime_len;
    req->noreply = p->noreply;
    req->nkeys = p->nkeys;
    req->keys = p->nkeys > 1 ? kt_malloc(p->nkeys * sizeof(*req->keys)) : &req->key1;
    for (uint32_t i = 0; i < p->nkeys; i++) {
        req->keys[i].p = (const char *)b->data + c->rpos + p->keys[i].off;
        req->keys[i].len = p->keys[i].len;
    }
    spans_add(&req->in, b, c->rpos, p->line_len);
    c->rpos += p->line_len;
    switch (mc_cmd_kind(p->cmd)) {
    case MC_KIND_QUIT:
        req->quit = 1;
        cl->quit = 1;
        req_reply_text(req, "", 0);
        break;
    case MC_KIND_STORE:
    case MC_KIND_CAS:
        c->rstate = RSTATE_DATA;
        c->remaining = p->vlen + 2;
        cl->cur = req;
        break;
    default:
        mc_dispatch(req);
        break;
    }
}

static int
mc_client_line(struct client *cl, const uint8_t *p, uint32_t avail)
{
    struct conn *c = &cl->c;
    uint32_t max_value = c->w->topo->pools[cl->pool].cf->max_value_size;
    struct req *req;
    int rc;

    rc = mc_req_parse(&cl->parsed, p, avail, max_value);
    if (rc == PARSE_AGAIN) {
        return 1;
    }
    req = client_new_req(cl);
    if (rc == PARSE_OK) {
        mc_take_request(cl, req, &cl->parsed);
        return 0;
    }
    if (cl->parsed.err == MC_ERR_LINE) {
        /* no end of line in sight: the stream cannot be resynchronised */
        req_reply_text(req, "CLIENT_ERROR line too long\r\n", 28);
        req->quit = 1;
        cl->quit = 1;
        return 1;
    }
    c->rpos += cl->parsed.line_len;
    mc_error_reply(cl, req, &cl->parsed);
    return 0;
}

/* A VALUE block is complete: file it under its key (split get) or in the reply. */
static void
mc_backend_data_done(struct backend *be)
{
    struct frag *head = TAILQ_FIRST(&be->fifo);
    struct req *req = head->req;
    const struct span *first = &be->blk.v[0];
    /* the VALUE line is the block's first bytes; the key follows "VALUE " */
    const char *key = (const char *)first->b->data + first->off + be->parsed.key_off;
    uint32_t klen = be->parsed.key_len;

    if (!req->split) {
        spans_move(&head->rsp, &be->blk);
        if (req->meta) {
            backend_complete(be, head); /* a meta value is the whole reply */
        }
        return;
    }
    for (uint32_t k = head->kpos; k < head->nkeys; k++) {
        const struct req_key *rk = &req->keys[head->keyidx[k]];

        if (rk->len == klen && memcmp(rk->p, key, klen) == 0) {
            spans_move(&req->kv[head->keyidx[k]], &be->blk);
            head->kpos = k + 1;
            return;
        }
    }
    spans_reset(&be->blk); /* a key we did not ask for: drop it */
}

/*
 * Whether error reply <rsp> says the server cannot serve now ("out of
 * memory", "busy"...), so that a gutter may: every SERVER_ERROR but the one
 * about the request itself.
 */
static int
mc_busy(const struct spans *rsp)
{
    static const char server_error[] = "SERVER_ERROR ",
                      too_large[] = "SERVER_ERROR object too large";
    const struct span *sp = &rsp->v[0];

    if (rsp->n == 0) {
        return 0;
    }
    const uint8_t *p = sp->b->data + sp->off;

    return sp->len >= sizeof(server_error) - 1 &&
           memcmp(p, server_error, sizeof(server_error) - 1) == 0 &&
           !(sp->len >= sizeof(too_large) - 1 && memcmp(p, too_large, sizeof(too_large) - 1) == 0);
}

static int
mc_backend_line(struct backend *be, const uint8_t *p, uint32_t avail)
{
    struct conn *c = &be->c;
    struct frag *head = TAILQ_FIRST(&be->fifo);
    struct mc_rsp *r = &be->parsed;
    enum mc_kind kind;
    int rc;

    rc = mc_rsp_parse(r, p, avail);
    if (rc == PARSE_AGAIN) {
        return 1;
    }
    if (rc == PARSE_ERROR || head == NULL) {
        backend_fail(be, UV_EPROTO, "unexpected reply from server");
        return 1;
    }
    STATS_ADD(c->w->sstats[head->sgidx].response_bytes, r->line_len);
    kind = mc_cmd_kind((enum mc_cmd)head->req->cmd);
    if (kind == MC_KIND_RETRIEVE || kind == MC_KIND_GAT) {
        if (r->type == MC_RSP_VALUE) {
            uint32_t rest = r->vlen + 2;

            spans_add(&be->blk, c->rbuf, c->rpos, r->line_len);
            c->rpos += r->line_len;
            if (rest <= avail - r->line_len) {
                /* the whole value is here already (the usual case): take it now */
                spans_add(&be->blk, c->rbuf, c->rpos, rest);
                c->rpos += rest;
                STATS_ADD(c->w->sstats[head->sgidx].response_bytes, rest);
                mc_backend_data_done(be);
                return 0;
            }
            c->rstate = RSTATE_DATA;
            c->remaining = rest;
            return 0;
        }
        if (r->type != MC_RSP_END && r->type != MC_RSP_ERROR) {
            backend_fail(be, UV_EPROTO, "unexpected reply from server");
            return 1;
        }
        head->error = r->type == MC_RSP_ERROR;
        if (!head->req->split || head->error) {
            spans_add(&head->rsp, c->rbuf, c->rpos, r->line_len);
        }
    } else {
        if (r->type == MC_RSP_VALUE || r->type == MC_RSP_END) {
            backend_fail(be, UV_EPROTO, "unexpected reply from server");
            return 1;
        }
        spans_add(&head->rsp, c->rbuf, c->rpos, r->line_len);
        head->error = r->type == MC_RSP_ERROR;
    }
    c->rpos += r->line_len;
    backend_complete(be, head);
    return 0;
}

static void
mc_backend_open(struct backend *be)
{
    KT_UNUSED(be);
}

const struct proto_ops proto_memcache = {
    .name = "memcache",
    .client_line = mc_client_line,
    .client_data_done = mc_client_data_done,
    .backend_line = mc_backend_line,
    .backend_data_done = mc_backend_data_done,
    .error = mc_error,
    .merge = mc_merge,
    .backend_open = mc_backend_open,
    .encode = mc_encode,
    .can_split = mc_can_split,
    .busy = mc_busy,
};
