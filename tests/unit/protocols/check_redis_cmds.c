/*
 * tests/unit/protocols/check_redis_cmds.c - the Redis command table
 * (redis_cmds.def) and its lookup: sorted and unique, every row found in any
 * case, arities, and the rows held to Redis 7.0's own COMMAND INFO facts in
 * tests/vectors/redis_commands_7.0.txt (found through KETCH_SRCDIR, then
 * srcdir, then ".").
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "protocols/redis_cmds.h"
#include "tests/unit/protocols/suites.h"

static const char *
srcdir(void)
{
    const char *dir = getenv("KETCH_SRCDIR");

    if (dir == NULL || dir[0] == '\0') {
        dir = getenv("srcdir");
    }
    return dir != NULL && dir[0] != '\0' ? dir : ".";
}

static int
lookup(const char *name)
{
    return redis_cmd_lookup((const uint8_t *)name, strlen(name));
}

static int
name_in(const char *name, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(name, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

START_TEST(table_sorted_unique)
{
    for (int i = 0; i < REDIS_NCMDS; i++) {
        const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)i);

        ck_assert_uint_eq(d->len, strlen(d->name));
        ck_assert_uint_gt(d->len, 0);
        for (size_t k = 0; k < d->len; k++) {
            ck_assert_msg(islower((unsigned char)d->name[k]) || d->name[k] == '_' ||
                              d->name[k] == '-',
                          "%s: not lower case", d->name);
        }
        /* the binary search needs byte order; strictly ascending is also unique */
        if (i > 0) {
            const struct redis_cmd_desc *prev = redis_cmd((enum redis_cmd)(i - 1));

            ck_assert_msg(strcmp(prev->name, d->name) < 0, "\"%s\" before \"%s\"", prev->name,
                          d->name);
        }
    }
    /* the enum follows the rows */
    ck_assert_str_eq(redis_cmd(REDIS_CMD_ACL)->name, "acl");
    ck_assert_str_eq(redis_cmd(REDIS_CMD_GET)->name, "get");
    ck_assert_str_eq(redis_cmd(REDIS_CMD_RESTORE_ASKING)->name, "restore-asking");
    ck_assert_str_eq(redis_cmd(REDIS_CMD_ZUNIONSTORE)->name, "zunionstore");
    ck_assert_int_eq(REDIS_CMD_ZUNIONSTORE, REDIS_NCMDS - 1);
}
END_TEST

START_TEST(lookup_every_row)
{
    for (int i = 0; i < REDIS_NCMDS; i++) {
        const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)i);
        char upper[64], mixed[64], longer[64];

        ck_assert_uint_lt(d->len, sizeof(upper) - 1);
        for (size_t k = 0; k <= d->len; k++) {
            upper[k] = (char)toupper((unsigned char)d->name[k]);
            mixed[k] = k % 2 ? upper[k] : d->name[k];
        }
        ck_assert_int_eq(lookup(d->name), i);
        ck_assert_int_eq(lookup(upper), i);
        ck_assert_int_eq(lookup(mixed), i);
        /* a prefix or an extension of a name is that name only if it has a row */
        for (size_t k = 1; k < d->len; k++) {
            int j = redis_cmd_lookup((const uint8_t *)d->name, k);

            ck_assert_msg(j == -1 || (redis_cmd((enum redis_cmd)j)->len == k &&
                                      memcmp(redis_cmd((enum redis_cmd)j)->name, d->name, k) == 0),
                          "%.*s -> %d", (int)k, d->name, j);
        }
        snprintf(longer, sizeof(longer), "%sq", d->name);
        ck_assert_int_eq(lookup(longer), -1);
        /* no byte of the name is optional */
        ck_assert_int_eq(redis_cmd_lookup((const uint8_t *)d->name, d->len + 1), -1);
    }
}
END_TEST

