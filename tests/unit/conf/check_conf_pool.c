/*
 * tests/unit/conf/check_conf_pool.c - the pool schema (conf_pool.c,
 * conf_schema.c, conf.c): every nutcracker key and its default, ketch's
 * extensions, server names as nutcracker computes them, and every message
 * with its exact line:column.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "conf/conf.h"
#include "hashring/hash.h"
#include "hashring/ring.h"
#include "tests/unit/conf/suites.h"

/* A pool "web" with one server and the text <extra> (indented keys) before "servers:". */
#define POOL(extra)                                                                                \
    "web:\n"                                                                                       \
    "  listen: 127.0.0.1:22121\n" extra "  servers:\n"                                             \
    "   - 127.0.0.1:11211:1\n"

/* The only pool of <conf>, checked to be there. */
static const struct conf_pool *
only_pool(const struct conf *conf)
{
    ck_assert_uint_eq(conf->npools, 1);
    return &conf->pools[0];
}

START_TEST(defaults)
{
    struct conf *conf = ct_load_ok(POOL(""));
    const struct conf_pool *p = only_pool(conf);

    ck_assert_str_eq(conf->path, CT_FILE);
    ck_assert_int_eq(conf->ketch.threads, 0);
    ck_assert_str_eq(p->name, "web");
    ck_assert_ptr_eq(conf_pool_find(conf, "web"), p);
    ck_assert_ptr_null(conf_pool_find(conf, "we"));
    ck_assert_int_eq(p->has_listen, 1);
    ck_assert_str_eq(p->listen.host, "127.0.0.1");
    ck_assert_int_eq(p->listen.port, 22121);
    ck_assert_int_eq(p->listen.is_unix, 0);
    ck_assert_int_eq(p->listen.perm, 0);
    /* nutcracker's defaults, src/nc_conf.h */
    ck_assert_int_eq(p->hash, HASH_FNV1A_64);
    ck_assert_int_eq(p->has_hash_tag, 0);
    ck_assert_int_eq(p->distribution, RING_KETAMA);
    ck_assert_int_eq(p->timeout_ms, -1);
    ck_assert_int_eq(p->backlog, 512);
    ck_assert_uint_eq(p->client_connections, 0);
    ck_assert_int_eq(p->redis, 0);
    ck_assert_ptr_null(p->redis_auth);
    ck_assert_int_eq(p->redis_db, 0);
    ck_assert_int_eq(p->preconnect, 0);
    ck_assert_int_eq(p->auto_eject_hosts, 0);
    ck_assert_uint_eq(p->server_connections, 1);
    ck_assert_int_eq(p->server_retry_timeout_ms, 30000);
    ck_assert_uint_eq(p->server_failure_limit, 2);
    ck_assert_int_eq(p->tcpkeepalive, 0);
    ck_assert_int_eq(p->reuseport, 0);
    ck_assert_uint_eq(p->max_value_size, 1048576);
    ck_assert_uint_eq(p->nservers, 1);
    ck_assert_str_eq(p->servers[0].addr.host, "127.0.0.1");
    ck_assert_int_eq(p->servers[0].addr.port, 11211);
    ck_assert_int_eq(p->servers[0].addr.is_unix, 0);
    ck_assert_uint_eq(p->servers[0].weight, 1);
    ck_assert_str_eq(p->servers[0].name, "127.0.0.1");
    ck_assert_int_eq(p->servers[0].named, 0);
    ck_assert_str_eq(p->servers[0].text, "127.0.0.1:11211:1");
    conf_free(conf);
}
END_TEST

START_TEST(every_key)
{
    struct conf *conf = ct_load_ok("ketch:\n"
                                   "  threads: 8\n"
                                   "web:\n"
                                   "  listen: 0.0.0.0:22122\n"
                                   "  client_connections: 1000\n"
                                   "  hash: murmur\n"
                                   "  hash_tag: \"{}\"\n"
                                   "  distribution: modula\n"
                                   "  timeout: 400\n"
                                   "  backlog: 1024\n"
                                   "  preconnect: true\n"
                                   "  redis: true\n"
                                   "  redis_auth: hunter2\n"
                                   "  redis_db: 3\n"
                                   "  server_connections: 4\n"
                                   "  auto_eject_hosts: true\n"
                                   "  server_retry_timeout: 2000\n"
                                   "  server_failure_limit: 0\n"
                                   "  tcpkeepalive: true\n"
                                   "  reuseport: true\n"
                                   "  max_value_size: 2097152\n"
                                   "  servers:\n"
                                   "   - 10.0.0.1:6379:1\n");
    const struct conf_pool *p = only_pool(conf);

    ck_assert_int_eq(conf->ketch.threads, 8);
    ck_assert_str_eq(p->listen.host, "0.0.0.0");
    ck_assert_int_eq(p->listen.port, 22122);
    ck_assert_uint_eq(p->client_connections, 1000);
    ck_assert_int_eq(p->hash, HASH_MURMUR);
    ck_assert_int_eq(p->has_hash_tag, 1);
    ck_assert_int_eq(p->hash_tag[0], '{');
    ck_assert_int_eq(p->hash_tag[1], '}');
    ck_assert_int_eq(p->distribution, RING_MODULA);
    ck_assert_int_eq(p->timeout_ms, 400);
    ck_assert_int_eq(p->backlog, 1024);
    ck_assert_int_eq(p->preconnect, 1);
    ck_assert_int_eq(p->redis, 1);
    ck_assert_str_eq(p->redis_auth, "hunter2");
    ck_assert_int_eq(p->redis_db, 3);
    ck_assert_uint_eq(p->server_connections, 4);
    ck_assert_int_eq(p->auto_eject_hosts, 1);
    ck_assert_int_eq(p->server_retry_timeout_ms, 2000);
    ck_assert_uint_eq(p->server_failure_limit, 0);
    ck_assert_int_eq(p->tcpkeepalive, 1);
    ck_assert_int_eq(p->reuseport, 1);
    ck_assert_uint_eq(p->max_value_size, 2097152);
    ck_assert_str_eq(p->servers[0].name, "10.0.0.1:6379");
    conf_free(conf);
}
END_TEST

