/*
 * tests/unit/hashring/vectors.h - readers for the golden vectors that
 * tests/vectors/gen_nutcracker_vectors.py recorded from nutcracker 0.5.0
 * (the format is described in that script). Test code only.
 */
#ifndef KT_TESTS_UNIT_HASHRING_VECTORS_H
#define KT_TESTS_UNIT_HASHRING_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "hashring/hash.h"
#include "hashring/ring.h"

#define VEC_MAX_NODES 32

struct vec_key {
    char *key;                    /* unescaped bytes (owned) */
    size_t len;                   /* bytes of key */
    char *text;                   /* the escaped form, for messages (owned) */
    uint32_t index;               /* ring files: node index nutcracker chose */
    uint32_t values[HASH_NTYPES]; /* hash file: one value per column */
};

struct vec_file {
    char path[1024]; /* where it was read from */
    char hash[32];   /* ring files: `hash` */
    char dist[32];   /* ring files: `distribution` */
    char tag[2];     /* ring files: `hash_tag`, if has_tag */
    int has_tag;
    struct ring_node nodes[VEC_MAX_NODES]; /* ring files: id = index, names owned */
    uint32_t nnodes;
    int columns[HASH_NTYPES]; /* hash file: hash type of each column */
    uint32_t ncolumns;
    struct vec_key *keys; /* nkeys keys (owned) */
    size_t nkeys;
};

/*
 * Read tests/vectors/<name> under $KETCH_SRCDIR, else $srcdir, else ".".
 * Returns 0, or -1 with a reason in <err> (<errlen> bytes).
 */
int vec_load(const char *name, struct vec_file *vf, char *err, size_t errlen);
void vec_free(struct vec_file *vf);

/*
 * Check assertion: rebuild the ring of vector file <name> with ring_build,
 * once with the nodes in config order and once reversed, and check that
 * every key (through hash_tag_extract when the file has a tag) goes to the
 * node nutcracker chose. Returns the number of keys checked.
 */
size_t vec_check_ring(const char *name);

#endif
