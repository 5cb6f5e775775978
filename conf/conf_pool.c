/*
 * conf/conf_pool.c - the schema of a pool (every nutcracker key with its
 * nutcracker meaning, plus ketch's max_value_size, gutter and route) and of the reserved
 * "ketch:" section, as key tables. Parses listen addresses and server lines
 * exactly as nutcracker does, since server names decide where keys go.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "conf/conf.h"
#include "conf/conf_node.h"
#include "conf/conf_schema.h"
#include "hashring/hash.h"
#include "hashring/ring.h"

/* twemproxy: a server on this port is named by its host alone (libmemcached compatibility) */
#define CONF_KETAMA_PORT 11211
#define CONF_PORT_MIN    1
#define CONF_PORT_MAX    65535
#define CONF_PERM_MAX    0777
#define CONF_THREADS_MAX 1024
/* memcached refuses an item size maximum (-I) above 1 GiB */
#define CONF_VALUE_SIZE_MAX  (1024 * 1024 * 1024)
#define CONF_LISTEN_EXPECTED "'host:port' or '/path/to/socket [permissions]'"
#define CONF_SERVER_EXPECTED "'host:port:weight [name]' or '/path/to/socket:weight [name]'"
/* a gutter TTL above memcached's 30-day relative limit would read as a date */
#define CONF_GUTTER_TTL_MAX (30 * 24 * 3600)

static int
is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The last <c> in the <len> bytes at <s>, or NULL (memrchr is a GNU extension). */
static const char *
find_last(const char *s, size_t len, char c)
{
    while (len > 0) {
        if (s[--len] == c) {
            return s + len;
        }
    }
    return NULL;
}

/* Copy a host, dropping the brackets of an IPv6 literal ("[::1]" -> "::1"). */
static char *
host_dup(const char *host, size_t len)
{
    if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
        return kt_strndup(host + 1, len - 2);
    }
    return kt_strndup(host, len);
}

/* A bracket opened must close at the end: "[::1" is not a host. */
static int
host_ok(const char *host, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (host[0] == '[') {
        return len > 2 && host[len - 1] == ']';
    }
    return host[len - 1] != ']';
}

/* Octal permissions "0666" as nutcracker reads them (strtol base 8), at most 0777. */
static int
parse_perm(const char *s, size_t len, mode_t *out)
{
    unsigned v = 0;

    if (len == 0 || len > 4) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '7') {
            return -1;
        }
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v > CONF_PERM_MAX) {
        return -1;
    }
    *out = (mode_t)v;
    return 0;
}

/*
 * "host:port", "[v6]:port", "v6:port" (split at the last colon, as
 * nutcracker) or "/path/to/socket [perm]" (split at the last space).
 */
static int
set_listen(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val, void *obj)
{
    struct conf_pool *pool = obj;
    struct conf_addr *addr = &pool->listen;
    const char *s = val->str, *colon;
    size_t len = val->len, hlen, poff;
    mode_t perm = 0;
    int64_t port;

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    if (len > 0 && s[0] == '/') {
        const char *sp = find_last(s, len, ' ');
        size_t plen = len;

        if (sp != NULL) {
            size_t off = (size_t)(sp - s) + 1;

            if (parse_perm(s + off, len - off, &perm) != 0) {
                conf_error(ctx, val, off,
                           "listen permissions must be an octal number up to 0777, got '%.*s'",
                           (int)(len - off), s + off);
                return -1;
            }
            plen = (size_t)(sp - s);
            while (plen > 0 && is_space(s[plen - 1])) {
                plen--;
            }
        }
        addr->host = kt_strndup(s, plen);
        addr->port = 0;
        addr->is_unix = 1;
        addr->perm = perm;
        pool->has_listen = 1;
        return 0;
    }
    colon = find_last(s, len, ':');
    hlen = colon != NULL ? (size_t)(colon - s) : 0;
    if (colon == NULL || (hlen > 0 && !host_ok(s, hlen))) {
        conf_error(ctx, val, 0, "listen must be " CONF_LISTEN_EXPECTED ", got '%s'", s);
        return -1;
    }
    poff = hlen + 1;
    if (conf_get_int(ctx, val, "listen port", s + poff, len - poff, poff, CONF_PORT_MIN,
                     CONF_PORT_MAX, &port) != 0) {
        return -1;
    }
    addr->host = host_dup(s, hlen);
    addr->port = (int)port;
    addr->is_unix = 0;
    addr->perm = 0;
    pool->has_listen = 1;
    return 0;
}

