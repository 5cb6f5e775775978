/*
 * tests/unit/zk/check_membership.c - zk/membership.c: server znode payloads
 * (state, weight default, missing or malformed fields, unix sockets), the
 * "previous" payload, the count the removal safety valve uses, replacing a
 * pool, and the cache file's encode -> decode round trip.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "conf/conf.h"
#include "tests/unit/zk/suites.h"
#include "zk/membership.h"

#define WHAT "/ketch/pools/web/servers/mc1"

/* Decode <json> as server znode <name>; fail the test unless it decodes. */
static void
decode_ok(const char *name, const char *json, struct conf_server *srv, int *up)
{
    struct kt_err err = {0};
    int rc = membership_server_decode(WHAT, name, json, strlen(json), srv, up, &err);

    ck_assert_msg(rc == 0 && err.nmsgs == 0, "%s: rc %d, %s", json, rc,
                  err.nmsgs > 0 ? err.msgs[0] : "no message");
    kt_err_clear(&err);
}

/*
 * Decode <json> (<len> bytes) as server znode "mc1"; fail the test unless
 * it is refused with a message that starts with the znode's path and
 * contains <word>.
 */
static void
decode_fails(const char *json, size_t len, const char *word)
{
    struct kt_err err = {0};
    struct conf_server srv;
    int up = -1;
    int rc;

    memset(&srv, 0, sizeof(srv));
    rc = membership_server_decode(WHAT, "mc1", json, len, &srv, &up, &err);
    ck_assert_msg(rc == -1, "accepted %.*s", (int)len, json);
    ck_assert_uint_ge(err.nmsgs, 1);
    ck_assert_msg(strncmp(err.msgs[0], WHAT, strlen(WHAT)) == 0,
                  "message does not name the znode: %s", err.msgs[0]);
    ck_assert_msg(strstr(err.msgs[0], word) != NULL, "message lacks '%s': %s", word, err.msgs[0]);
    kt_err_clear(&err);
    conf_server_clear(&srv);
}

START_TEST(server_good)
{
    struct conf_server srv;
    int up = -1;

    decode_ok("mc1", "{\"addr\":\"10.0.0.1:11211\",\"weight\":2,\"zone\":\"a\",\"state\":\"up\"}",
              &srv, &up);
    ck_assert_int_eq(up, 1);
    ck_assert_str_eq(srv.addr.host, "10.0.0.1");
    ck_assert_int_eq(srv.addr.port, 11211);
    ck_assert_int_eq(srv.addr.is_unix, 0);
    ck_assert_uint_eq(srv.weight, 2);
    /* the znode name is the ketama name, as the name after a server line's weight */
    ck_assert_str_eq(srv.name, "mc1");
    ck_assert_int_eq(srv.named, 1);
    conf_server_clear(&srv);
}
END_TEST

START_TEST(server_not_up)
{
    static const char *const states[] = {"draining", "ejected", "down", "UP"};
    char json[128];

    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        struct conf_server srv;
        int up = -1;

        snprintf(json, sizeof(json), "{\"addr\":\"10.0.0.1:11211\",\"weight\":1,\"state\":\"%s\"}",
                 states[i]);
        decode_ok("mc1", json, &srv, &up);
        ck_assert_msg(up == 0, "state %s: up %d", states[i], up);
        ck_assert_str_eq(srv.addr.host, "10.0.0.1");
        ck_assert_str_eq(srv.name, "mc1");
        conf_server_clear(&srv);
    }
}
END_TEST

START_TEST(server_weight_default)
{
    struct conf_server srv;
    int up = -1;

    decode_ok("r2", "{\"addr\": \"127.0.0.1:6379\", \"state\": \"up\"}", &srv, &up);
    ck_assert_int_eq(up, 1);
    ck_assert_uint_eq(srv.weight, 1);
    ck_assert_int_eq(srv.addr.port, 6379);
    ck_assert_str_eq(srv.name, "r2");
    conf_server_clear(&srv);
}
END_TEST

START_TEST(server_unix_socket)
{
    struct conf_server srv;
    int up = -1;

    decode_ok("local", "{\"addr\":\"/var/run/memcached/mc.sock\",\"weight\":3,\"state\":\"up\"}",
              &srv, &up);
    ck_assert_int_eq(up, 1);
    ck_assert_int_eq(srv.addr.is_unix, 1);
    ck_assert_str_eq(srv.addr.host, "/var/run/memcached/mc.sock");
    ck_assert_uint_eq(srv.weight, 3);
    ck_assert_str_eq(srv.name, "local");
    conf_server_clear(&srv);
}
END_TEST

