/*
 * proxy/stats.c - sum the workers' stats shards and render nutcracker's
 * JSON (src/nc_stats.c shape): process fields, then one object per pool
 * holding the pool counters and one object per server, keyed by name.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/sbuf.h"
#include "common/util.h"
#include "proxy/instance.h"
#include "proxy/stats.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

static void
stats_render_pool(struct instance *inst, const struct pool *pool, struct sbuf *s)
{
    struct stats_pool ps;
    uint32_t ntko = 0;
    int *tko;

    memset(&ps, 0, sizeof(ps));
    for (uint32_t w = 0; w < inst->nworkers; w++) {
        const struct worker_stats *st = __atomic_load_n(&inst->workers[w].stats, __ATOMIC_ACQUIRE);
        const struct stats_pool *src;

        if (pool->idx >= st->npools) {
            continue; /* the worker has not taken the snapshot that brought the pool yet */
        }
        src = &st->pools[pool->idx];

#define STATS_SUM_POOL(name, kind) ps.name += STATS_GET(src->name);
        STATS_POOL_LIST(STATS_SUM_POOL)
    }
    sbuf_printf(s, ", ");
    sbuf_json_str(s, pool->name);
    sbuf_printf(s, ": {");
#define STATS_PRINT_POOL(name, kind) sbuf_printf(s, "\"" #name "\":%lld, ", (long long)ps.name);
    STATS_POOL_LIST(STATS_PRINT_POOL)
    /* one read of each server's health, so that the pool's count agrees with its servers' */
    tko = kt_calloc(pool->nservers ? pool->nservers : 1, sizeof(*tko));
    for (uint32_t i = 0; i < pool->nservers; i++) {
        tko[i] = (int)health_state(&inst->topo->health[pool->servers[i].gidx]);
        ntko += tko[i] != HEALTH_UP;
    }
    sbuf_printf(s, "\"server_tko\":%u", ntko);
    for (uint32_t i = 0; i < pool->nservers; i++) {
        const struct server *srv = &pool->servers[i];
        struct stats_server ss;

        memset(&ss, 0, sizeof(ss));
        for (uint32_t w = 0; w < inst->nworkers; w++) {
            const struct worker_stats *st =
                __atomic_load_n(&inst->workers[w].stats, __ATOMIC_ACQUIRE);
            const struct stats_server *src;
            int64_t ejected_at = ss.server_ejected_at;

            if (srv->gidx >= st->nservers) {
                continue;
            }
            src = &st->servers[srv->gidx];

#define STATS_SUM_SERVER(name, kind) ss.name += STATS_GET(src->name);
            STATS_SERVER_LIST(STATS_SUM_SERVER)
            /* an ejection time is the latest of the workers', not a sum */
            ss.server_ejected_at = KT_MAX(ejected_at, STATS_GET(src->server_ejected_at));
        }
        sbuf_printf(s, ", ");
        sbuf_json_str(s, srv->name);
        sbuf_printf(s, ": {");
#define STATS_PRINT_SERVER(name, kind) sbuf_printf(s, "\"" #name "\":%lld, ", (long long)ss.name);
        STATS_SERVER_LIST(STATS_PRINT_SERVER)
        sbuf_printf(s, "\"server_tko\":%d", tko[i]);
        sbuf_printf(s, "}");
    }
    kt_free(tko);
    sbuf_printf(s, "}");
}

size_t
stats_render(struct instance *inst, char **out)
{
    struct sbuf s;
    int64_t total = 0, curr = 0;
    time_t now = time(NULL);

    sbuf_init(&s, 4096);
    for (uint32_t w = 0; w < inst->nworkers; w++) {
        total += STATS_GET(inst->workers[w].gstats.total_connections);
        curr += STATS_GET(inst->workers[w].gstats.curr_connections);
    }
    sbuf_printf(&s, "{\"service\":\"ketch\", \"source\":");
    sbuf_json_str(&s, inst->hostname);
    sbuf_printf(&s,
                ", \"version\":\"%s\", \"uptime\":%lld, \"timestamp\":%lld, "
                "\"total_connections\":%lld, \"curr_connections\":%lld",
                PACKAGE_VERSION, (long long)(now - inst->start_time), (long long)now,
                (long long)total, (long long)curr);
    for (uint32_t p = 0; p < inst->topo->npools; p++) {
        if (inst->topo->pools[p].cf != NULL) {
            stats_render_pool(inst, &inst->topo->pools[p], &s);
        }
    }
    sbuf_printf(&s, "}\n");
    *out = s.p;
    return s.len;
}

void
stats_describe(void)
{
    static const struct {
        const char *name;
        const char *desc;
    } pool_desc[] =
        {
            {"client_eof", "# eof on client connections"},
            {"client_err", "# errors on client connections"},
            {"client_connections", "# active client connections"},
            {"server_ejects", "# times backend server was ejected"},
            {"forward_error", "# times we encountered a forwarding error"},
            {"fragments", "# fragments created from a multi-vector request"},
            {"server_tkos", "# times a server was marked TKO"},
            {"gutter_requests", "# fragments sent to the gutter or a later failover pool"},
            {"tko_fail_fast", "# requests failed at once because their server was TKO"},
            {"fail_open", "# times a failing server stayed in: max_tko_share reached"},
            {"server_tko", "# servers TKO now"},
        },
      server_desc[] = {
          {"server_eof", "# eof on server connections"},
          {"server_err", "# errors on server connections"},
          {"server_timedout", "# timeouts on server connections"},
          {"server_connections", "# active server connections"},
          {"server_ejected_at", "timestamp when server was ejected in usec since epoch"},
          {"requests", "# requests"},
          {"request_bytes", "total request bytes"},
          {"responses", "# responses"},
          {"response_bytes", "total response bytes"},
          {"in_queue", "# requests in incoming queue"},
          {"in_queue_bytes", "current request bytes in incoming queue"},
          {"out_queue", "# requests in outgoing queue"},
          {"out_queue_bytes", "current request bytes in outgoing queue"},
          {"probes", "# probes sent to this server while TKO"},
          {"probe_failures", "# probes it did not answer"},
          {"server_tko", "0 up, 1 soft TKO (timeouts, errors), 2 hard TKO (refused, reset)"},
      };

    printf("pool stats:\n");
    for (size_t i = 0; i < sizeof(pool_desc) / sizeof(pool_desc[0]); i++) {
        printf("  %-20s\"%s\"\n", pool_desc[i].name, pool_desc[i].desc);
    }
    printf("\nserver stats:\n");
    for (size_t i = 0; i < sizeof(server_desc) / sizeof(server_desc[0]); i++) {
        printf("  %-20s\"%s\"\n", server_desc[i].name, server_desc[i].desc);
    }
}