START_TEST(every_hash)
{
    for (int h = 0; h < HASH_NTYPES; h++) {
        char yaml[256];
        struct conf *conf;

        snprintf(yaml, sizeof(yaml), POOL("  hash: %s\n"), hash_name((enum hash_type)h));
        conf = ct_load_ok(yaml);
        ck_assert_int_eq(only_pool(conf)->hash, h);
        conf_free(conf);
    }
}
END_TEST

START_TEST(every_distribution)
{
    for (int d = 0; d < RING_NDISTS; d++) {
        char yaml[256];
        struct conf *conf;

        snprintf(yaml, sizeof(yaml), POOL("  distribution: %s\n"),
                 ring_dist_name((enum ring_dist)d));
        conf = ct_load_ok(yaml);
        ck_assert_int_eq(only_pool(conf)->distribution, d);
        conf_free(conf);
    }
}
END_TEST

/* A value of one key and what it must become. */
struct num_case {
    const char *yaml;
    int64_t want;
};

START_TEST(timeouts)
{
    static const struct num_case cases[] = {
        {POOL("  timeout: 250\n"), 250},
        {POOL("  timeout: 0\n"), -1}, /* nutcracker never times out on 0 */
        {POOL("  timeout: -1\n"), -1},
        {POOL("  timeout: 2147483647\n"), 2147483647},
        {POOL("  timeout: 007\n"), 7},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf *conf = ct_load_ok(cases[i].yaml);

        ck_assert_int_eq(only_pool(conf)->timeout_ms, cases[i].want);
        conf_free(conf);
    }
}
END_TEST

START_TEST(booleans)
{
    struct conf *conf = ct_load_ok(POOL("  redis: false\n  preconnect: \"true\"\n"));

    ck_assert_int_eq(only_pool(conf)->redis, 0);
    ck_assert_int_eq(only_pool(conf)->preconnect, 1);
    conf_free(conf);
    /* nutcracker takes only true and false */
    CT_FAIL(POOL("  redis: yes\n  preconnect: True\n  tcpkeepalive: 1\n  reuseport:\n"),
            "t.yml:3:10: pool 'web': redis must be true or false, got 'yes'",
            "t.yml:4:15: pool 'web': preconnect must be true or false, got 'True'",
            "t.yml:5:17: pool 'web': tcpkeepalive must be true or false, got '1'",
            "t.yml:6:13: pool 'web': reuseport must be true or false, got ''");
}
END_TEST

START_TEST(redis_auth_empty)
{
    /* nutcracker treats an empty password as none */
    struct conf *conf = ct_load_ok(POOL("  redis: true\n  redis_auth: \"\"\n"));

    ck_assert_ptr_null(only_pool(conf)->redis_auth);
    conf_free(conf);
}
END_TEST

/* A listen value and what it must become. */
struct listen_case {
    const char *listen;
    const char *host;
    int port;
    int is_unix;
    unsigned perm;
};

static const struct listen_case listens[] = {
    {"127.0.0.1:22121", "127.0.0.1", 22121, 0, 0},
    {"localhost:1", "localhost", 1, 0, 0},
    {"proxy.example.net:65535", "proxy.example.net", 65535, 0, 0},
    {"\"[::1]:22121\"", "::1", 22121, 0, 0},
    {"\"[2001:db8::1]:6379\"", "2001:db8::1", 6379, 0, 0},
    {"\"::1:22121\"", "::1", 22121, 0, 0}, /* nutcracker splits at the last colon */
    {"\":22121\"", "", 22121, 0, 0},       /* every address, as nutcracker */
    {"/tmp/ketch.sock", "/tmp/ketch.sock", 0, 1, 0},
    {"/tmp/ketch.sock 0666", "/tmp/ketch.sock", 0, 1, 0666},
    {"/var/run/k.sock 600", "/var/run/k.sock", 0, 1, 0600},
    {"/var/run/k.sock 0", "/var/run/k.sock", 0, 1, 0},
};

START_TEST(listen_forms)
{
    const struct listen_case *t = &listens[_i];
    char yaml[256];
    struct conf *conf;
    const struct conf_pool *p;

    snprintf(yaml, sizeof(yaml), "web:\n  listen: %s\n  servers:\n   - 127.0.0.1:11211:1\n",
             t->listen);
    conf = ct_load_ok(yaml);
    p = only_pool(conf);
    ck_assert_int_eq(p->has_listen, 1);
    ck_assert_str_eq(p->listen.host, t->host);
    ck_assert_int_eq(p->listen.port, t->port);
    ck_assert_int_eq(p->listen.is_unix, t->is_unix);
    ck_assert_uint_eq(p->listen.perm, t->perm);
    conf_free(conf);
}
END_TEST

