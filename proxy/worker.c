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
#include "proxy/health.h"
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
    struct listener *l = server->data;

    if (status < 0) {
        log_warn("worker %u: accept failed: %s", w->id, uv_strerror(status));
        return;
    }
    client_accept(w, server, l->pool, server->type == UV_NAMED_PIPE);
}

static int
worker_listen(struct worker *w, struct listener *l, uint32_t pool, int fd)
{
    const struct conf_pool *cp = w->topo->pools[pool].cf;
    uv_stream_t *s;
    int rc;

    l->pool = pool;
    if (cp->listen.is_unix) {
        uv_pipe_init(&w->loop, &l->u.pipe, 0);
        rc = uv_pipe_open(&l->u.pipe, fd);
    } else {
        uv_tcp_init(&w->loop, &l->u.tcp);
        rc = uv_tcp_open(&l->u.tcp, fd);
    }
    if (rc != 0) {
        return rc;
    }
    s = (uv_stream_t *)&l->u;
    s->data = l;
    return uv_listen(s, cp->backlog, on_listener_connection);
}

/*
 * Make room for the slots of <topo>. Slots are never reused, so the arrays
 * only grow, and they double: the replaced stats copies kept for the
 * reader add up to less than the current ones.
 */
static void
worker_grow(struct worker *w, const struct topology *topo)
{
    struct worker_stats *old = w->stats, *st;
    uint32_t np = old != NULL ? old->npools : 0, ns = old != NULL ? old->nservers : 0;

    if (old != NULL && topo->npools <= np && topo->nservers <= ns) {
        return;
    }
    st = kt_calloc(1, sizeof(*st));
    st->npools = KT_MAX(topo->npools, 2 * np);
    st->nservers = KT_MAX(topo->nservers, 2 * ns);
    w->pools = kt_realloc(w->pools, (st->npools + 1) * sizeof(*w->pools));
    memset(w->pools + np, 0, (st->npools + 1 - np) * sizeof(*w->pools));
    w->servers = kt_realloc(w->servers, (st->nservers + 1) * sizeof(*w->servers));
    memset(w->servers + ns, 0, (st->nservers + 1 - ns) * sizeof(*w->servers));
    st->pools = kt_calloc(st->npools + 1, sizeof(*st->pools));
    st->servers = kt_calloc(st->nservers + 1, sizeof(*st->servers));
    if (old != NULL) {
        memcpy(st->pools, old->pools, np * sizeof(*st->pools));
        memcpy(st->servers, old->servers, ns * sizeof(*st->servers));
    }
    st->older = old;
    w->pstats = st->pools;
    w->sstats = st->servers;
    __atomic_store_n(&w->stats, st, __ATOMIC_RELEASE);
}

/* Per-worker state for the servers of <topo> that have none yet. */
static void
worker_add_servers(struct worker *w, const struct topology *topo, int connect)
{
    for (uint32_t p = 0; p < topo->npools; p++) {
        const struct pool *pool = &topo->pools[p];

        for (uint32_t s = 0; pool->cf != NULL && s < pool->nservers; s++) {
            uint32_t gidx = pool->servers[s].gidx;
            struct server_rt *srt = w->servers[gidx];

            if (srt != NULL) {
                continue;
            }
            srt = kt_calloc(1, sizeof(*srt));
            srt->gidx = gidx;
            srt->nconns = pool->cf->server_connections;
            srt->conns = kt_calloc(srt->nconns, sizeof(*srt->conns));
            w->servers[gidx] = srt;
            if (connect && pool->cf->preconnect) {
                backend_preconnect(w, gidx);
            }
        }
    }
}

/* Forget the rings this worker built for its pools: the next lookup builds them again. */
static void
worker_reset_rings(struct worker *w)
{
    for (uint32_t p = 0; p < w->topo->npools; p++) {
        struct pool_rt *prt = &w->pools[p];

        if (prt->own_ring) {
            ring_free(prt->ring);
        }
        prt->ring = w->topo->pools[p].ring;
        prt->own_ring = 0;
        prt->gen = w->topo->pools[p].cf != NULL ? health_gen(w->topo->pools[p].health) - 1 : 0;
    }
}

