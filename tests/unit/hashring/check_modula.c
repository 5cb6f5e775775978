/*
 * tests/unit/hashring/check_modula.c - the modula distribution against the
 * servers nutcracker 0.5.0 chose (tests/vectors/nutcracker_modula_*.txt),
 * and its slot layout: each node <weight> times, in twemproxy's name order.
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "common/util.h"
#include "hashring/ring.h"
#include "tests/unit/hashring/suites.h"
#include "tests/unit/hashring/vectors.h"

static const char *const modula_files[] = {
    "nutcracker_modula_md5.txt",        "nutcracker_modula_crc32a.txt",
    "nutcracker_modula_fnv1a_64.txt",   "nutcracker_modula_murmur.txt",
    "nutcracker_modula_crc32a_tag.txt",
};

/* Loop test over modula_files. */
START_TEST(test_nutcracker_vectors)
{
    ck_assert_uint_ge(vec_check_ring(modula_files[_i]), 300);
}
END_TEST

/*
 * Slots follow twemproxy's server order, not the caller's: names by length,
 * then bytes ("zz" before "aaa", "mc-02" before "mc-10").
 */
START_TEST(test_slots)
{
    static const struct ring_node nodes[] = {
        {"mc-10", 5, 2, 0},
        {"aaa", 3, 1, 1},
        {"zz", 2, 3, 2},
        {"mc-02", 5, 1, 3},
    };
    /* order zz(3) aaa(1) mc-02(1) mc-10(2) */
    static const uint32_t want[] = {2, 2, 2, 1, 3, 0, 0};
    struct ring *ring = ring_build(RING_MODULA, nodes, KT_NELEMS(nodes));
    uint32_t i, value, id;

    ck_assert_uint_eq(ring_nnodes(ring), 4);
    ck_assert_uint_eq(ring_npoints(ring), KT_NELEMS(want));
    for (i = 0; i < KT_NELEMS(want); i++) {
        ring_point(ring, i, &value, &id);
        ck_assert_uint_eq(value, 0);
        ck_assert_msg(id == want[i], "slot %u: node %u, want %u", i, id, want[i]);
    }
    /* lookup = slot hash % total weight */
    for (i = 0; i < 1000; i++) {
        uint32_t h = i * 2654435761u;

        ck_assert_uint_eq(ring_lookup(ring, h), want[h % KT_NELEMS(want)]);
    }
    ck_assert_uint_eq(ring_lookup(ring, UINT32_MAX), want[UINT32_MAX % KT_NELEMS(want)]);
    ring_free(ring);
}
END_TEST

/* Weight 0 takes no slot; large weights cost nothing and still divide by the total. */
START_TEST(test_weights)
{
    static const struct ring_node zero[] = {{"a", 1, 1, 0}, {"b", 1, 0, 1}, {"c", 1, 1, 2}};
    static const struct ring_node big[] = {{"a", 1, 1000000000, 0}, {"b", 1, 3000000000u, 1}};
    struct ring *ring = ring_build(RING_MODULA, zero, 3);
    uint32_t h;

    ck_assert_uint_eq(ring_npoints(ring), 2);
    for (h = 0; h < 100; h++) {
        ck_assert_uint_eq(ring_lookup(ring, h), h % 2 ? 2 : 0);
    }
    ring_free(ring);

    ring = ring_build(RING_MODULA, big, 2);
    ck_assert_uint_eq(ring_npoints(ring), 4000000000u);
    ck_assert_uint_eq(ring_lookup(ring, 0), 0);
    ck_assert_uint_eq(ring_lookup(ring, 999999999u), 0);
    ck_assert_uint_eq(ring_lookup(ring, 1000000000u), 1);
    ck_assert_uint_eq(ring_lookup(ring, 3999999999u), 1);
    ck_assert_uint_eq(ring_lookup(ring, 4000000000u), 0); /* wraps: % 4e9 */
    ck_assert_uint_eq(ring_lookup(ring, UINT32_MAX), 0);
    ring_free(ring);
}
END_TEST

/* Modula has no consistency: adding a node moves most keys (why ketama exists). */
START_TEST(test_add_moves_most)
{
    static const struct ring_node nodes[] = {
        {"n1", 2, 1, 0}, {"n2", 2, 1, 1}, {"n3", 2, 1, 2}, {"n4", 2, 1, 3}, {"n5", 2, 1, 4},
    };
    struct ring *four = ring_build(RING_MODULA, nodes, 4);
    struct ring *five = ring_build(RING_MODULA, nodes, 5);
    uint32_t h, moved = 0;

    for (h = 0; h < 2000; h++) {
        moved += ring_lookup(four, h * 7919u) != ring_lookup(five, h * 7919u);
    }
    ck_assert_uint_gt(moved, 1000);
    ring_free(four);
    ring_free(five);
}
END_TEST

Suite *
modula_suite(void)
{
    Suite *s = suite_create("modula");
    TCase *nc = tcase_create("nutcracker");
    TCase *tc = tcase_create("slots");

    tcase_add_loop_test(nc, test_nutcracker_vectors, 0, (int)KT_NELEMS(modula_files));
    suite_add_tcase(s, nc);
    tcase_add_test(tc, test_slots);
    tcase_add_test(tc, test_weights);
    tcase_add_test(tc, test_add_moves_most);
    suite_add_tcase(s, tc);
    return s;
}
