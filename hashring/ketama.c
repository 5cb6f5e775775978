/*
 * hashring/ketama.c - the ketama continuum exactly as twemproxy 0.5.0 builds
 * it (src/hashkit/nc_ketama.c): points from MD5 digests of "<name>-<i>",
 * sorted, looked up by binary search for the first point >= the key hash.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "hashring/hash.h"
#include "hashring/ring_impl.h"

/* twemproxy: 160 points per server at equal weights, 4 per md5 digest. */
#define KETAMA_POINTS_PER_SERVER 160
#define KETAMA_POINTS_PER_HASH   4
/* twemproxy: added before floorf() so float error cannot drop a digest. */
#define KETAMA_EPSILON 0.0000000001
/* Room for "-" and a uint32_t in decimal after the name. */
#define KETAMA_SUFFIX_MAX 12

/* A point while building: its node's position breaks ties between equal values. */
struct ketama_tmp {
    uint32_t value;
    uint32_t id;
    uint32_t pos;
};

/*
 * twemproxy sorts with qsort on the value alone; glibc's qsort is a stable
 * merge sort there, so equal values keep insertion order, which is server
 * order. We say so explicitly rather than depend on the libc.
 */
static int
ketama_tmp_cmp(const void *a, const void *b)
{
    const struct ketama_tmp *x = a, *y = b;

    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }
    if (x->pos != y->pos) {
        return x->pos < y->pos ? -1 : 1;
    }
    return 0;
}

/*
 * twemproxy's formula, float for float: the points of a node of weight <weight>
 * among <nnodes> live nodes of total weight <total>.
 */
static uint32_t
ketama_npoints(uint32_t weight, uint64_t total, uint32_t nnodes)
{
    float pct = (float)weight / (float)total;

    return (uint32_t)(floorf((float)(pct * KETAMA_POINTS_PER_SERVER / KETAMA_POINTS_PER_HASH *
                                         (float)nnodes +
                                     KETAMA_EPSILON)) *
                      KETAMA_POINTS_PER_HASH);
}

/*
 * About one bucket per point (a power of two, 16 .. 65,536 of them), so a
 * lookup is one or two comparisons instead of a search of the whole circle.
 */
static void
ketama_index(struct ring *ring)
{
    uint32_t bits = 4, nb, b, i = 0;

    while (bits < 16 && (1u << bits) < ring->nentries) {
        bits++;
    }
    nb = 1u << bits;
    ring->bucket_shift = 32 - bits;
    ring->bucket = kt_malloc((nb + 1) * sizeof(*ring->bucket));
    for (b = 0; b < nb; b++) {
        uint32_t start = b << ring->bucket_shift;

        while (i < ring->nentries && ring->entries[i].value < start) {
            i++;
        }
        ring->bucket[b] = i;
    }
    ring->bucket[nb] = ring->nentries;
}

void
ring_ketama_build(struct ring *ring, const struct ring_node *nodes, uint32_t nnodes)
{
    struct ketama_tmp *tmp;
    uint64_t total = 0, npoints = 0;
    size_t name_max = 0;
    uint32_t i, n = 0;
    char *buf;

    for (i = 0; i < nnodes; i++) {
        total += nodes[i].weight;
        name_max = KT_MAX(name_max, nodes[i].name_len);
    }
    if (total == 0) {
        return;
    }
    for (i = 0; i < nnodes; i++) {
        npoints += ketama_npoints(nodes[i].weight, total, nnodes);
    }
    KT_BUG_ON(npoints > UINT32_MAX);
    tmp = kt_malloc((npoints ? npoints : 1) * sizeof(*tmp));
    buf = kt_malloc(name_max + KETAMA_SUFFIX_MAX);

    for (i = 0; i < nnodes; i++) {
        uint32_t ndigests = ketama_npoints(nodes[i].weight, total, nnodes) / KETAMA_POINTS_PER_HASH;
        uint32_t d, x;

        if (nodes[i].name_len > 0) {
            memcpy(buf, nodes[i].name, nodes[i].name_len);
        }
        for (d = 0; d < ndigests; d++) {
            unsigned char digest[16];
            int slen = snprintf(buf + nodes[i].name_len, KETAMA_SUFFIX_MAX, "-%u", d);

            hash_md5_digest(buf, nodes[i].name_len + (size_t)slen, digest);
            for (x = 0; x < KETAMA_POINTS_PER_HASH; x++) {
                const unsigned char *p = digest + 4 * x;

                tmp[n].value = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                               (uint32_t)p[3] << 24;
                tmp[n].id = nodes[i].id;
                tmp[n].pos = i;
                n++;
            }
        }
    }
    kt_free(buf);
    KT_BUG_ON(n != npoints);

    qsort(tmp, n, sizeof(*tmp), ketama_tmp_cmp);
    ring->entries = kt_malloc((n ? n : 1) * sizeof(*ring->entries));
    for (i = 0; i < n; i++) {
        ring->entries[i].value = tmp[i].value;
        ring->entries[i].id = tmp[i].id;
    }
    ring->nentries = n;
    ring->npoints = n;
    kt_free(tmp);
    ketama_index(ring);
}

uint32_t
ring_ketama_lookup(const struct ring *ring, uint32_t hash)
{
    uint32_t b = hash >> ring->bucket_shift;
    uint32_t left = ring->bucket[b], right = ring->bucket[b + 1];

    /* The first point >= hash; past the last point the circle wraps to 0. */
    while (left < right) {
        uint32_t mid = left + (right - left) / 2;

        if (ring->entries[mid].value < hash) {
            left = mid + 1;
        } else {
            right = mid;
        }
    }
    if (right == ring->nentries) {
        right = 0;
    }
    return ring->entries[right].id;
}
