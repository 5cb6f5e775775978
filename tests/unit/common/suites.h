/*
 * tests/unit/common/suites.h - the Check suites of common/, one per source
 * file, run together by tests/unit/run_common.c.
 */
#ifndef KT_TESTS_UNIT_COMMON_SUITES_H
#define KT_TESTS_UNIT_COMMON_SUITES_H

#include <check.h>

Suite *buf_suite(void);
Suite *err_suite(void);

#endif
