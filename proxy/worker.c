/*
 * proxy/worker.c - a worker thread: runs its own uv loop with its own
 * listening sockets, connections and per-server state. The end-of-turn
 * flusher is what coalesces every request queued to one backend during a
 * loop turn into a single writev.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "hashring/ring.h"
#include "proxy/conn.h"
#include "proxy/instance.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

static void
on_flush(uv_check_t *handle)
{
    struct worker *w = KT_CONTAINER_OF(handle, struct worker, flusher);
    struct conn *c;

    while ((c = TAILQ_FIRST(&w->flushq)) != NULL) {
        TAILQ_REMOVE(&w->flushq, c, flush_link);
        c->in_flush = 0;
        conn_flush(c);
    }
}

static void
on_listener_connection(uv_stream_t *server, int status)
{
    struct worker *w = server->loop->data;
    struct pool_rt *prt = server->data;

    if (status < 0) {
        log_warn("worker %u: accept failed: %s", w->id, uv_strerror(status));
        return;
    }
    client_accept(w, server, (uint32_t)(prt - w->pools), server->type == UV_NAMED_PIPE);
}

static int
worker_listen(struct worker *w, uint32_t pool, int fd)
{
    struct pool_rt *prt = &w->pools[pool];
    const struct conf_pool *cp = w->topo->pools[pool].cf;
    uv_stream_t *s;
    int rc;

    if (cp->listen.is_unix) {
        uv_pipe_init(&w->loop, &prt->listener.pipe, 0);
        rc = uv_pipe_open(&prt->listener.pipe, fd);
    } else {
        uv_tcp_init(&w->loop, &prt->listener.tcp);
        rc = uv_tcp_open(&prt->listener.tcp, fd);
    }
    if (rc != 0) {
        return rc;
    }
    s = (uv_stream_t *)&prt->listener;
    s->data = prt;
    return uv_listen(s, cp->backlog, on_listener_connection);
}

void
worker_init(struct worker *w, struct instance *inst, uint32_t id, struct topology *topo, int *fds)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->inst = inst;
    w->topo = topology_ref(topo);
    w->listen_fds = fds;
    w->rand_state = 2463534242u + id;
    buf_pool_init(&w->bufs, (uint32_t)inst->opt.mbuf_size);
    w->writer.pool = &w->bufs;
    TAILQ_INIT(&w->flushq);
    w->pools = kt_calloc(topo->npools, sizeof(*w->pools));
    w->servers = kt_calloc(topo->nservers ? topo->nservers : 1, sizeof(*w->servers));
    w->pstats = kt_calloc(topo->npools, sizeof(*w->pstats));
    w->sstats = kt_calloc(topo->nservers ? topo->nservers : 1, sizeof(*w->sstats));
    for (uint32_t p = 0; p < topo->npools; p++) {
        const struct pool *pool = &topo->pools[p];

        w->pools[p].ring = pool->ring;
        for (uint32_t s = 0; s < pool->nservers; s++) {
            struct server_rt *srt = &w->servers[pool->servers[s].gidx];

            srt->gidx = pool->servers[s].gidx;
            srt->nconns = pool->cf->server_connections;
            srt->conns = kt_calloc(srt->nconns, sizeof(*srt->conns));
        }
    }
}

static void
worker_main(void *arg)
{
    struct worker *w = arg;

    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int
worker_start(struct worker *w)
{
    int rc;

    rc = uv_loop_init(&w->loop);
    if (rc != 0) {
        return rc;
    }
    w->loop.data = w;
    uv_check_init(&w->loop, &w->flusher);
    uv_check_start(&w->flusher, on_flush);
    for (uint32_t p = 0; p < w->topo->npools; p++) {
        if (w->listen_fds[p] < 0) {
            continue;
        }
        rc = worker_listen(w, p, w->listen_fds[p]);
        if (rc != 0) {
            log_error("pool '%s': listen failed: %s", w->topo->pools[p].name, uv_strerror(rc));
            return rc;
        }
    }
    for (uint32_t p = 0; p < w->topo->npools; p++) {
        const struct pool *pool = &w->topo->pools[p];

        if (!pool->cf->preconnect) {
            continue;
        }
        for (uint32_t s = 0; s < pool->nservers; s++) {
            backend_preconnect(w, pool->servers[s].gidx);
        }
    }
    uv_update_time(&w->loop);
    return uv_thread_create(&w->thread, worker_main, w);
}

static struct server *
worker_server(struct worker *w, uint32_t sgidx, struct pool **pool)
{
    for (uint32_t p = 0; p < w->topo->npools; p++) {
        struct pool *pl = &w->topo->pools[p];

        if (pl->nservers > 0 && sgidx >= pl->servers[0].gidx &&
            sgidx < pl->servers[0].gidx + pl->nservers) {
            *pool = pl;
            return &pl->servers[sgidx - pl->servers[0].gidx];
        }
    }
    return NULL;
}

/* Rebuild pool <p>'s ring from the servers not ejected now (twemproxy: only live servers). */
static void
worker_rebuild_ring(struct worker *w, uint32_t p)
{
    const struct pool *pool = &w->topo->pools[p];
    struct pool_rt *prt = &w->pools[p];
    struct ring_node *nodes = kt_calloc(pool->nservers, sizeof(*nodes));
    uint64_t now = worker_now(w), next = 0;
    uint32_t n = 0;

    for (uint32_t s = 0; s < pool->nservers; s++) {
        struct server_rt *srt = &w->servers[pool->servers[s].gidx];

        if (srt->ejected_until_ms > now) {
            next = next == 0 ? srt->ejected_until_ms : KT_MIN(next, srt->ejected_until_ms);
            continue;
        }
        srt->ejected_until_ms = 0;
        nodes[n].name = pool->servers[s].name;
        nodes[n].name_len = strlen(pool->servers[s].name);
        nodes[n].weight = pool->servers[s].weight;
        nodes[n].id = s;
        n++;
    }
    if (prt->own_ring) {
        ring_free(prt->ring);
    }
    if (n == pool->nservers) {
        prt->ring = pool->ring;
        prt->own_ring = 0;
    } else {
        prt->ring = ring_build((enum ring_dist)pool->cf->distribution, nodes, n);
        prt->own_ring = 1;
    }
    prt->next_rebuild_ms = next;
    kt_free(nodes);
}