/* "one of a, b, c" for the names <name>(0) .. <name>(n - 1). */
static void
names_join(char *buf, size_t size, const char *(*name)(int), int n)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i == 0 ? "" : ", ", name(i));

        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
}

static const char *
hash_name_at(int i)
{
    return hash_name((enum hash_type)i);
}

static const char *
dist_name_at(int i)
{
    return ring_dist_name((enum ring_dist)i);
}

static int
set_hash(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val, void *obj)
{
    int *field = (int *)((char *)obj + key->offset);
    char names[512];
    int h;

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    h = hash_from_name(val->str, val->len);
    if (h < 0) {
        names_join(names, sizeof(names), hash_name_at, HASH_NTYPES);
        conf_error(ctx, val, 0, "hash must be one of %s; got '%s'", names, val->str);
        return -1;
    }
    *field = h;
    return 0;
}

static int
set_distribution(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                 void *obj)
{
    int *field = (int *)((char *)obj + key->offset);
    char names[128];
    int d;

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    d = ring_dist_from_name(val->str, val->len);
    if (d < 0) {
        names_join(names, sizeof(names), dist_name_at, RING_NDISTS);
        conf_error(ctx, val, 0, "distribution must be one of %s; got '%s'", names, val->str);
        return -1;
    }
    *field = d;
    return 0;
}

static int
set_hash_tag(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
             void *obj)
{
    struct conf_pool *pool = obj;

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    if (val->len != 2) {
        conf_error(ctx, val, 0, "hash_tag must be exactly 2 characters, got '%s'", val->str);
        return -1;
    }
    memcpy(pool->hash_tag, val->str, 2);
    pool->has_hash_tag = 1;
    return 0;
}

/*
 * nutcracker never times out when timeout is unset or 0 (and its number
 * parser refuses "-1"); ketch accepts -1 too, and says "forever" with -1 alone.
 */
static int
set_timeout(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
            void *obj)
{
    int64_t *field = (int64_t *)((char *)obj + key->offset);

    if (conf_set_i64(ctx, key, val, obj) != 0) {
        return -1;
    }
    if (*field == 0) {
        *field = CONF_DEFAULT_TIMEOUT_MS;
    }
    return 0;
}

/*
 * One "host:port:weight [name]" or "/path:weight [name]" line, parsed from
 * the end like nutcracker's conf_add_server(). Without a name, the ketama
 * name is the text as written: host when the port is 11211, else host:port,
 * and for a unix socket the path followed by its colon ("/tmp/mc.sock:"),
 * as nutcracker computes it.
 */
