/*
 * conf/conf.c - loading a config: read the file, parse the YAML into a
 * located tree, bind the top level (pools and the reserved "ketch:"
 * section), check what spans pools, and hand back an immutable struct conf.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "conf/conf.h"
#include "conf/conf_node.h"
#include "conf/conf_schema.h"
#include "hashring/hash.h"
#include "hashring/ring.h"

/* The reserved top-level key for process-wide settings; no pool may take it. */
#define CONF_KETCH_SECTION "ketch"
/* A config larger than this is surely not one (and would only waste memory). */
#define CONF_FILE_MAX (64 * 1024 * 1024)

/* The IPv4 wildcard; an empty host (":22121") also listens on every address, as nutcracker. */
static int
addr_is_any4(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || host[0] == '\0';
}

/* A wildcard takes its port on every address of its family ("::" on both). */
static int
addrs_overlap(const struct conf_addr *a, const struct conf_addr *b)
{
    if (a->is_unix || b->is_unix) {
        return a->is_unix && b->is_unix && strcmp(a->host, b->host) == 0;
    }
    if (a->port != b->port) {
        return 0;
    }
    if (strcasecmp(a->host, b->host) == 0 || strcmp(a->host, "::") == 0 ||
        strcmp(b->host, "::") == 0) {
        return 1;
    }
    if (addr_is_any4(a->host)) {
        return strchr(b->host, ':') == NULL;
    }
    if (addr_is_any4(b->host)) {
        return strchr(a->host, ':') == NULL;
    }
    return 0;
}

/*
 * Two pools on one address: nutcracker fails to bind the second; with
 * SO_REUSEPORT both would bind and share the traffic, so refuse it here.
 */
static void
check_listen(struct conf_ctx *ctx, const struct conf *conf, const struct conf_node **maps)
{
    for (size_t j = 1; j < conf->npools; j++) {
        const struct conf_pool *b = &conf->pools[j];

        if (!b->has_listen) {
            continue;
        }
        for (size_t i = 0; i < j; i++) {
            const struct conf_pool *a = &conf->pools[i];
            const struct conf_node *an, *bn;

            if (!a->has_listen || !addrs_overlap(&a->listen, &b->listen)) {
                continue;
            }
            an = conf_node_get(maps[i], "listen");
            bn = conf_node_get(maps[j], "listen");
            snprintf(ctx->where, sizeof(ctx->where), "pool '%s': ", b->name);
            conf_error(ctx, bn, 0, "listen address '%s' is already used by pool '%s' (line %d)",
                       bn->str, a->name, an->line);
            break;
        }
    }
    ctx->where[0] = '\0';
}

/* The pool named <name> as a failover target of <from>: it must exist and serve as one. */
static void
check_target(struct conf_ctx *ctx, const struct conf *conf, const struct conf_pool *from,
             const char *what, const char *name, const struct conf_node *at)
{
    const struct conf_pool *to = conf_pool_find(conf, name);

    if (to == NULL) {
        conf_error(ctx, at, 0, "%s '%s' is not a pool of this file", what, name);
    } else if (to == from) {
        conf_error(ctx, at, 0, "%s '%s' is the pool itself", what, name);
    } else if (to->redis != from->redis) {
        conf_error(ctx, at, 0, "%s '%s' speaks %s, this pool %s", what, name,
                   to->redis ? "redis" : "memcache", from->redis ? "redis" : "memcache");
    } else if (to->route.type != CONF_ROUTE_NONE || to->gutter != NULL) {
        /* one level: a chain of gutters would hide a second failure behind the first */
        conf_error(ctx, at, 0, "%s '%s' has a %s of its own", what, name,
                   to->gutter != NULL ? "gutter" : "route");
    }
}

/* Gutters and failover routes name pools of the same protocol that have servers. */
static void
check_routes(struct conf_ctx *ctx, const struct conf *conf, const struct conf_node **maps)
{
    for (size_t i = 0; i < conf->npools; i++) {
        const struct conf_pool *pool = &conf->pools[i];
        const struct conf_node *route, *children;

        snprintf(ctx->where, sizeof(ctx->where), "pool '%s': ", pool->name);
        if (pool->gutter != NULL) {
            check_target(ctx, conf, pool, "gutter", pool->gutter, conf_node_get(maps[i], "gutter"));
        }
        route = conf_node_get(maps[i], "route");
        children = route != NULL ? conf_node_get(route, "children") : NULL;
        if (children == NULL || conf_node_count(children) != pool->route.nchildren) {
            continue; /* a bad child was reported already */
        }
        for (size_t c = 0; c < pool->route.nchildren; c++) {
            check_target(ctx, conf, pool, "route child", pool->route.children[c],
                         conf_node_item(children, c));
            for (size_t d = 0; d < c; d++) {
                if (strcmp(pool->route.children[c], pool->route.children[d]) == 0) {
                    conf_error(ctx, conf_node_item(children, c), 0,
                               "route child '%s' is listed twice", pool->route.children[c]);
                    break;
                }
            }
        }
    }
    ctx->where[0] = '\0';
}

/* A pool taking its servers from ZooKeeper needs to know where ZooKeeper is. */
static void
check_membership(struct conf_ctx *ctx, const struct conf *conf, const struct conf_node **maps)
{
    for (size_t i = 0; i < conf->npools; i++) {
        const struct conf_pool *pool = &conf->pools[i];

        if (pool->servers_from == CONF_FROM_ZOOKEEPER && conf->ketch.zk.hosts == NULL) {
            snprintf(ctx->where, sizeof(ctx->where), "pool '%s': ", pool->name);
            conf_error(ctx, conf_node_get(maps[i], "servers_from"), 0,
                       "servers_from: zookeeper needs the ketch: zookeeper: section");
            ctx->where[0] = '\0';
        }
    }
}

