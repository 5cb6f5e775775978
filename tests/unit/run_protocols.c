/*
 * tests/unit/run_protocols.c - runs every Check suite of protocols/ (the
 * memcached text parsers, RESP framing, the Redis command table). Exit
 * status 0 when all pass. The command facts are read from
 * $KETCH_SRCDIR/tests/vectors (make check sets it).
 */
#include "config.h"

#include <stdlib.h>

#include "tests/unit/protocols/suites.h"

int
main(void)
{
    SRunner *sr = srunner_create(memcache_text_suite());
    int nfailed;

    srunner_add_suite(sr, redis_resp_suite());
    srunner_add_suite(sr, redis_cmds_suite());
    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