static int
parse_server(struct conf_ctx *ctx, const struct conf_node *val, size_t i, struct conf_server *srv)
{
    const char *s = val->str, *c1, *c2;
    size_t len = val->len, alen = 0, noff = 0, nlen = 0, hlen, woff, poff;
    char what[64];
    int64_t weight, port = 0;

    while (alen < len && !is_space(s[alen])) {
        alen++;
    }
    if (alen < len) {
        noff = alen;
        while (noff < len && is_space(s[noff])) {
            noff++;
        }
        nlen = len - noff;
        for (size_t k = noff; k < len; k++) {
            if (is_space(s[k])) {
                conf_error(ctx, val, noff, "%s[%zu]: server name '%.*s' has a space", ctx->list, i,
                           (int)nlen, s + noff);
                return -1;
            }
        }
    }
    c1 = find_last(s, alen, ':');
    if (c1 == NULL || c1 == s) {
        goto fail;
    }
    woff = (size_t)(c1 - s) + 1;
    if (s[0] == '/') {
        hlen = (size_t)(c1 - s);
    } else {
        c2 = find_last(s, (size_t)(c1 - s), ':');
        if (c2 == NULL) {
            goto fail;
        }
        hlen = (size_t)(c2 - s);
        if (!host_ok(s, hlen)) {
            goto fail;
        }
        poff = hlen + 1;
        snprintf(what, sizeof(what), "%s[%zu]: port", ctx->list, i);
        if (conf_get_int(ctx, val, what, s + poff, (size_t)(c1 - s) - poff, poff, CONF_PORT_MIN,
                         CONF_PORT_MAX, &port) != 0) {
            return -1;
        }
    }
    snprintf(what, sizeof(what), "%s[%zu]: weight", ctx->list, i);
    if (conf_get_int(ctx, val, what, s + woff, alen - woff, woff, 1, CONF_NUM_MAX, &weight) != 0) {
        return -1;
    }

    srv->addr.is_unix = s[0] == '/';
    srv->addr.host = srv->addr.is_unix ? kt_strndup(s, hlen) : host_dup(s, hlen);
    srv->addr.port = (int)port;
    srv->weight = (uint32_t)weight;
    srv->text = kt_strndup(s, len);
    if (nlen > 0) {
        srv->name = kt_strndup(s + noff, nlen);
        srv->named = 1;
    } else if (srv->addr.is_unix) {
        srv->name = kt_strndup(s, hlen + 1);
    } else if (port == CONF_KETAMA_PORT) {
        srv->name = kt_strndup(s, hlen);
    } else {
        srv->name = kt_strndup(s, (size_t)(c1 - s));
    }
    return 0;

fail:
    conf_error(ctx, val, 0, "%s[%zu] must be " CONF_SERVER_EXPECTED ", got '%s'", ctx->list, i, s);
    return -1;
}

struct server_ref {
    const char *name; /* ketama name (borrowed from the server) */
    size_t srv;       /* index in pool->servers */
};

static int
server_ref_cmp(const void *a, const void *b)
{
    const struct server_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0) {
        return c;
    }
    return x->srv < y->srv ? -1 : x->srv > y->srv;
}

/*
 * nutcracker rejects two servers with one name: they would share ketama
 * points. Sort to find them, report them in file order. <items> gives each
 * server's index in the sequence <seq>.
 */
