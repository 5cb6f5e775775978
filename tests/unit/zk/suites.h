/*
 * tests/unit/zk/suites.h - the Check suites of zk/'s pure parts (one per
 * source file; zk.c needs a ZooKeeper and is tested by the integration
 * tests).
 */
#ifndef KT_TESTS_UNIT_ZK_SUITES_H
#define KT_TESTS_UNIT_ZK_SUITES_H

#include <check.h>

Suite *zk_membership_suite(void);

#endif