START_TEST(listen_errors)
{
    CT_FAIL("a:\n"
            "  listen: localhost\n"
            "  servers: [h:1:1]\n"
            "b:\n"
            "  listen: localhost:0\n"
            "  servers: [h:1:1]\n"
            "c:\n"
            "  listen: localhost:65536\n"
            "  servers: [h:1:1]\n"
            "d:\n"
            "  listen: \"127.0.0.1:http\"\n"
            "  servers: [h:1:1]\n"
            "e:\n"
            "  listen: /tmp/e.sock 0999\n"
            "  servers: [h:1:1]\n"
            "f:\n"
            "  listen: /tmp/f.sock 01000\n"
            "  servers: [h:1:1]\n"
            "g:\n"
            "  listen: \"[::1]\"\n"
            "  servers: [h:1:1]\n"
            "h:\n"
            "  listen: [127.0.0.1, 22121]\n"
            "  servers: [h:1:1]\n"
            "i:\n"
            "  listen:\n"
            "  servers: [h:1:1]\n",
            "t.yml:2:11: pool 'a': listen must be 'host:port' or '/path/to/socket [permissions]', "
            "got 'localhost'",
            "t.yml:5:21: pool 'b': listen port must be an integer between 1 and 65535, got '0'",
            "t.yml:8:21: pool 'c': listen port must be an integer between 1 and 65535, got "
            "'65536'",
            "t.yml:11:22: pool 'd': listen port must be an integer between 1 and 65535, got "
            "'http'",
            "t.yml:14:23: pool 'e': listen permissions must be an octal number up to 0777, got "
            "'0999'",
            "t.yml:17:23: pool 'f': listen permissions must be an octal number up to 0777, got "
            "'01000'",
            "t.yml:20:11: pool 'g': listen must be 'host:port' or '/path/to/socket [permissions]', "
            "got '[::1]'",
            "t.yml:23:11: pool 'h': listen must be a scalar, not a sequence",
            "t.yml:26:10: pool 'i': listen must be 'host:port' or '/path/to/socket [permissions]', "
            "got ''");
}
END_TEST

/* A server line and what nutcracker makes of it. */
struct server_case {
    const char *line;
    const char *host;
    int port;
    int is_unix;
    uint32_t weight;
    const char *name;
    int named;
};

static const struct server_case servers[] = {
    /* port 11211: the host alone (libmemcached compatibility) */
    {"10.0.0.1:11211:1", "10.0.0.1", 11211, 0, 1, "10.0.0.1", 0},
    {"mc.example.net:11211:3", "mc.example.net", 11211, 0, 3, "mc.example.net", 0},
    /* any other port: host:port, the weight never */
    {"10.0.0.1:11212:1", "10.0.0.1", 11212, 0, 1, "10.0.0.1:11212", 0},
    {"10.0.0.1:6379:100", "10.0.0.1", 6379, 0, 100, "10.0.0.1:6379", 0},
    /* the text as written, so leading zeros stay in the name, and 011211 is 11211 */
    {"10.0.0.1:06379:1", "10.0.0.1", 6379, 0, 1, "10.0.0.1:06379", 0},
    {"10.0.0.1:011211:1", "10.0.0.1", 11211, 0, 1, "10.0.0.1", 0},
    /* an explicit name wins, whatever the port */
    {"10.0.0.1:11211:1 mc1", "10.0.0.1", 11211, 0, 1, "mc1", 1},
    {"10.0.0.1:6379:2 redis-a", "10.0.0.1", 6379, 0, 2, "redis-a", 1},
    {"10.0.0.1:6379:2   spaced", "10.0.0.1", 6379, 0, 2, "spaced", 1},
    /* IPv6: brackets leave the address, stay in the name */
    {"[::1]:11211:1", "::1", 11211, 0, 1, "[::1]", 0},
    {"[2001:db8::7]:11212:1", "2001:db8::7", 11212, 0, 1, "[2001:db8::7]:11212", 0},
    {"::1:11213:1", "::1", 11213, 0, 1, "::1:11213", 0},
    {"[::1]:11212:1 six", "::1", 11212, 0, 1, "six", 1},
    /* unix sockets: nutcracker's name is the path and the colon after it */
    {"/tmp/mc.sock:1", "/tmp/mc.sock", 0, 1, 1, "/tmp/mc.sock:", 0},
    {"/var/run/redis/r.sock:4 r1", "/var/run/redis/r.sock", 0, 1, 4, "r1", 1},
};

START_TEST(server_forms)
{
    const struct server_case *t = &servers[_i];
    char yaml[256];
    struct conf *conf;
    const struct conf_server *s;

    snprintf(yaml, sizeof(yaml), "web:\n  listen: 127.0.0.1:22121\n  servers:\n   - \"%s\"\n",
             t->line);
    conf = ct_load_ok(yaml);
    ck_assert_uint_eq(only_pool(conf)->nservers, 1);
    s = &only_pool(conf)->servers[0];
    ck_assert_str_eq(s->addr.host, t->host);
    ck_assert_int_eq(s->addr.port, t->port);
    ck_assert_int_eq(s->addr.is_unix, t->is_unix);
    ck_assert_uint_eq(s->weight, t->weight);
    ck_assert_str_eq(s->name, t->name);
    ck_assert_int_eq(s->named, t->named);
    ck_assert_str_eq(s->text, t->line);
    conf_free(conf);
}
END_TEST

