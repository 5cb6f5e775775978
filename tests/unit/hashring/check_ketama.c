/*
 * tests/unit/hashring/check_ketama.c - the ketama continuum against the
 * servers nutcracker 0.5.0 chose (tests/vectors/nutcracker_ketama_*.txt),
 * point counts, lookup edges, minimal movement; plus ring.c's common rules.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "hashring/hash.h"
#include "hashring/ring.h"
#include "tests/unit/hashring/suites.h"
#include "tests/unit/hashring/vectors.h"

#define MAX_NODES 64

static const char *const ketama_files[] = {
    "nutcracker_ketama_one_at_a_time.txt", "nutcracker_ketama_md5.txt",
    "nutcracker_ketama_crc16.txt",         "nutcracker_ketama_crc32.txt",
    "nutcracker_ketama_crc32a.txt",        "nutcracker_ketama_fnv1_64.txt",
    "nutcracker_ketama_fnv1a_64.txt",      "nutcracker_ketama_fnv1_32.txt",
    "nutcracker_ketama_fnv1a_32.txt",      "nutcracker_ketama_hsieh.txt",
    "nutcracker_ketama_murmur.txt",        "nutcracker_ketama_jenkins.txt",
    "nutcracker_ketama_fnv1a_64_add.txt",  "nutcracker_ketama_fnv1a_64_tag.txt",
    "nutcracker_ketama_fnv1a_64_25.txt",
};

/* <n> nodes named <prefix><i><suffix>, weight <weights[i]> (or 1), id = i. */
static void
make_nodes(struct ring_node *nodes, char names[][32], uint32_t n, const char *prefix,
           const char *suffix, const uint32_t *weights)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "%s%u%s", prefix, i, suffix);
        nodes[i].name = names[i];
        nodes[i].name_len = strlen(names[i]);
        nodes[i].weight = weights ? weights[i] : 1;
        nodes[i].id = i;
    }
}

static void
count_points(const struct ring *ring, uint32_t *counts, uint32_t ncounts)
{
    uint32_t i, value, id;

    memset(counts, 0, ncounts * sizeof(*counts));
    for (i = 0; i < ring_npoints(ring); i++) {
        ring_point(ring, i, &value, &id);
        ck_assert_uint_lt(id, ncounts);
        counts[id]++;
    }
}

/* Loop test over ketama_files. */
START_TEST(test_nutcracker_vectors)
{
    ck_assert_uint_ge(vec_check_ring(ketama_files[_i]), 300);
}
END_TEST

