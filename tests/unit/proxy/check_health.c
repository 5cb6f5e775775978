/*
 * tests/unit/proxy/check_health.c - the TKO state machine (soft after a run
 * of failures, hard at once, fail open at max_tko_share, back on a probe)
 * and the probe backoff schedule (x1.5, jitter, cap).
 */
#include "config.h"

#include <check.h>

#include "proxy/health.h"

static struct health_pool
pool_of(uint32_t nservers, double share)
{
    struct health_pool hp = {0};

    hp.max_tko = health_max_tko(share, nservers);
    return hp;
}

START_TEST(test_max_tko_rounds_down)
{
    ck_assert_uint_eq(health_max_tko(0.5, 1), 0);
    ck_assert_uint_eq(health_max_tko(0.5, 2), 1);
    ck_assert_uint_eq(health_max_tko(0.5, 3), 1);
    ck_assert_uint_eq(health_max_tko(0.5, 4), 2);
    ck_assert_uint_eq(health_max_tko(1.0, 3), 3);
    ck_assert_uint_eq(health_max_tko(0.3, 10), 3); /* 0.3 * 10 is 2.9999... in binary */
    ck_assert_uint_eq(health_max_tko(0, 10), 0);
}
END_TEST

START_TEST(test_soft_tko_after_limit)
{
    struct health_pool hp = pool_of(4, 0.5);
    struct health h = {0};

    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 3), HEALTH_COUNTED);
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 3), HEALTH_COUNTED);
    ck_assert(!health_is_tko(&h));
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 3), HEALTH_MARKED);
    ck_assert_int_eq(health_state(&h), HEALTH_SOFT_TKO);
    ck_assert_uint_eq(hp.ntko, 1);
    ck_assert_uint_eq(hp.gen, 1);
    /* later failures do not mark it again: one worker probes */
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 3), HEALTH_ALREADY);
    ck_assert_uint_eq(hp.ntko, 1);
}
END_TEST

START_TEST(test_answer_ends_the_run)
{
    struct health_pool hp = pool_of(4, 0.5);
    struct health h = {0};

    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 2), HEALTH_COUNTED);
    health_answered(&h);
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 2), HEALTH_COUNTED);
    ck_assert(!health_is_tko(&h));
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 2), HEALTH_MARKED);
}
END_TEST

START_TEST(test_hard_tko_at_once)
{
    struct health_pool hp = pool_of(2, 0.5);
    struct health h = {0};

    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_HARD, 5), HEALTH_MARKED);
    ck_assert_int_eq(health_state(&h), HEALTH_HARD_TKO);
}
END_TEST

START_TEST(test_soft_becomes_hard)
{
    struct health_pool hp = pool_of(2, 0.5);
    struct health h = {0};

    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 1), HEALTH_MARKED);
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_HARD, 1), HEALTH_ALREADY);
    ck_assert_int_eq(health_state(&h), HEALTH_HARD_TKO);
    ck_assert_uint_eq(hp.ntko, 1);
}
END_TEST

START_TEST(test_limit_zero_marks_first)
{
    struct health_pool hp = pool_of(2, 0.5);
    struct health h = {0};

    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 0), HEALTH_MARKED);
}
END_TEST

START_TEST(test_fail_open_at_share)
{
    struct health_pool hp = pool_of(4, 0.5);
    struct health h[4] = {{0}};

    ck_assert_int_eq(health_failed(&h[0], &hp, HEALTH_FAULT_HARD, 2), HEALTH_MARKED);
    ck_assert_int_eq(health_failed(&h[1], &hp, HEALTH_FAULT_HARD, 2), HEALTH_MARKED);
    ck_assert_int_eq(health_failed(&h[2], &hp, HEALTH_FAULT_HARD, 2), HEALTH_FAIL_OPEN_ENTERED);
    ck_assert_int_eq(health_failed(&h[2], &hp, HEALTH_FAULT_HARD, 2), HEALTH_FAIL_OPEN);
    ck_assert_int_eq(health_failed(&h[3], &hp, HEALTH_FAULT_SOFT, 1), HEALTH_FAIL_OPEN);
    ck_assert(!health_is_tko(&h[2]));
    ck_assert(!health_is_tko(&h[3]));
    ck_assert_uint_eq(hp.ntko, 2);
    /* one comes back: a place is free, and the next failure takes it */
    ck_assert_int_eq(health_probe_ok(&h[0], &hp), 1);
    ck_assert_uint_eq(hp.ntko, 1);
    ck_assert_uint_eq(hp.fail_open, 0);
    ck_assert_int_eq(health_failed(&h[2], &hp, HEALTH_FAULT_HARD, 2), HEALTH_MARKED);
    ck_assert_uint_eq(hp.ntko, 2);
}
END_TEST

