/*
 * conf/conf_node.c - the located YAML tree: accessors and freeing. The tree
 * is built by conf_yaml.c and read by the schema; nothing here knows pools.
 */
#include "config.h"

#include <string.h>

#include "common/alloc.h"
#include "conf/conf_node.h"

void
conf_node_free(struct conf_node *node)
{
    if (node == NULL) {
        return;
    }
    for (size_t i = 0; i < node->nkids; i++) {
        conf_node_free(node->kids[i]);
    }
    kt_free(node->kids);
    kt_free(node->str);
    kt_free(node);
}

size_t
conf_node_count(const struct conf_node *node)
{
    switch (node->type) {
    case CONF_NODE_SEQ:
        return node->nkids;
    case CONF_NODE_MAP:
        return node->nkids / 2;
    default:
        return 0;
    }
}

const struct conf_node *
conf_node_key(const struct conf_node *map, size_t i)
{
    return map->kids[2 * i];
}

const struct conf_node *
conf_node_value(const struct conf_node *map, size_t i)
{
    return map->kids[2 * i + 1];
}

const struct conf_node *
conf_node_item(const struct conf_node *seq, size_t i)
{
    return seq->kids[i];
}

/* Mapping keys are always scalars: conf_yaml_parse() rejects any other. */
static int
key_is(const struct conf_node *key, const char *str, size_t len)
{
    return key->type == CONF_NODE_SCALAR && key->len == len && memcmp(key->str, str, len) == 0;
}

const struct conf_node *
conf_node_get(const struct conf_node *map, const char *key)
{
    size_t n = conf_node_count(map);

    for (size_t i = 0; i < n; i++) {
        if (key_is(conf_node_key(map, i), key, strlen(key))) {
            return conf_node_value(map, i);
        }
    }
    return NULL;
}

long
conf_node_dup_of(const struct conf_node *map, size_t i)
{
    const struct conf_node *key = conf_node_key(map, i);

    if (key->type != CONF_NODE_SCALAR) {
        return -1;
    }
    for (size_t j = 0; j < i; j++) {
        if (key_is(conf_node_key(map, j), key->str, key->len)) {
            return (long)j;
        }
    }
    return -1;
}

const char *
conf_node_type_name(enum conf_node_type type)
{
    switch (type) {
    case CONF_NODE_SCALAR:
        return "scalar";
    case CONF_NODE_SEQ:
        return "sequence";
    case CONF_NODE_MAP:
        return "mapping";
    }
    return "node";
}

int
conf_node_col_at(const struct conf_node *node, size_t off)
{
    if (node->type != CONF_NODE_SCALAR || node->col_off < 0 || off > node->len) {
        return node->col;
    }
    return node->col + node->col_off + (int)off;
}
