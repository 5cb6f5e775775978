/*
 * proxy/backend.c - connections to servers. Requests are pipelined: each
 * connection keeps a FIFO of fragments sent and not yet answered, and
 * replies are matched to it in order. One timer per connection watches the
 * FIFO head (the oldest request), so a server that stops answering fails
 * its requests after the pool's timeout - never a hang - and other servers
 * are not affected.
 */
#include "config.h"

#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "proxy/conn.h"
#include "proxy/dual.h"
#include "proxy/health.h"
#include "proxy/proto.h"
#include "proxy/request.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* TCP keepalive probe delay when tcpkeepalive is on (seconds) */
#define BACKEND_KEEPALIVE_S 60

void backend_closed(struct backend *be);
void backend_write_failed(struct backend *be, int status);

static const struct conf_pool *
backend_conf(struct worker *w, uint32_t sgidx)
{
    return w->topo->by_gidx[sgidx]->owner->cf;
}

static void
on_backend_timer_closed(uv_handle_t *handle)
{
    struct backend *be = handle->data;

    spans_free(&be->blk);
    kt_free(be);
}

void
backend_closed(struct backend *be)
{
    /* the stream is closed; the timer closes last and frees the backend */
    be->timer.data = be;
    uv_close((uv_handle_t *)&be->timer, on_backend_timer_closed);
}

/* A refusal or reset says the server is not there: TKO at once. Anything else counts. */
static enum health_fault
backend_fault(int status)
{
    switch (status) {
    case UV_ECONNREFUSED:
    case UV_ECONNRESET:
    case UV_EHOSTUNREACH:
    case UV_ENETUNREACH:
        return HEALTH_FAULT_HARD;
    default:
        return HEALTH_FAULT_SOFT;
    }
}

/*
 * Take <be> off its server and close it; its queues leave the server's
 * stats. Returns the server's slot, or UINT32_MAX when it had none.
 */
static uint32_t
backend_detach(struct backend *be)
{
    struct worker *w = be->c.w;
    uint32_t sgidx = UINT32_MAX;

    if (be->srv != NULL) {
        struct stats_server *st = &w->sstats[be->srv->gidx];

        sgidx = be->srv->gidx;
        be->srv->conns[be->slot] = NULL;
        be->srv = NULL;
        if (be->connected) {
            STATS_DEC(st->server_connections);
        }
        STATS_ADD(st->in_queue, -(int64_t)be->nunsent);
        STATS_ADD(st->in_queue_bytes, -(int64_t)be->unsent_bytes);
        STATS_ADD(st->out_queue, -(int64_t)(be->nfifo - be->nunsent));
        STATS_ADD(st->out_queue_bytes, -(int64_t)(be->fifo_bytes - be->unsent_bytes));
    }
    uv_timer_stop(&be->timer);
    spans_reset(&be->blk);
    conn_close(&be->c);
    return sgidx;
}

void
backend_retire(struct backend *be)
{
    TAILQ_HEAD(, frag) owed;
    struct frag *frag;

    backend_detach(be); /* its queues leave the stats first */
    TAILQ_INIT(&owed);
    TAILQ_CONCAT(&owed, &be->fifo, link);
    be->nfifo = 0;
    be->nunsent = 0;
    while ((frag = TAILQ_FIRST(&owed)) != NULL) {
        TAILQ_REMOVE(&owed, frag, link);
        frag_resend(frag);
    }
}

/* The next request after a failure opens a new connection. */
void
backend_fail(struct backend *be, int status, const char *msg)
{
    struct worker *w = be->c.w;
    struct frag *frag;
    uint32_t sgidx;

    if (be->c.closing) {
        return;
    }
    sgidx = backend_detach(be);
    if (sgidx != UINT32_MAX) {
        struct stats_server *st = &w->sstats[sgidx];

        if (status == UV_EOF) {
            STATS_INC(st->server_eof);
        } else if (status == UV_ETIMEDOUT) {
            STATS_INC(st->server_timedout);
        } else {
            STATS_INC(st->server_err);
        }
        log_info("server %s: connection lost: %s", w->topo->by_gidx[sgidx]->addr_text,
                 msg != NULL ? msg : uv_strerror(status));
    }
    if (sgidx != UINT32_MAX && !(be->connected && be->nfifo == 0)) {
        /*
         * health first: the fragments below may fail over, and must see the
         * server TKO. An idle connection the server (or a middlebox) closed
         * owed nobody an answer: it says nothing of the server's health.
         */
        worker_server_failed(w, sgidx, backend_fault(status),
                             msg != NULL ? msg : uv_strerror(status));
    }
    while ((frag = TAILQ_FIRST(&be->fifo)) != NULL) {
        TAILQ_REMOVE(&be->fifo, frag, link);
        frag_fail(frag, msg != NULL ? msg : uv_strerror(status));
    }
    be->nfifo = 0;
    be->nunsent = 0;
}

