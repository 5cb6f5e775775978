/*
 * tests/unit/common/check_err.c - collected human-readable errors (err.c):
 * messages kept formatted and in order, cleared, and collected again.
 */
#include "config.h"

#include <string.h>

#include "common/err.h"
#include "tests/unit/common/suites.h"

START_TEST(add_formats_in_order)
{
    struct kt_err err = {0};

    kt_err_add(&err, "pools.%s.servers[%d]: weight must be > 0 (%s:%d:%d)", "web", 2, "ketch.yml",
               14, 9);
    kt_err_add(&err, "pools.web: unknown key \"%s\"", "listn");
    kt_err_add(&err, "%s", "");
    ck_assert_uint_eq(err.nmsgs, 3);
    ck_assert_str_eq(err.msgs[0], "pools.web.servers[2]: weight must be > 0 (ketch.yml:14:9)");
    ck_assert_str_eq(err.msgs[1], "pools.web: unknown key \"listn\"");
    ck_assert_str_eq(err.msgs[2], "");
    kt_err_clear(&err);
}
END_TEST

/* Each message is its own copy: the caller's buffer may change after the call. */
START_TEST(add_copies)
{
    struct kt_err err = {0};
    char name[16] = "first";

    kt_err_add(&err, "%s", name);
    strcpy(name, "second");
    kt_err_add(&err, "%s", name);
    ck_assert_str_eq(err.msgs[0], "first");
    ck_assert_str_eq(err.msgs[1], "second");
    kt_err_clear(&err);
}
END_TEST

START_TEST(clear_and_reuse)
{
    struct kt_err err = {0};

    kt_err_clear(&err);
    ck_assert_uint_eq(err.nmsgs, 0);
    for (int i = 0; i < 100; i++) {
        kt_err_add(&err, "error %d", i);
    }
    ck_assert_uint_eq(err.nmsgs, 100);
    ck_assert_str_eq(err.msgs[99], "error 99");
    kt_err_clear(&err);
    ck_assert_uint_eq(err.nmsgs, 0);
    ck_assert_ptr_null(err.msgs);
    kt_err_clear(&err);
    kt_err_add(&err, "again");
    ck_assert_uint_eq(err.nmsgs, 1);
    ck_assert_str_eq(err.msgs[0], "again");
    kt_err_clear(&err);
}
END_TEST

/* A message longer than the formatting buffer is cut, never overrun. */
START_TEST(long_message)
{
    static char text[8192];
    struct kt_err err = {0};
    size_t n;

    memset(text, 'x', sizeof(text) - 1);
    kt_err_add(&err, "%s", text);
    ck_assert_uint_eq(err.nmsgs, 1);
    n = strlen(err.msgs[0]);
    ck_assert_uint_ge(n, 1000);
    ck_assert_uint_le(n, sizeof(text) - 1);
    ck_assert_int_eq(strncmp(err.msgs[0], text, n), 0);
    kt_err_clear(&err);
}
END_TEST

Suite *
err_suite(void)
{
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("err");

    tcase_add_test(tc, add_formats_in_order);
    tcase_add_test(tc, add_copies);
    tcase_add_test(tc, clear_and_reuse);
    tcase_add_test(tc, long_message);
    suite_add_tcase(s, tc);
    return s;
}
