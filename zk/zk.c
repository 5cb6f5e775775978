/*
 * zk/zk.c - the ZooKeeper client driven from the control loop (see zk.h
 * for why the multi-threaded client and how its events reach the loop).
 *
 *   watcher (client thread) --flags + uv_async--> on_async (loop)
 *     session event: log the transition once; expired: a new handle
 *     znode event: debounce timer --> read on the thread pool
 *       --> after_read (loop): the snapshot to the callback
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* the synchronous API of the multi-threaded client */
#define THREADED
#include <zookeeper/zookeeper.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "zk/membership.h"
#include "zk/zk.h"

/* Largest znode payload read (ZooKeeper's own limit is 1 MB). */
#define ZK_DATA_MAX (1024 * 1024)

enum zk_seen { ZK_SEEN_NONE, ZK_SEEN_UP, ZK_SEEN_DOWN, ZK_SEEN_EXPIRED };

struct zk_watch {
    uv_loop_t *loop;
    uv_async_t async;
    uv_timer_t debounce;
    uv_work_t work;
    zhandle_t *zh;
    char *hosts, *root, *id;
    int session_ms, debounce_ms;
    char **pools; /* npools names (owned) */
    size_t npools;
    zk_snapshot_fn fn;
    void *arg;
    /* written by the client's thread, under lock */
    uv_mutex_t lock;
    int state;         /* last session state reported */
    int state_changed; /* a session event came */
    int nodes_changed; /* a watch fired */
    /* the loop's */
    enum zk_seen seen;         /* what was last logged */
    int reading;               /* a read is on the thread pool */
    int again;                 /* something changed during it */
    int expired;               /* replace the handle once the read is back */
    int registered;            /* proxies/<id> exists for this session */
    uint64_t served;           /* generation served */
    uint32_t session;          /* session events seen: a read's registration counts for its own */
    struct zk_snapshot result; /* of the read in flight */
    int read_rc;               /* its ZooKeeper error, ZOK when whole */
    int read_register;         /* it is to register proxies/<id>, with read_gen */
    int read_registered;       /* it did */
    uint64_t read_gen;
    uint32_t read_session; /* z->session when it started */
    int read_stale;        /* a server znode vanished during it */
    char *buf;             /* ZK_DATA_MAX bytes for payloads (owned) */
};

static void zk_read_start(struct zk_watch *z);

static FILE *zk_quiet; /* where the client library's own log goes */

static void
zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk_watch *z = ctx;

    (void)zh;
    (void)path;
    uv_mutex_lock(&z->lock);
    if (type == ZOO_SESSION_EVENT) {
        z->state = state;
        z->state_changed = 1;
    } else {
        z->nodes_changed = 1;
    }
    uv_mutex_unlock(&z->lock);
    uv_async_send(&z->async);
}

static int
zk_connect(struct zk_watch *z)
{
    z->registered = 0;
    z->zh = zookeeper_init(z->hosts, zk_watcher, z->session_ms, NULL, z, 0);
    if (z->zh == NULL) {
        log_error("zookeeper: cannot start a client for '%s': %s", z->hosts, strerror(errno));
        return -1;
    }
    return 0;
}

static int
zk_lost(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
           rc == ZINVALIDSTATE || rc == ZCLOSING || rc == ZSESSIONMOVED;
}

/* Create <path> with <data> (ZNODEEXISTS is fine). */
static int
zk_ensure(struct zk_watch *z, const char *path, const char *data, int mode)
{
    int rc = zoo_create(z->zh, path, data, data != NULL ? (int)strlen(data) : -1,
                        &ZOO_OPEN_ACL_UNSAFE, mode, NULL, 0);

    return rc == ZNODEEXISTS ? ZOK : rc;
}

