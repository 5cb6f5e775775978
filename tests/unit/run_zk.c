/*
 * tests/unit/run_zk.c - runs every Check suite of zk/ (membership: znode
 * payloads, the removal count, the cache file). Exit status 0 when all pass.
 */
#include "config.h"

#include <stdlib.h>

#include "tests/unit/zk/suites.h"

int
main(void)
{
    SRunner *sr = srunner_create(zk_membership_suite());
    int nfailed;

    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
