/*
 * proxy/client.c - client connections: read, parse requests (resumably,
 * across any number of reads), dispatch them, and write replies strictly
 * in request order. A malformed request gets its error in its place in
 * the reply stream; the connection goes on wherever the stream can be
 * resynchronised.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "proxy/conn.h"
#include "proxy/instance.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* requests a client may have in flight before ketch stops reading it */
#define CLIENT_PIPELINE_MAX 4096
/* reply bytes a client may leave unread before ketch stops reading it */
#define CLIENT_OUT_MAX (8u * 1024 * 1024)

void client_closed(struct client *client);
void client_write_done(struct client *client, int status);

static const struct conf_pool *
client_conf(const struct client *cl)
{
    return cl->c.w->topo->pools[cl->pool].cf;
}

static void
on_client_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct client *cl = KT_CONTAINER_OF(handle, struct client, c.u.handle);
    uint32_t want = cl->c.w->bufs.chunk_size;

    KT_UNUSED(suggested);
    if (cl->c.rstate == RSTATE_DATA && cl->c.remaining > want) {
        want = cl->c.remaining; /* one chunk for a large value: fewer reads, one span */
    }
    conn_alloc(&cl->c, want, buf);
}

static int
client_over_budget(const struct client *cl)
{
    return cl->nreqs >= CLIENT_PIPELINE_MAX ||
           cl->c.u.stream.write_queue_size + cl->c.out.bytes > CLIENT_OUT_MAX;
}

static void on_client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void
client_read_pause(struct client *cl)
{
    if (cl->c.reading) {
        uv_read_stop(&cl->c.u.stream);
        cl->c.reading = 0;
    }
}

/* Start reading again; returns 1 when it did, so buffered bytes get parsed. */
static int
client_read_resume(struct client *cl)
{
    if (cl->c.reading || cl->c.closing || cl->eof || cl->quit) {
        return 0;
    }
    cl->c.reading = 1;
    uv_read_start(&cl->c.u.stream, on_client_alloc, on_client_read);
    return 1;
}

static void
client_error_reply(struct client *cl, struct req *req, const struct mc_req *p)
{
    char line[256];
    int n;

    switch (p->err) {
    case MC_ERR_UNKNOWN:
        req_reply_text(req, "ERROR\r\n", 7);
        break;
    case MC_ERR_TOO_LARGE:
        n = snprintf(line, sizeof(line), "SERVER_ERROR %s\r\n", p->errmsg);
        req_reply_text(req, line, (size_t)n);
        cl->c.rstate = RSTATE_SWALLOW;
        cl->c.remaining = p->vlen + 2;
        break;
    default:
        n = snprintf(line, sizeof(line), "CLIENT_ERROR %s\r\n", p->errmsg);
        req_reply_text(req, line, (size_t)n);
        break;
    }
}

/* The value of storage request <req> is in: check its terminator, then send it. */
static void
client_value_done(struct client *cl, struct req *req)
{
    static const char bad_chunk[] = "CLIENT_ERROR bad data chunk\r\n";
    uint8_t tail[2];

    spans_peek(&req->in, req->in.bytes - 2, tail, 2);
    if (tail[0] != '\r' || tail[1] != '\n') {
        req_reply_text(req, bad_chunk, sizeof(bad_chunk) - 1);
        return;
    }
    KT_UNUSED(cl);
    req_dispatch(req);
}

static void
client_take_request(struct client *cl, struct req *req, const struct mc_req *p)
{
    struct conn *c = &cl->c;
    struct buf *b = c->rbuf;
    enum mc_kind kind = mc_cmd_kind(p->cmd);

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
    switch (kind) {
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
        req_dispatch(req);
        break;
    }
}

static void
client_parse(struct client *cl)
{
    struct conn *c = &cl->c;
    struct buf *b = c->rbuf;
    uint32_t max_value = client_conf(cl)->max_value_size;

    while (!c->closing && !cl->quit && b != NULL) {
        uint32_t avail = b->len - c->rpos, take;
        struct req *req;
        int rc;

        if (c->rstate != RSTATE_LINE) {
            take = KT_MIN(avail, c->remaining);
            if (take == 0) {
                break;
            }
            if (c->rstate == RSTATE_DATA) {
                spans_add(&cl->cur->in, b, c->rpos, take);
            }
            c->rpos += take;
            c->remaining -= take;
            if (c->remaining > 0) {
                break;
            }
            if (c->rstate == RSTATE_DATA) {
                req = cl->cur;
                cl->cur = NULL;
                c->rstate = RSTATE_LINE;
                client_value_done(cl, req);
            }
            c->rstate = RSTATE_LINE;
            continue;
        }
        if (avail == 0) {
            break;
        }
        if (client_over_budget(cl)) {
            client_read_pause(cl);
            break;
        }
        rc = mc_req_parse(&cl->parsed, b->data + c->rpos, avail, max_value);
        if (rc == PARSE_AGAIN) {
            break;
        }
        req = req_create(c->w, cl, cl->pool);
        TAILQ_INSERT_TAIL(&cl->reqs, req, link);
        cl->nreqs++;
        if (rc == PARSE_OK) {
            client_take_request(cl, req, &cl->parsed);
            continue;
        }
        if (cl->parsed.err == MC_ERR_LINE) {
            /* no end of line in sight: the stream cannot be resynchronised */
            req_reply_text(req, "CLIENT_ERROR line too long\r\n", 28);
            req->quit = 1;
            cl->quit = 1;
            break;
        }
        c->rpos += cl->parsed.line_len;
        client_error_reply(cl, req, &cl->parsed);
    }
    client_reply_ready(cl);
}

