/*
 * tests/unit/conf/check_conf_examples.c - every file in conf/examples/ must
 * load without a message (they ship with ketch and are what users copy).
 * Finds the sources through KETCH_SRCDIR, then srcdir, then ".".
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"
#include "hashring/hash.h"
#include "hashring/ring.h"
#include "tests/unit/conf/suites.h"

static const char *
srcdir(void)
{
    const char *dir = getenv("KETCH_SRCDIR");

    if (dir == NULL || dir[0] == '\0') {
        dir = getenv("srcdir");
    }
    return dir != NULL && dir[0] != '\0' ? dir : ".";
}

static struct conf *
load_example(const char *file)
{
    char path[4096], msgs[2048] = "";
    struct kt_err err = {0};
    struct conf *conf = NULL;
    int rc;

    snprintf(path, sizeof(path), "%s/conf/examples/%s", srcdir(), file);
    rc = conf_load_file(path, &conf, &err);
    for (size_t i = 0; i < err.nmsgs; i++) {
        strncat(msgs, "\n  ", sizeof(msgs) - strlen(msgs) - 1);
        strncat(msgs, err.msgs[i], sizeof(msgs) - strlen(msgs) - 1);
    }
    ck_assert_msg(rc == 0 && err.nmsgs == 0, "%s: rc %d%s", path, rc, msgs);
    ck_assert_uint_ge(conf->npools, 1);
    kt_err_clear(&err);
    return conf;
}

START_TEST(every_example_loads)
{
    char dir[4096];
    struct dirent *de;
    DIR *d;
    int nfiles = 0;

    snprintf(dir, sizeof(dir), "%s/conf/examples", srcdir());
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (set KETCH_SRCDIR)", dir);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".yml") != 0) {
            continue;
        }
        conf_free(load_example(de->d_name));
        nfiles++;
    }
    closedir(d);
    ck_assert_int_ge(nfiles, 2);
}
END_TEST

START_TEST(nutcracker_example)
{
    struct conf *conf = load_example("nutcracker.yml");
    static const char *const pools[] = {"alpha", "beta", "gamma", "delta", "epsilon", "omega"};
    const struct conf_pool *p;

    ck_assert_uint_eq(conf->npools, 6);
    for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++) {
        ck_assert_str_eq(conf->pools[i].name, pools[i]);
        ck_assert_int_eq(conf->pools[i].has_listen, 1);
    }
    p = conf_pool_find(conf, "beta");
    ck_assert_int_eq(p->has_hash_tag, 1);
    ck_assert_str_eq(p->servers[3].name, "server4");
    p = conf_pool_find(conf, "gamma");
    ck_assert_int_eq(p->redis, 1);
    ck_assert_str_eq(p->redis_auth, "s3cr3t");
    p = conf_pool_find(conf, "delta");
    ck_assert_int_eq(p->hash, HASH_MURMUR);
    ck_assert_int_eq(p->distribution, RING_MODULA);
    ck_assert_str_eq(p->servers[2].name, "10.0.0.3");
    ck_assert_uint_eq(p->servers[2].weight, 2);
    ck_assert_str_eq(p->servers[3].name, "10.0.0.4:11212");
    p = conf_pool_find(conf, "omega");
    ck_assert_int_eq(p->listen.is_unix, 1);
    ck_assert_uint_eq(p->listen.perm, 0666);
    ck_assert_str_eq(p->servers[0].name, "/tmp/memcached-1.sock:");
    conf_free(conf);
}
END_TEST

START_TEST(ketch_example)
{
    struct conf *conf = load_example("ketch.yml");
    const struct conf_pool *p;

    ck_assert_int_eq(conf->ketch.threads, 2);
    p = conf_pool_find(conf, "web");
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p->max_value_size, 2 * 1024 * 1024);
    ck_assert_str_eq(p->servers[2].addr.host, "2001:db8::3");
    ck_assert_str_eq(p->gutter, "web_gutter");
    p = conf_pool_find(conf, "web_gutter");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->has_listen, 0);
    p = conf_pool_find(conf, "sessions");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->route.type, CONF_ROUTE_FAILOVER);
    ck_assert_uint_eq(p->route.nchildren, 2);
    ck_assert_uint_eq(p->nservers, 0);
    conf_free(conf);
}
END_TEST

Suite *
conf_examples_suite(void)
{
    Suite *s = suite_create("conf_examples");
    TCase *tc = tcase_create("examples");

    tcase_add_test(tc, every_example_loads);
    tcase_add_test(tc, nutcracker_example);
    tcase_add_test(tc, ketch_example);
    suite_add_tcase(s, tc);
    return s;
}