START_TEST(server_order_and_weights)
{
    struct conf *conf = ct_load_ok("web:\n"
                                   "  listen: 127.0.0.1:22121\n"
                                   "  servers:\n"
                                   "   - 10.0.0.3:11211:1\n"
                                   "   - 10.0.0.1:11211:2147483647\n"
                                   "   - 10.0.0.2:11211:20\n");
    const struct conf_pool *p = only_pool(conf);

    ck_assert_uint_eq(p->nservers, 3);
    ck_assert_str_eq(p->servers[0].name, "10.0.0.3");
    ck_assert_str_eq(p->servers[1].name, "10.0.0.1");
    ck_assert_str_eq(p->servers[2].name, "10.0.0.2");
    ck_assert_uint_eq(p->servers[0].weight, 1);
    ck_assert_uint_eq(p->servers[1].weight, 2147483647u);
    ck_assert_uint_eq(p->servers[2].weight, 20);
    conf_free(conf);
}
END_TEST

START_TEST(server_errors)
{
    CT_FAIL("web:\n"
            "  listen: 127.0.0.1:22121\n"
            "  servers:\n"
            "   - 10.0.0.1:11211:0\n"
            "   - 10.0.0.1:11211:-1\n"
            "   - 10.0.0.1:11211:heavy\n"
            "   - 10.0.0.1:11211\n"
            "   - 10.0.0.1:0:1\n"
            "   - 10.0.0.1:65536:1\n"
            "   - :11211:1\n"
            "   - /tmp/mc.sock\n"
            "   - /tmp/mc.sock:0\n"
            "   - \"10.0.0.1:11211:1 two names\"\n"
            "   - \"10.0.0.9:11211:0\"\n"
            "   - {host: 10.0.0.1}\n"
            "   - \"[::1:11211:1\"\n"
            "   - \"10.0.0.1:11211:\"\n",
            "t.yml:4:21: pool 'web': servers[0]: weight must be an integer >= 1, got '0'",
            "t.yml:5:21: pool 'web': servers[1]: weight must be an integer >= 1, got '-1'",
            "t.yml:6:21: pool 'web': servers[2]: weight must be an integer >= 1, got 'heavy'",
            "t.yml:7:6: pool 'web': servers[3] must be 'host:port:weight [name]' or "
            "'/path/to/socket:weight [name]', got '10.0.0.1:11211'",
            "t.yml:8:15: pool 'web': servers[4]: port must be an integer between 1 and 65535, "
            "got '0'",
            "t.yml:9:15: pool 'web': servers[5]: port must be an integer between 1 and 65535, "
            "got '65536'",
            "t.yml:10:6: pool 'web': servers[6] must be 'host:port:weight [name]' or "
            "'/path/to/socket:weight [name]', got ':11211:1'",
            "t.yml:11:6: pool 'web': servers[7] must be 'host:port:weight [name]' or "
            "'/path/to/socket:weight [name]', got '/tmp/mc.sock'",
            "t.yml:12:19: pool 'web': servers[8]: weight must be an integer >= 1, got '0'",
            "t.yml:13:24: pool 'web': servers[9]: server name 'two names' has a space",
            /* quoted: the column still points at the weight */
            "t.yml:14:22: pool 'web': servers[10]: weight must be an integer >= 1, got '0'",
            "t.yml:15:6: pool 'web': servers[11] must be a scalar 'host:port:weight [name]' or "
            "'/path/to/socket:weight [name]', not a mapping",
            "t.yml:16:6: pool 'web': servers[12] must be 'host:port:weight [name]' or "
            "'/path/to/socket:weight [name]', got '[::1:11211:1'",
            "t.yml:17:22: pool 'web': servers[13]: weight must be an integer >= 1, got ''");
}
END_TEST

START_TEST(server_list_errors)
{
    CT_FAIL("a:\n"
            "  listen: 127.0.0.1:1\n"
            "b:\n"
            "  listen: 127.0.0.1:2\n"
            "  servers: []\n"
            "c:\n"
            "  listen: 127.0.0.1:3\n"
            "  servers: 10.0.0.1:11211:1\n"
            "d:\n"
            "  servers:\n"
            "e:\n"
            "  servers: {a: 1}\n",
            "t.yml:1:1: pool 'a': missing key 'servers'",
            "t.yml:5:12: pool 'b': servers must list at least one server",
            "t.yml:8:12: pool 'c': servers must be a sequence, not a scalar",
            "t.yml:10:11: pool 'd': servers must be a sequence, not a scalar",
            "t.yml:12:12: pool 'e': servers must be a sequence, not a mapping");
}
END_TEST