static void
on_client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct client *cl = KT_CONTAINER_OF(stream, struct client, c.u.stream);
    struct worker *w = cl->c.w;

    KT_UNUSED(buf);
    if (nread > 0) {
        cl->c.rbuf->len += (uint32_t)nread;
        client_parse(cl);
        return;
    }
    if (nread == 0) {
        return;
    }
    client_read_pause(cl);
    if (nread == UV_EOF) {
        STATS_INC(w->pstats[cl->pool].client_eof);
        cl->eof = 1;
        client_reply_ready(cl);
        return;
    }
    STATS_INC(w->pstats[cl->pool].client_err);
    conn_close(&cl->c);
}

/* Close once every reply owed has been written. */
static void
client_maybe_close(struct client *cl)
{
    if (cl->c.closing || !TAILQ_EMPTY(&cl->reqs)) {
        return;
    }
    if (!(cl->eof || cl->quit)) {
        return;
    }
    if (cl->c.out.n > 0) {
        conn_flush(&cl->c);
    }
    if (cl->c.out.n == 0 && cl->c.u.stream.write_queue_size == 0) {
        conn_close(&cl->c);
    }
}

void
client_reply_ready(struct client *cl)
{
    struct req *req;

    while ((req = TAILQ_FIRST(&cl->reqs)) != NULL && req->done) {
        TAILQ_REMOVE(&cl->reqs, req, link);
        cl->nreqs--;
        spans_move(&cl->c.out, &req->reply);
        req_free(req);
    }
    if (cl->c.out.n > 0) {
        conn_want_flush(&cl->c);
    }
    if (TAILQ_EMPTY(&cl->reqs) && (cl->eof || cl->quit)) {
        client_maybe_close(cl);
        return;
    }
    /* bytes read before a pause may already hold whole requests */
    if (!client_over_budget(cl) && client_read_resume(cl)) {
        client_parse(cl);
    }
}

void
client_write_done(struct client *cl, int status)
{
    if (status < 0) {
        STATS_INC(cl->c.w->pstats[cl->pool].client_err);
        conn_close(&cl->c);
        return;
    }
    client_maybe_close(cl);
    if (!client_over_budget(cl) && client_read_resume(cl)) {
        client_parse(cl);
    }
}

static int
client_pool_full(struct worker *w, uint32_t pool)
{
    struct instance *inst = w->inst;
    uint32_t limit = w->topo->pools[pool].cf->client_connections;
    int64_t n = 0;

    if (limit == 0) {
        return 0;
    }
    for (uint32_t i = 0; i < inst->nworkers; i++) {
        if (inst->workers[i].pstats != NULL) {
            n += STATS_GET(inst->workers[i].pstats[pool].client_connections);
        }
    }
    return n >= (int64_t)limit;
}

void
client_accept(struct worker *w, uv_stream_t *server, uint32_t pool, int is_unix)
{
    struct client *cl = kt_calloc(1, sizeof(*cl));
    int rc;

    conn_init(&cl->c, w, CONN_CLIENT, is_unix);
    cl->pool = pool;
    TAILQ_INIT(&cl->reqs);
    if (is_unix) {
        uv_pipe_init(&w->loop, &cl->c.u.pipe, 0);
    } else {
        uv_tcp_init(&w->loop, &cl->c.u.tcp);
    }
    STATS_INC(w->gstats.curr_connections);
    STATS_INC(w->pstats[pool].client_connections);
    rc = uv_accept(server, &cl->c.u.stream);
    if (rc != 0 || client_pool_full(w, pool)) {
        if (rc == 0) {
            log_warn("pool '%s': client_connections limit reached, closing new client",
                     w->topo->pools[pool].name);
        }
        conn_close(&cl->c);
        return;
    }
    STATS_INC(w->gstats.total_connections);
    if (!is_unix) {
        uv_tcp_nodelay(&cl->c.u.tcp, 1);
    }
    (void)client_read_resume(cl);
}

void
client_closed(struct client *cl)
{
    struct worker *w = cl->c.w;
    struct req *req;

    while ((req = TAILQ_FIRST(&cl->reqs)) != NULL) {
        TAILQ_REMOVE(&cl->reqs, req, link);
        if (req->npending == 0) {
            req_free(req);
        } else {
            req->client = NULL; /* freed when its last fragment is answered */
        }
    }
    STATS_DEC(w->gstats.curr_connections);
    STATS_DEC(w->pstats[cl->pool].client_connections);
    mc_req_free(&cl->parsed);
    kt_free(cl);
}
