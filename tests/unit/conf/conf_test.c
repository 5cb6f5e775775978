/*
 * tests/unit/conf/conf_test.c - helpers shared by the conf suites: load a
 * config from a string and compare every message it produced.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"
#include "tests/unit/conf/suites.h"

/* All messages of <err>, one a line, for a failure report. */
static void
join(const struct kt_err *err, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < err->nmsgs && used < size; i++) {
        int w = snprintf(buf + used, size - used, "\n  %s", err->msgs[i]);

        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
}

struct conf *
ct_load_ok(const char *yaml)
{
    struct kt_err err = {0};
    struct conf *conf = NULL;
    char got[4096];
    int rc;

    rc = conf_load_buf(CT_FILE, yaml, strlen(yaml), &conf, &err);
    join(&err, got, sizeof(got));
    ck_assert_msg(rc == 0 && err.nmsgs == 0, "load failed (rc %d):%s", rc, got);
    ck_assert_ptr_nonnull(conf);
    kt_err_clear(&err);
    return conf;
}

void
ct_load_fail(const char *yaml, const char *const *msgs)
{
    struct kt_err err = {0};
    struct conf *conf = (struct conf *)1;
    char got[4096];
    size_t n = 0;
    int rc;

    while (msgs[n] != NULL) {
        n++;
    }
    rc = conf_load_buf(CT_FILE, yaml, strlen(yaml), &conf, &err);
    join(&err, got, sizeof(got));
    ck_assert_msg(rc == -EINVAL, "rc %d, expected -EINVAL; messages:%s", rc, got);
    ck_assert_ptr_null(conf);
    ck_assert_msg(err.nmsgs == n, "%zu messages, expected %zu:%s", err.nmsgs, n, got);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(strcmp(err.msgs[i], msgs[i]) == 0, "message %zu:\n  got  %s\n  want %s", i,
                      err.msgs[i], msgs[i]);
    }
    kt_err_clear(&err);
}
