/*
 * proxy/stats.h - nutcracker's counters, field for field. Each worker owns
 * its shard and is the only writer (relaxed stores, no locks); the control
 * thread sums the shards when the stats port is read and renders
 * nutcracker's JSON, adding each pool's and server's TKO state (server_tko),
 * read from the shared health.
 */
#ifndef KT_PROXY_STATS_H
#define KT_PROXY_STATS_H

#include <stddef.h>
#include <stdint.h>

/* X(field, kind) - nutcracker's src/nc_stats.h order, then ketch's own */
#define STATS_POOL_LIST(X)                                                                         \
    X(client_eof, COUNTER)                                                                         \
    X(client_err, COUNTER)                                                                         \
    X(client_connections, GAUGE)                                                                   \
    X(server_ejects, COUNTER)                                                                      \
    X(forward_error, COUNTER)                                                                      \
    X(fragments, COUNTER)                                                                          \
    X(server_tkos, COUNTER)                                                                        \
    X(gutter_requests, COUNTER)                                                                    \
    X(tko_fail_fast, COUNTER)                                                                      \
    X(fail_open, COUNTER)

#define STATS_SERVER_LIST(X)                                                                       \
    X(server_eof, COUNTER)                                                                         \
    X(server_err, COUNTER)                                                                         \
    X(server_timedout, COUNTER)                                                                    \
    X(server_connections, GAUGE)                                                                   \
    X(server_ejected_at, TIMESTAMP)                                                                \
    X(requests, COUNTER)                                                                           \
    X(request_bytes, COUNTER)                                                                      \
    X(responses, COUNTER)                                                                          \
    X(response_bytes, COUNTER)                                                                     \
    X(in_queue, GAUGE)                                                                             \
    X(in_queue_bytes, GAUGE)                                                                       \
    X(out_queue, GAUGE)                                                                            \
    X(out_queue_bytes, GAUGE)                                                                      \
    X(probes, COUNTER)                                                                             \
    X(probe_failures, COUNTER)

struct stats_pool {
#define STATS_FIELD(name, kind) int64_t name;
    STATS_POOL_LIST(STATS_FIELD)
};

struct stats_server {
    STATS_SERVER_LIST(STATS_FIELD)
#undef STATS_FIELD
};

/* Process-wide connection counters kept by each worker. */
struct stats_global {
    int64_t total_connections; /* client connections accepted */
    int64_t curr_connections;  /* client connections open */
};

/* Single-writer update: a plain load and store the reader may see torn-free. */
#define STATS_ADD(field, n)                                                                        \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define STATS_INC(field)    STATS_ADD(field, 1)
#define STATS_DEC(field)    STATS_ADD(field, -1)
#define STATS_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define STATS_GET(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct instance;

/*
 * Render nutcracker's stats JSON for <inst>, summing every worker's shard,
 * into a newly allocated string stored in <*out> (caller frees with
 * kt_free). Returns its length. Control thread.
 */
size_t stats_render(struct instance *inst, char **out);

/* Print the description of every counter (-D). */
void stats_describe(void);

#endif