START_TEST(server_ipv6)
{
    struct conf_server srv;
    int up = -1;

    decode_ok("six", "{\"addr\":\"[::1]:11212\",\"state\":\"up\"}", &srv, &up);
    ck_assert_str_eq(srv.addr.host, "::1");
    ck_assert_int_eq(srv.addr.port, 11212);
    ck_assert_str_eq(srv.name, "six");
    conf_server_clear(&srv);
}
END_TEST

START_TEST(server_bad)
{
    static const char missing_addr[] = "{\"weight\":1,\"zone\":\"a\",\"state\":\"up\"}";
    static const char empty_addr[] = "{\"addr\":\"\",\"state\":\"up\"}";
    static const char bad_json[] = "{\"addr\": \"10.0.0.1:11211\", \"weight\": ";
    static const char unterminated[] = "{\"addr\": \"10.0.0.1:11211";
    static const char array[] = "[\"10.0.0.1:11211\"]";
    static const char scalar[] = "10.0.0.1:11211";
    static const char zero_weight[] = "{\"addr\":\"10.0.0.1:11211\",\"weight\":0}";
    static const char bad_weight[] = "{\"addr\":\"10.0.0.1:11211\",\"weight\":\"heavy\"}";
    static const char bad_port[] = "{\"addr\":\"10.0.0.1:99999\"}";
    static const char no_port[] = "{\"addr\":\"10.0.0.1\"}";
    static const char spaced[] = "{\"addr\":\"10.0.0.1:11211 x\"}";

    decode_fails(missing_addr, sizeof(missing_addr) - 1, "addr");
    decode_fails(empty_addr, sizeof(empty_addr) - 1, "addr");
    decode_fails(bad_json, sizeof(bad_json) - 1, "");
    decode_fails(unterminated, sizeof(unterminated) - 1, "");
    decode_fails(array, sizeof(array) - 1, "object");
    decode_fails(scalar, sizeof(scalar) - 1, "object");
    decode_fails("", 0, "empty");
    decode_fails(zero_weight, sizeof(zero_weight) - 1, "weight");
    decode_fails(bad_weight, sizeof(bad_weight) - 1, "weight");
    decode_fails(bad_port, sizeof(bad_port) - 1, "port");
    decode_fails(no_port, sizeof(no_port) - 1, "");
    decode_fails(spaced, sizeof(spaced) - 1, "space");
}
END_TEST

START_TEST(server_name_with_space)
{
    static const char json[] = "{\"addr\":\"10.0.0.1:11211\"}";
    struct kt_err err = {0};
    struct conf_server srv;
    int up = -1;

    memset(&srv, 0, sizeof(srv));
    ck_assert_int_eq(
        membership_server_decode(WHAT, "mc 1", json, sizeof(json) - 1, &srv, &up, &err), -1);
    ck_assert_uint_ge(err.nmsgs, 1);
    kt_err_clear(&err);
    conf_server_clear(&srv);
}
END_TEST

/* The payload is <len> bytes, not a C string: what follows is not read. */
START_TEST(server_length_bounded)
{
    static const char json[] = "{\"addr\":\"10.0.0.1:11211\"}garbage{{{";
    struct kt_err err = {0};
    struct conf_server srv;
    int up = -1;

    ck_assert_int_eq(membership_server_decode(WHAT, "mc1", json,
                                              strlen("{\"addr\":\"10.0.0.1:11211\"}"), &srv, &up,
                                              &err),
                     0);
    ck_assert_uint_eq(err.nmsgs, 0);
    ck_assert_str_eq(srv.addr.host, "10.0.0.1");
    conf_server_clear(&srv);
}
END_TEST

