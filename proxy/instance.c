/*
 * proxy/instance.c - the process and its control loop: make the listening
 * sockets (one per worker and pool, SO_REUSEPORT, so the kernel spreads
 * clients across workers), start the workers, serve the stats port and
 * handle signals. Nothing on the request path runs here.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "proxy/instance.h"
#include "proxy/stats.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

struct stats_write {
    uv_write_t req;
    char *body; /* (owned) */
};

static int
instance_tcp_socket(const struct sockaddr *sa, socklen_t len, int backlog, int reuseport)
{
    int one = 1, fd;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        goto fail;
    }
    if (bind(fd, sa, len) != 0 || listen(fd, backlog) != 0) {
        goto fail;
    }
    return fd;
fail:
    one = -errno;
    close(fd);
    return one;
}

static int
instance_unix_socket(const struct conf_pool *cp, int backlog)
{
    struct sockaddr_un un;
    int fd, rc;

    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", cp->listen.host);
    unlink(un.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) != 0 || listen(fd, backlog) != 0 ||
        (cp->listen.perm != 0 && chmod(un.sun_path, cp->listen.perm) != 0)) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* Listening sockets: fds[w * npools + p]; -1 where pool p does not listen. */
static int
instance_listen(struct instance *inst, int *fds)
{
    struct topology *topo = inst->topo;

    for (uint32_t p = 0; p < topo->npools; p++) {
        const struct pool *pool = &topo->pools[p];
        int unix_fd = -1;

        for (uint32_t w = 0; w < inst->nworkers; w++) {
            int fd = -1;

            if (!pool->cf->has_listen) {
                fds[w * topo->npools + p] = -1;
                continue;
            }
            if (pool->cf->listen.is_unix) {
                if (unix_fd < 0) {
                    unix_fd = instance_unix_socket(pool->cf, pool->cf->backlog);
                    fd = unix_fd;
                } else {
                    fd = dup(unix_fd);
                    fd = fd < 0 ? -errno : fd;
                }
            } else {
                fd = instance_tcp_socket((const struct sockaddr *)&pool->listen_addr,
                                         pool->listen_addrlen, pool->cf->backlog, 1);
            }
            if (fd < 0) {
                log_error("pool '%s': cannot listen on %s: %s", pool->name, pool->cf->listen.host,
                          strerror(-fd));
                return fd;
            }
            fds[w * topo->npools + p] = fd;
        }
    }
    return 0;
}

static void
on_stats_written(uv_write_t *req, int status)
{
    struct stats_write *sw = KT_CONTAINER_OF(req, struct stats_write, req);

    KT_UNUSED(status);
    uv_close((uv_handle_t *)req->handle, (uv_close_cb)kt_free);
    kt_free(sw->body);
    kt_free(sw);
}

static void
on_stats_connection(uv_stream_t *server, int status)
{
    struct instance *inst = server->data;
    uv_tcp_t *client;
    struct stats_write *sw;
    uv_buf_t b;

    if (status < 0) {
        return;
    }
    client = kt_calloc(1, sizeof(*client));
    uv_tcp_init(&inst->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) != 0) {
        uv_close((uv_handle_t *)client, (uv_close_cb)kt_free);
        return;
    }
    sw = kt_calloc(1, sizeof(*sw));
    b.len = stats_render(inst, &sw->body);
    b.base = sw->body;
    if (uv_write(&sw->req, (uv_stream_t *)client, &b, 1, on_stats_written) != 0) {
        uv_close((uv_handle_t *)client, (uv_close_cb)kt_free);
        kt_free(sw->body);
        kt_free(sw);
    }
}