START_TEST(lookup_rejects)
{
    static const char *const bad[] = {"foo", "gett", "ge", "get ", " get", "g et", "stralgo",
                                      "waitaof", "xgroup|create", "config|get", "getex\r\n", "z",
                                      "zzzz", "a", "aaa", "~", "_", "-",
                                      /* 33 bytes, over any name's length */
                                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                      /* a name followed by blanks up to more than 32 bytes */
                                      "georadiusbymember_ro             ",
                                      /* "GET" with the high bit set: only ASCII letters fold */
                                      "g\xc5t", "\xc7\xc5\xd4",
                                      /* "_" and "-" are not interchangeable */
                                      "bitfield-ro", "RESTORE_ASKING", NULL};
    char big[4096];

    for (const char *const *p = bad; *p != NULL; p++) {
        ck_assert_msg(lookup(*p) == -1, "\"%s\" found", *p);
    }
    ck_assert_int_eq(redis_cmd_lookup((const uint8_t *)"", 0), -1);
    ck_assert_int_eq(redis_cmd_lookup((const uint8_t *)"get", 0), -1);
    ck_assert_int_eq(redis_cmd_lookup((const uint8_t *)"get\0", 4), -1);
    memset(big, 'g', sizeof(big));
    ck_assert_int_eq(redis_cmd_lookup((const uint8_t *)big, sizeof(big)), -1);
    /* a prefix of a long word does not match */
    memcpy(big, "GET", 3);
    ck_assert_int_eq(redis_cmd_lookup((const uint8_t *)big, sizeof(big)), -1);
    ck_assert_int_eq(redis_cmd_lookup((const uint8_t *)big, 3), REDIS_CMD_GET);
}
END_TEST

START_TEST(arity)
{
    for (int i = 0; i < REDIS_NCMDS; i++) {
        const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)i);
        enum redis_cmd c = (enum redis_cmd)i;

        ck_assert_int_ne(d->arity, 0);
        if (d->arity > 0) {
            uint32_t n = (uint32_t)d->arity;

            ck_assert_msg(redis_cmd_arity_ok(c, n), "%s %u", d->name, n);
            ck_assert_msg(!redis_cmd_arity_ok(c, n - 1), "%s %u", d->name, n - 1);
            ck_assert_msg(!redis_cmd_arity_ok(c, n + 1), "%s %u", d->name, n + 1);
            ck_assert_msg(!redis_cmd_arity_ok(c, 0), "%s 0", d->name);
        } else {
            uint32_t n = (uint32_t)-d->arity;

            ck_assert_msg(redis_cmd_arity_ok(c, n), "%s %u", d->name, n);
            ck_assert_msg(redis_cmd_arity_ok(c, n + 1), "%s %u", d->name, n + 1);
            ck_assert_msg(redis_cmd_arity_ok(c, n + 1000), "%s %u", d->name, n + 1000);
            ck_assert_msg(redis_cmd_arity_ok(c, UINT32_MAX), "%s UINT32_MAX", d->name);
            ck_assert_msg(!redis_cmd_arity_ok(c, n - 1), "%s %u", d->name, n - 1);
        }
    }
    /* GET k; SET k v [options]; PING [message] */
    ck_assert(!redis_cmd_arity_ok(REDIS_CMD_GET, 1));
    ck_assert(redis_cmd_arity_ok(REDIS_CMD_GET, 2));
    ck_assert(!redis_cmd_arity_ok(REDIS_CMD_GET, 3));
    ck_assert(!redis_cmd_arity_ok(REDIS_CMD_SET, 2));
    ck_assert(redis_cmd_arity_ok(REDIS_CMD_SET, 3));
    ck_assert(redis_cmd_arity_ok(REDIS_CMD_SET, 6));
    ck_assert(!redis_cmd_arity_ok(REDIS_CMD_PING, 0));
    ck_assert(redis_cmd_arity_ok(REDIS_CMD_PING, 1));
    ck_assert(redis_cmd_arity_ok(REDIS_CMD_PING, 2));
    ck_assert(!redis_cmd_arity_ok(REDIS_CMD_MSET, 2));
    ck_assert(redis_cmd_arity_ok(REDIS_CMD_MSET, 3));
}
END_TEST

/* ---------------------------------------------------------------- Redis 7.0's facts */

/* One line of redis_commands_7.0.txt. */
struct fact {
    char name[64];
    int arity, first, last, step;
    char flags[256];    /* ",readonly,fast," : commas around each, for strstr */
    char keyspecs[256]; /* "-" when there is none */
};

struct facts {
    struct fact *v;
    size_t n, cap;
};

