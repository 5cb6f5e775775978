/*
 * proxy/control.c - the control thread's side of a topology change: build
 * a new snapshot from the config file's text and the membership ZooKeeper
 * gave, check it may replace the running one, and publish it to every
 * worker. Three things lead here: SIGUSR1, a change of the config file,
 * and a membership change. A file that does not load is rejected whole;
 * the running snapshot keeps serving.
 *
 *   file text (last good) --conf_load_buf--> conf
 *     + membership (zk pools: servers, previous) --> conf'
 *     --topology_build--> snapshot --worker_publish--> workers
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "proxy/instance.h"
#include "proxy/topology.h"
#include "proxy/worker.h"
#include "zk/membership.h"
#include "zk/zk.h"

/* How often the config file is looked at for a change (ms). */
#define CONTROL_WATCH_MS 1000

/* Copy <n> servers (a conf owns its copy). */
static struct conf_server *
servers_dup(const struct conf_server *src, size_t n)
{
    struct conf_server *dst = kt_calloc(n + 1, sizeof(*dst));

    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        dst[i].addr.host = kt_strdup(src[i].addr.host);
        dst[i].name = kt_strdup(src[i].name);
        dst[i].text = kt_strdup(src[i].text);
    }
    return dst;
}

/* Pools that take their servers from ZooKeeper get the membership's, when it has them. */
static void
control_overlay(struct conf *conf, const struct membership *m)
{
    for (size_t i = 0; m != NULL && i < conf->npools; i++) {
        struct conf_pool *cp = &conf->pools[i];
        const struct mpool *mp;

        if (cp->servers_from != CONF_FROM_ZOOKEEPER ||
            (mp = membership_find(m, cp->name)) == NULL) {
            continue;
        }
        conf_servers_free(cp->servers, cp->nservers);
        conf_servers_free(cp->prev_servers, cp->nprev);
        cp->servers = servers_dup(mp->servers, mp->nservers);
        cp->nservers = mp->nservers;
        cp->prev_servers = mp->has_prev ? servers_dup(mp->prev, mp->nprev) : NULL;
        cp->nprev = mp->has_prev ? mp->nprev : 0;
    }
}

/* A reload may not change what ketch listens on: its sockets were made at start. */
static int
control_same_listeners(const struct topology *cur, const struct conf *conf, struct kt_err *err)
{
    size_t nlisten = 0, ncur = 0;

    for (size_t i = 0; i < conf->npools; i++) {
        const struct conf_pool *cp = &conf->pools[i];
        const struct conf_pool *old;

        if (!cp->has_listen) {
            continue;
        }
        nlisten++;
        old = conf_pool_find(cur->conf, cp->name);
        if (old == NULL || !old->has_listen || strcmp(old->listen.host, cp->listen.host) != 0 ||
            old->listen.port != cp->listen.port || old->redis != cp->redis) {
            kt_err_add(err, "pool '%s': a new listener or protocol needs a restart", cp->name);
            return -1;
        }
    }
    for (uint32_t p = 0; p < cur->npools; p++) {
        ncur += cur->pools[p].cf != NULL && cur->pools[p].cf->has_listen;
    }
    if (ncur != nlisten) {
        kt_err_add(err, "a listening pool was removed: that needs a restart");
        return -1;
    }
    return 0;
}

static int
str_same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Nor where ZooKeeper is, or which pools follow it: the watch was set up at start. */
static int
control_same_zk(const struct conf *boot, const struct conf *conf, struct kt_err *err)
{
    if (!str_same(boot->ketch.zk.hosts, conf->ketch.zk.hosts) ||
        !str_same(boot->ketch.zk.root, conf->ketch.zk.root)) {
        kt_err_add(err, "changed zookeeper hosts or root: that needs a restart");
        return -1;
    }
    for (size_t i = 0; i < conf->npools; i++) {
        const struct conf_pool *cp = &conf->pools[i], *old = conf_pool_find(boot, cp->name);

        if (cp->servers_from != (old != NULL ? old->servers_from : CONF_FROM_FILE)) {
            kt_err_add(err, "pool '%s': a change of servers_from needs a restart", cp->name);
            return -1;
        }
    }
    return 0;
}

static void
control_log_errors(const char *what, struct kt_err *err)
{
    for (size_t i = 0; i < err->nmsgs; i++) {
        log_error("%s: %s", what, err->msgs[i]);
    }
    kt_err_clear(err);
}