uint32_t
worker_route_key(struct worker *w, uint32_t p, const char *key, size_t len)
{
    const struct pool *pool = &w->topo->pools[p];
    struct pool_rt *prt = &w->pools[p];
    uint32_t hash, id;

    if (prt->next_rebuild_ms != 0 && worker_now(w) >= prt->next_rebuild_ms) {
        worker_rebuild_ring(w, p);
    }
    if (pool->cf->distribution == RING_RANDOM) {
        /* xorshift32: the random distribution needs no quality, only spread */
        w->rand_state ^= w->rand_state << 13;
        w->rand_state ^= w->rand_state >> 17;
        w->rand_state ^= w->rand_state << 5;
        hash = w->rand_state;
    } else {
        hash = pool_key_hash(pool, key, len);
    }
    id = ring_lookup(prt->ring, hash);
    if (id == RING_NONE) {
        return UINT32_MAX;
    }
    return pool->servers[id].gidx;
}

void
worker_server_failed(struct worker *w, uint32_t sgidx)
{
    struct server_rt *srt = &w->servers[sgidx];
    struct pool *pool = NULL;
    struct server *srv = worker_server(w, sgidx, &pool);
    const struct conf_pool *cp;

    if (srv == NULL) {
        return;
    }
    cp = pool->cf;
    srt->nfail++;
    if (!cp->auto_eject_hosts || srt->nfail < cp->server_failure_limit ||
        srt->ejected_until_ms != 0) {
        return;
    }
    srt->ejected_until_ms = worker_now(w) + (uint64_t)cp->server_retry_timeout_ms;
    srt->nfail = 0;
    STATS_INC(w->pstats[pool->idx].server_ejects);
    {
        uv_timeval64_t tv;

        uv_gettimeofday(&tv);
        STATS_SET(w->sstats[sgidx].server_ejected_at, tv.tv_sec * 1000000 + tv.tv_usec);
    }
    log_notice("pool '%s': server '%s' ejected for %lld ms after %u failures", pool->name,
               srv->name, (long long)cp->server_retry_timeout_ms, cp->server_failure_limit);
    worker_rebuild_ring(w, pool->idx);
}

void
worker_server_ok(struct worker *w, uint32_t sgidx)
{
    w->servers[sgidx].nfail = 0;
}