/* nutcracker's own 5 -> 6 node change: only keys that land on the new node moved. */
START_TEST(test_nutcracker_add)
{
    struct vec_file five, six;
    char err[256];
    size_t k, moved = 0;
    uint32_t i;

    ck_assert_msg(vec_load("nutcracker_ketama_fnv1a_64.txt", &five, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_msg(vec_load("nutcracker_ketama_fnv1a_64_add.txt", &six, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_uint_eq(five.nnodes + 1, six.nnodes);
    for (i = 0; i < five.nnodes; i++) {
        ck_assert_str_eq(five.nodes[i].name, six.nodes[i].name);
    }
    ck_assert_uint_eq(five.nkeys, six.nkeys);
    for (k = 0; k < five.nkeys; k++) {
        ck_assert_str_eq(five.keys[k].text, six.keys[k].text);
        if (five.keys[k].index != six.keys[k].index) {
            ck_assert_uint_eq(six.keys[k].index, five.nnodes);
            moved++;
        }
    }
    ck_assert_uint_gt(moved, five.nkeys / 20);
    vec_free(&five);
    vec_free(&six);
}
END_TEST

START_TEST(test_points_equal_weight)
{
    struct ring_node nodes[MAX_NODES];
    char names[MAX_NODES][32];
    uint32_t counts[MAX_NODES], n, i;

    for (n = 1; n <= 30; n++) {
        /* twemproxy: floorf(1/n * 160/4 * n + 1e-10) * 4 in float is 39 * 4 at n = 25. */
        uint32_t want = n == 25 ? 156 : 160;
        struct ring *ring;

        make_nodes(nodes, names, n, "10.0.0.", ":11211", NULL);
        ring = ring_build(RING_KETAMA, nodes, n);
        ck_assert_uint_eq(ring_nnodes(ring), n);
        ck_assert_uint_eq(ring_npoints(ring), want * n);
        count_points(ring, counts, n);
        for (i = 0; i < n; i++) {
            ck_assert_msg(counts[i] == want, "%u nodes: node %u has %u points, want %u", n, i,
                          counts[i], want);
        }
        ring_free(ring);
    }
}
END_TEST

START_TEST(test_points_weighted)
{
    /* total 15 over 5: floorf(w/15 * 40 * 5) * 4 = 13*4, 26*4, 40*4, 53*4, 66*4. */
    static const uint32_t weights[] = {1, 2, 3, 4, 5}, want[] = {52, 104, 160, 212, 264};
    /* A node of weight 0 gets no point (and a share of nothing). */
    static const uint32_t weights0[] = {1, 0, 1}, want0[] = {240, 0, 240};
    struct ring_node nodes[5];
    char names[5][32];
    uint32_t counts[5], i;
    struct ring *ring;

    make_nodes(nodes, names, 5, "mc-", "", weights);
    ring = ring_build(RING_KETAMA, nodes, 5);
    ck_assert_uint_eq(ring_npoints(ring), 792);
    count_points(ring, counts, 5);
    for (i = 0; i < 5; i++) {
        ck_assert_uint_eq(counts[i], want[i]);
    }
    ring_free(ring);

    make_nodes(nodes, names, 3, "mc-", "", weights0);
    ring = ring_build(RING_KETAMA, nodes, 3);
    count_points(ring, counts, 3);
    for (i = 0; i < 3; i++) {
        ck_assert_uint_eq(counts[i], want0[i]);
    }
    for (i = 0; i < 100000; i++) {
        ck_assert_uint_ne(ring_lookup(ring, i * 42949u), 1);
    }
    ring_free(ring);
}
END_TEST

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* The points are the 4 little-endian words of md5("<name>-<i>"), i < 40, sorted. */
START_TEST(test_points_are_md5)
{
    struct ring_node node = {"cache-a.example.com:11211", 25, 1, 7};
    uint32_t want[160], value, id, i, x;
    struct ring *ring = ring_build(RING_KETAMA, &node, 1);

    for (i = 0; i < 40; i++) {
        char buf[64];
        unsigned char d[16];
        int n = snprintf(buf, sizeof(buf), "%.*s-%u", (int)node.name_len, node.name, i);

        hash_md5_digest(buf, (size_t)n, d);
        for (x = 0; x < 4; x++) {
            want[4 * i + x] = (uint32_t)d[4 * x] | (uint32_t)d[4 * x + 1] << 8 |
                              (uint32_t)d[4 * x + 2] << 16 | (uint32_t)d[4 * x + 3] << 24;
        }
    }
    qsort(want, 160, sizeof(want[0]), cmp_u32);
    ck_assert_uint_eq(ring_npoints(ring), 160);
    for (i = 0; i < 160; i++) {
        ring_point(ring, i, &value, &id);
        ck_assert_uint_eq(value, want[i]);
        ck_assert_uint_eq(id, 7);
    }
    ring_free(ring);
}
END_TEST

/* First point >= hash; a hash past the last point wraps to the first. */
START_TEST(test_lookup_edges)
{
    struct ring_node nodes[3];
    char names[3][32];
    uint32_t i, n, value, id, first_id, last, prev = 0;
    struct ring *ring;

    make_nodes(nodes, names, 3, "node-", "", NULL);
    ring = ring_build(RING_KETAMA, nodes, 3);
    n = ring_npoints(ring);
    ck_assert_uint_eq(n, 480);
    ring_point(ring, 0, &value, &first_id);
    ck_assert_uint_eq(ring_lookup(ring, 0), first_id);
    for (i = 0; i < n; i++) {
        ring_point(ring, i, &value, &id);
        ck_assert_uint_ge(value, prev);
        if (i == 0 || value != prev) {
            ck_assert_uint_eq(ring_lookup(ring, value), id);
            if (value > 0 && (i == 0 || prev < value - 1)) {
                /* just below a point, and past the previous one: this point owns it */
                ck_assert_uint_eq(ring_lookup(ring, value - 1), id);
            }
        }
        prev = value;
    }
    last = prev;
    ck_assert_uint_lt(last, UINT32_MAX);
    ck_assert_uint_eq(ring_lookup(ring, last + 1), first_id);
    ck_assert_uint_eq(ring_lookup(ring, UINT32_MAX), first_id);
    ring_free(ring);
}
END_TEST

/* The first point >= hash, by a search of the whole continuum. */
static uint32_t
lookup_slow(const struct ring *ring, uint32_t hash)
{
    uint32_t left = 0, right = ring_npoints(ring), value, id;

    while (left < right) {
        uint32_t mid = left + (right - left) / 2;

        ring_point(ring, mid, &value, &id);
        if (value < hash) {
            left = mid + 1;
        } else {
            right = mid;
        }
    }
    ring_point(ring, right == ring_npoints(ring) ? 0 : right, &value, &id);
    return id;
}

/*
 * The bucket index in front of the search gives the same server as a walk
 * of the whole continuum, for rings whose index has 16 to 65,536 buckets, at
 * bucket edges, on and around every point, and at random hashes.
 */
START_TEST(test_lookup_index)
{
    static const uint32_t sizes[] = {2, 3, 7, 50, 410};
    static struct ring_node nodes[410];
    static char names[410][32];
    uint32_t seed = 12345;

    for (size_t s = 0; s < KT_NELEMS(sizes); s++) {
        uint32_t n = sizes[s], value, id;
        struct ring *ring;

        make_nodes(nodes, names, n, "cache-", ":11211", NULL);
        ring = ring_build(RING_KETAMA, nodes, n);
        for (uint32_t bits = 4; bits <= 16; bits++) {
            for (uint64_t b = 0; b < (1u << bits); b += 1 + (b % 7)) {
                uint32_t edge = (uint32_t)(b << (32 - bits));

                ck_assert_uint_eq(ring_lookup(ring, edge), lookup_slow(ring, edge));
                ck_assert_uint_eq(ring_lookup(ring, edge - 1), lookup_slow(ring, edge - 1));
            }
        }
        for (uint32_t i = 0; i<ring_npoints(ring); i += n> 50 ? 97 : 1) {
            ring_point(ring, i, &value, &id);
            ck_assert_uint_eq(ring_lookup(ring, value), lookup_slow(ring, value));
            ck_assert_uint_eq(ring_lookup(ring, value + 1), lookup_slow(ring, value + 1));
            ck_assert_uint_eq(ring_lookup(ring, value - 1), lookup_slow(ring, value - 1));
        }
        for (int i = 0; i < 2000; i++) {
            seed = seed * 1103515245u + 12345u;
            ck_assert_uint_eq(ring_lookup(ring, seed), lookup_slow(ring, seed));
        }
        ring_free(ring);
    }
}
END_TEST

/* The caller's node order does not change the continuum. */
START_TEST(test_node_order)
{
    struct ring_node nodes[6], shuffled[6];
    static const uint32_t weights[] = {3, 1, 4, 1, 5, 9}, perm[] = {4, 2, 5, 0, 3, 1};
    char names[6][32];
    uint32_t i, va, ia, vb, ib;
    struct ring *a, *b;

    make_nodes(nodes, names, 6, "server", "", weights);
    for (i = 0; i < 6; i++) {
        shuffled[i] = nodes[perm[i]];
    }
    a = ring_build(RING_KETAMA, nodes, 6);
    b = ring_build(RING_KETAMA, shuffled, 6);
    ck_assert_uint_eq(ring_npoints(a), ring_npoints(b));
    for (i = 0; i < ring_npoints(a); i++) {
        ring_point(a, i, &va, &ia);
        ring_point(b, i, &vb, &ib);
        ck_assert_uint_eq(va, vb);
        ck_assert_uint_eq(ia, ib);
    }
    ring_free(a);
    ring_free(b);
}
END_TEST

/* Adding a node moves only keys to it; removing one moves only its keys. */
START_TEST(test_minimal_movement)
{
    struct ring_node nodes[6];
    char names[6][32];
    uint32_t i, moved_add = 0, moved_del = 0, nkeys = 20000;
    struct ring *five, *six, *four;

    make_nodes(nodes, names, 6, "127.0.0.1:2212", "", NULL);
    five = ring_build(RING_KETAMA, nodes, 5);
    six = ring_build(RING_KETAMA, nodes, 6);
    nodes[2] = nodes[4];
    four = ring_build(RING_KETAMA, nodes, 4); /* 0, 1, 3, 4: node 2 removed */

    for (i = 0; i < nkeys; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "user:%u", i);
        uint32_t h = hash_fnv1a_64(key, (size_t)n);
        uint32_t a = ring_lookup(five, h), b = ring_lookup(six, h), c = ring_lookup(four, h);

        if (a != b) {
            ck_assert_uint_eq(b, 5);
            moved_add++;
        }
        if (a != c) {
            ck_assert_uint_eq(a, 2);
            moved_del++;
        } else {
            ck_assert_uint_ne(c, 2);
        }
    }
    /* about 1/6 and 1/5 of the keys; far from none and far from all */
    ck_assert_uint_gt(moved_add, nkeys / 10);
    ck_assert_uint_lt(moved_add, nkeys / 4);
    ck_assert_uint_gt(moved_del, nkeys / 8);
    ck_assert_uint_lt(moved_del, nkeys / 3);
    ring_free(five);
    ring_free(six);
    ring_free(four);
}
END_TEST

/* ring.c: every distribution; an empty ring owns nothing. */
START_TEST(test_empty_ring)
{
    int d;

    for (d = 0; d < RING_NDISTS; d++) {
        struct ring *ring = ring_build(d, NULL, 0);

        ck_assert_uint_eq(ring_nnodes(ring), 0);
        ck_assert_uint_eq(ring_npoints(ring), 0);
        ck_assert_uint_eq(ring_lookup(ring, 0), RING_NONE);
        ck_assert_uint_eq(ring_lookup(ring, 12345), RING_NONE);
        ck_assert_uint_eq(ring_lookup(ring, UINT32_MAX), RING_NONE);
        ring_free(ring);
    }
    ring_free(NULL);
}
END_TEST

/* ring.c: twemproxy skips hashing for a one-server pool, whatever its weight. */
START_TEST(test_single_node)
{
    static const uint32_t weights[] = {1, 0, 7};
    size_t w;
    int d;

    for (d = 0; d < RING_NDISTS; d++) {
        for (w = 0; w < KT_NELEMS(weights); w++) {
            struct ring_node node = {"solo", 4, weights[w], 42};
            struct ring *ring = ring_build(d, &node, 1);
            uint32_t h;

            ck_assert_uint_eq(ring_nnodes(ring), 1);
            for (h = 0; h < 1000; h++) {
                ck_assert_uint_eq(ring_lookup(ring, h * 4294967u), 42);
            }
            ck_assert_uint_eq(ring_lookup(ring, UINT32_MAX), 42);
            ring_free(ring);
        }
    }
}
END_TEST

START_TEST(test_dist_names)
{
    ck_assert_str_eq(ring_dist_name(RING_KETAMA), "ketama");
    ck_assert_str_eq(ring_dist_name(RING_MODULA), "modula");
    ck_assert_str_eq(ring_dist_name(RING_RANDOM), "random");
    ck_assert_int_eq(ring_dist_from_name("ketama", 6), RING_KETAMA);
    ck_assert_int_eq(ring_dist_from_name("modula", 6), RING_MODULA);
    ck_assert_int_eq(ring_dist_from_name("random", 6), RING_RANDOM);
    ck_assert_int_eq(ring_dist_from_name("randomx", 6), RING_RANDOM);
    ck_assert_int_eq(ring_dist_from_name("ketam", 5), -1);
    ck_assert_int_eq(ring_dist_from_name("Ketama", 6), -1);
    ck_assert_int_eq(ring_dist_from_name("", 0), -1);
}
END_TEST

Suite *
ketama_suite(void)
{
    Suite *s = suite_create("ketama");
    TCase *nc = tcase_create("nutcracker");
    TCase *tc = tcase_create("continuum");
    TCase *rc = tcase_create("ring");

    tcase_add_loop_test(nc, test_nutcracker_vectors, 0, (int)KT_NELEMS(ketama_files));
    tcase_add_test(nc, test_nutcracker_add);
    suite_add_tcase(s, nc);

    tcase_add_test(tc, test_points_equal_weight);
    tcase_add_test(tc, test_points_weighted);
    tcase_add_test(tc, test_points_are_md5);
    tcase_add_test(tc, test_lookup_edges);
    tcase_add_test(tc, test_lookup_index);
    tcase_add_test(tc, test_node_order);
    tcase_add_test(tc, test_minimal_movement);
    suite_add_tcase(s, tc);

    tcase_add_test(rc, test_empty_ring);
    tcase_add_test(rc, test_single_node);
    tcase_add_test(rc, test_dist_names);
    suite_add_tcase(s, rc);
    return s;
}