/* Bind the document <root> to <conf>, adding every problem to <ctx>. */
static void
conf_bind(struct conf_ctx *ctx, const struct conf_node *root, struct conf *conf)
{
    const struct conf_node **maps;
    size_t n, nkeys = 0;

    if (root == NULL || (root->type == CONF_NODE_SCALAR && root->len == 0)) {
        conf_error_at(ctx, 1, 1, "no pools defined");
        return;
    }
    if (root->type != CONF_NODE_MAP) {
        conf_error(ctx, root, 0, "the top level must be a mapping of pool names to pools, not a %s",
                   conf_node_type_name(root->type));
        return;
    }
    conf->ketch.watch_config = 1;
    n = conf_node_count(root);
    conf->pools = kt_calloc(n > 0 ? n : 1, sizeof(*conf->pools));
    maps = kt_calloc(n > 0 ? n : 1, sizeof(*maps));
    for (size_t i = 0; i < n; i++) {
        const struct conf_node *key = conf_node_key(root, i), *val = conf_node_value(root, i);
        int is_ketch = strcmp(key->str, CONF_KETCH_SECTION) == 0;
        long first = conf_node_dup_of(root, i);
        struct conf_pool *pool;

        nkeys += !is_ketch;
        if (first >= 0) {
            conf_error(ctx, key, 0, "duplicate %s '%s' (first at line %d)",
                       is_ketch ? "section" : "pool", key->str,
                       conf_node_key(root, (size_t)first)->line);
            continue;
        }
        if (is_ketch) {
            snprintf(ctx->where, sizeof(ctx->where), CONF_KETCH_SECTION ": ");
            conf_ketch_bind(ctx, val, &conf->ketch);
            ctx->where[0] = '\0';
            continue;
        }
        if (key->len == 0) {
            conf_error(ctx, key, 0, "a pool name must not be empty");
            continue;
        }
        pool = &conf->pools[conf->npools];
        maps[conf->npools++] = val;
        pool->name = kt_strndup(key->str, key->len);
        snprintf(ctx->where, sizeof(ctx->where), "pool '%s': ", pool->name);
        conf_pool_bind(ctx, key, val, pool);
        ctx->where[0] = '\0';
    }
    if (nkeys == 0) {
        conf_error(ctx, root, 0, "no pools defined");
    }
    check_listen(ctx, conf, maps);
    check_routes(ctx, conf, maps);
    check_membership(ctx, conf, maps);
    kt_free(maps);
}

int
conf_load_buf(const char *name, const char *buf, size_t len, struct conf **out, struct kt_err *err)
{
    struct conf_ctx ctx = {.file = name, .err = err};
    struct conf_node *root = NULL;
    struct conf *conf = NULL;
    int rc;

    *out = NULL;
    rc = conf_yaml_parse(name, buf, len, &root, err);
    if (rc != 0) {
        goto fail;
    }
    conf = kt_calloc(1, sizeof(*conf));
    conf->path = kt_strdup(name);
    conf_bind(&ctx, root, conf);
    conf_ctx_flush(&ctx);
    if (ctx.nerrs != 0) {
        rc = -EINVAL;
        goto fail;
    }
    conf_node_free(root);
    *out = conf;
    return 0;

fail:
    conf_node_free(root);
    conf_free(conf);
    return rc;
}

int
conf_load_file(const char *path, struct conf **out, struct kt_err *err)
{
    char *buf;
    size_t len;
    int rc;

    *out = NULL;
    rc = conf_read_file(path, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    rc = conf_load_buf(path, buf, len, out, err);
    kt_free(buf);
    return rc;
}

int
conf_read_file(const char *path, char **out, size_t *outlen, struct kt_err *err)
{
    FILE *fp;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    *out = NULL;
    fp = fopen(path, "r");
    if (fp == NULL) {
        rc = -errno;
        kt_err_add(err, "%s: %s", path, strerror(errno));
        return rc;
    }
    for (;;) {
        size_t got;

        if (len == cap) {
            cap = cap == 0 ? 4096 : 2 * cap;
            buf = kt_realloc(buf, cap);
        }
        got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) {
            break;
        }
        if (len > CONF_FILE_MAX) {
            kt_err_add(err, "%s: larger than %d bytes; not a config file", path, CONF_FILE_MAX);
            rc = -EFBIG;
            goto out;
        }
    }
    if (ferror(fp)) {
        rc = -EIO;
        kt_err_add(err, "%s: read error", path);
        goto out;
    }
    *out = buf;
    *outlen = len;
    buf = NULL;

out:
    fclose(fp);
    kt_free(buf);
    return rc;
}

void
conf_free(struct conf *conf)
{
    if (conf == NULL) {
        return;
    }
    for (size_t i = 0; i < conf->npools; i++) {
        conf_pool_clear(&conf->pools[i]);
    }
    kt_free(conf->pools);
    kt_free(conf->ketch.zk.hosts);
    kt_free(conf->ketch.zk.root);
    kt_free(conf->ketch.zk.cache_file);
    kt_free(conf->path);
    kt_free(conf);
}

const struct conf_pool *
conf_pool_find(const struct conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->npools; i++) {
        if (strcmp(conf->pools[i].name, name) == 0) {
            return &conf->pools[i];
        }
    }
    return NULL;
}
