/*
 * tests/unit/run_proxy.c - runs the Check suites of proxy/'s pure parts
 * (health: the TKO state machine and the probe backoff). Exit status 0
 * when all pass.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

Suite *health_suite(void);

int
main(void)
{
    SRunner *sr = srunner_create(health_suite());
    int nfailed;

    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
