/*
 * zk/zk.h - ketch's ZooKeeper client: watches the membership of the pools
 * that take their servers from ZooKeeper, and registers this proxy under
 * /<root>/proxies with the topology generation it serves.
 *
 * The multi-threaded C client (Debian's libzookeeper-mt; the single-
 * threaded one is not packaged there) runs its own I/O and completion
 * threads. Its watcher only records what happened and wakes the control
 * loop through a uv_async_t; the loop logs session transitions, debounces
 * znode changes, and reads the tree with the synchronous API on libuv's
 * thread pool, so neither the loop nor the client's threads ever block on
 * the other. Every read sets the watches again.
 */
#ifndef KT_ZK_ZK_H
#define KT_ZK_ZK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct conf_zk;
struct membership;

/* What one read of the tree found. */
struct zk_snapshot {
    struct membership *m; /* pools found whole and well formed (owned) */
    char **bad;           /* "pool\tmessage" for pools with a bad payload (owned) */
    size_t nbad;
};

/* A snapshot is ready; the callee takes it. */
typedef void (*zk_snapshot_fn)(void *arg, struct zk_snapshot *snap);

struct zk_watch;

/*
 * Connect to <cf>'s ensemble and watch <npools> pools. Waits up to
 * <wait_ms> for a first snapshot and hands it to <fn> before returning
 * (nothing when ZooKeeper cannot be reached: later snapshots come through
 * the loop). <id> names this proxy under proxies/.
 */
struct zk_watch *zk_watch_start(uv_loop_t *loop, const struct conf_zk *cf, const char *const *pools,
                                size_t npools, const char *id, int wait_ms, zk_snapshot_fn fn,
                                void *arg);
/* The topology generation this proxy now serves (written to its proxies/ node). */
void zk_watch_served(struct zk_watch *z, uint64_t generation);
void zk_snapshot_free(struct zk_snapshot *snap);

#endif