/* proxies/<id>, ephemeral, holding the generation served. Thread pool. */
static int
zk_register(struct zk_watch *z)
{
    char path[1024], gen[32], *p;
    struct Stat st;
    int rc;

    snprintf(path, sizeof(path), "%s/proxies/%s", z->root, z->id);
    /* the parents, one level at a time */
    for (p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        rc = zk_ensure(z, path, NULL, 0);
        *p = '/';
        if (rc != ZOK) {
            return rc;
        }
    }
    snprintf(gen, sizeof(gen), "%llu", (unsigned long long)z->read_gen);
    rc = zoo_exists(z->zh, path, 0, &st);
    if (rc == ZOK && st.ephemeralOwner != zoo_client_id(z->zh)->client_id) {
        /* left by a session of ours that expired: it would vanish under us */
        rc = zoo_delete(z->zh, path, -1);
        if (rc != ZOK && rc != ZNONODE) {
            return rc;
        }
        rc = ZNONODE; /* gone now: ours is created below */
    }
    if (rc == ZNONODE) {
        rc = zk_ensure(z, path, gen, ZOO_EPHEMERAL);
    } else if (rc == ZOK) {
        rc = zoo_set(z->zh, path, gen, (int)strlen(gen), -1);
    }
    return rc;
}

/* Read one pool; ZOK with *found 0 when it is not in ZooKeeper. Thread pool. */
static int
zk_read_pool(struct zk_watch *z, const char *pool, struct mpool *mp, struct kt_err *err)
{
    struct String_vector kids = {0, NULL};
    char path[1024], what[1200];
    struct Stat st;
    int rc, len, up;

    snprintf(path, sizeof(path), "%s/pools/%s/servers", z->root, pool);
    rc = zoo_exists(z->zh, path, 1, &st);
    if (rc != ZOK) {
        return rc;
    }
    rc = zoo_get_children(z->zh, path, 1, &kids);
    if (rc != ZOK) {
        return rc;
    }
    mp->name = kt_strdup(pool);
    mp->servers = kt_calloc((size_t)kids.count + 1, sizeof(*mp->servers));
    for (int i = 0; i < kids.count && rc == ZOK; i++) {
        snprintf(path, sizeof(path), "%s/pools/%s/servers/%s", z->root, pool, kids.data[i]);
        snprintf(what, sizeof(what), "%s", path);
        len = ZK_DATA_MAX;
        rc = zoo_get(z->zh, path, 1, z->buf, &len, &st);
        if (rc == ZNONODE) {
            /* removed since the list was read: this read saw half a change, read again */
            z->read_stale = 1;
            rc = ZOK;
            continue;
        }
        if (rc == ZOK && membership_server_decode(what, kids.data[i], z->buf, len < 0 ? 0 : len,
                                                  &mp->servers[mp->nservers], &up, err) == 0) {
            if (up) {
                mp->nservers++;
            } else {
                conf_server_clear(&mp->servers[mp->nservers]); /* draining...: out of the ring */
            }
        }
    }
    deallocate_String_vector(&kids);
    if (rc != ZOK) {
        return rc;
    }
    snprintf(path, sizeof(path), "%s/pools/%s/previous", z->root, pool);
    rc = zoo_exists(z->zh, path, 1, &st);
    if (rc == ZOK) {
        len = ZK_DATA_MAX;
        rc = zoo_get(z->zh, path, 1, z->buf, &len, &st);
        if (rc == ZOK) {
            mp->has_prev = 1;
            membership_prev_decode(path, z->buf, len < 0 ? 0 : len, &mp->prev, &mp->nprev, err);
        }
    }
    return rc == ZNONODE ? ZOK : rc;
}

