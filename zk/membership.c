/*
 * zk/membership.c - decode znode payloads into servers, compare two
 * memberships for the removal safety valve, and write and read the cache
 * file. A server's ketama name is its znode name, so a pool moved from
 * the file to ZooKeeper keeps its ring when the names are kept.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/sbuf.h"
#include "conf/conf.h"
#include "conf/conf_node.h"
#include "zk/membership.h"

/* The string value of <key> in mapping <map>, or NULL (not a scalar). */
static const char *
map_str(const struct conf_node *map, const char *key)
{
    const struct conf_node *v = conf_node_get(map, key);

    return v != NULL && v->type == CONF_NODE_SCALAR ? v->str : NULL;
}

/* Server <name> from mapping <map> ({"addr":..., "weight":...}); <up> from its state. */
static int
server_from_map(const char *what, const char *name, const struct conf_node *map,
                struct conf_server *srv, int *up, struct kt_err *err)
{
    const char *addr, *weight, *state;
    char line[1024];

    if (map == NULL || map->type != CONF_NODE_MAP) {
        kt_err_add(err, "%s: not a JSON object", what);
        return -1;
    }
    addr = map_str(map, "addr");
    weight = map_str(map, "weight");
    state = map_str(map, "state");
    if (name == NULL) {
        name = map_str(map, "name");
    }
    if (addr == NULL || addr[0] == '\0' || name == NULL || name[0] == '\0') {
        kt_err_add(err, "%s: needs \"addr\" and a name", what);
        return -1;
    }
    if (strchr(name, ' ') != NULL || strchr(addr, ' ') != NULL) {
        kt_err_add(err, "%s: a space in the name or address", what);
        return -1;
    }
    snprintf(line, sizeof(line), "%s:%s %s", addr, weight != NULL ? weight : "1", name);
    if (conf_server_parse(line, what, srv, err) != 0) {
        return -1;
    }
    *up = state == NULL || strcmp(state, "up") == 0;
    return 0;
}

int
membership_server_decode(const char *what, const char *name, const char *json, size_t len,
                         struct conf_server *srv, int *up, struct kt_err *err)
{
    struct conf_node *root = NULL;
    int rc;

    if (len == 0 || conf_yaml_parse(what, json, len, &root, err) != 0) {
        if (len == 0) {
            kt_err_add(err, "%s: empty payload", what);
        }
        return -1;
    }
    rc = server_from_map(what, name, root, srv, up, err);
    conf_node_free(root);
    return rc;
}

/* A JSON array of servers into <*out>. */
static int
servers_from_seq(const char *what, const struct conf_node *seq, struct conf_server **out, size_t *n,
                 struct kt_err *err)
{
    struct conf_server *servers;
    size_t count;
    int up;

    *out = NULL;
    *n = 0;
    if (seq == NULL || seq->type != CONF_NODE_SEQ) {
        kt_err_add(err, "%s: \"servers\" must be a JSON array", what);
        return -1;
    }
    count = conf_node_count(seq);
    servers = kt_calloc(count + 1, sizeof(*servers));
    for (size_t i = 0; i < count; i++) {
        if (server_from_map(what, NULL, conf_node_item(seq, i), &servers[i], &up, err) != 0) {
            conf_servers_free(servers, i);
            return -1;
        }
    }
    *out = servers;
    *n = count;
    return 0;
}

int
membership_prev_decode(const char *what, const char *json, size_t len, struct conf_server **out,
                       size_t *n, struct kt_err *err)
{
    struct conf_node *root = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (len == 0 || conf_yaml_parse(what, json, len, &root, err) != 0) {
        if (len == 0) {
            kt_err_add(err, "%s: empty payload", what);
        }
        return -1;
    }
    if (root == NULL || root->type != CONF_NODE_MAP) {
        kt_err_add(err, "%s: not a JSON object", what);
        conf_node_free(root);
        return -1;
    }
    rc = servers_from_seq(what, conf_node_get(root, "servers"), out, n, err);
    conf_node_free(root);
    return rc;
}

const struct mpool *
membership_find(const struct membership *m, const char *name)
{
    for (size_t i = 0; m != NULL && i < m->npools; i++) {
        if (strcmp(m->pools[i].name, name) == 0) {
            return &m->pools[i];
        }
    }
    return NULL;
}

size_t
membership_removed(const struct mpool *old, const struct mpool *new)
{
    size_t gone = 0;

    for (size_t i = 0; i < old->nservers; i++) {
        const struct conf_server *o = &old->servers[i];
        size_t j = 0;

        while (j < new->nservers && !(strcmp(o->name, new->servers[j].name) == 0 &&
                                      strcmp(o->addr.host, new->servers[j].addr.host) == 0 &&
                                      o->addr.port == new->servers[j].addr.port)) {
            j++;
        }
        gone += j == new->nservers;
    }
    return gone;
}

