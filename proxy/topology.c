/*
 * proxy/topology.c - build the immutable snapshot from a conf: resolve
 * addresses, build each pool's ring. Control thread only; after it is
 * published nothing in it changes until the last reference is dropped.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "common/alloc.h"
#include "common/err.h"
#include "conf/conf.h"
#include "hashring/ring.h"
#include "proxy/topology.h"

/* Resolve <a> into <ss>; blocking (control thread, at load time). */
static int
topology_resolve(const struct conf_addr *a, struct sockaddr_storage *ss, socklen_t *len,
                 struct kt_err *err, const char *what)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int rc;

    memset(ss, 0, sizeof(*ss));
    if (a->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;

        if (strlen(a->host) >= sizeof(un->sun_path)) {
            kt_err_add(err, "%s: unix socket path too long: %s", what, a->host);
            return -ENAMETOOLONG;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, a->host);
        *len = sizeof(*un);
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", a->port);
    rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        kt_err_add(err, "%s: cannot resolve '%s': %s", what, a->host, gai_strerror(rc));
        return -EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int
topology_build_pool(struct topology *topo, uint32_t idx, uint32_t *gidx, struct kt_err *err)
{
    const struct conf_pool *cp = &topo->conf->pools[idx];
    struct pool *p = &topo->pools[idx];
    struct ring_node *nodes;
    char what[512];
    int rc = 0;

    p->idx = idx;
    p->name = cp->name;
    p->cf = cp;
    p->hash = hash_get((enum hash_type)cp->hash);
    p->nservers = (uint32_t)cp->nservers;
    p->servers = kt_calloc(p->nservers ? p->nservers : 1, sizeof(*p->servers));
    if (cp->has_listen) {
        snprintf(what, sizeof(what), "pool '%s': listen", cp->name);
        rc = topology_resolve(&cp->listen, &p->listen_addr, &p->listen_addrlen, err, what);
    }
    nodes = kt_calloc(p->nservers ? p->nservers : 1, sizeof(*nodes));
    for (uint32_t i = 0; i < p->nservers; i++) {
        const struct conf_server *cs = &cp->servers[i];
        struct server *s = &p->servers[i];
        char text[600];

        s->idx = i;
        s->gidx = (*gidx)++;
        s->owner = p;
        s->name = cs->name;
        s->weight = cs->weight;
        if (cs->addr.is_unix) {
            snprintf(text, sizeof(text), "%s", cs->addr.host);
        } else {
            snprintf(text, sizeof(text), "%s:%d", cs->addr.host, cs->addr.port);
        }
        s->addr_text = kt_strdup(text);
        snprintf(what, sizeof(what), "pool '%s': server '%s'", cp->name, cs->name);
        if (topology_resolve(&cs->addr, &s->addr, &s->addrlen, err, what) != 0) {
            rc = -EINVAL;
        }
        nodes[i].name = cs->name;
        nodes[i].name_len = strlen(cs->name);
        nodes[i].weight = cs->weight;
        nodes[i].id = i;
    }
    p->ring = ring_build((enum ring_dist)cp->distribution, nodes, p->nservers);
    kt_free(nodes);
    p->health.max_tko = health_max_tko(cp->max_tko_share, p->nservers);
    p->eject = cp->auto_eject_hosts && cp->gutter == NULL;
    return rc;
}

/* Pool <p>'s chain: its route's children, or itself and its gutter (conf checked the names). */
static void
topology_build_chain(struct topology *topo, struct pool *p)
{
    const struct conf_pool *cp = p->cf;

    p->gutter_ttl_s = cp->gutter_ttl_s;
    p->chain = kt_calloc(cp->route.nchildren + 2, sizeof(*p->chain));
    if (cp->route.type == CONF_ROUTE_FAILOVER) {
        for (size_t c = 0; c < cp->route.nchildren; c++) {
            p->chain[p->nchain++] =
                conf_pool_find(topo->conf, cp->route.children[c]) - topo->conf->pools;
        }
        return;
    }
    p->chain[p->nchain++] = p->idx;
    if (cp->gutter != NULL) {
        p->chain[p->nchain++] = conf_pool_find(topo->conf, cp->gutter) - topo->conf->pools;
    }
}

int
topology_build(struct conf *conf, uint64_t generation, struct topology **out, struct kt_err *err)
{
    struct topology *topo = kt_calloc(1, sizeof(*topo));
    uint32_t gidx = 0;
    int rc = 0;

    topo->refs = 1;
    topo->generation = generation;
    topo->conf = conf;
    topo->npools = (uint32_t)conf->npools;
    topo->pools = kt_calloc(topo->npools ? topo->npools : 1, sizeof(*topo->pools));
    for (uint32_t i = 0; i < topo->npools; i++) {
        if (topology_build_pool(topo, i, &gidx, err) != 0) {
            rc = -EINVAL;
        }
    }
    for (uint32_t i = 0; i < topo->npools; i++) {
        topology_build_chain(topo, &topo->pools[i]);
    }
    topo->nservers = gidx;
    topo->health = kt_calloc(gidx ? gidx : 1, sizeof(*topo->health));
    topo->by_gidx = kt_calloc(gidx ? gidx : 1, sizeof(*topo->by_gidx));
    for (uint32_t i = 0; i < topo->npools; i++) {
        for (uint32_t j = 0; j < topo->pools[i].nservers; j++) {
            topo->by_gidx[topo->pools[i].servers[j].gidx] = &topo->pools[i].servers[j];
        }
    }
    if (rc != 0) {
        topology_unref(topo);
        *out = NULL;
        return rc;
    }
    *out = topo;
    return 0;
}

struct topology *
topology_ref(struct topology *topo)
{
    __atomic_add_fetch(&topo->refs, 1, __ATOMIC_RELAXED);
    return topo;
}

void
topology_unref(struct topology *topo)
{
    if (__atomic_sub_fetch(&topo->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    for (uint32_t i = 0; i < topo->npools; i++) {
        struct pool *p = &topo->pools[i];

        for (uint32_t j = 0; j < p->nservers; j++) {
            kt_free((void *)p->servers[j].addr_text);
        }
        kt_free(p->servers);
        kt_free(p->chain);
        if (p->ring != NULL) {
            ring_free(p->ring);
        }
    }
    kt_free(topo->pools);
    kt_free(topo->by_gidx);
    kt_free(topo->health);
    conf_free(topo->conf);
    kt_free(topo);
}

uint32_t
pool_key_hash(const struct pool *pool, const char *key, size_t len)
{
    /* twemproxy: a one-server pool and an empty key skip hashing */
    if (pool->nservers == 1 || len == 0) {
        return 0;
    }
    if (pool->cf->has_hash_tag) {
        hash_tag_extract(pool->cf->hash_tag, key, len, &key, &len);
    }
    return pool->hash(key, len);
}