static void
zk_read(uv_work_t *work)
{
    struct zk_watch *z = work->data;
    struct zk_snapshot *snap = &z->result;

    memset(snap, 0, sizeof(*snap));
    snap->m = kt_calloc(1, sizeof(*snap->m));
    z->read_rc = ZOK;
    z->read_stale = 0;
    z->read_registered = 0;
    if (z->read_register) {
        z->read_rc = zk_register(z);
        z->read_registered = z->read_rc == ZOK;
    }
    for (size_t i = 0; i < z->npools && !zk_lost(z->read_rc); i++) {
        struct kt_err err = {0};
        struct mpool mp = {0};
        int rc = zk_read_pool(z, z->pools[i], &mp, &err);

        if (rc == ZNONODE) {
            mpool_clear(&mp); /* not in ZooKeeper: the file's servers stand */
        } else if (rc != ZOK) {
            z->read_rc = rc;
            mpool_clear(&mp);
        } else if (err.nmsgs > 0) {
            char line[2048];

            snprintf(line, sizeof(line), "%s\t%s", z->pools[i], err.msgs[0]);
            snap->bad = kt_realloc(snap->bad, (snap->nbad + 1) * sizeof(*snap->bad));
            snap->bad[snap->nbad++] = kt_strdup(line);
            mpool_clear(&mp);
        } else {
            membership_put(snap->m, &mp);
        }
        kt_err_clear(&err);
    }
}

void
zk_snapshot_free(struct zk_snapshot *snap)
{
    membership_free(snap->m);
    for (size_t i = 0; i < snap->nbad; i++) {
        kt_free(snap->bad[i]);
    }
    kt_free(snap->bad);
    memset(snap, 0, sizeof(*snap));
}

/* The handle's session is gone for good: a new one (the watches come with the first read). */
static void
zk_renew(struct zk_watch *z)
{
    z->expired = 0;
    zookeeper_close(z->zh);
    z->zh = NULL;
    zk_connect(z);
}

static void
after_read(uv_work_t *work, int status)
{
    struct zk_watch *z = work->data;
    struct zk_snapshot snap = z->result;

    (void)status;
    z->reading = 0;
    memset(&z->result, 0, sizeof(z->result));
    if (z->read_registered && z->read_session == z->session) {
        z->registered = 1;
        if (z->read_gen != z->served) {
            zk_watch_served(z, z->served); /* published while it registered */
        }
    }
    if (zk_lost(z->read_rc)) {
        log_info("zookeeper: read of the tree failed: %s; keeping the last good membership",
                 zerror(z->read_rc));
        zk_snapshot_free(&snap);
    } else if (z->read_stale) {
        zk_snapshot_free(&snap); /* a change landed during the read: never apply half of it */
        z->again = 1;
    } else {
        if (z->read_rc != ZOK) {
            log_warn("zookeeper: %s", zerror(z->read_rc));
        }
        z->fn(z->arg, &snap);
    }
    if (z->expired) {
        zk_renew(z);
        return;
    }
    if (z->again) {
        z->again = 0;
        zk_read_start(z);
    }
}

/* What a read needs from the loop, copied so that the thread pool reads nothing shared. */
static void
zk_read_prepare(struct zk_watch *z)
{
    z->reading = 1;
    z->work.data = z;
    z->read_register = !z->registered;
    z->read_gen = z->served;
    z->read_session = z->session;
}

static void
zk_read_start(struct zk_watch *z)
{
    if (z->reading) {
        z->again = 1;
        return;
    }
    if (z->zh == NULL || zoo_state(z->zh) != ZOO_CONNECTED_STATE) {
        return; /* the next connection event reads */
    }
    zk_read_prepare(z);
    uv_queue_work(z->loop, &z->work, zk_read, after_read);
}

static void
on_debounce(uv_timer_t *timer)
{
    zk_read_start(timer->data);
}

static void
zk_session_event(struct zk_watch *z, int state)
{
    if (state == ZOO_CONNECTED_STATE) {
        if (z->seen != ZK_SEEN_UP) {
            log_notice("zookeeper: %s %s", z->seen == ZK_SEEN_NONE ? "connected to" : "back at",
                       z->hosts);
        }
        z->seen = ZK_SEEN_UP;
        z->registered = 0; /* proxies/<id> again: the session may be new */
        zk_read_start(z);
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
        if (z->seen != ZK_SEEN_EXPIRED) {
            log_warn("zookeeper: session expired; serving the last good membership, "
                     "starting a new session");
        }
        z->seen = ZK_SEEN_EXPIRED;
        if (z->reading) {
            z->expired = 1;
        } else {
            zk_renew(z);
        }
    } else if (z->seen == ZK_SEEN_UP || z->seen == ZK_SEEN_NONE) {
        log_warn("zookeeper: connection to %s lost; serving the last good membership", z->hosts);
        z->seen = ZK_SEEN_DOWN;
    }
}

