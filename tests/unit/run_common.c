/*
 * tests/unit/run_common.c - runs every Check suite of common/ (buffers and
 * span lists, collected errors). Exit status 0 when all pass.
 */
#include "config.h"

#include <stdlib.h>

#include "tests/unit/common/suites.h"

int
main(void)
{
    SRunner *sr = srunner_create(buf_suite());
    int nfailed;

    srunner_add_suite(sr, err_suite());
    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
