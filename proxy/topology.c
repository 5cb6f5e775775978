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

/* The slot of <name> in <names> (<*n> of them), added when new. */
static uint32_t
registry_slot(char ***names, uint32_t *n, const char *name, int *added)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (strcmp((*names)[i], name) == 0) {
            *added = 0;
            return i;
        }
    }
    *names = kt_realloc(*names, (*n + 1) * sizeof(**names));
    (*names)[*n] = kt_strdup(name);
    *added = 1;
    return (*n)++;
}

static uint32_t
registry_pool(struct registry *reg, const char *name)
{
    int added;
    uint32_t slot = registry_slot(&reg->pools, &reg->npools, name, &added);

    if (added) {
        reg->pool_health = kt_realloc(reg->pool_health, reg->npools * sizeof(*reg->pool_health));
        reg->pool_health[slot] = kt_calloc(1, sizeof(**reg->pool_health));
    }
    return slot;
}

/*
 * A server's identity: what must not change for its connections to be
 * kept. A server whose address or connection settings change is a new one.
 */
static uint32_t
registry_server(struct registry *reg, const struct conf_pool *cp, const struct conf_server *cs,
                const char *addr_text)
{
    char id[1024];
    int added;
    uint32_t slot;

    snprintf(id, sizeof(id), "%s\n%s\n%s\n%d %d %u %d\n%s", cp->name, cs->name, addr_text,
             cp->redis, cp->redis_db, cp->server_connections, cp->tcpkeepalive,
             cp->redis_auth != NULL ? cp->redis_auth : "");
    slot = registry_slot(&reg->servers, &reg->nservers, id, &added);
    if (slot >= REGISTRY_MAX_SERVERS) {
        kt_free(reg->servers[--reg->nservers]);
        return UINT32_MAX;
    }
    return slot;
}

void
registry_free(struct registry *reg)
{
    for (uint32_t i = 0; i < reg->npools; i++) {
        kt_free(reg->pools[i]);
        kt_free(reg->pool_health[i]);
    }
    for (uint32_t i = 0; i < reg->nservers; i++) {
        kt_free(reg->servers[i]);
    }
    kt_free(reg->pools);
    kt_free(reg->pool_health);
    kt_free(reg->servers);
    kt_free(reg->health);
    memset(reg, 0, sizeof(*reg));
}

/* Whether previous server <ps> is ring server <cs> too (same name and address). */
static int
server_same(const struct conf_server *ps, const struct conf_server *cs)
{
    return strcmp(ps->name, cs->name) == 0 && strcmp(ps->addr.host, cs->addr.host) == 0 &&
           ps->addr.port == cs->addr.port;
}

/* Set up <s> from <cs>, index <i> of its pool <p>. */
static int
topology_build_server(struct registry *reg, struct pool *p, struct server *s,
                      const struct conf_server *cs, uint32_t i, struct kt_err *err)
{
    char text[600], what[512];

    s->idx = i;
    s->owner = p;
    s->name = cs->name;
    s->weight = cs->weight;
    if (cs->addr.is_unix) {
        snprintf(text, sizeof(text), "%s", cs->addr.host);
    } else {
        snprintf(text, sizeof(text), "%s:%d", cs->addr.host, cs->addr.port);
    }
    s->addr_text = kt_strdup(text);
    s->gidx = registry_server(reg, p->cf, cs, text);
    snprintf(what, sizeof(what), "pool '%s': server '%s'", p->name, cs->name);
    if (s->gidx == UINT32_MAX) {
        kt_err_add(err, "%s: more than %u distinct servers since start; restart ketch", what,
                   REGISTRY_MAX_SERVERS);
        return -ENOSPC;
    }
    return topology_resolve(&cs->addr, &s->addr, &s->addrlen, err, what);
}

/* A ring over the <n> servers of <p> whose indices are in <pick>. */
static struct ring *
topology_ring(const struct pool *p, const uint32_t *pick, uint32_t n)
{
    struct ring_node *nodes = kt_calloc(n ? n : 1, sizeof(*nodes));
    struct ring *ring;

    for (uint32_t i = 0; i < n; i++) {
        const struct server *s = &p->servers[pick[i]];

        nodes[i].name = s->name;
        nodes[i].name_len = strlen(s->name);
        nodes[i].weight = s->weight;
        nodes[i].id = pick[i];
    }
    ring = ring_build((enum ring_dist)p->cf->distribution, nodes, n);
    kt_free(nodes);
    return ring;
}

static int
topology_build_pool(struct topology *topo, struct registry *reg, const struct conf_pool *cp,
                    struct kt_err *err)
{
    struct pool *p = &topo->pools[registry_pool(reg, cp->name)];
    uint32_t n = 0, *pick;
    char what[512];
    int rc = 0;

