/*
 * tests/unit/hashring/suites.h - the Check suites of hashring/, one per
 * source file, run together by tests/unit/run_hashring.c.
 */
#ifndef KT_TESTS_UNIT_HASHRING_SUITES_H
#define KT_TESTS_UNIT_HASHRING_SUITES_H

#include <check.h>

Suite *hash_suite(void);
Suite *ketama_suite(void);
Suite *modula_suite(void);
Suite *random_suite(void);
Suite *hash_tag_suite(void);

#endif
