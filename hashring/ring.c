/*
 * hashring/ring.c - the part every distribution shares: build, free, lookup
 * dispatch, introspection and the distribution names. Lookups only read the
 * ring, so any number of worker threads may share one.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "hashring/ring.h"
#include "hashring/ring_impl.h"

static const char *const ring_dist_names[RING_NDISTS] = {
    [RING_KETAMA] = "ketama",
    [RING_MODULA] = "modula",
    [RING_RANDOM] = "random",
};

/* A node and where the caller put it, for a sort that never reorders equal names. */
struct ring_sort_item {
    const struct ring_node *node;
    uint32_t pos;
};

/*
 * twemproxy's server order: conf_validate_server() sorts every pool's servers
 * with string_compare() on their names (shorter first, then bytes), and the
 * continuum is built in that order. Equal names, which twemproxy rejects,
 * keep the caller's order.
 */
static int
ring_sort_cmp(const void *a, const void *b)
{
    const struct ring_sort_item *x = a, *y = b;
    int c;

    if (x->node->name_len != y->node->name_len) {
        return x->node->name_len < y->node->name_len ? -1 : 1;
    }
    c = x->node->name_len > 0 ? memcmp(x->node->name, y->node->name, x->node->name_len) : 0;
    if (c != 0) {
        return c;
    }
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* A copy of <nodes> in twemproxy's server order (names still borrowed). */
static struct ring_node *
ring_sort_nodes(const struct ring_node *nodes, uint32_t nnodes)
{
    struct ring_sort_item *items = kt_malloc(nnodes * sizeof(*items));
    struct ring_node *sorted = kt_malloc(nnodes * sizeof(*sorted));
    uint32_t i;

    for (i = 0; i < nnodes; i++) {
        items[i].node = &nodes[i];
        items[i].pos = i;
    }
    qsort(items, nnodes, sizeof(*items), ring_sort_cmp);
    for (i = 0; i < nnodes; i++) {
        sorted[i] = *items[i].node;
    }
    kt_free(items);
    return sorted;
}

struct ring *
ring_build(enum ring_dist dist, const struct ring_node *nodes, uint32_t nnodes)
{
    struct ring *ring = kt_calloc(1, sizeof(*ring));
    struct ring_node *sorted;

    KT_BUG_ON((unsigned)dist >= RING_NDISTS);
    ring->dist = dist;
    ring->nnodes = nnodes;
    if (nnodes == 0) {
        return ring;
    }
    ring->only_id = nodes[0].id;
    sorted = ring_sort_nodes(nodes, nnodes);
    switch (dist) {
    case RING_KETAMA:
        ring_ketama_build(ring, sorted, nnodes);
        break;
    case RING_MODULA:
        ring_modula_build(ring, sorted, nnodes);
        break;
    default:
        ring_random_build(ring, sorted, nnodes);
        break;
    }
    kt_free(sorted);
    return ring;
}

void
ring_free(struct ring *ring)
{
    if (ring == NULL) {
        return;
    }
    kt_free(ring->entries);
    kt_free(ring->bucket);
    kt_free(ring);
}

uint32_t
ring_lookup(const struct ring *ring, uint32_t hash)
{
    /* twemproxy: a pool of one server skips the hash, whatever its weight. */
    if (ring->nnodes == 1) {
        return ring->only_id;
    }
    if (ring->npoints == 0) {
        return RING_NONE;
    }
    switch (ring->dist) {
    case RING_KETAMA:
        return ring_ketama_lookup(ring, hash);
    case RING_MODULA:
        return ring_modula_lookup(ring, hash);
    default:
        return ring_random_lookup(ring, hash);
    }
}

uint32_t
ring_nnodes(const struct ring *ring)
{
    return ring->nnodes;
}

uint32_t
ring_npoints(const struct ring *ring)
{
    return ring->npoints;
}

void
ring_point(const struct ring *ring, uint32_t i, uint32_t *value, uint32_t *id)
{
    KT_BUG_ON(i >= ring->npoints);
    if (ring->dist == RING_MODULA) {
        /* twemproxy's modula continuum holds value 0 at every slot. */
        *value = 0;
        *id = ring_modula_slot_owner(ring, i);
        return;
    }
    *value = ring->entries[i].value;
    *id = ring->entries[i].id;
}

const char *
ring_dist_name(enum ring_dist dist)
{
    KT_BUG_ON((unsigned)dist >= RING_NDISTS);
    return ring_dist_names[dist];
}

int
ring_dist_from_name(const char *name, size_t len)
{
    int i;

    for (i = 0; i < RING_NDISTS; i++) {
        if (strlen(ring_dist_names[i]) == len && memcmp(ring_dist_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}
