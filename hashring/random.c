/*
 * hashring/random.c - twemproxy's random distribution (src/hashkit/
 * nc_random.c): one continuum point per live node whatever its weight; the
 * caller draws the random number, so the ring itself stays deterministic.
 */
#include "config.h"

#include "common/alloc.h"
#include "hashring/ring_impl.h"

/* twemproxy nc_random.c: RANDOM_POINTS_PER_SERVER is 1; weights are ignored. */
void
ring_random_build(struct ring *ring, const struct ring_node *nodes, uint32_t nnodes)
{
    uint32_t i;

    ring->entries = kt_malloc(nnodes * sizeof(*ring->entries));
    for (i = 0; i < nnodes; i++) {
        ring->entries[i].value = 0;
        ring->entries[i].id = nodes[i].id;
    }
    ring->nentries = nnodes;
    ring->npoints = nnodes;
}

uint32_t
ring_random_lookup(const struct ring *ring, uint32_t hash)
{
    return ring->entries[hash % ring->npoints].id;
}