/*
 * Take snapshot <topo>: servers that stayed keep their connections; the
 * connections of servers that left are closed, and what was in flight on
 * them is sent again under the new snapshot (it was not answered).
 */
static void
worker_swap(struct worker *w, struct topology *topo)
{
    struct topology *old = w->topo;

    worker_grow(w, topo);
    w->topo = topo;
    worker_reset_rings(w);
    worker_add_servers(w, topo, 1);
    for (uint32_t g = 0; g < old->nservers; g++) {
        struct server_rt *srt = w->servers[g];

        if (srt == NULL || topo->by_gidx[g] != NULL) {
            continue;
        }
        w->servers[g] = NULL;
        probe_cancel_rt(w, srt, old->by_gidx[g]->owner->health);
        for (uint32_t i = 0; i < srt->nconns; i++) {
            if (srt->conns[i] != NULL) {
                backend_retire(srt->conns[i]);
            }
        }
        kt_free(srt->conns);
        kt_free(srt);
    }
    log_debug(LOG_VERB, "worker %u: serving topology %llu", w->id,
              (unsigned long long)topo->generation);
    topology_unref(old);
}

static void
on_wakeup(uv_async_t *handle)
{
    struct worker *w = KT_CONTAINER_OF(handle, struct worker, wakeup);
    struct topology *topo;

    uv_mutex_lock(&w->next_lock);
    topo = w->next;
    w->next = NULL;
    uv_mutex_unlock(&w->next_lock);
    if (topo != NULL) {
        worker_swap(w, topo);
    }
}

void
worker_publish(struct worker *w, struct topology *topo)
{
    struct topology *skipped;

    uv_mutex_lock(&w->next_lock);
    skipped = w->next;
    w->next = topology_ref(topo);
    uv_mutex_unlock(&w->next_lock);
    if (skipped != NULL) {
        topology_unref(skipped); /* superseded before the worker took it */
    }
    uv_async_send(&w->wakeup);
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
    uv_mutex_init(&w->next_lock);
    worker_grow(w, topo);
    worker_reset_rings(w);
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
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->listeners = kt_calloc(w->topo->npools + 1, sizeof(*w->listeners));
    for (uint32_t p = 0; p < w->topo->npools; p++) {
        if (w->listen_fds[p] < 0) {
            continue;
        }
        rc = worker_listen(w, &w->listeners[w->nlisteners++], p, w->listen_fds[p]);
        if (rc != 0) {
            log_error("pool '%s': listen failed: %s", w->topo->pools[p].name, uv_strerror(rc));
            return rc;
        }
    }
    worker_add_servers(w, w->topo, 1);
    uv_update_time(&w->loop);
    return uv_thread_create(&w->thread, worker_main, w);
}

/* Rebuild pool <p>'s ring from its servers that are not TKO (twemproxy: only live servers). */
static void
worker_rebuild_ring(struct worker *w, uint32_t p, uint32_t gen)
{
    const struct pool *pool = &w->topo->pools[p];
    struct pool_rt *prt = &w->pools[p];
    struct ring_node *nodes = kt_calloc(pool->nring ? pool->nring : 1, sizeof(*nodes));
    uint32_t n = 0;

    for (uint32_t s = 0; s < pool->nring; s++) {
        if (health_is_tko(&w->topo->health[pool->servers[s].gidx])) {
            continue;
        }
        nodes[n].name = pool->servers[s].name;
        nodes[n].name_len = strlen(pool->servers[s].name);
        nodes[n].weight = pool->servers[s].weight;
        nodes[n].id = s;
        n++;
    }
    if (prt->own_ring) {
        ring_free(prt->ring);
    }
    if (n == pool->nring) {
        prt->ring = pool->ring;
        prt->own_ring = 0;
    } else {
        prt->ring = ring_build((enum ring_dist)pool->cf->distribution, nodes, n);
        prt->own_ring = 1;
    }
    prt->gen = gen;
    kt_free(nodes);
}