static void
facts_load(struct facts *fs)
{
    char path[4096], line[1024];
    FILE *f;
    int lineno = 0;

    snprintf(path, sizeof(path), "%s/tests/vectors/redis_commands_7.0.txt", srcdir());
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s (set KETCH_SRCDIR)", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        struct fact fa;
        char flags[200];
        int off = 0;

        lineno++;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        ck_assert_msg(sscanf(line, "%63s %d %d %d %d %199s %n", fa.name, &fa.arity, &fa.first,
                             &fa.last, &fa.step, flags, &off) == 6 &&
                          off > 0,
                      "%s:%d: cannot read \"%s\"", path, lineno, line);
        snprintf(fa.flags, sizeof(fa.flags), ",%s,", flags);
        snprintf(fa.keyspecs, sizeof(fa.keyspecs), "%s", line + off);
        ck_assert_msg(fa.keyspecs[0] != '\0', "%s:%d: no keyspecs", path, lineno);
        if (fs->n == fs->cap) {
            fs->cap = fs->cap ? fs->cap * 2 : 256;
            fs->v = realloc(fs->v, fs->cap * sizeof(*fs->v));
            ck_assert_ptr_nonnull(fs->v);
        }
        fs->v[fs->n++] = fa;
    }
    fclose(f);
    /* 240 commands and their subcommands */
    ck_assert_uint_gt(fs->n, 300);
}

static const struct fact *
facts_find(const struct facts *fs, const char *name)
{
    for (size_t i = 0; i < fs->n; i++) {
        if (strcmp(fs->v[i].name, name) == 0) {
            return &fs->v[i];
        }
    }
    return NULL;
}

static int
has_flag(const struct fact *fa, const char *flag)
{
    char f[64];

    snprintf(f, sizeof(f), ",%s,", flag);
    return strstr(fa->flags, f) != NULL;
}

/* The index of the argument that counts keys, from the first "iN:nI,F,S" key spec; 0 if none. */
static int
fact_numkeys(const struct fact *fa)
{
    const char *p = fa->keyspecs;

    while (p != NULL && *p != '\0') {
        int begin, idx;

        if (sscanf(p, "i%d:n%d,", &begin, &idx) == 2) {
            return begin + idx;
        }
        p = strchr(p, ' ');
        p = p != NULL ? p + 1 : NULL;
    }
    return 0;
}

/* Containers: no key in their own entry; their rows take the keyed subcommands' index. */
static const char *const containers[] = {"memory", "object", "xgroup", "xinfo", NULL};

START_TEST(table_matches_redis_7_0)
{
    struct facts fs = {0};
    size_t ncmds = 0;

    facts_load(&fs);
    for (int i = 0; i < REDIS_NCMDS; i++) {
        const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)i);
        const struct fact *fa = facts_find(&fs, d->name);

        ck_assert_msg(fa != NULL, "%s: not a Redis 7.0 command", d->name);
        ck_assert_msg(d->arity == fa->arity, "%s: arity %d, Redis %d", d->name, d->arity,
                      fa->arity);
        if (name_in(d->name, containers)) {
            size_t nkeyed = 0;

            ck_assert_msg(fa->first == 0 && strcmp(fa->keyspecs, "-") == 0,
                          "%s: Redis now gives the container a key", d->name);
            /* every keyed subcommand has its one key where the row says */
            for (size_t k = 0; k < fs.n; k++) {
                const struct fact *sub = &fs.v[k];

                if (strncmp(sub->name, d->name, d->len) != 0 || sub->name[d->len] != '|' ||
                    sub->first == 0) {
                    continue;
                }
                ck_assert_msg(sub->first == d->first && sub->last == d->last &&
                                  sub->step == d->step,
                              "%s: keys %d %d %d, row %d %d %d", sub->name, sub->first, sub->last,
                              sub->step, d->first, d->last, d->step);
                nkeyed++;
            }
            ck_assert_msg(nkeyed > 0, "%s: no keyed subcommand", d->name);
            continue;
        }
        ck_assert_msg(d->first == fa->first && d->last == fa->last && d->step == fa->step,
                      "%s: keys %d %d %d, Redis %d %d %d", d->name, d->first, d->last, d->step,
                      fa->first, fa->last, fa->step);
        ck_assert_msg(d->numkeys == fact_numkeys(fa), "%s: numkeys %d, Redis's key specs say %d",
                      d->name, d->numkeys, fact_numkeys(fa));
    }
    /* and every Redis 7.0 command has a row */
    for (size_t k = 0; k < fs.n; k++) {
        if (strchr(fs.v[k].name, '|') == NULL) {
            ck_assert_msg(lookup(fs.v[k].name) >= 0, "%s: no row", fs.v[k].name);
            ncmds++;
        }
    }
    ck_assert_uint_eq(ncmds, REDIS_NCMDS);
    free(fs.v);
}
END_TEST