START_TEST(prev_good)
{
    static const char json[] = "{\"servers\":[{\"name\":\"mc1\",\"addr\":\"10.0.0.1:11211\","
                               "\"weight\":1},{\"name\":\"mc2\",\"addr\":\"10.0.0.2:11212\"},"
                               "{\"name\":\"mc3\",\"addr\":\"10.0.0.3:11211\",\"weight\":4}]}";
    struct kt_err err = {0};
    struct conf_server *prev = NULL;
    size_t n = 99;

    ck_assert_int_eq(membership_prev_decode(WHAT, json, sizeof(json) - 1, &prev, &n, &err), 0);
    ck_assert_uint_eq(err.nmsgs, 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(prev[0].name, "mc1");
    ck_assert_str_eq(prev[0].addr.host, "10.0.0.1");
    ck_assert_int_eq(prev[0].addr.port, 11211);
    ck_assert_uint_eq(prev[0].weight, 1);
    ck_assert_str_eq(prev[1].name, "mc2");
    ck_assert_int_eq(prev[1].addr.port, 11212);
    ck_assert_uint_eq(prev[1].weight, 1);
    ck_assert_str_eq(prev[2].name, "mc3");
    ck_assert_uint_eq(prev[2].weight, 4);
    conf_servers_free(prev, n);
}
END_TEST

START_TEST(prev_empty_list)
{
    static const char json[] = "{\"servers\":[]}";
    struct kt_err err = {0};
    struct conf_server *prev = NULL;
    size_t n = 99;

    ck_assert_int_eq(membership_prev_decode(WHAT, json, sizeof(json) - 1, &prev, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    conf_servers_free(prev, n);
}
END_TEST

/* "previous" payloads that are refused, each with a message. */
static const char *const prev_bad_cases[] = {
    "{\"servers\":[{\"addr\":\"10.0.0.1:11211\"}]}",                /* no name */
    "{\"servers\":[{\"name\":\"mc1\"}]}",                           /* no addr */
    "{\"servers\":{\"name\":\"mc1\",\"addr\":\"10.0.0.1:11211\"}}", /* not an array */
    "{\"servers\":[\"10.0.0.1:11211:1 mc1\"]}",                     /* not objects */
    "{\"previous\":[]}",                                            /* no "servers" */
    "{}",                                                           /* no "servers" */
    "[{\"name\":\"mc1\",\"addr\":\"10.0.0.1:11211\"}]",             /* not an object */
    "{\"servers\":[{\"name\":\"mc1\",\"addr\":",                    /* not JSON */
    "",
};

START_TEST(prev_bad)
{
    const char *bad = prev_bad_cases[_i];
    struct kt_err err = {0};
    struct conf_server *prev = (struct conf_server *)1;
    size_t n = 99;

    ck_assert_msg(membership_prev_decode(WHAT, bad, strlen(bad), &prev, &n, &err) == -1,
                  "accepted %s", bad);
    ck_assert_msg(err.nmsgs >= 1, "no message for %s", bad);
    ck_assert_ptr_null(prev);
    ck_assert_uint_eq(n, 0);
    kt_err_clear(&err);
}
END_TEST

/* A pool <name> of <n> servers "name=host:port" (weight 1). */
static void
mpool_make(struct mpool *mp, const char *name, const char *const *servers, size_t n)
{
    memset(mp, 0, sizeof(*mp));
    mp->name = kt_strdup(name);
    mp->servers = kt_calloc(n + 1, sizeof(*mp->servers));
    for (size_t i = 0; i < n; i++) {
        struct kt_err err = {0};
        char line[256];
        const char *eq = strchr(servers[i], '=');

        snprintf(line, sizeof(line), "%s:1 %.*s", eq + 1, (int)(eq - servers[i]), servers[i]);
        ck_assert_int_eq(conf_server_parse(line, "test", &mp->servers[i], &err), 0);
        kt_err_clear(&err);
    }
    mp->nservers = n;
}

START_TEST(removed)
{
    static const char *const four[] = {"a=10.0.0.1:11211", "b=10.0.0.2:11211", "c=10.0.0.3:11211",
                                       "d=10.0.0.4:11211"};
    static const char *const two[] = {"a=10.0.0.1:11211", "c=10.0.0.3:11211"};
    static const char *const six[] = {"a=10.0.0.1:11211", "b=10.0.0.2:11211", "c=10.0.0.3:11211",
                                      "d=10.0.0.4:11211", "e=10.0.0.5:11211", "f=10.0.0.6:11211"};
    /* same names, b on another port, d on another host: both count as removed */
    static const char *const moved[] = {"a=10.0.0.1:11211", "b=10.0.0.2:11212", "c=10.0.0.3:11211",
                                        "d=10.0.0.9:11211"};
    /* same addresses, other names: another ring, every server removed */
    static const char *const renamed[] = {"w=10.0.0.1:11211", "x=10.0.0.2:11211",
                                          "y=10.0.0.3:11211", "z=10.0.0.4:11211"};
    struct mpool old, next;

    mpool_make(&old, "web", four, 4);

    mpool_make(&next, "web", two, 2);
    ck_assert_uint_eq(membership_removed(&old, &next), 2);
    ck_assert_uint_eq(membership_removed(&next, &old), 0);
    mpool_clear(&next);

    mpool_make(&next, "web", six, 6);
    ck_assert_uint_eq(membership_removed(&old, &next), 0);
    ck_assert_uint_eq(membership_removed(&next, &old), 2);
    mpool_clear(&next);

    mpool_make(&next, "web", moved, 4);
    ck_assert_uint_eq(membership_removed(&old, &next), 2);
    mpool_clear(&next);

    mpool_make(&next, "web", renamed, 4);
    ck_assert_uint_eq(membership_removed(&old, &next), 4);
    mpool_clear(&next);

    mpool_make(&next, "web", four, 0);
    ck_assert_uint_eq(membership_removed(&old, &next), 4);
    mpool_clear(&next);

    ck_assert_uint_eq(membership_removed(&old, &old), 0);
    mpool_clear(&old);
}
END_TEST

START_TEST(put_replaces)
{
    static const char *const two[] = {"a=10.0.0.1:11211", "b=10.0.0.2:11211"};
    static const char *const one[] = {"z=10.0.0.9:6379"};
    struct membership *m = kt_calloc(1, sizeof(*m));
    const struct mpool *found;
    struct mpool mp;

    ck_assert_ptr_null(membership_find(m, "web"));
    mpool_make(&mp, "web", two, 2);
    membership_put(m, &mp);
    /* moved in: the caller's struct is left empty */
    ck_assert_ptr_null(mp.name);
    ck_assert_ptr_null(mp.servers);
    ck_assert_uint_eq(mp.nservers, 0);
    mpool_make(&mp, "cache", one, 1);
    membership_put(m, &mp);
    ck_assert_uint_eq(m->npools, 2);

    mpool_make(&mp, "web", one, 1);
    mp.has_prev = 1;
    membership_put(m, &mp);
    ck_assert_uint_eq(m->npools, 2);
    found = membership_find(m, "web");
    ck_assert_ptr_nonnull(found);
    ck_assert_uint_eq(found->nservers, 1);
    ck_assert_str_eq(found->servers[0].name, "z");
    ck_assert_int_eq(found->has_prev, 1);
    found = membership_find(m, "cache");
    ck_assert_ptr_nonnull(found);
    ck_assert_str_eq(found->servers[0].name, "z");
    ck_assert_ptr_null(membership_find(m, "we"));
    ck_assert_ptr_null(membership_find(m, "webb"));
    ck_assert_ptr_null(membership_find(NULL, "web"));
    membership_free(m);
    membership_free(NULL);
}
END_TEST

/* Equal servers, field by field. */
static void
servers_eq(const struct conf_server *a, const struct conf_server *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(a[i].name, b[i].name);
        ck_assert_str_eq(a[i].addr.host, b[i].addr.host);
        ck_assert_int_eq(a[i].addr.port, b[i].addr.port);
        ck_assert_int_eq(a[i].addr.is_unix, b[i].addr.is_unix);
        ck_assert_uint_eq(a[i].weight, b[i].weight);
    }
}

START_TEST(cache_round_trip)
{
    static const char *const web[] = {"mc1=10.0.0.1:11211", "mc2=10.0.0.2:11212", "six=[::1]:11213",
                                      "mc-4.b=mc4.example.net:11211"};
    static const char *const old[] = {"mc1=10.0.0.1:11211", "mc2=10.0.0.2:11212"};
    static const char *const cache[] = {"r1=127.0.0.1:6379"};
    struct membership *m = kt_calloc(1, sizeof(*m)), *back = NULL;
    struct kt_err err = {0};
    struct mpool mp, prev;
    char *text, *again;

    mpool_make(&mp, "web", web, 4);
    mp.servers[1].weight = 3;
    mpool_make(&prev, "web", old, 2);
    mp.prev = prev.servers;
    mp.nprev = prev.nservers;
    mp.has_prev = 1;
    kt_free(prev.name);
    membership_put(m, &mp);
    mpool_make(&mp, "cache", cache, 1);
    membership_put(m, &mp);
    /* a unix socket server */
    {
        static const char json[] = "{\"addr\":\"/tmp/mc.sock\"}";
        struct mpool sock = {0};
        int up;

        sock.name = kt_strdup("local");
        sock.servers = kt_calloc(2, sizeof(*sock.servers));
        ck_assert_int_eq(membership_server_decode(WHAT, "s1", json, sizeof(json) - 1,
                                                  &sock.servers[0], &up, &err),
                         0);
        sock.nservers = 1;
        membership_put(m, &sock);
    }
    /* a pool whose expansion has an empty old ring still has one */
    mpool_make(&mp, "fresh", cache, 1);
    mp.has_prev = 1;
    membership_put(m, &mp);

    text = membership_encode(m);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(membership_decode("cache.json", text, strlen(text), &back, &err) == 0, "%s\n%s",
                  err.nmsgs > 0 ? err.msgs[0] : "", text);
    ck_assert_uint_eq(back->npools, m->npools);
    for (size_t i = 0; i < m->npools; i++) {
        const struct mpool *a = &m->pools[i];
        const struct mpool *b = membership_find(back, a->name);

        ck_assert_msg(b != NULL, "pool %s lost:\n%s", a->name, text);
        ck_assert_uint_eq(b->nservers, a->nservers);
        servers_eq(a->servers, b->servers, a->nservers);
        ck_assert_int_eq(b->has_prev, a->has_prev);
        ck_assert_uint_eq(b->nprev, a->nprev);
        servers_eq(a->prev, b->prev, a->nprev);
    }
    ck_assert_int_eq(membership_find(back, "cache")->has_prev, 0);
    ck_assert_int_eq(membership_find(back, "fresh")->has_prev, 1);
    ck_assert_int_eq(membership_find(back, "local")->servers[0].addr.is_unix, 1);
    /* and it is a fixed point */
    again = membership_encode(back);
    ck_assert_str_eq(again, text);
    kt_free(again);
    kt_free(text);
    membership_free(back);
    membership_free(m);
}
END_TEST

START_TEST(cache_empty)
{
    struct membership *m = kt_calloc(1, sizeof(*m)), *back = NULL;
    struct kt_err err = {0};
    char *text;

    text = membership_encode(m);
    ck_assert_int_eq(membership_decode("cache.json", text, strlen(text), &back, &err), 0);
    ck_assert_uint_eq(back->npools, 0);
    membership_free(back);
    kt_free(text);
    membership_free(m);
}
END_TEST

/* Cache files that are refused, each with a message (a damaged cache is ignored, said why). */
static const char *const cache_bad_cases[] = {
    "",
    "[]",
    "{\"pools\": []}",
    "{\"servers\": []}",
    "{\"pools\": {\"web\": {\"servers\": [{\"name\": \"a\"}]}}}",
    "{\"pools\": {\"web\": {\"servers\": [], \"previous\": {}}}}",
    "{\"pools\": {\"web\": {\"previous\": []}}}",
    "{\"pools\": {\"web\": [1, 2]}}",
    "{\"pools\": {\"web\": {\"servers\": [",
};

START_TEST(cache_bad)
{
    const char *bad = cache_bad_cases[_i];
    struct membership *back = (struct membership *)1;
    struct kt_err err = {0};

    ck_assert_msg(membership_decode("cache.json", bad, strlen(bad), &back, &err) == -1,
                  "accepted %s", bad);
    ck_assert_ptr_null(back);
    ck_assert_msg(err.nmsgs >= 1, "no message for %s", bad);
    kt_err_clear(&err);
}
END_TEST

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
zk_membership_suite(void)
{
    Suite *s = suite_create("zk/membership");
    TCase *tc = tcase_create("membership");

    tcase_add_test(tc, server_good);
    tcase_add_test(tc, server_not_up);
    tcase_add_test(tc, server_weight_default);
    tcase_add_test(tc, server_unix_socket);
    tcase_add_test(tc, server_ipv6);
    tcase_add_test(tc, server_bad);
    tcase_add_test(tc, server_name_with_space);
    tcase_add_test(tc, server_length_bounded);
    tcase_add_test(tc, prev_good);
    tcase_add_test(tc, prev_empty_list);
    tcase_add_loop_test(tc, prev_bad, 0, NCASES(prev_bad_cases));
    tcase_add_test(tc, removed);
    tcase_add_test(tc, put_replaces);
    tcase_add_test(tc, cache_round_trip);
    tcase_add_test(tc, cache_empty);
    tcase_add_loop_test(tc, cache_bad, 0, NCASES(cache_bad_cases));
    suite_add_tcase(s, tc);
    return s;
}
