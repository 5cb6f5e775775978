/*
 * proxy/probe.c - bring a TKO server back. The worker whose failure marked
 * it waits server_retry_timeout, then opens a connection of its own (never
 * one client requests use) and asks memcached "version" or Redis "PING"
 * (after AUTH when the pool has a password). An answer in time puts the
 * server back UP for every worker; anything else waits x1.5 longer, with
 * jitter, up to server_retry_timeout_max, and tries again.
 *
 *   timer (wait) -> connect -> write -> read the answer -> UP, done
 *        ^                                       |
 *        `---- refused, closed, wrong, timer (deadline) -- backoff
 */
#include "config.h"

#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "proxy/conn.h"
#include "proxy/health.h"
#include "proxy/stats.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

/* a probe's deadline when the pool waits forever (timeout: -1) */
#define PROBE_DEFAULT_TIMEOUT_MS 1000
/* an answer longer than this is not "VERSION ..." nor "+PONG" */
#define PROBE_RBUF 512

struct probe_conn;

struct probe {
    struct worker *w;
    uint32_t gidx;
    uv_timer_t timer;      /* the wait before an attempt, then its deadline */
    uint64_t delay_ms;     /* the last wait */
    struct probe_conn *pc; /* the attempt under way, or NULL while waiting */
};

/* One attempt's connection; freed in its close callback. */
struct probe_conn {
    union conn_stream u;
    struct probe *pr; /* NULL once closing */
    uv_connect_t creq;
    uv_write_t wreq;
    char *wbuf; /* the question (owned) */
    uint32_t wlen;
    uint32_t nlines; /* lines the answer has: 1, or 2 after AUTH */
    char rbuf[PROBE_RBUF];
    uint32_t rlen;
};

static void probe_wait(struct probe *pr);

static const struct server *
probe_server(const struct probe *pr)
{
    return pr->w->topo->by_gidx[pr->gidx];
}

static void
on_probe_conn_closed(uv_handle_t *handle)
{
    struct probe_conn *pc = handle->data;

    kt_free(pc->wbuf);
    kt_free(pc);
}

static void
probe_conn_close(struct probe *pr)
{
    struct probe_conn *pc = pr->pc;

    pr->pc = NULL;
    pc->pr = NULL;
    pc->u.handle.data = pc;
    uv_close(&pc->u.handle, on_probe_conn_closed);
}

static void
on_probe_timer_closed(uv_handle_t *handle)
{
    kt_free(handle->data);
}

/* The attempt ended: <ok> brings the server back, else the next one waits longer. */
static void
probe_done(struct probe *pr, int ok, const char *why)
{
    struct worker *w = pr->w;
    const struct server *srv = probe_server(pr);
    struct pool *pool = srv->owner;

    uv_timer_stop(&pr->timer);
    probe_conn_close(pr);
    if (!ok) {
        STATS_INC(w->sstats[pr->gidx].probe_failures);
        log_info("pool '%s': server '%s' (%s) still down: %s", pool->name, srv->name,
                 srv->addr_text, why);
        probe_wait(pr);
        return;
    }
    if (health_probe_ok(&w->topo->health[pr->gidx], pool->health)) {
        log_warn("pool '%s': server '%s' (%s) is back up after a probe", pool->name, srv->name,
                 srv->addr_text);
    }
    w->servers[pr->gidx]->probe = NULL;
    pr->timer.data = pr;
    uv_close((uv_handle_t *)&pr->timer, on_probe_timer_closed);
}

/* Whether the answer so far is complete (1 yes, 0 not yet) and right (*ok). */
static int
probe_answered(const struct probe_conn *pc, int redis, int *ok)
{
    uint32_t lines = 0, last = 0;

    for (uint32_t i = 0; i + 1 < pc->rlen; i++) {
        if (pc->rbuf[i] == '\r' && pc->rbuf[i + 1] == '\n') {
            if (++lines == pc->nlines) {
                break;
            }
            last = i + 2;
        }
    }
    if (lines < pc->nlines) {
        return 0;
    }
    if (redis) {
        *ok = strncmp(pc->rbuf + last, "+PONG\r\n", 7) == 0;
    } else {
        *ok = strncmp(pc->rbuf, "VERSION ", 8) == 0;
    }
    return 1;
}

static void
on_probe_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct probe_conn *pc = KT_CONTAINER_OF(handle, struct probe_conn, u.handle);

    KT_UNUSED(suggested);
    buf->base = pc->rbuf + pc->rlen;
    buf->len = PROBE_RBUF - pc->rlen;
}

static void
on_probe_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct probe_conn *pc = KT_CONTAINER_OF(stream, struct probe_conn, u.stream);
    struct probe *pr = pc->pr;
    int ok = 0;

    KT_UNUSED(buf);
    if (pr == NULL || nread == 0) {
        return;
    }
    if (nread < 0) {
        probe_done(pr, 0, nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread));
        return;
    }
    pc->rlen += (uint32_t)nread;
    if (probe_answered(pc, probe_server(pr)->owner->cf->redis, &ok)) {
        probe_done(pr, ok, "unexpected answer");
    } else if (pc->rlen == PROBE_RBUF) {
        probe_done(pr, 0, "answer too long");
    }
}

