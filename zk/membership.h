/*
 * zk/membership.h - a pool's members as ZooKeeper holds them (DESIGN.md
 * section 8), decoded from znode payloads into the config's server type,
 * and the local cache file that keeps the last good membership for a
 * restart while ZooKeeper is down. Pure: no ZooKeeper, no I/O but the
 * cache file, no global state.
 *
 *   /<root>/pools/<pool>/servers/<name>
 * {"addr":"10.0.0.1:11211","weight":1,"zone":"a","state":"up"}
 *   /<root>/pools/<pool>/previous        {"servers":[{"name":"mc1","addr":"...","weight":1}, ...]}
 *
 * JSON is read with the config's YAML parser (JSON is YAML's flow style).
 */
#ifndef KT_ZK_MEMBERSHIP_H
#define KT_ZK_MEMBERSHIP_H

#include <stddef.h>

struct conf_server;
struct kt_err;

/* One pool's members. */
struct mpool {
    char *name;                  /* pool name (owned) */
    struct conf_server *servers; /* state "up": the ring (owned) */
    size_t nservers;
    struct conf_server *prev; /* the old ring of an expansion (owned) */
    size_t nprev;
    int has_prev; /* "previous" exists */
};

struct membership {
    struct mpool *pools; /* npools (owned) */
    size_t npools;
};

/*
 * Decode server znode <name>'s payload (<len> bytes at <json>) into <srv>
 * and whether its state is "up" (<*up>). Returns 0, or -1 with a message
 * in <err> ("<what>: ...").
 */
int membership_server_decode(const char *what, const char *name, const char *json, size_t len,
                             struct conf_server *srv, int *up, struct kt_err *err);
/* Decode a "previous" payload into <*out> (owned by the caller), <*n> servers. */
int membership_prev_decode(const char *what, const char *json, size_t len, struct conf_server **out,
                           size_t *n, struct kt_err *err);

/* The pool named <name>, or NULL. */
const struct mpool *membership_find(const struct membership *m, const char *name);
/* How many of <old>'s ring servers <new> does not have (by name and address). */
size_t membership_removed(const struct mpool *old, const struct mpool *new);
/* Move <mp> into <m> (replacing a pool of that name); <mp> is left empty. */
void membership_put(struct membership *m, struct mpool *mp);
void mpool_clear(struct mpool *mp);
void membership_free(struct membership *m);

/* The cache file: JSON of every pool's servers and previous. Returns malloc'ed text. */
char *membership_encode(const struct membership *m);
/* Decode what membership_encode() wrote. Returns 0 and a new membership, or -1. */
int membership_decode(const char *what, const char *text, size_t len, struct membership **out,
                      struct kt_err *err);

#endif
