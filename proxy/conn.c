/*
 * proxy/conn.c - plumbing shared by client and backend connections: where
 * reads land, how queued output is written, how a connection closes.
 *
 *   alloc: the tail of rbuf, or a fresh chunk (an unfinished line is
 *          carried over; value bytes never are - they stay where they are
 *          and are referenced by span)
 *   write: spans -> iovecs -> uv_try_write, the rest through uv_write
 *          with a write request that owns references to the bytes
 */
#include "config.h"

#include <string.h>
#include <sys/un.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "proxy/conn.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* below this much room, a read gets a fresh chunk rather than a sliver */
#define CONN_READ_ROOM_MIN 2048
/* iovecs prepared on the stack per write; longer lists are allocated */
#define CONN_IOV_STACK 64

struct write_req {
    uv_write_t req;
    struct conn *conn;
    struct spans spans; /* what this write sends (owned refs) */
};

void client_closed(struct client *client);
void backend_closed(struct backend *be);
void client_write_done(struct client *client, int status);
void backend_write_failed(struct backend *be, int status);

void
conn_init(struct conn *c, struct worker *w, enum conn_kind kind, int is_unix)
{
    c->w = w;
    c->kind = kind;
    c->is_unix = is_unix ? 1 : 0;
    c->rstate = RSTATE_LINE;
}

int
conn_connect(uv_loop_t *loop, union conn_stream *s, uv_connect_t *creq, const struct server *srv,
             uv_connect_cb cb)
{
    if (srv->addr.ss_family == AF_UNIX) {
        /* a pipe connect reports every error through <cb> */
        uv_pipe_init(loop, &s->pipe, 0);
        uv_pipe_connect(creq, &s->pipe, ((const struct sockaddr_un *)&srv->addr)->sun_path, cb);
        return 0;
    }
    uv_tcp_init(loop, &s->tcp);
    return uv_tcp_connect(creq, &s->tcp, (const struct sockaddr *)&srv->addr, cb);
}

void
conn_want_flush(struct conn *c)
{
    if (!c->in_flush && !c->closing) {
        c->in_flush = 1;
        TAILQ_INSERT_TAIL(&c->w->flushq, c, flush_link);
    }
}

void
conn_alloc(struct conn *c, uint32_t want, uv_buf_t *out)
{
    struct buf *b = c->rbuf;
    uint32_t partial = 0, cap;
    struct buf *nb;

    if (b != NULL) {
        if (c->rpos == b->len && b->refs == 1) {
            b->len = c->rpos = 0; /* nobody else needs these bytes: reuse in place */
        }
        if (b->cap - b->len >= KT_MIN(want, CONN_READ_ROOM_MIN)) {
            goto out;
        }
        partial = b->len - c->rpos;
    }
    cap = KT_MAX(want, partial + KT_MIN(want, CONN_READ_ROOM_MIN));
    cap = KT_MAX(cap, partial * 2);
    nb = buf_get(&c->w->bufs, cap);
    if (partial > 0) {
        memcpy(nb->data, b->data + c->rpos, partial);
    }
    nb->len = partial;
    if (b != NULL) {
        buf_unref(b);
    }
    c->rbuf = b = nb;
    c->rpos = 0;
out:
    out->base = (char *)b->data + b->len;
    out->len = b->cap - b->len;
}

void
conn_release_idle(struct conn *c)
{
    struct buf *b = c->rbuf;

    if (b != NULL && c->rpos == b->len && b->refs == 1 && c->rstate == RSTATE_LINE) {
        buf_unref(b);
        c->rbuf = NULL;
        c->rpos = 0;
    }
}

static void
conn_failed_write(struct conn *c, int status)
{
    if (c->kind == CONN_CLIENT) {
        client_write_done(KT_CONTAINER_OF(c, struct client, c), status);
    } else {
        backend_write_failed(KT_CONTAINER_OF(c, struct backend, c), status);
    }
}

static void
on_write_done(uv_write_t *req, int status)
{
    struct write_req *wr = KT_CONTAINER_OF(req, struct write_req, req);
    struct conn *c = wr->conn;

    spans_free(&wr->spans);
    kt_free(wr);
    if (c->closing) {
        return;
    }
    if (status < 0 || c->kind == CONN_CLIENT) {
        conn_failed_write(c, status);
    }
}

static uint32_t
conn_iov(const struct spans *s, uv_buf_t *iov, uint32_t max)
{
    uint32_t n = KT_MIN(s->n, max);

    for (uint32_t i = 0; i < n; i++) {
        iov[i].base = (char *)s->v[i].b->data + s->v[i].off;
        iov[i].len = s->v[i].len;
    }
    return n;
}

void
conn_flush(struct conn *c)
{
    uv_buf_t stack[CONN_IOV_STACK], *iov;
    struct write_req *wr;
    uint32_t n;
    int rc;

    if (c->closing || c->out.n == 0) {
        return;
    }
    if (c->kind == CONN_BACKEND) {
        struct backend *be = KT_CONTAINER_OF(c, struct backend, c);

        if (!be->connected) {
            return;
        }
        backend_flushed(be);
    }
    if (c->u.stream.write_queue_size == 0) {
        n = conn_iov(&c->out, stack, CONN_IOV_STACK);
        rc = uv_try_write(&c->u.stream, stack, n);
        if (rc > 0) {
            spans_consume(&c->out, (uint64_t)rc);
        } else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
            conn_failed_write(c, rc);
            return;
        }
        if (c->out.n == 0) {
            return;
        }
    }
    wr = kt_calloc(1, sizeof(*wr));
    wr->conn = c;
    spans_move(&wr->spans, &c->out);
    iov = wr->spans.n <= CONN_IOV_STACK ? stack : kt_malloc(wr->spans.n * sizeof(*iov));
    n = conn_iov(&wr->spans, iov, wr->spans.n);
    rc = uv_write(&wr->req, &c->u.stream, iov, n, on_write_done);
    if (iov != stack) {
        kt_free(iov);
    }
    if (rc != 0) {
        spans_free(&wr->spans);
        kt_free(wr);
        conn_failed_write(c, rc);
    }
}

static void
on_conn_closed(uv_handle_t *handle)
{
    struct conn *c = KT_CONTAINER_OF(handle, struct conn, u.handle);

    if (c->rbuf != NULL) {
        buf_unref(c->rbuf);
        c->rbuf = NULL;
    }
    spans_free(&c->out);
    if (c->kind == CONN_CLIENT) {
        client_closed(KT_CONTAINER_OF(c, struct client, c));
    } else {
        backend_closed(KT_CONTAINER_OF(c, struct backend, c));
    }
}

void
conn_close(struct conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    if (c->in_flush) {
        TAILQ_REMOVE(&c->w->flushq, c, flush_link);
        c->in_flush = 0;
    }
    uv_close(&c->u.handle, on_conn_closed);
}