void
mpool_clear(struct mpool *mp)
{
    kt_free(mp->name);
    conf_servers_free(mp->servers, mp->nservers);
    conf_servers_free(mp->prev, mp->nprev);
    memset(mp, 0, sizeof(*mp));
}

void
membership_put(struct membership *m, struct mpool *mp)
{
    size_t i = 0;

    while (i < m->npools && strcmp(m->pools[i].name, mp->name) != 0) {
        i++;
    }
    if (i == m->npools) {
        m->pools = kt_realloc(m->pools, (m->npools + 1) * sizeof(*m->pools));
        m->npools++;
    } else {
        mpool_clear(&m->pools[i]);
    }
    m->pools[i] = *mp;
    memset(mp, 0, sizeof(*mp));
}

void
membership_free(struct membership *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->npools; i++) {
        mpool_clear(&m->pools[i]);
    }
    kt_free(m->pools);
    kt_free(m);
}

static void
encode_servers(struct sbuf *s, const struct conf_server *servers, size_t n)
{
    sbuf_printf(s, "[");
    for (size_t i = 0; i < n; i++) {
        const struct conf_server *cs = &servers[i];

        sbuf_printf(s, i > 0 ? ", {\"name\": " : "{\"name\": ");
        sbuf_json_str(s, cs->name);
        sbuf_printf(s, ", \"addr\": ");
        if (cs->addr.is_unix) {
            sbuf_json_str(s, cs->addr.host);
        } else {
            char addr[600];

            snprintf(addr, sizeof(addr), strchr(cs->addr.host, ':') ? "[%s]:%d" : "%s:%d",
                     cs->addr.host, cs->addr.port);
            sbuf_json_str(s, addr);
        }
        sbuf_printf(s, ", \"weight\": %u}", cs->weight);
    }
    sbuf_printf(s, "]");
}

char *
membership_encode(const struct membership *m)
{
    struct sbuf s;

    sbuf_init(&s, 1024);
    sbuf_printf(&s, "{\"pools\": {");
    for (size_t i = 0; i < m->npools; i++) {
        const struct mpool *mp = &m->pools[i];

        sbuf_printf(&s, i > 0 ? ",\n  " : "\n  ");
        sbuf_json_str(&s, mp->name);
        sbuf_printf(&s, ": {\"servers\": ");
        encode_servers(&s, mp->servers, mp->nservers);
        if (mp->has_prev) {
            sbuf_printf(&s, ", \"previous\": ");
            encode_servers(&s, mp->prev, mp->nprev);
        }
        sbuf_printf(&s, "}");
    }
    sbuf_printf(&s, "}}\n");
    return s.p;
}

int
membership_decode(const char *what, const char *text, size_t len, struct membership **out,
                  struct kt_err *err)
{
    struct conf_node *root = NULL;
    const struct conf_node *pools;
    struct membership *m;

    *out = NULL;
    if (conf_yaml_parse(what, text, len, &root, err) != 0) {
        return -1;
    }
    pools = root != NULL && root->type == CONF_NODE_MAP ? conf_node_get(root, "pools") : NULL;
    if (pools == NULL || pools->type != CONF_NODE_MAP) {
        kt_err_add(err, "%s: no \"pools\" object", what);
        conf_node_free(root);
        return -1;
    }
    m = kt_calloc(1, sizeof(*m));
    for (size_t i = 0; i < conf_node_count(pools); i++) {
        const struct conf_node *v = conf_node_value(pools, i), *prev;
        struct mpool mp = {0};

        mp.name = kt_strdup(conf_node_key(pools, i)->str);
        if (v->type != CONF_NODE_MAP) {
            kt_err_add(err, "%s: pool '%s' is not a JSON object", what, mp.name);
        }
        if (v->type != CONF_NODE_MAP || servers_from_seq(what, conf_node_get(v, "servers"),
                                                         &mp.servers, &mp.nservers, err) != 0) {
            mpool_clear(&mp);
            membership_free(m);
            conf_node_free(root);
            return -1;
        }
        prev = conf_node_get(v, "previous");
        if (prev != NULL) {
            mp.has_prev = 1;
            if (servers_from_seq(what, prev, &mp.prev, &mp.nprev, err) != 0) {
                mpool_clear(&mp);
                membership_free(m);
                conf_node_free(root);
                return -1;
            }
        }
        membership_put(m, &mp);
    }
    conf_node_free(root);
    *out = m;
    return 0;
}