static void
on_probe_write(uv_write_t *wreq, int status)
{
    struct probe_conn *pc = wreq->data;

    if (status < 0 && pc->pr != NULL) {
        probe_done(pc->pr, 0, uv_strerror(status));
    }
}

static void
on_probe_connect(uv_connect_t *creq, int status)
{
    struct probe_conn *pc = creq->data;
    struct probe *pr = pc->pr;
    uv_buf_t b;

    if (pr == NULL) {
        return;
    }
    if (status < 0) {
        probe_done(pr, 0, uv_strerror(status));
        return;
    }
    b = uv_buf_init(pc->wbuf, pc->wlen);
    pc->wreq.data = pc;
    uv_read_start(&pc->u.stream, on_probe_alloc, on_probe_read);
    uv_write(&pc->wreq, &pc->u.stream, &b, 1, on_probe_write);
}

/* The question: "version", or "PING" after "AUTH <password>" when the pool has one. */
static void
probe_question(struct probe_conn *pc, const struct conf_pool *cp)
{
    static const char version[] = "version\r\n", ping[] = "*1\r\n$4\r\nPING\r\n";
    size_t cap;

    pc->nlines = 1;
    if (!cp->redis) {
        pc->wbuf = kt_strdup(version);
        pc->wlen = sizeof(version) - 1;
        return;
    }
    if (cp->redis_auth == NULL) {
        pc->wbuf = kt_strdup(ping);
        pc->wlen = sizeof(ping) - 1;
        return;
    }
    cap = strlen(cp->redis_auth) + 64;
    pc->wbuf = kt_malloc(cap);
    pc->wlen = (uint32_t)snprintf(pc->wbuf, cap, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n%s",
                                  strlen(cp->redis_auth), cp->redis_auth, ping);
    pc->nlines = 2;
}

static void on_probe_timer(uv_timer_t *timer);

/* Start an attempt: connect, ask, and give it the pool's timeout to answer. */
static void
probe_attempt(struct probe *pr)
{
    struct worker *w = pr->w;
    const struct server *srv = probe_server(pr);
    const struct conf_pool *cp = srv->owner->cf;
    struct probe_conn *pc = kt_calloc(1, sizeof(*pc));
    int rc;

    pc->pr = pr;
    pc->creq.data = pc;
    pr->pc = pc;
    probe_question(pc, cp);
    STATS_INC(w->sstats[pr->gidx].probes);
    rc = conn_connect(&w->loop, &pc->u, &pc->creq, srv, on_probe_connect);
    if (rc != 0) {
        probe_done(pr, 0, uv_strerror(rc));
        return;
    }
    uv_timer_start(&pr->timer, on_probe_timer,
                   cp->timeout_ms > 0 ? (uint64_t)cp->timeout_ms : PROBE_DEFAULT_TIMEOUT_MS, 0);
}

static void
on_probe_timer(uv_timer_t *timer)
{
    struct probe *pr = timer->data;

    if (pr->pc != NULL) {
        probe_done(pr, 0, "no answer in time");
        return;
    }
    probe_attempt(pr);
}

/* Wait before the next attempt: server_retry_timeout, then x1.5 with jitter up to the cap. */
static void
probe_wait(struct probe *pr)
{
    const struct conf_pool *cp = probe_server(pr)->owner->cf;

    pr->delay_ms = health_backoff(pr->delay_ms, (uint64_t)cp->server_retry_timeout_ms,
                                  (uint64_t)cp->server_retry_timeout_max_ms, worker_rand(pr->w));
    uv_timer_start(&pr->timer, on_probe_timer, pr->delay_ms, 0);
}

void
probe_start(struct worker *w, uint32_t sgidx)
{
    struct server_rt *srt = w->servers[sgidx];
    struct probe *pr;

    if (srt->probe != NULL) {
        return;
    }
    pr = kt_calloc(1, sizeof(*pr));
    pr->w = w;
    pr->gidx = sgidx;
    uv_timer_init(&w->loop, &pr->timer);
    pr->timer.data = pr;
    srt->probe = pr;
    probe_wait(pr);
}

void
probe_cancel_rt(struct worker *w, struct server_rt *srt, struct health_pool *hp)
{
    struct probe *pr = srt->probe;

    if (pr == NULL) {
        return;
    }
    srt->probe = NULL;
    uv_timer_stop(&pr->timer);
    if (pr->pc != NULL) {
        probe_conn_close(pr);
    }
    pr->timer.data = pr;
    uv_close((uv_handle_t *)&pr->timer, on_probe_timer_closed);
    /* should it come back, it comes back untried, as a new server would; its place is free */
    health_probe_ok(&w->topo->health[srt->gidx], hp);
}