static void
on_async(uv_async_t *handle)
{
    struct zk_watch *z = handle->data;
    int state, state_changed, nodes_changed;

    uv_mutex_lock(&z->lock);
    state = z->state;
    state_changed = z->state_changed;
    nodes_changed = z->nodes_changed;
    z->state_changed = z->nodes_changed = 0;
    uv_mutex_unlock(&z->lock);
    if (state_changed) {
        z->session++;
        zk_session_event(z, state);
    }
    if (nodes_changed && !uv_is_active((uv_handle_t *)&z->debounce)) {
        uv_timer_start(&z->debounce, on_debounce, (uint64_t)z->debounce_ms, 0);
    }
}

static void
on_served_set(int rc, const struct Stat *stat, const void *data)
{
    (void)rc;
    (void)stat;
    (void)data;
}

void
zk_watch_served(struct zk_watch *z, uint64_t generation)
{
    char path[1024], gen[32];

    z->served = generation;
    if (z->zh == NULL || !z->registered) {
        return; /* the next registration writes it */
    }
    snprintf(path, sizeof(path), "%s/proxies/%s", z->root, z->id);
    snprintf(gen, sizeof(gen), "%llu", (unsigned long long)generation);
    zoo_aset(z->zh, path, gen, (int)strlen(gen), -1, on_served_set, NULL);
}

struct zk_watch *
zk_watch_start(uv_loop_t *loop, const struct conf_zk *cf, const char *const *pools, size_t npools,
               const char *id, int wait_ms, zk_snapshot_fn fn, void *arg)
{
    struct zk_watch *z = kt_calloc(1, sizeof(*z));

    z->loop = loop;
    z->hosts = kt_strdup(cf->hosts);
    z->root = kt_strdup(strcmp(cf->root, "/") == 0 ? "" : cf->root);
    z->id = kt_strdup(id);
    z->session_ms = cf->session_timeout_ms;
    z->debounce_ms = cf->debounce_ms;
    z->pools = kt_calloc(npools + 1, sizeof(*z->pools));
    for (size_t i = 0; i < npools; i++) {
        z->pools[i] = kt_strdup(pools[i]);
    }
    z->npools = npools;
    z->fn = fn;
    z->arg = arg;
    z->buf = kt_malloc(ZK_DATA_MAX);
    uv_mutex_init(&z->lock);
    uv_async_init(loop, &z->async, on_async);
    z->async.data = z;
    uv_timer_init(loop, &z->debounce);
    z->debounce.data = z;
    /* the client library logs every failed connection attempt; ketch logs each transition once */
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    if (zk_quiet == NULL) {
        zk_quiet = fopen("/dev/null", "w");
    }
    if (zk_quiet != NULL) {
        zoo_set_log_stream(zk_quiet);
    }
    if (zk_connect(z) != 0) {
        return z;
    }
    /* a first snapshot before serving, so that keys go where ZooKeeper says from the start */
    for (int waited = 0; waited < wait_ms && zoo_state(z->zh) != ZOO_CONNECTED_STATE;
         waited += 10) {
        usleep(10000);
    }
    if (zoo_state(z->zh) != ZOO_CONNECTED_STATE) {
        log_warn("zookeeper: %s not reachable within %d ms; serving the %s until it is", z->hosts,
                 wait_ms, "cached or configured membership");
        z->seen = ZK_SEEN_DOWN;
        return z;
    }
    zk_read_prepare(z);
    zk_read(&z->work);
    after_read(&z->work, 0);
    return z;
}