START_TEST(duplicate_server_names)
{
    CT_FAIL("web:\n"
            "  listen: 127.0.0.1:22121\n"
            "  servers:\n"
            "   - 10.0.0.1:11211:1\n"
            "   - 10.0.0.2:11211:1 mc\n"
            "   - 10.0.0.1:11211:2\n"          /* same default name as servers[0] */
            "   - 10.0.0.3:11211:1 mc\n"       /* same explicit name as servers[1] */
            "   - 10.0.0.4:11211:1 10.0.0.1\n" /* a name equal to a default name */
            "   - 10.0.0.1:11212:1\n"          /* another port: another name */
            "   - /tmp/a.sock:1\n"
            "   - /tmp/a.sock:2\n",
            "t.yml:6:6: pool 'web': servers[2]: duplicate server name '10.0.0.1' (servers[0], "
            "line 4)",
            "t.yml:7:6: pool 'web': servers[3]: duplicate server name 'mc' (servers[1], line 5)",
            "t.yml:8:6: pool 'web': servers[4]: duplicate server name '10.0.0.1' (servers[0], "
            "line 4)",
            "t.yml:11:6: pool 'web': servers[7]: duplicate server name '/tmp/a.sock:' "
            "(servers[6], line 10)");
    /* the same names in two pools are fine */
    conf_free(ct_load_ok("a:\n  listen: 127.0.0.1:1\n  servers: [h:11211:1 x]\n"
                         "b:\n  listen: 127.0.0.1:2\n  servers: [h:11211:1 x]\n"));
}
END_TEST

START_TEST(number_errors)
{
    CT_FAIL(POOL("  client_connections: many\n"
                 "  timeout: -2\n"
                 "  backlog: 1.5\n"
                 "  redis_db: -1\n"
                 "  server_connections: 0\n"
                 "  server_retry_timeout: 99999999999\n"
                 "  server_failure_limit: \"+1\"\n"
                 "  max_value_size: 0\n"
                 "  backlog: 1\n"),
            "t.yml:3:23: pool 'web': client_connections must be an integer >= 0, got 'many'",
            "t.yml:4:12: pool 'web': timeout must be an integer >= -1, got '-2'",
            "t.yml:5:12: pool 'web': backlog must be an integer >= 0, got '1.5'",
            "t.yml:6:13: pool 'web': redis_db must be an integer >= 0, got '-1'",
            "t.yml:7:23: pool 'web': server_connections must be an integer >= 1, got '0'",
            "t.yml:8:25: pool 'web': server_retry_timeout must be an integer between 0 and "
            "2147483647, got '99999999999'",
            "t.yml:9:25: pool 'web': server_failure_limit must be an integer >= 0, got '+1'",
            "t.yml:10:19: pool 'web': max_value_size must be an integer between 1 and "
            "1073741824, got '0'",
            "t.yml:11:3: pool 'web': duplicate key 'backlog' (first at line 5)");
    CT_FAIL(POOL("  max_value_size: 1073741825\n  backlog: 99999999999999999999\n"),
            "t.yml:3:19: pool 'web': max_value_size must be an integer between 1 and "
            "1073741824, got '1073741825'",
            "t.yml:4:12: pool 'web': backlog must be an integer >= 0, got "
            "'99999999999999999999'");
}
END_TEST

START_TEST(name_errors)
{
    CT_FAIL(POOL("  hash: fnv1a\n  distribution: consistent\n  hash_tag: \"{\"\n"
                 "  hash_tag: abc\n  hash: [md5]\n"),
            "t.yml:3:9: pool 'web': hash must be one of one_at_a_time, md5, crc16, crc32, crc32a, "
            "fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins; got 'fnv1a'",
            "t.yml:4:17: pool 'web': distribution must be one of ketama, modula, random; got "
            "'consistent'",
            "t.yml:5:13: pool 'web': hash_tag must be exactly 2 characters, got '{'",
            "t.yml:6:3: pool 'web': duplicate key 'hash_tag' (first at line 5)",
            "t.yml:7:3: pool 'web': duplicate key 'hash' (first at line 3)");
}
END_TEST

START_TEST(key_errors)
{
    CT_FAIL(POOL("  listen_addr: 1\n  Hash: md5\n  listen: 127.0.0.1:22122\n"
                 "  gutters: other\n"),
            "t.yml:3:3: pool 'web': unknown key 'listen_addr'",
            "t.yml:4:3: pool 'web': unknown key 'Hash'",
            "t.yml:5:3: pool 'web': duplicate key 'listen' (first at line 2)",
            "t.yml:6:3: pool 'web': unknown key 'gutters'");
    CT_FAIL(POOL("  backlog: {a: 1}\n  redis: [true]\n"),
            "t.yml:3:12: pool 'web': backlog must be a scalar, not a mapping",
            "t.yml:4:10: pool 'web': redis must be a scalar, not a sequence");
}
END_TEST

START_TEST(top_level_errors)
{
    CT_FAIL("", "t.yml:1:1: no pools defined");
    CT_FAIL("# just a comment\n", "t.yml:1:1: no pools defined");
    CT_FAIL("---\n", "t.yml:1:1: no pools defined");
    CT_FAIL("ketch:\n  threads: 2\n", "t.yml:1:1: no pools defined");
    CT_FAIL("- web\n",
            "t.yml:1:1: the top level must be a mapping of pool names to pools, not a sequence");
    CT_FAIL("web\n",
            "t.yml:1:1: the top level must be a mapping of pool names to pools, not a scalar");
    CT_FAIL("web:\n"
            "  - listen: 127.0.0.1:1\n"
            "db: redis\n"
            "\"\":\n"
            "  servers: [h:1:1]\n"
            "web:\n"
            "  servers: [h:1:1]\n",
            "t.yml:2:3: pool 'web': a pool must be a mapping of settings, not a sequence",
            "t.yml:3:5: pool 'db': a pool must be a mapping of settings, not a scalar",
            "t.yml:4:1: a pool name must not be empty",
            "t.yml:6:1: duplicate pool 'web' (first at line 1)");
}
END_TEST

