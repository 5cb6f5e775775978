/*
 * tests/unit/conf/suites.h - the Check suites of conf/ (one per source file)
 * and the helpers they share: load a YAML string, expect success or exactly
 * these messages.
 */
#ifndef KT_TESTS_UNIT_CONF_SUITES_H
#define KT_TESTS_UNIT_CONF_SUITES_H

#include <check.h>

struct conf;

Suite *conf_yaml_suite(void);
Suite *conf_pool_suite(void);
Suite *conf_examples_suite(void);

/* The file name every string config is loaded under. */
#define CT_FILE "t.yml"

/* Load <yaml> as CT_FILE; fail the test unless it loads with no message. Free with conf_free(). */
struct conf *ct_load_ok(const char *yaml);
/*
 * Load <yaml> as CT_FILE; fail the test unless it is refused with -EINVAL
 * and exactly the messages <msgs> (NULL-terminated), in that order.
 */
void ct_load_fail(const char *yaml, const char *const *msgs);

#define CT_FAIL(yaml, ...) ct_load_fail((yaml), (const char *const[]){__VA_ARGS__, NULL})

#endif