static int
instance_stats_listen(struct instance *inst)
{
    struct sockaddr_storage ss;
    int rc;

    rc = uv_ip4_addr(inst->opt.stats_addr, inst->opt.stats_port, (struct sockaddr_in *)&ss);
    if (rc != 0) {
        rc = uv_ip6_addr(inst->opt.stats_addr, inst->opt.stats_port, (struct sockaddr_in6 *)&ss);
    }
    if (rc != 0) {
        log_error("stats: bad address '%s'", inst->opt.stats_addr);
        return rc;
    }
    uv_tcp_init(&inst->loop, &inst->stats_server);
    inst->stats_server.data = inst;
    rc = uv_tcp_bind(&inst->stats_server, (const struct sockaddr *)&ss, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&inst->stats_server, 128, on_stats_connection);
    }
    if (rc != 0) {
        log_error("stats: cannot listen on %s:%d: %s", inst->opt.stats_addr, inst->opt.stats_port,
                  uv_strerror(rc));
    }
    return rc;
}

static void
on_signal(uv_signal_t *handle, int signum)
{
    struct instance *inst = handle->data;

    switch (signum) {
    case SIGHUP:
        if (log_reopen() != 0) {
            log_error("cannot reopen log file");
        }
        log_notice("signal %d: log file reopened", signum);
        break;
    case SIGUSR1:
        control_reload(inst, "SIGUSR1");
        break;
    case SIGTTIN:
        if (kt_log_level_current < KT_LOG_PVERB) {
            kt_log_level_current++;
        }
        log_notice("signal %d: log level up to %d", signum, kt_log_level_current);
        break;
    case SIGTTOU:
        if (kt_log_level_current > KT_LOG_EMERG) {
            kt_log_level_current--;
        }
        log_notice("signal %d: log level down to %d", signum, kt_log_level_current);
        break;
    default:
        log_notice("signal %d: exiting", signum);
        if (inst->opt.pid_file != NULL) {
            unlink(inst->opt.pid_file);
        }
        exit(0);
    }
}

static void
instance_signals(struct instance *inst)
{
    static const int sigs[] = {SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU, SIGINT, SIGTERM};

    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < KT_NELEMS(sigs); i++) {
        uv_signal_init(&inst->loop, &inst->sig[i]);
        inst->sig[i].data = inst;
        uv_signal_start(&inst->sig[i], on_signal, sigs[i]);
    }
}

int
instance_run(struct instance *inst)
{
    const struct conf_zk *zk = &inst->boot_conf->ketch.zk;
    struct topology *topo;
    int *fds;
    int rc;

    inst->start_time = (int64_t)time(NULL);
    if (gethostname(inst->hostname, sizeof(inst->hostname) - 1) != 0) {
        strcpy(inst->hostname, "unknown");
    }
    rc = uv_loop_init(&inst->loop);
    if (rc != 0) {
        return 1;
    }
    instance_signals(inst);
    if (instance_stats_listen(inst) != 0) {
        return 1;
    }
    if (zk->hosts != NULL) {
        char path[1100];

        snprintf(path, sizeof(path), "%s.zk-cache.json", inst->opt.conf_file);
        inst->cache_file = kt_strdup(zk->cache_file != NULL ? zk->cache_file : path);
        control_load_membership(inst);
        control_start_zk(inst);
    }
    if (control_rebuild(inst, "start") != 0) {
        return 1;
    }
    topo = inst->topo;
    fds = kt_malloc(inst->nworkers * topo->npools * sizeof(*fds) + 1);
    if (instance_listen(inst, fds) != 0) {
        return 1;
    }
    inst->workers = kt_calloc(inst->nworkers, sizeof(*inst->workers));
    for (uint32_t w = 0; w < inst->nworkers; w++) {
        worker_init(&inst->workers[w], inst, w, topo, fds + w * topo->npools);
    }
    for (uint32_t w = 0; w < inst->nworkers; w++) {
        rc = worker_start(&inst->workers[w]);
        if (rc != 0) {
            log_error("worker %u: cannot start: %s", w, uv_strerror(rc));
            return 1;
        }
    }
    if (inst->boot_conf->ketch.watch_config) {
        control_watch_file(inst);
    }
    log_notice("ketch-%s started: %u worker threads, %u pools, stats on %s:%d", PACKAGE_VERSION,
               inst->nworkers, topo->npools, inst->opt.stats_addr, inst->opt.stats_port);
    uv_run(&inst->loop, UV_RUN_DEFAULT);
    return 0;
}
