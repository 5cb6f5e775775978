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
#include "proxy/proto.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* requests a client may have in flight before ketch stops reading it */
#define CLIENT_PIPELINE_MAX 4096
/* reply bytes a client may leave unread before ketch stops reading it */
#define CLIENT_OUT_MAX (8u * 1024 * 1024)

void client_closed(struct client *client);
void client_write_done(struct client *client, int status);

static void
on_client_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct client *cl = KT_CONTAINER_OF(handle, struct client, c.u.handle);
    uint32_t want = cl->c.w->bufs.chunk_size;

    KT_UNUSED(suggested);
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

struct req *
client_new_req(struct client *cl)
{
    struct req *req = req_create(cl->c.w, cl, cl->pool);

    TAILQ_INSERT_TAIL(&cl->reqs, req, link);
    cl->nreqs++;
    return req;
}

static void
client_parse(struct client *cl)
{
    struct conn *c = &cl->c;
    struct buf *b;

    /* rbuf is read again each turn: a reply completed meanwhile may have released it */
    while (!c->closing && !cl->quit && (b = c->rbuf) != NULL) {
        uint32_t avail = b->len - c->rpos, take;

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
                c->rstate = RSTATE_LINE;
                cl->proto->client_data_done(cl);
            }
            c->rstate = RSTATE_LINE;
            continue;
        }
        if (avail == 0) {
            break;
        }
        if (cl->cur == NULL && client_over_budget(cl)) {
            client_read_pause(cl);
            break;
        }
        if (cl->proto->client_line(cl, b->data + c->rpos, avail) != 0) {
            break;
        }
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
    if (TAILQ_EMPTY(&cl->reqs)) {
        conn_release_idle(&cl->c);
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
    cl->proto = w->topo->pools[pool].cf->redis ? &proto_redis : &proto_memcache;
    cl->authed = w->topo->pools[pool].cf->redis_auth == NULL;
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
    resp_inline_free(&cl->inl);
    kt_free(cl->name);
    kt_free(cl);
}
