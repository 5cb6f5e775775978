/*
 * conf/conf_schema.c - the generic half of the schema: walking a mapping
 * through a key table, and the setters for plain numbers, booleans and
 * strings. Every error names its file:line:column and what it is about.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "conf/conf_node.h"
#include "conf/conf_schema.h"

static void
vadd(struct conf_ctx *ctx, int line, int col, const char *fmt, va_list ap)
{
    char msg[768], full[1200];
    struct conf_msg *m;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    snprintf(full, sizeof(full), "%s:%d:%d: %s%s", ctx->file, line, col, ctx->where, msg);
    ctx->msgs = kt_realloc(ctx->msgs, (ctx->nerrs + 1) * sizeof(*ctx->msgs));
    m = &ctx->msgs[ctx->nerrs++];
    m->line = line;
    m->col = col;
    m->text = kt_strdup(full);
}

void
conf_error(struct conf_ctx *ctx, const struct conf_node *node, size_t off, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vadd(ctx, node->line, off == 0 ? node->col : conf_node_col_at(node, off), fmt, ap);
    va_end(ap);
}

void
conf_error_at(struct conf_ctx *ctx, int line, int col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vadd(ctx, line, col, fmt, ap);
    va_end(ap);
}

/* Messages at one place keep the order they were found in (a stable sort). */
static void
msgs_sort(struct conf_msg *msgs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct conf_msg m = msgs[i];
        size_t j = i;

        while (j > 0 && (msgs[j - 1].line > m.line ||
                         (msgs[j - 1].line == m.line && msgs[j - 1].col > m.col))) {
            msgs[j] = msgs[j - 1];
            j--;
        }
        msgs[j] = m;
    }
}

void
conf_ctx_flush(struct conf_ctx *ctx)
{
    msgs_sort(ctx->msgs, ctx->nerrs);
    for (size_t i = 0; i < ctx->nerrs; i++) {
        kt_err_add(ctx->err, "%s", ctx->msgs[i].text);
        kt_free(ctx->msgs[i].text);
    }
    kt_free(ctx->msgs);
    ctx->msgs = NULL;
}

int
conf_expect(struct conf_ctx *ctx, const struct conf_node *val, const char *what, int type)
{
    if (val->type == (enum conf_node_type)type) {
        return 0;
    }
    conf_error(ctx, val, 0, "%s must be a %s, not a %s", what,
               conf_node_type_name((enum conf_node_type)type), conf_node_type_name(val->type));
    return -1;
}

size_t
conf_bind_map(struct conf_ctx *ctx, const struct conf_node *map, const struct conf_key *keys,
              void *obj)
{
    size_t before = ctx->nerrs, n = conf_node_count(map);

    for (size_t i = 0; i < n; i++) {
        const struct conf_node *key = conf_node_key(map, i);
        const struct conf_key *k;
        long first = conf_node_dup_of(map, i);

        if (first >= 0) {
            conf_error(ctx, key, 0, "duplicate key '%s' (first at line %d)", key->str,
                       conf_node_key(map, (size_t)first)->line);
            continue;
        }
        for (k = keys; k->name != NULL; k++) {
            if (strcmp(k->name, key->str) == 0) {
                break;
            }
        }
        if (k->name == NULL) {
            conf_error(ctx, key, 0, "unknown key '%s'", key->str);
            continue;
        }
        k->set(ctx, k, conf_node_value(map, i), obj);
    }
    return ctx->nerrs - before;
}

int
conf_parse_int(const char *str, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0;

    if (len > 0 && str[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len) {
        return -1;
    }
    for (; i < len; i++) {
        if (str[i] < '0' || str[i] > '9') {
            return -1;
        }
        v = v * 10 + (uint64_t)(str[i] - '0');
        if (v > (uint64_t)INT64_MAX) {
            return -1;
        }
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int
conf_get_int(struct conf_ctx *ctx, const struct conf_node *val, const char *what, const char *str,
             size_t len, size_t off, int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    int ok = conf_parse_int(str, len, &v) == 0;

    if (ok && v >= min && v <= max) {
        *out = v;
        return 0;
    }
    /* a limit that is only the C type is not worth printing unless it was hit */
    if (max >= CONF_NUM_MAX && !(ok && v > max)) {
        conf_error(ctx, val, off, "%s must be an integer >= %lld, got '%.*s'", what, (long long)min,
                   (int)len, str);
    } else {
        conf_error(ctx, val, off, "%s must be an integer between %lld and %lld, got '%.*s'", what,
                   (long long)min, (long long)max, (int)len, str);
    }
    return -1;
}

/* The number in scalar <val> for <key>, range-checked. */
static int
get_num(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val, int64_t *out)
{
    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    return conf_get_int(ctx, val, key->name, val->str, val->len, 0, key->min, key->max, out);
}

int
conf_set_int(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
             void *obj)
{
    int64_t v;

    if (get_num(ctx, key, val, &v) != 0) {
        return -1;
    }
    *(int *)((char *)obj + key->offset) = (int)v;
    return 0;
}

int
conf_set_u32(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
             void *obj)
{
    int64_t v;

    if (get_num(ctx, key, val, &v) != 0) {
        return -1;
    }
    *(uint32_t *)((char *)obj + key->offset) = (uint32_t)v;
    return 0;
}

int
conf_set_i64(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
             void *obj)
{
    int64_t v;

    if (get_num(ctx, key, val, &v) != 0) {
        return -1;
    }
    *(int64_t *)((char *)obj + key->offset) = v;
    return 0;
}

/* nutcracker accepts exactly "true" and "false" (no yes/no/on/off). */
int
conf_set_bool(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
              void *obj)
{
    int *field = (int *)((char *)obj + key->offset);

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    if (strcmp(val->str, "true") == 0) {
        *field = 1;
    } else if (strcmp(val->str, "false") == 0) {
        *field = 0;
    } else {
        conf_error(ctx, val, 0, "%s must be true or false, got '%s'", key->name, val->str);
        return -1;
    }
    return 0;
}

/* An empty string leaves the field NULL (nutcracker treats "" as unset). */
int
conf_set_str(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
             void *obj)
{
    char **field = (char **)((char *)obj + key->offset);

    if (conf_expect(ctx, val, key->name, CONF_NODE_SCALAR) != 0) {
        return -1;
    }
    kt_free(*field);
    *field = val->len > 0 ? kt_strndup(val->str, val->len) : NULL;
    return 0;
}