static void
check_server_names(struct conf_ctx *ctx, const struct conf_node *seq,
                   const struct conf_server *servers, size_t n, const size_t *items)
{
    struct server_ref *refs;
    long *first;

    if (n < 2) {
        return;
    }
    refs = kt_malloc(n * sizeof(*refs));
    first = kt_malloc(n * sizeof(*first));
    for (size_t k = 0; k < n; k++) {
        refs[k].name = servers[k].name;
        refs[k].srv = k;
        first[k] = -1;
    }
    qsort(refs, n, sizeof(*refs), server_ref_cmp);
    for (size_t k = 1, run = 0; k < n; k++) {
        if (strcmp(refs[k].name, refs[run].name) == 0) {
            first[refs[k].srv] = (long)refs[run].srv;
        } else {
            run = k;
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (first[k] >= 0) {
            size_t prev = items[first[k]];

            conf_error(ctx, conf_node_item(seq, items[k]), 0,
                       "%s[%zu]: duplicate server name '%s' (%s[%zu], line %d)", ctx->list,
                       items[k], servers[k].name, ctx->list, prev, conf_node_item(seq, prev)->line);
        }
    }
    kt_free(first);
    kt_free(refs);
}

/* A sequence of server lines into <*out>, <*n> of them. */
static int
set_server_list(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                struct conf_server **out, size_t *n)
{
    size_t count, *items, before = ctx->nerrs;
    struct conf_server *servers;

    if (conf_expect(ctx, val, key->name, CONF_NODE_SEQ) != 0) {
        return -1;
    }
    ctx->list = key->name;
    count = conf_node_count(val);
    servers = kt_calloc(count > 0 ? count : 1, sizeof(*servers));
    items = kt_malloc((count > 0 ? count : 1) * sizeof(*items));
    *out = servers;
    for (size_t i = 0; i < count; i++) {
        const struct conf_node *item = conf_node_item(val, i);

        if (item->type != CONF_NODE_SCALAR) {
            conf_error(ctx, item, 0, "%s[%zu] must be a scalar " CONF_SERVER_EXPECTED ", not a %s",
                       key->name, i, conf_node_type_name(item->type));
            continue;
        }
        if (parse_server(ctx, item, i, &servers[*n]) == 0) {
            items[(*n)++] = i;
        }
    }
    check_server_names(ctx, val, servers, *n, items);
    kt_free(items);
    return ctx->nerrs == before ? 0 : -1;
}

static int
set_servers(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
            void *obj)
{
    struct conf_pool *pool = obj;

    return set_server_list(ctx, key, val, &pool->servers, &pool->nservers);
}

static int
set_prev_servers(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                 void *obj)
{
    struct conf_pool *pool = obj;

    return set_server_list(ctx, key, val, &pool->prev_servers, &pool->nprev);
}

static int
set_servers_from(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                 void *obj)
{
    struct conf_pool *pool = obj;

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    if (strcmp(val->str, "zookeeper") == 0) {
        pool->servers_from = CONF_FROM_ZOOKEEPER;
    } else if (strcmp(val->str, "file") == 0) {
        pool->servers_from = CONF_FROM_FILE;
    } else {
        conf_error(ctx, val, 0, "servers_from must be 'zookeeper' or 'file', got '%s'", val->str);
        return -1;
    }
    return 0;
}

/* A fraction between 0 and 1 ("0.5", "1", "0"). */
static int
set_share(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val, void *obj)
{
    double *field = (double *)((char *)obj + key->offset), v;
    char *end;

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    v = strtod(val->str, &end);
    if (val->len == 0 || end != val->str + val->len || !(v >= 0 && v <= 1)) {
        conf_error(ctx, val, 0, "%s must be a number between 0 and 1, got '%s'", key->name,
                   val->str);
        return -1;
    }
    *field = v;
    return 0;
}

static int
set_route_type(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
               void *obj)
{
    struct conf_route *route = obj;

    if (conf_expect(ctx, val, "route type", CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    KT_UNUSED(key);
    if (strcmp(val->str, "failover") != 0) {
        conf_error(ctx, val, 0, "route type must be 'failover'; got '%s'", val->str);
        return -1;
    }
    route->type = CONF_ROUTE_FAILOVER;
    return 0;
}

static int
set_route_children(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                   void *obj)
{
    struct conf_route *route = obj;
    size_t n;

    KT_UNUSED(key);
    if (conf_expect(ctx, val, "route children", CONF_NODE_SEQ) != 0) {
        return -1;
    }
    n = conf_node_count(val);
    if (n == 0) {
        conf_error(ctx, val, 0, "route children must list at least one pool");
        return -1;
    }
    route->children = kt_calloc(n, sizeof(*route->children));
    for (size_t i = 0; i < n; i++) {
        const struct conf_node *item = conf_node_item(val, i);

        if (item->type != CONF_NODE_SCALAR || item->len == 0) {
            conf_error(ctx, item, 0, "route children[%zu] must be a pool name", i);
            continue;
        }
        route->children[route->nchildren++] = kt_strndup(item->str, item->len);
    }
    return 0;
}

static const struct conf_key route_keys[] = {
    {"type", set_route_type, 0, 0, 0},
    {"children", set_route_children, 0, 0, 0},
    {NULL, NULL, 0, 0, 0},
};

/* route: {type: failover, children: [pool, ...]} */
static int
set_route(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val, void *obj)
{
    struct conf_route *route = (struct conf_route *)((char *)obj + key->offset);
    size_t before = ctx->nerrs;

    if (conf_expect(ctx, val, key->name, CONF_NODE_MAP) != 0) {
        return -1;
    }
    route->line = val->line;
    conf_bind_map(ctx, val, route_keys, route);
    if (route->type == CONF_ROUTE_NONE && ctx->nerrs == before) {
        conf_error(ctx, val, 0, "route needs a type ('failover')");
    }
    if (route->nchildren == 0 && ctx->nerrs == before) {
        conf_error(ctx, val, 0, "route needs children: the pools it tries in order");
    }
    return ctx->nerrs == before ? 0 : -1;
}

/* nutcracker's conf_commands, in its order, then ketch's extensions. */
static const struct conf_key pool_keys[] = {
    {"listen", set_listen, offsetof(struct conf_pool, listen), 0, 0},
    {"hash", set_hash, offsetof(struct conf_pool, hash), 0, 0},
    {"hash_tag", set_hash_tag, offsetof(struct conf_pool, hash_tag), 0, 0},
    {"distribution", set_distribution, offsetof(struct conf_pool, distribution), 0, 0},
    {"timeout", set_timeout, offsetof(struct conf_pool, timeout_ms), -1, CONF_NUM_MAX},
    {"backlog", conf_set_int, offsetof(struct conf_pool, backlog), 0, CONF_NUM_MAX},
    {"client_connections", conf_set_u32, offsetof(struct conf_pool, client_connections), 0,
     CONF_NUM_MAX},
    {"redis", conf_set_bool, offsetof(struct conf_pool, redis), 0, 0},
    {"redis_auth", conf_set_str, offsetof(struct conf_pool, redis_auth), 0, 0},
    {"redis_db", conf_set_int, offsetof(struct conf_pool, redis_db), 0, CONF_NUM_MAX},
    {"preconnect", conf_set_bool, offsetof(struct conf_pool, preconnect), 0, 0},
    {"auto_eject_hosts", conf_set_bool, offsetof(struct conf_pool, auto_eject_hosts), 0, 0},
    {"server_connections", conf_set_u32, offsetof(struct conf_pool, server_connections), 1,
     CONF_NUM_MAX},
    {"server_retry_timeout", conf_set_i64, offsetof(struct conf_pool, server_retry_timeout_ms), 0,
     CONF_NUM_MAX},
    {"server_failure_limit", conf_set_u32, offsetof(struct conf_pool, server_failure_limit), 0,
     CONF_NUM_MAX},
    {"tcpkeepalive", conf_set_bool, offsetof(struct conf_pool, tcpkeepalive), 0, 0},
    {"reuseport", conf_set_bool, offsetof(struct conf_pool, reuseport), 0, 0},
    {"servers", set_servers, offsetof(struct conf_pool, servers), 0, 0},
    {"max_value_size", conf_set_u32, offsetof(struct conf_pool, max_value_size), 1,
     CONF_VALUE_SIZE_MAX},
    {"gutter", conf_set_str, offsetof(struct conf_pool, gutter), 0, 0},
    {"gutter_ttl", conf_set_u32, offsetof(struct conf_pool, gutter_ttl_s), 1, CONF_GUTTER_TTL_MAX},
    {"max_tko_share", set_share, offsetof(struct conf_pool, max_tko_share), 0, 0},
    {"server_retry_timeout_max", conf_set_i64,
     offsetof(struct conf_pool, server_retry_timeout_max_ms), 0, CONF_NUM_MAX},
    {"route", set_route, offsetof(struct conf_pool, route), 0, 0},
    {"servers_from", set_servers_from, 0, 0, 0},
    {"previous_servers", set_prev_servers, 0, 0, 0},
    {"max_removal_share", set_share, offsetof(struct conf_pool, max_removal_share), 0, 0},
    {NULL, NULL, 0, 0, 0},
};

static const struct conf_key zk_keys[] = {
    {"hosts", conf_set_str, offsetof(struct conf_zk, hosts), 0, 0},
    {"root", conf_set_str, offsetof(struct conf_zk, root), 0, 0},
    {"session_timeout_ms", conf_set_int, offsetof(struct conf_zk, session_timeout_ms), 1000,
     CONF_NUM_MAX},
    {"debounce_ms", conf_set_int, offsetof(struct conf_zk, debounce_ms), 0, 60000},
    {"cache_file", conf_set_str, offsetof(struct conf_zk, cache_file), 0, 0},
    {NULL, NULL, 0, 0, 0},
};

/* zookeeper: {hosts: "h:p,h:p", root: /ketch, session_timeout_ms: 10000, ...} */
static int
set_zk(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val, void *obj)
{
    struct conf_zk *zk = (struct conf_zk *)((char *)obj + key->offset);
    size_t before = ctx->nerrs, rlen;

    if (conf_expect(ctx, val, key->name, CONF_NODE_MAP) != 0) {
        return -1;
    }
    conf_bind_map(ctx, val, zk_keys, zk);
    if (zk->hosts == NULL && ctx->nerrs == before) {
        conf_error(ctx, val, 0, "zookeeper needs hosts: 'host:port[,host:port...]'");
    }
    rlen = zk->root != NULL ? strlen(zk->root) : 0;
    if (zk->root != NULL && (zk->root[0] != '/' || (rlen > 1 && zk->root[rlen - 1] == '/'))) {
        conf_error(ctx, conf_node_get(val, "root"), 0,
                   "zookeeper root must be an absolute path without a trailing '/', got '%s'",
                   zk->root);
    }
    return ctx->nerrs == before ? 0 : -1;
}

static const struct conf_key ketch_keys[] = {
    {"threads", conf_set_int, offsetof(struct conf_ketch, threads), 1, CONF_THREADS_MAX},
    {"watch_config", conf_set_bool, offsetof(struct conf_ketch, watch_config), 0, 0},
    {"zookeeper", set_zk, offsetof(struct conf_ketch, zk), 0, 0},
    {NULL, NULL, 0, 0, 0},
};

void
conf_pool_defaults(struct conf_pool *pool)
{
    pool->hash = CONF_DEFAULT_HASH;
    pool->distribution = CONF_DEFAULT_DIST;
    pool->timeout_ms = CONF_DEFAULT_TIMEOUT_MS;
    pool->backlog = CONF_DEFAULT_BACKLOG;
    pool->client_connections = CONF_DEFAULT_CLIENT_CONNECTIONS;
    pool->redis = 0;
    pool->redis_auth = NULL;
    pool->redis_db = 0;
    pool->preconnect = 0;
    pool->auto_eject_hosts = 0;
    pool->server_connections = CONF_DEFAULT_SERVER_CONNECTIONS;
    pool->server_retry_timeout_ms = CONF_DEFAULT_SERVER_RETRY_MS;
    pool->server_failure_limit = CONF_DEFAULT_SERVER_FAILURE_LIMIT;
    pool->tcpkeepalive = 0;
    pool->reuseport = 0;
    pool->max_value_size = CONF_DEFAULT_MAX_VALUE_SIZE;
    pool->gutter_ttl_s = CONF_DEFAULT_GUTTER_TTL_S;
    pool->max_tko_share = CONF_DEFAULT_MAX_TKO_SHARE;
    pool->server_retry_timeout_max_ms = CONF_DEFAULT_SERVER_RETRY_MAX_MS;
    pool->servers_from = CONF_FROM_FILE;
    pool->max_removal_share = CONF_DEFAULT_MAX_REMOVAL_SHARE;
}

size_t
conf_pool_bind(struct conf_ctx *ctx, const struct conf_node *key, const struct conf_node *map,
               struct conf_pool *pool)
{
    size_t before = ctx->nerrs;
    const struct conf_node *servers;

    conf_pool_defaults(pool);
    if (map->type != CONF_NODE_MAP) {
        conf_error(ctx, map, 0, "a pool must be a mapping of settings, not a %s",
                   conf_node_type_name(map->type));
        return ctx->nerrs - before;
    }
    conf_bind_map(ctx, map, pool_keys, pool);
    servers = conf_node_get(map, "servers");
    if (conf_node_get(map, "route") != NULL) {
        if (pool->servers_from != CONF_FROM_FILE || pool->nprev > 0) {
            conf_error(ctx, key, 0,
                       "a pool with a route has no membership of its own "
                       "(servers_from, previous_servers)");
        }
        if (!pool->has_listen) {
            conf_error(ctx, key, 0, "a route belongs to a pool with 'listen'");
        }
        if (servers != NULL) {
            conf_error(ctx, servers, 0, "a pool with a route has no servers of its own");
        }
        if (pool->gutter != NULL) {
            conf_error(ctx, conf_node_get(map, "gutter"), 0,
                       "a pool with a route has no gutter: make the gutter the route's last child");
        }
    } else if (servers == NULL) {
        conf_error(ctx, key, 0, "missing key 'servers'");
    } else if (servers->type == CONF_NODE_SEQ && conf_node_count(servers) == 0) {
        conf_error(ctx, servers, 0, "servers must list at least one server");
    }
    return ctx->nerrs - before;
}

size_t
conf_ketch_bind(struct conf_ctx *ctx, const struct conf_node *map, struct conf_ketch *ketch)
{
    size_t before = ctx->nerrs;

    if (map->type != CONF_NODE_MAP) {
        conf_error(ctx, map, 0, "the ketch section must be a mapping of settings, not a %s",
                   conf_node_type_name(map->type));
        return ctx->nerrs - before;
    }
    conf_bind_map(ctx, map, ketch_keys, ketch);
    if (ketch->zk.hosts != NULL) {
        if (ketch->zk.root == NULL) {
            ketch->zk.root = kt_strdup(CONF_DEFAULT_ZK_ROOT);
        }
        if (ketch->zk.session_timeout_ms == 0) {
            ketch->zk.session_timeout_ms = CONF_DEFAULT_ZK_SESSION_MS;
        }
        if (conf_node_get(conf_node_get(map, "zookeeper"), "debounce_ms") == NULL) {
            ketch->zk.debounce_ms = CONF_DEFAULT_ZK_DEBOUNCE_MS;
        }
    }
    return ctx->nerrs - before;
}

void
conf_server_clear(struct conf_server *srv)
{
    kt_free(srv->addr.host);
    kt_free(srv->name);
    kt_free(srv->text);
    memset(srv, 0, sizeof(*srv));
}

void
conf_servers_free(struct conf_server *servers, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        conf_server_clear(&servers[i]);
    }
    kt_free(servers);
}

int
conf_server_parse(const char *line, const char *what, struct conf_server *srv, struct kt_err *err)
{
    struct conf_ctx ctx = {.file = what, .err = err, .list = "servers"};
    struct conf_node node = {.type = CONF_NODE_SCALAR, .line = 1, .col = 1, .col_off = -1};
    int rc;

    memset(srv, 0, sizeof(*srv));
    node.str = (char *)line;
    node.len = strlen(line);
    rc = parse_server(&ctx, &node, 0, srv);
    conf_ctx_flush(&ctx);
    return rc;
}

void
conf_pool_clear(struct conf_pool *pool)
{
    conf_servers_free(pool->servers, pool->nservers);
    conf_servers_free(pool->prev_servers, pool->nprev);
    kt_free(pool->name);
    kt_free(pool->listen.host);
    kt_free(pool->redis_auth);
    kt_free(pool->gutter);
    for (size_t i = 0; i < pool->route.nchildren; i++) {
        kt_free(pool->route.children[i]);
    }
    kt_free(pool->route.children);
    memset(pool, 0, sizeof(*pool));
}
