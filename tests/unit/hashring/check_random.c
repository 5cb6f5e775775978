/*
 * tests/unit/hashring/check_random.c - the random distribution: one point per
 * node whatever its weight (twemproxy nc_random.c), in name order, picked by
 * the caller's random number modulo the node count.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "common/util.h"
#include "hashring/ring.h"
#include "tests/unit/hashring/suites.h"

START_TEST(test_one_point_per_node)
{
    static const struct ring_node nodes[] = {
        {"cc", 2, 5, 10},
        {"b", 1, 1, 11},
        {"aa", 2, 100, 12},
    };
    /* name order: b, aa, cc */
    static const uint32_t want[] = {11, 12, 10};
    struct ring *ring = ring_build(RING_RANDOM, nodes, KT_NELEMS(nodes));
    uint32_t i, value, id, seen[3] = {0, 0, 0};

    ck_assert_uint_eq(ring_npoints(ring), 3);
    for (i = 0; i < 3; i++) {
        ring_point(ring, i, &value, &id);
        ck_assert_uint_eq(id, want[i]);
    }
    for (i = 0; i < 30000; i++) {
        uint32_t r = (uint32_t)random();

        id = ring_lookup(ring, r);
        ck_assert_uint_eq(id, want[r % 3]);
        seen[id - 10]++;
    }
    /* weights do not skew it: each node gets about a third */
    for (i = 0; i < 3; i++) {
        ck_assert_uint_gt(seen[i], 9000);
    }
    ring_free(ring);
}
END_TEST

Suite *
random_suite(void)
{
    Suite *s = suite_create("random");
    TCase *tc = tcase_create("random");

    tcase_add_test(tc, test_one_point_per_node);
    suite_add_tcase(s, tc);
    return s;
}