int
control_rebuild(struct instance *inst, const char *why)
{
    struct kt_err err = {0};
    struct conf *conf;
    struct topology *topo;

    if (conf_load_buf(inst->opt.conf_file, inst->conf_text, inst->conf_len, &conf, &err) != 0) {
        control_log_errors(why, &err);
        return -1;
    }
    control_overlay(conf, inst->membership);
    if (inst->topo != NULL && (control_same_listeners(inst->topo, conf, &err) != 0 ||
                               control_same_zk(inst->boot_conf, conf, &err) != 0)) {
        conf_free(conf);
        control_log_errors(why, &err);
        return -1;
    }
    if (topology_build(&inst->reg, conf, inst->generation + 1, &topo, &err) != 0) {
        control_log_errors(why, &err);
        return -1;
    }
    inst->generation++;
    topology_activate(topo);
    if (inst->topo != NULL) {
        for (uint32_t w = 0; w < inst->nworkers; w++) {
            worker_publish(&inst->workers[w], topo);
        }
        topology_unref(inst->topo);
        log_notice("%s: serving topology %llu", why, (unsigned long long)inst->generation);
    }
    inst->topo = topo;
    if (inst->zk != NULL) {
        zk_watch_served(inst->zk, inst->generation);
    }
    return 0;
}