START_TEST(ketch_section)
{
    struct conf *conf;

    conf = ct_load_ok("ketch:\n  threads: 1\n" POOL(""));
    ck_assert_int_eq(conf->ketch.threads, 1);
    ck_assert_ptr_null(conf_pool_find(conf, "ketch"));
    conf_free(conf);
    conf = ct_load_ok(POOL("") "ketch: {threads: 1024}\n");
    ck_assert_int_eq(conf->ketch.threads, 1024);
    conf_free(conf);
    conf = ct_load_ok("ketch: {}\n" POOL(""));
    ck_assert_int_eq(conf->ketch.threads, 0);
    conf_free(conf);
    CT_FAIL("ketch:\n  threads: 0\n  zone: us-east-1a\n  threads: 1025\n" POOL(""),
            "t.yml:2:12: ketch: threads must be an integer between 1 and 1024, got '0'",
            "t.yml:3:3: ketch: unknown key 'zone'",
            "t.yml:4:3: ketch: duplicate key 'threads' (first at line 2)");
    CT_FAIL("ketch:\n  threads: 1025\n" POOL("") "ketch: {threads: x}\n",
            "t.yml:2:12: ketch: threads must be an integer between 1 and 1024, got '1025'",
            "t.yml:7:1: duplicate section 'ketch' (first at line 1)");
    CT_FAIL("ketch: 4\n" POOL(""),
            "t.yml:1:8: ketch: the ketch section must be a mapping of settings, not a scalar");
}
END_TEST

START_TEST(backend_pool)
{
    struct conf *conf = ct_load_ok("gutter:\n  servers:\n   - 10.0.9.1:11211:1 g1\n");
    const struct conf_pool *p = only_pool(conf);

    ck_assert_int_eq(p->has_listen, 0);
    ck_assert_ptr_null(p->listen.host);
    ck_assert_str_eq(p->servers[0].name, "g1");
    conf_free(conf);
}
END_TEST

START_TEST(listen_conflicts)
{
    struct conf *conf;

    CT_FAIL("a:\n  listen: 127.0.0.1:22121\n  servers: [h:1:1]\n"
            "b:\n  listen: 127.0.0.1:22121\n  servers: [h:1:1]\n"
            "c:\n  listen: 0.0.0.0:22121\n  servers: [h:1:1]\n"
            "d:\n  listen: /tmp/d.sock\n  servers: [h:1:1]\n"
            "e:\n  listen: /tmp/d.sock 0600\n  servers: [h:1:1]\n"
            "f:\n  listen: \"[::]:22121\"\n  servers: [h:1:1]\n"
            "g:\n  listen: LOCALHOST:6379\n  servers: [h:1:1]\n"
            "h:\n  listen: localhost:6379\n  servers: [h:1:1]\n",
            "t.yml:5:11: pool 'b': listen address '127.0.0.1:22121' is already used by pool 'a' "
            "(line 2)",
            "t.yml:8:11: pool 'c': listen address '0.0.0.0:22121' is already used by pool 'a' "
            "(line 2)",
            "t.yml:14:11: pool 'e': listen address '/tmp/d.sock 0600' is already used by pool "
            "'d' (line 11)",
            "t.yml:17:11: pool 'f': listen address '[::]:22121' is already used by pool 'a' "
            "(line 2)",
            "t.yml:23:11: pool 'h': listen address 'localhost:6379' is already used by pool 'g' "
            "(line 20)");
    /* other ports, other families, backend-only pools: no conflict */
    conf = ct_load_ok("a:\n  listen: 127.0.0.1:22121\n  servers: [h:1:1]\n"
                      "b:\n  listen: 127.0.0.1:22122\n  servers: [h:1:1]\n"
                      "c:\n  listen: \"[::1]:22121\"\n  servers: [h:1:1]\n"
                      "d:\n  listen: 0.0.0.0:22123\n  servers: [h:1:1]\n"
                      "e:\n  listen: \"[::1]:22123\"\n  servers: [h:1:1]\n"
                      "f:\n  listen: /tmp/f.sock\n  servers: [h:1:1]\n"
                      "g:\n  listen: /tmp/g.sock\n  servers: [h:1:1]\n"
                      "x:\n  servers: [h:1:1]\n"
                      "y:\n  servers: [h:1:1]\n");
    ck_assert_uint_eq(conf->npools, 9);
    conf_free(conf);
}
END_TEST