void
backend_write_failed(struct backend *be, int status)
{
    backend_fail(be, status, NULL);
}

static void
on_backend_timer(uv_timer_t *timer)
{
    struct backend *be = timer->data;
    struct frag *head = TAILQ_FIRST(&be->fifo);
    uint64_t now = worker_now(be->c.w);

    be->timer_on = 0;
    if (head == NULL || head->deadline_ms == 0) {
        return;
    }
    if (head->deadline_ms <= now) {
        backend_fail(be, UV_ETIMEDOUT, "Connection timed out");
        return;
    }
    be->timer_on = 1;
    uv_timer_start(&be->timer, on_backend_timer, head->deadline_ms - now, 0);
}

static void
on_backend_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct backend *be = KT_CONTAINER_OF(handle, struct backend, c.u.handle);
    uint32_t want = be->c.w->bufs.chunk_size;

    KT_UNUSED(suggested);
    conn_alloc(&be->c, want, buf);
}

void
backend_complete(struct backend *be, struct frag *head)
{
    struct worker *w = be->c.w;
    struct stats_server *st = &w->sstats[head->sgidx];

    TAILQ_REMOVE(&be->fifo, head, link);
    be->nfifo--;
    be->fifo_bytes -= head->out_bytes;
    STATS_DEC(st->out_queue);
    STATS_ADD(st->out_queue_bytes, -(int64_t)head->out_bytes);
    STATS_INC(st->responses);
    worker_server_ok(w, head->sgidx);
    if (head->error && head->req->proto->busy(&head->rsp) && frag_retry(head)) {
        return; /* the server is up but cannot serve it: the gutter may */
    }
    if (head->req->dual && dual_reply(head)) {
        return; /* a miss during an expansion: the old ring is asked */
    }
    frag_done(head);
}

static void
backend_parse(struct backend *be)
{
    struct conn *c = &be->c;
    struct buf *b = c->rbuf;

    while (!c->closing) {
        uint32_t avail = b->len - c->rpos, take;

        if (c->rstate == RSTATE_DATA) {
            struct frag *head = TAILQ_FIRST(&be->fifo);

            take = KT_MIN(avail, c->remaining);
            if (take == 0) {
                return;
            }
            spans_add(&be->blk, b, c->rpos, take);
            c->rpos += take;
            c->remaining -= take;
            STATS_ADD(c->w->sstats[head->sgidx].response_bytes, take);
            if (c->remaining > 0) {
                return;
            }
            c->rstate = RSTATE_LINE;
            be->proto->backend_data_done(be);
            continue;
        }
        if (avail == 0 || be->proto->backend_line(be, b->data + c->rpos, avail) != 0) {
            return;
        }
    }
}

static void
on_backend_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct backend *be = KT_CONTAINER_OF(stream, struct backend, c.u.stream);

    KT_UNUSED(buf);
    if (nread > 0) {
        be->c.rbuf->len += (uint32_t)nread;
        backend_parse(be);
        return;
    }
    if (nread < 0) {
        backend_fail(be, (int)nread, nread == UV_EOF ? "server closed the connection" : NULL);
    }
}

static void
on_backend_connect(uv_connect_t *creq, int status)
{
    struct backend *be = creq->data;
    struct worker *w = be->c.w;

    if (be->c.closing) {
        return;
    }
    if (status < 0) {
        backend_fail(be, status, NULL);
        return;
    }
    be->connected = 1;
    STATS_INC(w->sstats[be->srv->gidx].server_connections);
    if (!be->c.is_unix) {
        uv_tcp_nodelay(&be->c.u.tcp, 1);
        if (backend_conf(w, be->srv->gidx)->tcpkeepalive) {
            uv_tcp_keepalive(&be->c.u.tcp, 1, BACKEND_KEEPALIVE_S);
        }
    }
    be->c.reading = 1;
    uv_read_start(&be->c.u.stream, on_backend_alloc, on_backend_read);
    conn_want_flush(&be->c);
}

