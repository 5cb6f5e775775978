/*
 * conf/conf_node.h - a YAML document as a plain tree of scalars, sequences
 * and mappings, every node with its 1-based line and column, so that the
 * schema can say where a value came from. Built by conf_yaml.c; knows
 * nothing of pools. Depends on common/ only.
 */
#ifndef KT_CONF_CONF_NODE_H
#define KT_CONF_CONF_NODE_H

#include <stddef.h>

struct kt_err;

enum conf_node_type {
    CONF_NODE_SCALAR,
    CONF_NODE_SEQ,
    CONF_NODE_MAP,
};

/* Deeper documents are rejected, so that freeing the tree cannot run out of stack. */
#define CONF_NODE_MAX_DEPTH 64

struct conf_node {
    enum conf_node_type type;
    int line;                /* 1-based line of the node's first character */
    int col;                 /* 1-based column of the node's first character */
    int col_off;             /* scalar: byte i of str sits at column col + col_off + i,
                                or -1 when that is not so (folded, escaped, non-ASCII) */
    char *str;               /* scalar: the value, NUL-terminated (owned) */
    size_t len;              /* scalar: bytes of str */
    struct conf_node **kids; /* seq: items; map: key 0, value 0, key 1, ... (owned) */
    size_t nkids;            /* entries of kids (twice the number of pairs for a map) */
};

/*
 * Parse the <len> bytes of YAML at <buf>; <name> stands for the file in
 * messages. On success store the root node in <*root> (NULL for a document
 * with no content) and return 0. On failure store NULL, add one message per
 * problem to <err> as "<name>:<line>:<col>: <problem>" and return -EINVAL.
 * Accepts one document; rejects anchors, aliases, non-scalar mapping keys
 * and nesting deeper than CONF_NODE_MAX_DEPTH. Duplicate keys are kept (the
 * schema reports them, since it knows which pool they belong to). The tree
 * belongs to the caller: free it with conf_node_free(). Any thread.
 */
int conf_yaml_parse(const char *name, const char *buf, size_t len, struct conf_node **root,
                    struct kt_err *err);

/* Free <node> and everything under it; NULL is fine. */
void conf_node_free(struct conf_node *node);

/* Number of items of a sequence or of key/value pairs of a mapping; 0 for a scalar. */
size_t conf_node_count(const struct conf_node *node);
/* Key and value of pair <i> of mapping <map>; <i> below conf_node_count(). */
const struct conf_node *conf_node_key(const struct conf_node *map, size_t i);
const struct conf_node *conf_node_value(const struct conf_node *map, size_t i);
/* Item <i> of sequence <seq>; <i> below conf_node_count(). */
const struct conf_node *conf_node_item(const struct conf_node *seq, size_t i);
/* The value of the first pair of <map> whose key is <key>, or NULL. */
const struct conf_node *conf_node_get(const struct conf_node *map, const char *key);
/*
 * The index of the first pair before pair <i> of <map> with the same key as
 * pair <i>, or -1 when pair <i> is the first of its key.
 */
long conf_node_dup_of(const struct conf_node *map, size_t i);

/* "scalar", "sequence" or "mapping", for messages. */
const char *conf_node_type_name(enum conf_node_type type);
/* The column of byte <off> of scalar <node>, or its first column when unknown. */
int conf_node_col_at(const struct conf_node *node, size_t off);

#endif