    p->idx = (uint32_t)(p - topo->pools);
    p->name = cp->name;
    p->cf = cp;
    p->hash = hash_get((enum hash_type)cp->hash);
    p->health = reg->pool_health[p->idx];
    p->servers = kt_calloc(cp->nservers + cp->nprev + 1, sizeof(*p->servers));
    pick = kt_calloc(cp->nservers + cp->nprev + 1, sizeof(*pick));
    if (cp->has_listen) {
        snprintf(what, sizeof(what), "pool '%s': listen", cp->name);
        rc = topology_resolve(&cp->listen, &p->listen_addr, &p->listen_addrlen, err, what);
    }
    for (uint32_t i = 0; i < cp->nservers; i++) {
        rc |= topology_build_server(reg, p, &p->servers[i], &cp->servers[i], i, err);
        pick[i] = i;
    }
    p->nservers = p->nring = (uint32_t)cp->nservers;
    p->ring = topology_ring(p, pick, p->nring);
    /* an expansion: the old ring, its servers that left the new one appended */
    for (uint32_t j = 0; j < cp->nprev; j++) {
        uint32_t i = 0;

        while (i < p->nring && !server_same(&cp->prev_servers[j], &cp->servers[i])) {
            i++;
        }
        if (i == p->nring) {
            i = p->nservers++;
            rc |= topology_build_server(reg, p, &p->servers[i], &cp->prev_servers[j], i, err);
        }
        pick[n++] = i;
    }
    if (cp->nprev > 0) {
        p->prev_ring = topology_ring(p, pick, n);
    }
    p->one = p->nring == 1 && p->prev_ring == NULL;
    kt_free(pick);
    p->eject = cp->auto_eject_hosts && cp->gutter == NULL;
    return rc != 0 ? -EINVAL : 0;
}

/* Pool <p>'s chain: its route's children, or itself and its gutter (conf checked the names). */
static void
topology_build_chain(struct registry *reg, struct pool *p)
{
    const struct conf_pool *cp = p->cf;

    p->gutter_ttl_s = cp->gutter_ttl_s;
    p->chain = kt_calloc(cp->route.nchildren + 2, sizeof(*p->chain));
    if (cp->route.type == CONF_ROUTE_FAILOVER) {
        for (size_t c = 0; c < cp->route.nchildren; c++) {
            p->chain[p->nchain++] = registry_pool(reg, cp->route.children[c]);
        }
        return;
    }
    p->chain[p->nchain++] = p->idx;
    if (cp->gutter != NULL) {
        p->chain[p->nchain++] = registry_pool(reg, cp->gutter);
    }
}

void
topology_activate(struct topology *topo)
{
    /* the TKO count itself only moves with state changes (a server that leaves is forgotten) */
    for (uint32_t i = 0; i < topo->npools; i++) {
        struct pool *p = &topo->pools[i];

        if (p->cf == NULL) {
            continue;
        }
        __atomic_store_n(&p->health->max_tko, health_max_tko(p->cf->max_tko_share, p->nring),
                         __ATOMIC_RELAXED);
        __atomic_add_fetch(&p->health->gen, 1, __ATOMIC_RELEASE);
    }
}

int
topology_build(struct registry *reg, struct conf *conf, uint64_t generation, struct topology **out,
               struct kt_err *err)
{
    struct topology *topo = kt_calloc(1, sizeof(*topo));
    int rc = 0;

    if (reg->health == NULL) {
        reg->health = kt_calloc(REGISTRY_MAX_SERVERS, sizeof(*reg->health));
    }
    topo->refs = 1;
    topo->generation = generation;
    topo->health = reg->health;
    topo->conf = conf;
    for (size_t i = 0; i < conf->npools; i++) {
        registry_pool(reg, conf->pools[i].name);
    }
    topo->npools = reg->npools;
    topo->pools = kt_calloc(topo->npools ? topo->npools : 1, sizeof(*topo->pools));
    for (size_t i = 0; i < conf->npools; i++) {
        if (topology_build_pool(topo, reg, &conf->pools[i], err) != 0) {
            rc = -EINVAL;
        }
    }
    for (uint32_t i = 0; i < topo->npools; i++) {
        if (topo->pools[i].cf != NULL) {
            topology_build_chain(reg, &topo->pools[i]);
        }
    }
    for (uint32_t i = 0; i < topo->npools; i++) {
        struct pool *p = &topo->pools[i];

        p->expanding = p->cf != NULL && topo->pools[p->chain[0]].prev_ring != NULL;
    }
    topo->nservers = reg->nservers;
    topo->by_gidx = kt_calloc(topo->nservers ? topo->nservers : 1, sizeof(*topo->by_gidx));
    for (uint32_t i = 0; i < topo->npools; i++) {
        for (uint32_t j = 0; j < topo->pools[i].nservers; j++) {
            uint32_t g = topo->pools[i].servers[j].gidx;

            if (g < topo->nservers) { /* not when the registry was full */
                topo->by_gidx[g] = &topo->pools[i].servers[j];
            }
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
        if (p->prev_ring != NULL) {
            ring_free(p->prev_ring);
        }
    }
    kt_free(topo->pools);
    kt_free(topo->by_gidx);
    conf_free(topo->conf);
    kt_free(topo);
}

uint32_t
pool_key_hash(const struct pool *pool, const char *key, size_t len)
{
    /* twemproxy: a one-server pool and an empty key skip hashing (not with two rings) */
    if (pool->one || len == 0) {
        return 0;
    }
    if (pool->cf->has_hash_tag) {
        hash_tag_extract(pool->cf->hash_tag, key, len, &key, &len);
    }
    return pool->hash(key, len);
}