START_TEST(errors_collected_in_file_order)
{
    CT_FAIL("ketch:\n"
            "  threads: many\n"
            "web:\n"
            "  listen: 127.0.0.1:22121\n"
            "  hash: sha1\n"
            "  servers:\n"
            "   - 10.0.0.1:11211:1\n"
            "   - 10.0.0.2:11211:0\n"
            "   - 10.0.0.1:11211:1\n"
            "  colour: blue\n"
            "api:\n"
            "  listen: 127.0.0.1:22121\n"
            "  timeout: soon\n"
            "  servers: []\n",
            "t.yml:2:12: ketch: threads must be an integer between 1 and 1024, got 'many'",
            "t.yml:5:9: pool 'web': hash must be one of one_at_a_time, md5, crc16, crc32, crc32a, "
            "fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins; got 'sha1'",
            "t.yml:8:21: pool 'web': servers[1]: weight must be an integer >= 1, got '0'",
            "t.yml:9:6: pool 'web': servers[2]: duplicate server name '10.0.0.1' (servers[0], "
            "line 7)",
            "t.yml:10:3: pool 'web': unknown key 'colour'",
            "t.yml:12:11: pool 'api': listen address '127.0.0.1:22121' is already used by pool "
            "'web' (line 4)",
            "t.yml:13:12: pool 'api': timeout must be an integer >= -1, got 'soon'",
            "t.yml:14:12: pool 'api': servers must list at least one server");
}
END_TEST

START_TEST(yaml_errors_pass_through)
{
    CT_FAIL("web:\n  listen: &l 127.0.0.1:22121\n  servers: [h:1:1]\n",
            "t.yml:2:11: YAML anchors are not supported ('&l')");
    CT_FAIL("web:\n  listen: 127.0.0.1:22121\n   servers: [h:1:1]\n",
            "t.yml:3:11: mapping values are not allowed in this context");
}
END_TEST

START_TEST(load_file)
{
    char path[] = "/tmp/check_conf_XXXXXX";
    const char *yaml = POOL("  timeout: 5\n");
    struct kt_err err = {0};
    struct conf *conf = (struct conf *)1;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    ck_assert_int_eq(conf_load_file(path, &conf, &err), 0);
    ck_assert_uint_eq(err.nmsgs, 0);
    ck_assert_str_eq(conf->path, path);
    ck_assert_int_eq(only_pool(conf)->timeout_ms, 5);
    conf_free(conf);

    /* errors carry the path as given */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "web: 1\n", 7), 7);
    close(fd);
    ck_assert_int_eq(conf_load_file(path, &conf, &err), -EINVAL);
    ck_assert_ptr_null(conf);
    ck_assert_uint_eq(err.nmsgs, 1);
    ck_assert_msg(strncmp(err.msgs[0], path, strlen(path)) == 0 &&
                      strcmp(err.msgs[0] + strlen(path),
                             ":1:6: pool 'web': a pool must be a mapping of settings, not a "
                             "scalar") == 0,
                  "got %s", err.msgs[0]);
    kt_err_clear(&err);
    unlink(path);

    conf = (struct conf *)1;
    ck_assert_int_eq(conf_load_file(path, &conf, &err), -ENOENT);
    ck_assert_ptr_null(conf);
    ck_assert_uint_eq(err.nmsgs, 1);
    ck_assert_msg(strncmp(err.msgs[0], path, strlen(path)) == 0 &&
                      strcmp(err.msgs[0] + strlen(path), ": No such file or directory") == 0,
                  "got %s", err.msgs[0]);
    kt_err_clear(&err);
}
END_TEST

/* A backend pool "g" (memcached) and "rg" (redis), for gutters and routes to name. */
#define GUTTERS                                                                                    \
    "g:\n  servers:\n   - 127.0.0.1:11300:1\n"                                                     \
    "rg:\n  redis: true\n  servers:\n   - 127.0.0.1:6400:1\n"

START_TEST(failure_defaults)
{
    struct conf *conf = ct_load_ok(POOL(""));
    const struct conf_pool *p = only_pool(conf);

    ck_assert_ptr_null(p->gutter);
    ck_assert_uint_eq(p->gutter_ttl_s, 10);
    ck_assert(p->max_tko_share == 0.5);
    ck_assert_int_eq(p->server_retry_timeout_max_ms, 60000);
    ck_assert_int_eq(p->route.type, CONF_ROUTE_NONE);
    conf_free(conf);
}
END_TEST

START_TEST(gutter_keys)
{
    struct conf *conf = ct_load_ok(POOL("  gutter: g\n  gutter_ttl: 3\n  max_tko_share: 0.25\n"
                                        "  server_retry_timeout_max: 5000\n") GUTTERS);
    const struct conf_pool *p = conf_pool_find(conf, "web");

    ck_assert_str_eq(p->gutter, "g");
    ck_assert_uint_eq(p->gutter_ttl_s, 3);
    ck_assert(p->max_tko_share == 0.25);
    ck_assert_int_eq(p->server_retry_timeout_max_ms, 5000);
    conf_free(conf);
}
END_TEST

START_TEST(failover_route)
{
    struct conf *conf = ct_load_ok("web:\n  listen: 127.0.0.1:22121\n  gutter_ttl: 7\n"
                                   "  route:\n    type: failover\n    children: [g, g2]\n" GUTTERS
                                   "g2:\n  servers:\n   - 127.0.0.1:11301:1\n");
    const struct conf_pool *p = conf_pool_find(conf, "web");

    ck_assert_int_eq(p->route.type, CONF_ROUTE_FAILOVER);
    ck_assert_uint_eq(p->route.nchildren, 2);
    ck_assert_str_eq(p->route.children[0], "g");
    ck_assert_str_eq(p->route.children[1], "g2");
    ck_assert_uint_eq(p->nservers, 0);
    conf_free(conf);
}
END_TEST