uint32_t
worker_rand(struct worker *w)
{
    w->rand_state ^= w->rand_state << 13;
    w->rand_state ^= w->rand_state >> 17;
    w->rand_state ^= w->rand_state << 5;
    return w->rand_state;
}

uint32_t
worker_pool_key(struct worker *w, uint32_t p, const char *key, size_t len)
{
    const struct pool *pool = &w->topo->pools[p];
    struct pool_rt *prt = &w->pools[p];
    uint32_t hash, id;

    if (pool->eject) {
        uint32_t gen = health_gen(pool->health);

        if (gen != prt->gen) {
            worker_rebuild_ring(w, p, gen);
        }
    }
    if (pool->cf->distribution == RING_RANDOM) {
        hash = worker_rand(w);
    } else {
        hash = pool_key_hash(pool, key, len);
    }
    id = ring_lookup(prt->ring, hash);
    return id == RING_NONE ? ROUTE_NONE : pool->servers[id].gidx;
}

uint32_t
worker_route_on(struct worker *w, uint32_t p, uint32_t hop, uint32_t sgidx, const char *key,
                size_t len)
{
    const struct pool *lp = &w->topo->pools[p];
    int tko = sgidx != ROUTE_NONE;

    while (++hop < lp->nchain) {
        sgidx = worker_pool_key(w, lp->chain[hop], key, len);
        if (sgidx == ROUTE_NONE) {
            continue;
        }
        if (!health_is_tko(&w->topo->health[sgidx])) {
            return sgidx;
        }
        tko = 1;
    }
    return tko ? ROUTE_TKO : ROUTE_NONE;
}

uint32_t
worker_hop_of(struct worker *w, uint32_t p, uint32_t sgidx)
{
    const struct pool *lp = &w->topo->pools[p];
    uint32_t owner = w->topo->by_gidx[sgidx]->owner->idx, hop = 0;

    while (hop < lp->nchain - 1 && lp->chain[hop] != owner) {
        hop++;
    }
    return hop;
}

void
worker_server_failed(struct worker *w, uint32_t sgidx, enum health_fault fault, const char *why)
{
    const struct server *srv = w->topo->by_gidx[sgidx];
    struct pool *pool = srv->owner;
    const struct conf_pool *cp = pool->cf;
    uv_timeval64_t tv;

    switch (health_failed(&w->topo->health[sgidx], pool->health, fault, cp->server_failure_limit)) {
    case HEALTH_MARKED:
        STATS_INC(w->pstats[pool->idx].server_tkos);
        if (pool->eject) {
            STATS_INC(w->pstats[pool->idx].server_ejects); /* nutcracker's: it left the ring */
        }
        uv_gettimeofday(&tv);
        STATS_SET(w->sstats[sgidx].server_ejected_at, tv.tv_sec * 1000000 + tv.tv_usec);
        log_warn("pool '%s': server '%s' (%s) is TKO (%s: %s); first probe in %lld ms", pool->name,
                 srv->name, srv->addr_text, fault == HEALTH_FAULT_HARD ? "hard" : "soft", why,
                 (long long)cp->server_retry_timeout_ms);
        probe_start(w, sgidx);
        break;
    case HEALTH_FAIL_OPEN_ENTERED:
        log_warn("pool '%s': server '%s' (%s) is failing (%s) but %u of %u servers are TKO "
                 "already (max_tko_share %g): failing open, it keeps its traffic",
                 pool->name, srv->name, srv->addr_text, why, pool->health->max_tko, pool->nservers,
                 cp->max_tko_share);
        STATS_INC(w->pstats[pool->idx].fail_open);
        break;
    case HEALTH_FAIL_OPEN:
        STATS_INC(w->pstats[pool->idx].fail_open);
        break;
    default:
        break;
    }
}

void
worker_server_ok(struct worker *w, uint32_t sgidx)
{
    health_answered(&w->topo->health[sgidx]);
}
