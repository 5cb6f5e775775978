/*
 * hashring/ring.h - map a key hash to a server: ketama continuum (exactly as
 * twemproxy builds it), modula and random. Built once from plain node
 * descriptions, then shared read-only by every worker thread. Pure: no I/O,
 * no logging, no allocation in lookup.
 */
#ifndef KT_HASHRING_RING_H
#define KT_HASHRING_RING_H

#include <stddef.h>
#include <stdint.h>

enum ring_dist {
    RING_KETAMA, /* twemproxy ketama: 160 points per server at equal weight */
    RING_MODULA, /* hash % continuum, each server <weight> times */
    RING_RANDOM, /* any point; the caller supplies the randomness */
    RING_NDISTS
};

/* One server as the ring sees it. <name> is the ketama identity. */
struct ring_node {
    const char *name; /* node name: explicit name, host, host:port or path (borrowed) */
    size_t name_len;  /* bytes of name */
    uint32_t weight;  /* > 0 */
    uint32_t id;      /* returned by ring_lookup; the caller's index */
};

struct ring;

/*
 * Build a ring of <dist> over the <nnodes> <nodes> (the live servers only;
 * twemproxy leaves ejected servers out). The order of <nodes> does not
 * matter: like twemproxy, the ring orders them by name (shorter first, then
 * bytes), which decides modula's slots and ketama's rare ties. Names are
 * only read during the call. Never NULL; a ring of zero nodes is valid and
 * ring_lookup() on it returns RING_NONE. Aborts if the modula total weight
 * exceeds UINT32_MAX (the config layer must bound weights).
 */
struct ring *ring_build(enum ring_dist dist, const struct ring_node *nodes, uint32_t nnodes);
void ring_free(struct ring *ring);

#define RING_NONE UINT32_MAX

/*
 * The id of the node that owns <hash>, or RING_NONE for an empty ring.
 * For RING_RANDOM, <hash> must be a random value chosen by the caller.
 */
uint32_t ring_lookup(const struct ring *ring, uint32_t hash);

/* Number of nodes and of continuum points (for stats and tests). */
uint32_t ring_nnodes(const struct ring *ring);
uint32_t ring_npoints(const struct ring *ring);
/* The hash value and node id of continuum point <i> (tests). */
void ring_point(const struct ring *ring, uint32_t i, uint32_t *value, uint32_t *id);

/* The config name of <dist> ("ketama"); the dist named by <name>, or -1. */
const char *ring_dist_name(enum ring_dist dist);
int ring_dist_from_name(const char *name, size_t len);

/*
 * Hash tag: when <tag> (two characters, e.g. "{}") is given and <key>
 * holds tag[0] followed later by tag[1] with at least one byte between,
 * store the bytes between them in <*out>/<*outlen>; otherwise the whole
 * key. Same rule as twemproxy.
 */
void hash_tag_extract(const char tag[2], const char *key, size_t len, const char **out,
                      size_t *outlen);

#endif