START_TEST(failure_key_errors)
{
    CT_FAIL(POOL("  gutter: nope\n") GUTTERS,
            "t.yml:3:11: pool 'web': gutter 'nope' is not a pool of this file");
    CT_FAIL(POOL("  gutter: web\n"), "t.yml:3:11: pool 'web': gutter 'web' is the pool itself");
    CT_FAIL(POOL("  gutter: rg\n") GUTTERS,
            "t.yml:3:11: pool 'web': gutter 'rg' speaks redis, this pool memcache");
    CT_FAIL(POOL("  gutter: g\n") "g:\n  gutter: web\n  servers:\n   - 127.0.0.1:11300:1\n",
            "t.yml:3:11: pool 'web': gutter 'g' has a gutter of its own",
            "t.yml:7:11: pool 'g': gutter 'web' has a gutter of its own");
    CT_FAIL(POOL("  max_tko_share: 1.5\n  gutter_ttl: 0\n  server_retry_timeout_max: -1\n"),
            "t.yml:3:18: pool 'web': max_tko_share must be a number between 0 and 1, got '1.5'",
            "t.yml:4:15: pool 'web': gutter_ttl must be an integer between 1 and 2592000, got '0'",
            "t.yml:5:29: pool 'web': server_retry_timeout_max must be an integer >= 0, got '-1'");
    CT_FAIL(POOL("  max_tko_share: half\n"),
            "t.yml:3:18: pool 'web': max_tko_share must be a number between 0 and 1, got 'half'");
}
END_TEST

START_TEST(route_errors)
{
    CT_FAIL("web:\n  listen: 127.0.0.1:22121\n  route: {type: chain, children: [g]}\n" GUTTERS,
            "t.yml:3:17: pool 'web': route type must be 'failover'; got 'chain'");
    CT_FAIL("web:\n  listen: 127.0.0.1:22121\n  route: {type: failover}\n",
            "t.yml:3:10: pool 'web': route needs children: the pools it tries in order");
    CT_FAIL("web:\n  listen: 127.0.0.1:22121\n  route: {type: failover, children: []}\n",
            "t.yml:3:37: pool 'web': route children must list at least one pool");
    CT_FAIL("web:\n  listen: 127.0.0.1:22121\n  route: {type: failover, children: [g, rg, x, "
            "g]}\n" GUTTERS,
            "t.yml:3:41: pool 'web': route child 'rg' speaks redis, this pool memcache",
            "t.yml:3:45: pool 'web': route child 'x' is not a pool of this file",
            "t.yml:3:48: pool 'web': route child 'g' is listed twice");
    CT_FAIL(POOL("  route: {type: failover, children: [g]}\n") GUTTERS,
            "t.yml:5:4: pool 'web': a pool with a route has no servers of its own");
    CT_FAIL("web:\n  route: {type: failover, children: [g]}\n" GUTTERS,
            "t.yml:1:1: pool 'web': a route belongs to a pool with 'listen'");
    CT_FAIL("web:\n  listen: 127.0.0.1:22121\n  gutter: g\n  route: {type: failover, "
            "children: [g]}\n" GUTTERS,
            "t.yml:3:11: pool 'web': a pool with a route has no gutter: make the gutter the "
            "route's last child");
}
END_TEST

Suite *
conf_pool_suite(void)
{
    Suite *s = suite_create("conf_pool");
    TCase *keys = tcase_create("keys");
    TCase *addrs = tcase_create("addresses");
    TCase *errors = tcase_create("errors");

    tcase_add_test(keys, defaults);
    tcase_add_test(keys, every_key);
    tcase_add_test(keys, every_hash);
    tcase_add_test(keys, every_distribution);
    tcase_add_test(keys, timeouts);
    tcase_add_test(keys, booleans);
    tcase_add_test(keys, redis_auth_empty);
    tcase_add_test(keys, ketch_section);
    tcase_add_test(keys, backend_pool);
    tcase_add_test(keys, load_file);
    tcase_add_test(keys, failure_defaults);
    tcase_add_test(keys, gutter_keys);
    tcase_add_test(keys, failover_route);
    suite_add_tcase(s, keys);

    tcase_add_loop_test(addrs, listen_forms, 0, (int)(sizeof(listens) / sizeof(listens[0])));
    tcase_add_loop_test(addrs, server_forms, 0, (int)(sizeof(servers) / sizeof(servers[0])));
    tcase_add_test(addrs, server_order_and_weights);
    tcase_add_test(addrs, listen_conflicts);
    suite_add_tcase(s, addrs);

    tcase_add_test(errors, listen_errors);
    tcase_add_test(errors, server_errors);
    tcase_add_test(errors, server_list_errors);
    tcase_add_test(errors, duplicate_server_names);
    tcase_add_test(errors, number_errors);
    tcase_add_test(errors, name_errors);
    tcase_add_test(errors, key_errors);
    tcase_add_test(errors, top_level_errors);
    tcase_add_test(errors, errors_collected_in_file_order);
    tcase_add_test(errors, yaml_errors_pass_through);
    tcase_add_test(errors, failure_key_errors);
    tcase_add_test(errors, route_errors);
    suite_add_tcase(s, errors);
    return s;
}
