/*
 * proxy/topology.h - the immutable, refcounted snapshot of what ketch
 * serves: pools, their servers (addresses resolved) and rings. The control
 * thread builds it from a struct conf; every worker holds a reference and
 * never modifies it - except server health (proxy/health.h), which every
 * worker reads and writes with atomics so that a server found dead by one
 * thread is avoided by all.
 *
 * Pools and servers are numbered by slot, and a slot outlives snapshots:
 * the registry gives the same pool name, and the same server identity
 * (pool, name, address, connection settings), the same slot in every
 * snapshot. Workers key connections, stats and probes by slot, so a server
 * that survives a reload keeps its connections, its counters and its
 * health, and a request in flight across a swap still names the right one.
 * A slot absent from a snapshot has no pool (cf NULL) or no server (NULL).
 */
#ifndef KT_PROXY_TOPOLOGY_H
#define KT_PROXY_TOPOLOGY_H

#include <stdint.h>
#include <sys/socket.h>

#include "hashring/hash.h"
#include "proxy/health.h"

struct conf;
struct conf_pool;
struct kt_err;
struct ring;

struct server {
    uint32_t idx;                 /* index within its pool */
    uint32_t gidx;                /* slot: index of worker arrays, stable across snapshots */
    struct pool *owner;           /* pool it belongs to (ref) */
    const char *name;             /* ketama identity and stats key (ref in conf) */
    const char *addr_text;        /* "host:port" or path, for logs (owned) */
    struct sockaddr_storage addr; /* resolved at build time */
    socklen_t addrlen;
    uint32_t weight;
};

struct pool {
    uint32_t idx;               /* slot, stable across snapshots */
    const char *name;           /* (ref in conf) */
    const struct conf_pool *cf; /* every configured setting (ref in conf) */
    hash_fn hash;               /* key hash */
    struct server *servers;     /* nservers: the ring's, then those only in prev_ring (owned) */
    uint32_t nservers;
    uint32_t nring;                      /* servers[0 .. nring - 1] make up the ring */
    struct ring *ring;                   /* (owned); workers rebuild it on ejection */
    struct ring *prev_ring;              /* an expansion's old ring, or NULL (owned) */
    struct sockaddr_storage listen_addr; /* resolved listen address (TCP) */
    socklen_t listen_addrlen;
    /*
     * Where its keys go, in order: itself then its gutter, or its route's
     * children. A request moves down the chain on an error, a timeout or
     * a TKO server, never on a miss; writes past the first hop have their
     * TTL clamped to gutter_ttl_s.
     */
    uint32_t *chain; /* pool indices (owned) */
    uint32_t nchain;
    uint32_t gutter_ttl_s;
    int eject;                  /* auto_eject_hosts and no gutter: TKO servers leave the ring */
    int expanding;              /* the chain's first pool has a previous ring (proxy/dual.c) */
    int one;                    /* one server and one ring: keys are not hashed */
    struct health_pool *health; /* shared, atomics (the registry's) */
};

/*
 * Distinct servers a process may see in its life. Their health is one
 * array reserved at once (8 MB of address space, only touched pages cost
 * memory), so that it never moves under the workers reading it.
 */
#define REGISTRY_MAX_SERVERS (1u << 20)

/* Slots and the health behind them, kept by the control thread for the process's life. */
struct registry {
    char **pools; /* pool slot -> name (owned) */
    uint32_t npools;
    char **servers; /* server slot -> identity (owned) */
    uint32_t nservers;
    struct health *health;            /* REGISTRY_MAX_SERVERS by slot, never moves (owned) */
    struct health_pool **pool_health; /* by pool slot (owned) */
};

struct topology {
    uint32_t refs;       /* atomic: workers and the control thread */
    uint64_t generation; /* increases with every published snapshot */
    struct conf *conf;   /* the configuration it was built from (owned) */
    struct pool *pools;  /* npools, by slot; cf NULL: not in this snapshot (owned) */
    uint32_t npools;
    uint32_t nservers;       /* server slots */
    struct server **by_gidx; /* nservers: server by slot, NULL when absent (owned) */
    struct health *health;   /* by slot, shared, atomics (the registry's array) */
};

/*
 * Build a topology from <conf>, which it takes ownership of (also on
 * failure), numbering pools and servers through <reg>. Resolves every
 * address (blocking; control thread only). Returns 0 and stores it in
 * <*out>, or a negative errno with messages added to <err>.
 */
int topology_build(struct registry *reg, struct conf *conf, uint64_t generation,
                   struct topology **out, struct kt_err *err);
void registry_free(struct registry *reg);
/* <topo> is about to be published: fit the pools' shared TKO limits to its server lists. */
void topology_activate(struct topology *topo);
struct topology *topology_ref(struct topology *topo);
/* Drop a reference; the last one frees the snapshot. Any thread. */
void topology_unref(struct topology *topo);

/* The server that owns <key> in <pool> on <ring> (the pool's own or a worker's). */
uint32_t pool_key_hash(const struct pool *pool, const char *key, size_t len);

#endif