static struct backend *
backend_connect(struct worker *w, struct server_rt *srt, uint32_t slot)
{
    const struct server *srv = w->topo->by_gidx[srt->gidx];
    struct backend *be = kt_calloc(1, sizeof(*be));
    int rc;

    conn_init(&be->c, w, CONN_BACKEND, srv->addr.ss_family == AF_UNIX);
    be->srv = srt;
    be->slot = slot;
    be->proto = srv->owner->cf->redis ? &proto_redis : &proto_memcache;
    TAILQ_INIT(&be->fifo);
    uv_timer_init(&w->loop, &be->timer);
    be->timer.data = be;
    be->creq.data = be;
    srt->conns[slot] = be;
    rc = conn_connect(&w->loop, &be->c.u, &be->creq, srv, on_backend_connect);
    if (rc != 0) {
        backend_fail(be, rc, NULL);
        return NULL;
    }
    be->proto->backend_open(be);
    return be;
}

/*
 * Put <frag> at the end of <be>'s FIFO and its bytes on the output queue:
 * the bytes made for it (frag->out), or when there are none its request's
 * own bytes as read, referenced rather than copied.
 */
static void
backend_queue(struct backend *be, struct frag *frag)
{
    struct worker *w = be->c.w;
    uint32_t sgidx = be->srv->gidx;
    const struct conf_pool *cp = backend_conf(w, sgidx);
    struct stats_server *st = &w->sstats[sgidx];
    int own = frag->out.n > 0;

    frag->sgidx = sgidx;
    frag->deadline_ms = cp->timeout_ms > 0 ? worker_now(w) + (uint64_t)cp->timeout_ms : 0;
    frag->out_bytes = own ? frag->out.bytes : frag->req->in.bytes;
    TAILQ_INSERT_TAIL(&be->fifo, frag, link);
    be->nfifo++;
    be->fifo_bytes += frag->out_bytes;
    STATS_INC(st->requests);
    STATS_ADD(st->request_bytes, (int64_t)frag->out_bytes);
    be->nunsent++;
    be->unsent_bytes += frag->out_bytes;
    STATS_INC(st->in_queue);
    STATS_ADD(st->in_queue_bytes, (int64_t)frag->out_bytes);
    if (own) {
        spans_move(&be->c.out, &frag->out);
    } else {
        spans_copy(&be->c.out, &frag->req->in);
    }
    if (frag->deadline_ms != 0 && !be->timer_on) {
        be->timer_on = 1;
        uv_timer_start(&be->timer, on_backend_timer, (uint64_t)cp->timeout_ms, 0);
    }
    conn_want_flush(&be->c);
}

void
backend_send_internal(struct backend *be, struct req *req)
{
    req->frags = &req->frag1;
    req->nfrags = 1;
    req->npending = 1;
    req->frag1.req = req;
    backend_queue(be, &req->frag1);
}

void
backend_send(struct worker *w, uint32_t sgidx, struct frag *frag, uint32_t hint)
{
    struct server_rt *srt = w->servers[sgidx];
    uint32_t slot = hint % srt->nconns;
    struct backend *be = srt->conns[slot];

    frag->sgidx = sgidx;
    if (be == NULL) {
        be = backend_connect(w, srt, slot);
        if (be == NULL) {
            frag_fail(frag, "cannot connect to server");
            return;
        }
    }
    backend_queue(be, frag);
}

void
backend_flushed(struct backend *be)
{
    struct stats_server *st;

    if (be->nunsent == 0 || be->srv == NULL) {
        return;
    }
    st = &be->c.w->sstats[be->srv->gidx];
    STATS_ADD(st->in_queue, -(int64_t)be->nunsent);
    STATS_ADD(st->in_queue_bytes, -(int64_t)be->unsent_bytes);
    STATS_ADD(st->out_queue, (int64_t)be->nunsent);
    STATS_ADD(st->out_queue_bytes, (int64_t)be->unsent_bytes);
    be->nunsent = 0;
    be->unsent_bytes = 0;
}

void
backend_preconnect(struct worker *w, uint32_t sgidx)
{
    struct server_rt *srt = w->servers[sgidx];

    for (uint32_t i = 0; i < srt->nconns; i++) {
        if (srt->conns[i] == NULL) {
            backend_connect(w, srt, i);
        }
    }
}
