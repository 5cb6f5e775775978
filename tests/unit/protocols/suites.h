/*
 * tests/unit/protocols/suites.h - the Check suites of protocols/, one per
 * source file, run together by tests/unit/run_protocols.c.
 */
#ifndef KT_TESTS_UNIT_PROTOCOLS_SUITES_H
#define KT_TESTS_UNIT_PROTOCOLS_SUITES_H

#include <check.h>

Suite *memcache_text_suite(void);
Suite *redis_resp_suite(void);
Suite *redis_cmds_suite(void);

#endif
