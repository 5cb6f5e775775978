/*
 * hashring/ring_impl.h - private to hashring/: the ring's layout and the
 * per-distribution builders and lookups that ring.c dispatches to. Nothing
 * outside hashring/ includes this file.
 */
#ifndef KT_HASHRING_RING_IMPL_H
#define KT_HASHRING_RING_IMPL_H

#include <stdint.h>

#include "hashring/ring.h"

/* One entry of a ring's table; what <value> means depends on the distribution. */
struct ring_entry {
    uint32_t value; /* ketama: the point's hash; modula: end (exclusive) of the node's slots;
                       random: 0 */
    uint32_t id;    /* the owning node's id */
};

struct ring {
    enum ring_dist dist;
    uint32_t nnodes;            /* nodes given to ring_build */
    uint32_t only_id;           /* the node's id when nnodes == 1 */
    uint32_t npoints;           /* continuum points: ketama points, modula total weight,
                                   random one per node */
    uint32_t nentries;          /* entries in <entries> */
    struct ring_entry *entries; /* ketama: sorted by value; modula and random: node order (owned) */
    /*
     * ketama: bucket[b] is the first entry whose value is >= b << bucket_shift,
     * for b in 0 .. 2^(32 - bucket_shift); a lookup searches only between
     * bucket[b] and bucket[b + 1] (owned; NULL for other distributions)
     */
    uint32_t *bucket;
    uint32_t bucket_shift;
};

/*
 * Fill <ring>'s entries for <nnodes> <nodes> (nnodes > 0), which ring_build
 * has put in twemproxy's server order (by name: shorter first, then bytes);
 * ring->dist and ring->nnodes are already set. They allocate with kt_malloc
 * (abort on OOM).
 */
void ring_ketama_build(struct ring *ring, const struct ring_node *nodes, uint32_t nnodes);
void ring_modula_build(struct ring *ring, const struct ring_node *nodes, uint32_t nnodes);
void ring_random_build(struct ring *ring, const struct ring_node *nodes, uint32_t nnodes);

/* The owner of <hash> in a ring of their distribution with npoints > 0. */
uint32_t ring_ketama_lookup(const struct ring *ring, uint32_t hash);
uint32_t ring_modula_lookup(const struct ring *ring, uint32_t hash);
uint32_t ring_random_lookup(const struct ring *ring, uint32_t hash);

/* The id owning modula slot <slot> (< npoints), for ring_point(). */
uint32_t ring_modula_slot_owner(const struct ring *ring, uint32_t slot);

#endif