/* Write the membership to the cache file: a restart while ZooKeeper is down serves it. */
static void
control_save_membership(struct instance *inst)
{
    char tmp[1100], *text;
    FILE *f;
    int ok;

    if (inst->cache_file == NULL || inst->membership == NULL) {
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", inst->cache_file);
    text = membership_encode(inst->membership);
    f = fopen(tmp, "w");
    ok = f != NULL && fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    if (!ok || rename(tmp, inst->cache_file) != 0) {
        if (!inst->cache_failed) {
            log_warn("zookeeper: cannot write the membership cache '%s': %s", inst->cache_file,
                     strerror(errno));
        }
        inst->cache_failed = 1;
    } else {
        inst->cache_failed = 0;
    }
    kt_free(text);
}

void
control_load_membership(struct instance *inst)
{
    struct kt_err err = {0};
    char *text;
    size_t len;

    if (inst->cache_file == NULL || access(inst->cache_file, R_OK) != 0) {
        return;
    }
    if (conf_read_file(inst->cache_file, &text, &len, &err) != 0 ||
        membership_decode(inst->cache_file, text, len, &inst->membership, &err) != 0) {
        control_log_errors("zookeeper: membership cache ignored", &err);
    } else {
        log_notice("zookeeper: starting from the membership cached in '%s'", inst->cache_file);
    }
    kt_free(text);
}

/*
 * Whether pool <cp> may take <next>: a snapshot that would take more than
 * max_removal_share of its ring away at once is refused (a half-written
 * tree or a bad script must not empty a pool). The first snapshot after a
 * start from the file's bootstrap list is not held to it.
 */
static int
control_removal_ok(struct instance *inst, const struct conf_pool *cp, const struct mpool *next)
{
    const struct mpool *cur = membership_find(inst->membership, cp->name);
    size_t gone;

    if (cur == NULL || cur->nservers == 0) {
        return 1;
    }
    gone = membership_removed(cur, next);
    if ((double)gone <= cp->max_removal_share * (double)cur->nservers) {
        return 1;
    }
    log_warn("zookeeper: pool '%s': refusing a snapshot that removes %zu of its %zu servers at "
             "once (max_removal_share %g); still serving the last good membership",
             cp->name, gone, cur->nservers, cp->max_removal_share);
    return 0;
}

/* <mp>'s copy, for a membership of our own. */
static void
mpool_copy(struct mpool *dst, const struct mpool *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->name = kt_strdup(src->name);
    dst->servers = servers_dup(src->servers, src->nservers);
    dst->nservers = src->nservers;
    dst->prev = servers_dup(src->prev, src->nprev);
    dst->nprev = src->nprev;
    dst->has_prev = src->has_prev;
}

/* Whether pool <name> had a bad payload in <snap>; logs it once per distinct message. */
static int
control_bad(struct instance *inst, const struct zk_snapshot *snap, const char *name)
{
    size_t nlen = strlen(name);

    for (size_t i = 0; i < snap->nbad; i++) {
        if (strncmp(snap->bad[i], name, nlen) != 0 || snap->bad[i][nlen] != '\t') {
            continue;
        }
        if (inst->last_bad == NULL || strcmp(inst->last_bad, snap->bad[i]) != 0) {
            log_warn("zookeeper: pool '%s': bad payload, keeping the last good membership: %s",
                     name, snap->bad[i] + nlen + 1);
            kt_free(inst->last_bad);
            inst->last_bad = kt_strdup(snap->bad[i]);
        }
        return 1;
    }
    return 0;
}

void
control_on_snapshot(void *arg, struct zk_snapshot *snap)
{
    struct instance *inst = arg;
    const struct conf *conf = inst->topo != NULL ? inst->topo->conf : inst->boot_conf;
    struct membership *next = kt_calloc(1, sizeof(*next));
    char *before, *after;

    for (size_t i = 0; inst->membership != NULL && i < inst->membership->npools; i++) {
        struct mpool mp;

        mpool_copy(&mp, &inst->membership->pools[i]);
        membership_put(next, &mp);
    }
    for (size_t i = 0; i < conf->npools; i++) {
        const struct conf_pool *cp = &conf->pools[i];
        const struct mpool *mp;

        struct mpool copy;

        if (cp->servers_from != CONF_FROM_ZOOKEEPER || control_bad(inst, snap, cp->name) ||
            (mp = membership_find(snap->m, cp->name)) == NULL ||
            !control_removal_ok(inst, cp, mp)) {
            continue;
        }
        mpool_copy(&copy, mp);
        membership_put(next, &copy);
    }
    zk_snapshot_free(snap);
    before = inst->membership != NULL ? membership_encode(inst->membership) : kt_strdup("");
    after = membership_encode(next);
    if (strcmp(before, after) == 0) {
        membership_free(next);
    } else {
        struct membership *old = inst->membership;

        inst->membership = next;
        if (inst->topo == NULL || control_rebuild(inst, "zookeeper: membership changed") == 0) {
            membership_free(old);
            control_save_membership(inst);
        } else {
            inst->membership = old;
            membership_free(next);
        }
    }
    kt_free(before);
    kt_free(after);
}

void
control_reload(struct instance *inst, const char *why)
{
    struct kt_err err = {0};
    char *text, *old_text;
    size_t len, old_len;

    if (conf_read_file(inst->opt.conf_file, &text, &len, &err) != 0) {
        control_log_errors(why, &err);
        return;
    }
    if (len == inst->conf_len && memcmp(text, inst->conf_text, len) == 0) {
        kt_free(text);
        if (strcmp(why, "config file changed") != 0) {
            log_notice("%s: the file is unchanged", why);
        }
        return;
    }
    old_text = inst->conf_text;
    old_len = inst->conf_len;
    inst->conf_text = text;
    inst->conf_len = len;
    if (control_rebuild(inst, why) != 0) {
        log_error("%s: '%s' rejected whole; still serving topology %llu", why, inst->opt.conf_file,
                  (unsigned long long)inst->generation);
        inst->conf_text = old_text;
        inst->conf_len = old_len;
        kt_free(text);
        return;
    }
    kt_free(old_text);
}

static void
on_conf_changed(uv_fs_poll_t *handle, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    struct instance *inst = handle->data;

    (void)prev;
    (void)curr;
    if (status == 0) {
        control_reload(inst, "config file changed");
    }
}

void
control_watch_file(struct instance *inst)
{
    uv_fs_poll_init(&inst->loop, &inst->conf_watch);
    inst->conf_watch.data = inst;
    uv_fs_poll_start(&inst->conf_watch, on_conf_changed, inst->opt.conf_file, CONTROL_WATCH_MS);
}

/* Start following ZooKeeper for the pools that take their servers from it. */
void
control_start_zk(struct instance *inst)
{
    const struct conf *conf = inst->boot_conf;
    const char **pools = kt_calloc(conf->npools + 1, sizeof(*pools));
    char id[300];
    size_t n = 0;

    for (size_t i = 0; i < conf->npools; i++) {
        if (conf->pools[i].servers_from == CONF_FROM_ZOOKEEPER) {
            pools[n++] = conf->pools[i].name;
        }
    }
    snprintf(id, sizeof(id), "%s:%d", inst->hostname, inst->opt.stats_port);
    inst->zk =
        zk_watch_start(&inst->loop, &conf->ketch.zk, pools, n, id,
                       KT_MIN(2000, conf->ketch.zk.session_timeout_ms), control_on_snapshot, inst);
    kt_free(pools);
}
