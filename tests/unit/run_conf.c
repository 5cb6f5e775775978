/*
 * tests/unit/run_conf.c - runs every Check suite of conf/ (YAML tree, pool
 * schema, shipped examples). Exit status 0 when all pass.
 */
#include "config.h"

#include <stdlib.h>

#include "tests/unit/conf/suites.h"

int
main(void)
{
    SRunner *sr = srunner_create(conf_yaml_suite());
    int nfailed;

    srunner_add_suite(sr, conf_pool_suite());
    srunner_add_suite(sr, conf_examples_suite());
    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