START_TEST(test_one_server_pool_never_empties)
{
    struct health_pool hp = pool_of(1, 0.5);
    struct health h = {0};

    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_HARD, 1), HEALTH_FAIL_OPEN_ENTERED);
    ck_assert(!health_is_tko(&h));
    hp = pool_of(1, 1.0);
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_HARD, 1), HEALTH_MARKED);
}
END_TEST

START_TEST(test_probe_brings_back_once)
{
    struct health_pool hp = pool_of(2, 0.5);
    struct health h = {0};
    uint32_t gen;

    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_HARD, 2), HEALTH_MARKED);
    gen = health_gen(&hp);
    ck_assert_int_eq(health_probe_ok(&h, &hp), 1);
    ck_assert(!health_is_tko(&h));
    ck_assert_uint_ne(health_gen(&hp), gen);
    ck_assert_int_eq(health_probe_ok(&h, &hp), 0);
    ck_assert_uint_eq(hp.ntko, 0);
    /* the run of failures starts again from zero */
    ck_assert_int_eq(health_failed(&h, &hp, HEALTH_FAULT_SOFT, 2), HEALTH_COUNTED);
}
END_TEST

START_TEST(test_backoff_schedule)
{
    uint64_t d = health_backoff(0, 500, 60000, 0);

    ck_assert_uint_eq(d, 500); /* the first probe waits server_retry_timeout exactly */
    d = health_backoff(d, 500, 60000, 0);
    ck_assert_uint_eq(d, 750); /* x1.5 without jitter */
    d = health_backoff(d, 500, 60000, 0);
    ck_assert_uint_eq(d, 1125);
    for (int i = 0; i < 40; i++) {
        d = health_backoff(d, 500, 60000, 0);
    }
    ck_assert_uint_eq(d, 60000); /* capped */
}
END_TEST

START_TEST(test_backoff_jitter_bounds)
{
    for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
        uint64_t d = health_backoff(1000, 500, 60000, rnd * 2654435761u);

        ck_assert_uint_ge(d, 1500);
        ck_assert_uint_le(d, 1500 + 1500 / 4);
    }
    /* jitter never crosses the cap */
    ck_assert_uint_eq(health_backoff(50000, 500, 60000, 0xffffffffu), 60000);
}
END_TEST

START_TEST(test_backoff_degenerate)
{
    /* a cap below the start is raised to it; a 1 ms start still grows */
    ck_assert_uint_eq(health_backoff(0, 800, 100, 0), 800);
    ck_assert_uint_eq(health_backoff(800, 800, 100, 0), 800);
    ck_assert_uint_eq(health_backoff(1, 1, 100, 0), 2);
    ck_assert_uint_eq(health_backoff(0, 0, 0, 0), 1);
}
END_TEST

Suite *health_suite(void);

Suite *
health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("tko");

    tcase_add_test(tc, test_max_tko_rounds_down);
    tcase_add_test(tc, test_soft_tko_after_limit);
    tcase_add_test(tc, test_answer_ends_the_run);
    tcase_add_test(tc, test_hard_tko_at_once);
    tcase_add_test(tc, test_soft_becomes_hard);
    tcase_add_test(tc, test_limit_zero_marks_first);
    tcase_add_test(tc, test_fail_open_at_share);
    tcase_add_test(tc, test_one_server_pool_never_empties);
    tcase_add_test(tc, test_probe_brings_back_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("backoff");
    tcase_add_test(tc, test_backoff_schedule);
    tcase_add_test(tc, test_backoff_jitter_bounds);
    tcase_add_test(tc, test_backoff_degenerate);
    suite_add_tcase(s, tc);
    return s;
}
