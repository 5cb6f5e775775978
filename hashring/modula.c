/*
 * hashring/modula.c - twemproxy's modula distribution (nc_modula.c): each node
 * <weight> times in server order (by name, see ring.c), indexed by hash % the
 * total. Stored as one slot range per node, not one slot per unit of weight,
 * so a large weight costs no memory; the owner of every slot is the same.
 */
#include "config.h"

#include "common/alloc.h"
#include "common/util.h"
#include "hashring/ring_impl.h"

void
ring_modula_build(struct ring *ring, const struct ring_node *nodes, uint32_t nnodes)
{
    uint64_t end = 0;
    uint32_t i, n = 0;

    ring->entries = kt_malloc(nnodes * sizeof(*ring->entries));
    for (i = 0; i < nnodes; i++) {
        if (nodes[i].weight == 0) {
            continue; /* no slots in the continuum */
        }
        end += nodes[i].weight;
        /* twemproxy's continuum length is a uint32_t too; the config layer bounds weights. */
        KT_BUG_ON(end > UINT32_MAX);
        ring->entries[n].value = (uint32_t)end;
        ring->entries[n].id = nodes[i].id;
        n++;
    }
    ring->nentries = n;
    ring->npoints = (uint32_t)end;
}

uint32_t
ring_modula_slot_owner(const struct ring *ring, uint32_t slot)
{
    uint32_t left = 0, right = ring->nentries;

    /* The first node whose slot range ends past <slot>. */
    while (left < right) {
        uint32_t mid = left + (right - left) / 2;

        if (ring->entries[mid].value <= slot) {
            left = mid + 1;
        } else {
            right = mid;
        }
    }
    KT_BUG_ON(right >= ring->nentries);
    return ring->entries[right].id;
}

uint32_t
ring_modula_lookup(const struct ring *ring, uint32_t hash)
{
    return ring_modula_slot_owner(ring, hash % ring->npoints);
}