/*
 * The class follows Redis's flags (redis_cmds.def): DEL and UNLINK are DELETE;
 * keyless commands ADMIN; keyed ones READ when readonly, WRITE when write, with
 * the decided exceptions below.
 */
START_TEST(class_matches_redis_flags)
{
    /* scripts may write, and Redis flags neither way */
    static const char *const scripts[] = {"eval", "evalsha", "fcall", NULL};
    /* keys that hold no data to read or write */
    static const char *const no_data[] = {"spublish", "ssubscribe", "sunsubscribe", "watch", NULL};
    struct facts fs = {0};

    facts_load(&fs);
    for (int i = 0; i < REDIS_NCMDS; i++) {
        const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)i);
        const struct fact *fa = facts_find(&fs, d->name);
        enum redis_class want;

        ck_assert_ptr_nonnull(fa);
        if (name_in(d->name, containers)) {
            continue;
        }
        if (strcmp(d->name, "del") == 0 || strcmp(d->name, "unlink") == 0) {
            want = REDIS_CLASS_DELETE;
        } else if (strcmp(fa->keyspecs, "-") == 0 || name_in(d->name, no_data)) {
            want = REDIS_CLASS_ADMIN;
        } else if (has_flag(fa, "readonly")) {
            want = REDIS_CLASS_READ;
        } else if (has_flag(fa, "write") || name_in(d->name, scripts)) {
            want = REDIS_CLASS_WRITE;
        } else {
            ck_abort_msg("%s: keyed, neither readonly nor write", d->name);
        }
        ck_assert_msg(d->class == want, "%s: class %d, want %d", d->name, d->class, want);
    }
    free(fs.v);
}
END_TEST

START_TEST(flag_rules)
{
    static const char *const split[] = {"mget", "mset", "del", "unlink", "exists", "touch", NULL};
    static const char *const local[] = {"ping",    "echo",  "quit", "select", "auth",
                                        "command", "hello", "info", "script", NULL};
    static const char *const refused[] = {"keys",    "scan",      "multi",   "exec",   "watch",
                                          "blpop",   "subscribe", "monitor", "config", "flushall",
                                          "flushdb", "shutdown",  NULL};
    struct facts fs = {0};

    for (const char *const *p = local; *p != NULL; p++) {
        ck_assert_msg(lookup(*p) >= 0 && redis_cmd((enum redis_cmd)lookup(*p))->flags & RC_LOCAL,
                      "%s: not RC_LOCAL", *p);
    }
    for (const char *const *p = refused; *p != NULL; p++) {
        ck_assert_msg(lookup(*p) >= 0 &&
                          redis_cmd((enum redis_cmd)lookup(*p))->flags & RC_UNSUPPORTED,
                      "%s: not RC_UNSUPPORTED", *p);
    }
    facts_load(&fs);
    for (int i = 0; i < REDIS_NCMDS; i++) {
        const struct redis_cmd_desc *d = redis_cmd((enum redis_cmd)i);
        const struct fact *fa = facts_find(&fs, d->name);

        ck_assert_msg(!!(d->flags & RC_SPLIT) == name_in(d->name, split), "%s: RC_SPLIT is %s",
                      d->name, d->flags & RC_SPLIT ? "set" : "not set");
        ck_assert_uint_eq(
            d->flags & ~(uint32_t)(RC_SPLIT | RC_SAME | RC_LOCAL | RC_ANY | RC_UNSUPPORTED), 0);
        /* a proxy cannot hold a blocked or subscribed connection for one client */
        ck_assert_ptr_nonnull(fa);
        if (has_flag(fa, "blocking") || has_flag(fa, "pubsub")) {
            ck_assert_msg(d->flags & RC_UNSUPPORTED, "%s: blocks or subscribes, not refused",
                          d->name);
        }
    }
    free(fs.v);
}
END_TEST

Suite *
redis_cmds_suite(void)
{
    Suite *s = suite_create("redis_cmds");
    TCase *tc = tcase_create("table");

    tcase_add_test(tc, table_sorted_unique);
    tcase_add_test(tc, lookup_every_row);
    tcase_add_test(tc, lookup_rejects);
    tcase_add_test(tc, arity);
    suite_add_tcase(s, tc);
    tc = tcase_create("redis 7.0");
    tcase_add_test(tc, table_matches_redis_7_0);
    tcase_add_test(tc, class_matches_redis_flags);
    tcase_add_test(tc, flag_rules);
    suite_add_tcase(s, tc);
    return s;
}
