/*
 * conf/conf_schema.h - binding a located YAML tree to C structs through
 * tables of keys (name, setter, field offset, range), as nginx and
 * nutcracker do, collecting every error with its file:line:column. Private
 * to conf/: conf.c drives it, conf_pool.c holds the pool and ketch tables.
 */
#ifndef KT_CONF_CONF_SCHEMA_H
#define KT_CONF_CONF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

struct conf_node;
struct conf_pool;
struct conf_ketch;
struct kt_err;

/* One error waiting to be reported in file order. */
struct conf_msg {
    int line;   /* where it is */
    int col;    /* where it is */
    char *text; /* the whole message, location included (owned) */
};

/* Where errors go and what they are about. */
struct conf_ctx {
    const char *file;      /* file name for messages */
    struct kt_err *err;    /* receives the messages from conf_ctx_flush() */
    char where[320];       /* "pool 'web': ", "ketch: " or "" - prefix of every message */
    struct conf_msg *msgs; /* nerrs messages in the order they were found (owned) */
    size_t nerrs;          /* messages added through this context */
    const char *list;      /* the server list being read: "servers", "previous_servers" */
};

struct conf_key;

/*
 * Store the value <val> of <key> into the struct at <obj>. Return 0, or -1
 * after adding a message through <ctx>.
 */
typedef int (*conf_set_fn)(struct conf_ctx *ctx, const struct conf_key *key,
                           const struct conf_node *val, void *obj);

struct conf_key {
    const char *name; /* the YAML key */
    conf_set_fn set;  /* parses and stores the value */
    size_t offset;    /* offsetof() the field in the bound struct */
    int64_t min;      /* numbers: smallest value accepted */
    int64_t max;      /* numbers: largest value accepted */
};

/* Largest value of a number key whose limit is only its C type. */
#define CONF_NUM_MAX INT32_MAX

/*
 * Add "<file>:<line>:<col>: <where><message>" to ctx's errors. With <off> 0
 * the column is the node's own (a quoted scalar's quote); otherwise that of
 * byte <off> of the scalar <node> when known (see conf_node_col_at).
 */
void conf_error(struct conf_ctx *ctx, const struct conf_node *node, size_t off, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
/* The same at <line>:<col>, for a problem no node stands for. */
void conf_error_at(struct conf_ctx *ctx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Move ctx's messages to ctx->err sorted by line and column (the schema
 * finds some problems in a second pass), and free them.
 */
void conf_ctx_flush(struct conf_ctx *ctx);

/*
 * Bind every pair of mapping <map> to the struct at <obj> through <keys>
 * (ended by a NULL name): unknown and duplicate keys are errors, each
 * known key's setter runs once. Return the number of errors added.
 */
size_t conf_bind_map(struct conf_ctx *ctx, const struct conf_node *map, const struct conf_key *keys,
                     void *obj);

/*
 * Parse the <len> bytes at <str> as a decimal integer (optional '-', digits
 * only, as nutcracker) into <*out>. Return 0, or -1 when it is not one or
 * does not fit in int64_t.
 */
int conf_parse_int(const char *str, size_t len, int64_t *out);

/*
 * Check that <val> is a scalar holding an integer in <min>..<max>, else add
 * "<what> must be an integer <range>, got '<text>'" at byte <off> of <val>.
 */
int conf_get_int(struct conf_ctx *ctx, const struct conf_node *val, const char *what,
                 const char *str, size_t len, size_t off, int64_t min, int64_t max, int64_t *out);

/* Add "<what> must be a <type>, not a <type>" unless <val> is of <type>. */
int conf_expect(struct conf_ctx *ctx, const struct conf_node *val, const char *what, int type);

/* Setters for plain fields, ranges from the key: int, uint32_t, int64_t, boolean int, string. */
int conf_set_int(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                 void *obj);
int conf_set_u32(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                 void *obj);
int conf_set_i64(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                 void *obj);
int conf_set_bool(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                  void *obj);
int conf_set_str(struct conf_ctx *ctx, const struct conf_key *key, const struct conf_node *val,
                 void *obj);

/* conf_pool.c: fill <pool> with nutcracker's defaults (name and servers untouched). */
void conf_pool_defaults(struct conf_pool *pool);
/*
 * conf_pool.c: bind mapping <map> (the value of top-level key <name>) to
 * <pool> after filling defaults; then check the pool as a whole (servers
 * present; <key> locates pool-level errors). Return the number of errors.
 */
size_t conf_pool_bind(struct conf_ctx *ctx, const struct conf_node *key,
                      const struct conf_node *map, struct conf_pool *pool);
/* conf_pool.c: bind the reserved "ketch:" mapping to <ketch>. Return the number of errors. */
size_t conf_ketch_bind(struct conf_ctx *ctx, const struct conf_node *map, struct conf_ketch *ketch);
/* conf_pool.c: free what <pool> owns (not <pool> itself). */
void conf_pool_clear(struct conf_pool *pool);

#endif
