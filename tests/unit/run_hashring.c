/*
 * tests/unit/run_hashring.c - runs every Check suite of hashring/; exits
 * non-zero when any test fails. Golden vectors are read from
 * $KETCH_SRCDIR/tests/vectors (make check sets it).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "tests/unit/hashring/suites.h"

int
main(void)
{
    SRunner *sr = srunner_create(hash_suite());
    int nfailed;

    srunner_add_suite(sr, ketama_suite());
    srunner_add_suite(sr, modula_suite());
    srunner_add_suite(sr, random_suite());
    srunner_add_suite(sr, hash_tag_suite());
    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
