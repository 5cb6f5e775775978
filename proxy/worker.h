/*
 * proxy/worker.h - one worker thread: its own uv loop, listening sockets
 * (SO_REUSEPORT), client and backend connections, chunk free list, stats
 * shard and per-server health. Nothing here is shared with other threads
 * except the stats shard, which only this worker writes.
 */
#ifndef KT_PROXY_WORKER_H
#define KT_PROXY_WORKER_H

#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "common/buf.h"
#include "proxy/stats.h"

#include "proxy/health.h"
#include "proxy/topology.h"

struct topology;
struct instance;
struct backend;
struct ring;
struct conn;
struct probe;

/* Per-worker state of one server (its health is the topology's, shared). */
struct server_rt {
    uint32_t gidx;          /* server index in the topology */
    struct backend **conns; /* server_connections slots, NULL = not connected */
    uint32_t nconns;
    struct probe *probe; /* this worker marked it TKO and probes it; else NULL */
};

/* Per-worker state of one pool. */
struct pool_rt {
    struct ring *ring; /* ring in use: the topology's, or ours without the TKO servers */
    int own_ring;      /* 1 when ring is ours to free */
    uint32_t gen;      /* the pool's health generation that ring was built for */
};

/* A listening socket of one pool (the set of listening pools is fixed at start). */
struct listener {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    uint32_t pool; /* slot */
};

/*
 * A worker's stats shards as the control thread reads them: replaced whole
 * when a snapshot brings new slots, and the old ones kept (the control
 * thread may be reading them), so that a reader never sees a count and an
 * array that disagree.
 */
struct worker_stats {
    uint32_t npools, nservers;    /* room: every slot below has its shard */
    struct stats_pool *pools;     /* npools (owned) */
    struct stats_server *servers; /* nservers (owned) */
    struct worker_stats *older;   /* replaced ones, freed with the worker */
};

struct worker {
    uint32_t id;
    struct instance *inst; /* (ref) */
    uv_thread_t thread;
    uv_loop_t loop;
    uv_check_t flusher;         /* end of loop turn: write out queued output */
    struct topology *topo;      /* snapshot in use (one ref) */
    struct pool_rt *pools;      /* topo->npools, by slot */
    struct server_rt **servers; /* topo->nservers, by slot; NULL: not in the snapshot */
    uv_async_t wakeup;          /* the control thread published a snapshot */
    uv_mutex_t next_lock;
    struct topology *next;      /* newest snapshot published, not yet taken (one ref) */
    struct listener *listeners; /* nlisteners */
    uint32_t nlisteners;
    struct buf_pool bufs;
    struct buf_writer writer; /* bytes the proxy makes: errors, split requests */
    struct req *req_cache;    /* finished requests kept for reuse, with their span arrays */
    uint32_t nreq_cache;
    TAILQ_HEAD(, conn) flushq; /* conns with output this turn */
    int *listen_fds;           /* per pool: socket made by the main thread, or -1 */
    struct stats_global gstats;
    struct stats_pool *pstats;   /* per pool slot: stats->pools */
    struct stats_server *sstats; /* per server slot: stats->servers */
    struct worker_stats *stats;  /* what the control thread reads (atomic pointer) */
    uint32_t rand_state;         /* random distribution */
};

/* Create worker <id> over <topo> with the listening sockets <fds> (one per pool, -1 = none). */
void worker_init(struct worker *w, struct instance *inst, uint32_t id, struct topology *topo,
                 int *fds);
int worker_start(struct worker *w);
/* Control thread: hand <topo> to <w>, which takes it at its next loop turn (takes a ref). */
void worker_publish(struct worker *w, struct topology *topo);

/* Current loop time in ms. */
static inline uint64_t
worker_now(struct worker *w)
{
    return uv_now(&w->loop);
}

/* worker_route_key() found no server: the pool is empty, or every hop's server is TKO */
#define ROUTE_NONE UINT32_MAX
#define ROUTE_TKO  (UINT32_MAX - 1)

/* The server of pool <pool> itself for <key>, TKO or not, or ROUTE_NONE. */
uint32_t worker_pool_key(struct worker *w, uint32_t pool, const char *key, size_t len);
/* The rest of worker_route_key(): hop <hop>'s server <sgidx> is TKO or there is none. */
uint32_t worker_route_on(struct worker *w, uint32_t pool, uint32_t hop, uint32_t sgidx,
                         const char *key, size_t len);

/*
 * The server for <key> of listening pool <pool>, looking from hop <hop>
 * (below the chain's length) on: the first hop whose server for the key is
 * not TKO. Returns its topology index, or ROUTE_TKO / ROUTE_NONE.
 */
static inline uint32_t
worker_route_key(struct worker *w, uint32_t pool, uint32_t hop, const char *key, size_t len)
{
    uint32_t sgidx = worker_pool_key(w, w->topo->pools[pool].chain[hop], key, len);

    if (sgidx != ROUTE_NONE && !health_is_tko(&w->topo->health[sgidx])) {
        return sgidx; /* the usual case: the first pool asked has a healthy server */
    }
    return worker_route_on(w, pool, hop, sgidx, key, len);
}

/* The hop of listening pool <pool>'s chain that server <sgidx> belongs to. */
uint32_t worker_hop_of(struct worker *w, uint32_t pool, uint32_t sgidx);
/* A request to server <sgidx> failed with <fault> (<why> for the log): health accounting. */
void worker_server_failed(struct worker *w, uint32_t sgidx, enum health_fault fault,
                          const char *why);
/* Server <sgidx> answered a request. */
void worker_server_ok(struct worker *w, uint32_t sgidx);
/* A random number (xorshift32; spread, not secrecy). */
uint32_t worker_rand(struct worker *w);

/* proxy/probe.c: probe TKO server <sgidx> until it answers, then bring it back. */
void probe_start(struct worker *w, uint32_t sgidx);
/* Server <srt> of the pool with health <hp> has left the topology: stop probing it, forget its TKO.
 */
void probe_cancel_rt(struct worker *w, struct server_rt *srt, struct health_pool *hp);

#endif
