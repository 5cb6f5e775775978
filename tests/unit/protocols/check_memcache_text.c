/*
 * tests/unit/protocols/check_memcache_text.c - the memcached text parsers
 * (memcache_text.c): request and reply vectors for every command of
 * memcache_cmds.def and every error class, each also fed as every shorter
 * prefix, and pipelined streams fed whole, split at every byte offset and
 * one byte at a time. Expected errors follow memcached 1.6's replies.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "protocols/memcache_text.h"
#include "tests/unit/protocols/suites.h"

/* ketch's max_value_size default: memcached's -I default item size, 1 MiB */
#define MAX_VALUE (1024 * 1024)

/* memcached's messages, without "CLIENT_ERROR " */
#define BAD_FORMAT "bad command line format"
#define BAD_KEY    "bad command line format: key longer than 250 bytes"
#define BAD_DELETE "bad command line format.  Usage: delete <key> [noreply]"
#define BAD_DELTA  "invalid numeric delta argument"
#define BAD_EXP    "invalid exptime argument"
#define TOO_LARGE  "object too large for cache"

/* <len> bytes at <s> with control bytes escaped, for failure messages. */
static const char *
show(const void *s, size_t len)
{
    static char out[512];
    const uint8_t *p = s;
    size_t n = 0;

    for (size_t i = 0; i < len && n + 8 < sizeof(out); i++) {
        if (p[i] == '\r') {
            n += (size_t)snprintf(out + n, sizeof(out) - n, "\\r");
        } else if (p[i] == '\n') {
            n += (size_t)snprintf(out + n, sizeof(out) - n, "\\n");
        } else if (p[i] < 0x20 || p[i] >= 0x7f) {
            n += (size_t)snprintf(out + n, sizeof(out) - n, "\\x%02x", p[i]);
        } else {
            out[n++] = (char)p[i];
        }
    }
    out[n] = '\0';
    return out;
}

static int
parse(struct mc_req *req, const char *s, size_t len)
{
    return mc_req_parse(req, (const uint8_t *)s, len, MAX_VALUE);
}

/* The length of the first line of <s> with its "\n". */
static uint32_t
first_line_len(const char *s)
{
    const char *eol = strchr(s, '\n');

    ck_assert_ptr_nonnull(eol);
    return (uint32_t)(eol - s) + 1;
}

/*
 * One request vector. rc defaults to PARSE_OK; fields a command does not
 * have are not checked. keys are checked as whole tokens of the line, in
 * order.
 */
struct req_vec {
    const char *in; /* the bytes: a line, maybe followed by more */
    int rc;
    enum mc_cmd cmd;
    const char *keys[5]; /* NULL-terminated */
    uint32_t flags;
    int64_t exptime;
    const char *exptime_tok; /* gat, gats: the exptime token as written */
    uint32_t vlen;
    uint64_t cas;
    uint64_t delta;
    int noreply;
    const char *args; /* the line up to args_end, when not NULL */
    enum mc_err err;
    const char *errmsg;
};

static const struct req_vec req_vecs[] = {
    /* retrieval: any number of keys */
    {.in = "get foo\r\n", .cmd = MC_CMD_GET, .keys = {"foo"}, .args = "get foo"},
    {.in = "get a bb ccc\r\n",
     .cmd = MC_CMD_GET,
     .keys = {"a", "bb", "ccc"},
     .args = "get a bb ccc"},
    {.in = "gets foo\r\n", .cmd = MC_CMD_GETS, .keys = {"foo"}, .args = "gets foo"},
    {.in = "gets a bb ccc dddd\r\n", .cmd = MC_CMD_GETS, .keys = {"a", "bb", "ccc", "dddd"}},
    {.in = "get foo\n", .cmd = MC_CMD_GET, .keys = {"foo"}, .args = "get foo"},
    {.in = "  get   a    b  \r\n", .cmd = MC_CMD_GET, .keys = {"a", "b"}},
    {.in = "get a a\r\n", .cmd = MC_CMD_GET, .keys = {"a", "a"}},
    {.in = "get a\r\nget b\r\n", .cmd = MC_CMD_GET, .keys = {"a"}},
    {.in = "get noreply\r\n", .cmd = MC_CMD_GET, .keys = {"noreply"}},
    {.in = "gat 100 foo\r\n",
     .cmd = MC_CMD_GAT,
     .keys = {"foo"},
     .exptime = 100,
     .exptime_tok = "100"},
    {.in = "gats 0 a b\r\n", .cmd = MC_CMD_GATS, .keys = {"a", "b"}, .exptime_tok = "0"},
    {.in = "gat -1 k\n", .cmd = MC_CMD_GAT, .keys = {"k"}, .exptime = -1, .exptime_tok = "-1"},
    {.in = "gat  30   k  \r\n",
     .cmd = MC_CMD_GAT,
     .keys = {"k"},
     .exptime = 30,
     .exptime_tok = "30"},
    /* storage: <key> <flags> <exptime> <bytes> [noreply], then the data */
    {.in = "set k 1 2 3\r\nabc\r\n",
     .cmd = MC_CMD_SET,
     .keys = {"k"},
     .flags = 1,
     .exptime = 2,
     .vlen = 3,
     .args = "set k 1 2 3"},
    {.in = "set k 0 0 5 noreply\r\nhello\r\n",
     .cmd = MC_CMD_SET,
     .keys = {"k"},
     .vlen = 5,
     .noreply = 1,
     .args = "set k 0 0 5"},
    {.in = "add k 4294967295 0 0\r\n\r\n", .cmd = MC_CMD_ADD, .keys = {"k"}, .flags = UINT32_MAX},
    {.in = "replace k 0 -1 10\r\n",
     .cmd = MC_CMD_REPLACE,
     .keys = {"k"},
     .exptime = -1,
     .vlen = 10},
    {.in = "append k 0 0 1\n",
     .cmd = MC_CMD_APPEND,
     .keys = {"k"},
     .vlen = 1,
     .args = "append k 0 0 1"},
    {.in = "prepend k 0 0 1 noreply\r\n",
     .cmd = MC_CMD_PREPEND,
     .keys = {"k"},
     .vlen = 1,
     .noreply = 1,
     .args = "prepend k 0 0 1"},
    {.in = "cas k 7 8 9 12345\r\n",
     .cmd = MC_CMD_CAS,
     .keys = {"k"},
     .flags = 7,
     .exptime = 8,
     .vlen = 9,
     .cas = 12345,
     .args = "cas k 7 8 9 12345"},
    {.in = "cas k 0 0 1 18446744073709551615 noreply\r\n",
     .cmd = MC_CMD_CAS,
     .keys = {"k"},
     .vlen = 1,
     .cas = UINT64_MAX,
     .noreply = 1,
     .args = "cas k 0 0 1 18446744073709551615"},
    {.in = "set  k   1  2  3  \r\n",
     .cmd = MC_CMD_SET,
     .keys = {"k"},
     .flags = 1,
     .exptime = 2,
     .vlen = 3,
     .args = "set  k   1  2  3"},
    {.in = "set k 0 0 1048576\r\n", .cmd = MC_CMD_SET, .keys = {"k"}, .vlen = MAX_VALUE},
    /* around the one-pass parser of plain get and set lines: whatever it
     * does not take, the general parser must read the same way */
    {.in = "get fo\to\r\n", .cmd = MC_CMD_GET, .keys = {"fo\to"}},
    {.in = "get a\rb\r\n", .cmd = MC_CMD_GET, .keys = {"a\rb"}},
    {.in = "get foo \r\n", .cmd = MC_CMD_GET, .keys = {"foo"}},
    {.in = "get foo\r\r\n", .cmd = MC_CMD_GET, .keys = {"foo\r"}},
    {.in = "set k 4294967295 0 1\r\n",
     .cmd = MC_CMD_SET,
     .keys = {"k"},
     .flags = UINT32_MAX,
     .vlen = 1},
    {.in = "set k 00000000001 0 1\r\n", .cmd = MC_CMD_SET, .keys = {"k"}, .flags = 1, .vlen = 1},
    {.in = "set k 0 -1 1\r\n", .cmd = MC_CMD_SET, .keys = {"k"}, .exptime = -1, .vlen = 1},
    {.in = "set k 0 0 01\r\n", .cmd = MC_CMD_SET, .keys = {"k"}, .vlen = 1},
    {.in = "set k 0 0 1 \r\n", .cmd = MC_CMD_SET, .keys = {"k"}, .vlen = 1, .args = "set k 0 0 1"},
    {.in = "set k 0 0 1\n", .cmd = MC_CMD_SET, .keys = {"k"}, .vlen = 1, .args = "set k 0 0 1"},
    /* delete <key> [0] [noreply]: memcached still takes a zero hold time */
    {.in = "delete k\r\n", .cmd = MC_CMD_DELETE, .keys = {"k"}, .args = "delete k"},
    {.in = "delete k 0\r\n", .cmd = MC_CMD_DELETE, .keys = {"k"}, .args = "delete k 0"},
    {.in = "delete k noreply\r\n",
     .cmd = MC_CMD_DELETE,
     .keys = {"k"},
     .noreply = 1,
     .args = "delete k"},
    {.in = "delete k 0 noreply\n",
     .cmd = MC_CMD_DELETE,
     .keys = {"k"},
     .noreply = 1,
     .args = "delete k 0"},
    /* incr/decr <key> <delta> [noreply] */
    {.in = "incr k 1\r\n", .cmd = MC_CMD_INCR, .keys = {"k"}, .delta = 1, .args = "incr k 1"},
    {.in = "decr k 18446744073709551615 noreply\r\n",
     .cmd = MC_CMD_DECR,
     .keys = {"k"},
     .delta = UINT64_MAX,
     .noreply = 1,
     .args = "decr k 18446744073709551615"},
    {.in = "incr  k  0 \n", .cmd = MC_CMD_INCR, .keys = {"k"}, .args = "incr  k  0"},
    /* touch <key> <exptime> [noreply] */
    {.in = "touch k 3600\r\n",
     .cmd = MC_CMD_TOUCH,
     .keys = {"k"},
     .exptime = 3600,
     .args = "touch k 3600"},
    {.in = "touch k -1 noreply\r\n",
     .cmd = MC_CMD_TOUCH,
     .keys = {"k"},
     .exptime = -1,
     .noreply = 1,
     .args = "touch k -1"},
    {.in = "version\r\n", .cmd = MC_CMD_VERSION, .args = "version"},
    {.in = "quit\r\n", .cmd = MC_CMD_QUIT, .args = "quit"},
    {.in = "quit\n", .cmd = MC_CMD_QUIT},
    /* no end of line yet */
    {.in = "", .rc = PARSE_AGAIN},
    {.in = "get foo", .rc = PARSE_AGAIN},
    {.in = "get foo\r", .rc = PARSE_AGAIN},
    {.in = "set k 0 0 5", .rc = PARSE_AGAIN},
    {.in = "bogus", .rc = PARSE_AGAIN},
    /* unknown commands: "ERROR", as memcached (commands are case-sensitive) */
    {.in = "bogus\r\n", .rc = PARSE_ERROR, .err = MC_ERR_UNKNOWN},
    {.in = "bogus\r\nget a\r\n", .rc = PARSE_ERROR, .err = MC_ERR_UNKNOWN},
    {.in = "GET a\r\n", .rc = PARSE_ERROR, .err = MC_ERR_UNKNOWN},
    {.in = "getx a\r\n", .rc = PARSE_ERROR, .err = MC_ERR_UNKNOWN},
    {.in = "ge a\r\n", .rc = PARSE_ERROR, .err = MC_ERR_UNKNOWN},
    {.in = "\r\n", .rc = PARSE_ERROR, .err = MC_ERR_UNKNOWN},
    {.in = "\n", .rc = PARSE_ERROR, .err = MC_ERR_UNKNOWN},
    /* retrieval without keys, bad gat exptime */
    {.in = "get\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "gets   \r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "gat 10\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "gats\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "gat abc k\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_EXP},
    {.in = "gat 1.5 k\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_EXP},
    /* storage: token counts, numbers, value sizes */
    {.in = "set k\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k 0 0\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k 0 0 1 2\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k abc 0 1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k -1 0 1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k 4294967296 0 1\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_CLIENT,
     .errmsg = BAD_FORMAT},
    {.in = "set k 0 1x 1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k 0 - 1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k 0 0 -1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k 0 0 1x\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "add k 0 0 +1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    /* memcached: bytes above INT_MAX - 2 is a format error, not a size error */
    {.in = "set k 0 0 2147483646\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_CLIENT,
     .errmsg = BAD_FORMAT},
    {.in = "set k 0 0 99999999999999999999999\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_CLIENT,
     .errmsg = BAD_FORMAT},
    {.in = "cas k 0 0 1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "cas k 0 0 1 noreply\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_CLIENT,
     .errmsg = BAD_FORMAT},
    {.in = "cas k 0 0 1 -5\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "set k 0 0 1048577\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_TOO_LARGE,
     .vlen = MAX_VALUE + 1,
     .errmsg = TOO_LARGE},
    {.in = "append k 0 0 1048577 noreply\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_TOO_LARGE,
     .vlen = MAX_VALUE + 1,
     .errmsg = TOO_LARGE},
    {.in = "cas k 0 0 2147483645 1\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_TOO_LARGE,
     .vlen = 2147483645u,
     .errmsg = TOO_LARGE},
    /* delete: only a zero hold time is still accepted */
    {.in = "delete k 5\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_DELETE},
    {.in = "delete k 1 noreply\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_DELETE},
    {.in = "delete\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    /* more words than memcached tokenizes (MAX_TOKENS) */
    {.in = "delete a b c d e f g h i j k l m n o p q r s t u v w x y\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_CLIENT,
     .errmsg = BAD_FORMAT},
    /* incr/decr */
    {.in = "incr k abc\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_DELTA},
    {.in = "incr k -1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_DELTA},
    {.in = "decr k 18446744073709551616\r\n",
     .rc = PARSE_ERROR,
     .err = MC_ERR_CLIENT,
     .errmsg = BAD_DELTA},
    {.in = "incr k\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "decr k 1 2\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    /* touch */
    {.in = "touch k abc\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_EXP},
    {.in = "touch k\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "touch k 1 2\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    /* version and quit take no arguments, not even noreply */
    {.in = "version 1\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "version noreply\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
    {.in = "quit now\r\n", .rc = PARSE_ERROR, .err = MC_ERR_CLIENT, .errmsg = BAD_FORMAT},
};

/* Check that <req> holds <keys>, each a whole token of <line>, in order. */
static void
check_keys(const struct mc_req *req, const char *line, const char *const *keys, int idx)
{
    uint32_t n = 0, prev_end = 0;

    while (n < 5 && keys[n] != NULL) {
        n++;
    }
    ck_assert_msg(req->nkeys == n, "vector %d: %u keys, want %u", idx, req->nkeys, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct mc_key *k = &req->keys[i];
        char after = line[k->off + k->len];

        ck_assert_msg(k->len == strlen(keys[i]) && memcmp(line + k->off, keys[i], k->len) == 0,
                      "vector %d: key %u is \"%s\", want \"%s\"", idx, i,
                      show(line + k->off, k->len), keys[i]);
        ck_assert_msg(k->off > prev_end && line[k->off - 1] == ' ' &&
                          (after == ' ' || after == '\r' || after == '\n'),
                      "vector %d: key %u at %u is not the next whole token", idx, i, k->off);
        prev_end = k->off + k->len;
    }
}

/* Check a request parsed from vector <v> against it. */
static void
check_req(const struct req_vec *v, const struct mc_req *req, int rc, int idx)
{
    enum mc_kind kind;

    ck_assert_msg(rc == v->rc, "vector %d \"%s\": rc %d, want %d (err %d %s)", idx,
                  show(v->in, strlen(v->in)), rc, v->rc, req->err, req->errmsg ? req->errmsg : "");
    if (rc == PARSE_AGAIN) {
        return;
    }
    ck_assert_uint_eq(req->line_len, first_line_len(v->in));
    if (rc == PARSE_ERROR) {
        ck_assert_int_eq(req->err, v->err);
        if (v->errmsg != NULL) {
            ck_assert_ptr_nonnull(req->errmsg);
            ck_assert_str_eq(req->errmsg, v->errmsg);
        }
        if (v->err == MC_ERR_TOO_LARGE) {
            ck_assert_uint_eq(req->vlen, v->vlen);
        }
        return;
    }
    ck_assert_int_eq(req->err, MC_ERR_NONE);
    ck_assert_msg(req->cmd == v->cmd, "vector %d: cmd %s, want %s", idx, mc_cmd_name(req->cmd),
                  mc_cmd_name(v->cmd));
    check_keys(req, v->in, v->keys, idx);
    ck_assert_int_eq(req->noreply, v->noreply);
    if (v->args != NULL) {
        ck_assert_uint_eq(req->args_end, strlen(v->args));
        ck_assert_int_eq(memcmp(v->in, v->args, req->args_end), 0);
    }
    kind = mc_cmd_kind(req->cmd);
    if (kind == MC_KIND_STORE || kind == MC_KIND_CAS) {
        ck_assert_uint_eq(req->flags, v->flags);
        ck_assert_int_eq(req->exptime, v->exptime);
        ck_assert_uint_eq(req->vlen, v->vlen);
    }
    if (kind == MC_KIND_CAS) {
        ck_assert_uint_eq(req->cas, v->cas);
    }
    if (kind == MC_KIND_ARITH) {
        ck_assert_uint_eq(req->delta, v->delta);
    }
    if (kind == MC_KIND_TOUCH || kind == MC_KIND_GAT) {
        ck_assert_int_eq(req->exptime, v->exptime);
    }
    if (kind == MC_KIND_GAT) {
        ck_assert_ptr_nonnull(v->exptime_tok);
        ck_assert_uint_eq(req->exptime_len, strlen(v->exptime_tok));
        ck_assert_int_eq(memcmp(v->in + req->exptime_off, v->exptime_tok, req->exptime_len), 0);
    } else {
        /* the proxy re-encodes a split request with the exptime when there is one */
        ck_assert_uint_eq(req->exptime_len, 0);
    }
}

/*
 * Each vector, parsed into a request that last held a gat of three keys (as
 * a connection reuses one), then as every prefix shorter than its first
 * line: those must all want more bytes.
 */
START_TEST(req_vectors)
{
    const struct req_vec *v = &req_vecs[_i];
    size_t len = strlen(v->in);
    size_t line = v->rc == PARSE_AGAIN ? len : first_line_len(v->in);
    struct mc_req req = {0};
    int rc;

    ck_assert_int_eq(parse(&req, "gat 99 p q r\r\n", 14), PARSE_OK);
    rc = parse(&req, v->in, len);
    check_req(v, &req, rc, _i);
    for (size_t k = 0; k < line; k++) {
        ck_assert_msg(parse(&req, v->in, k) == PARSE_AGAIN, "vector %d: prefix of %zu bytes", _i,
                      k);
    }
    rc = parse(&req, v->in, len);
    check_req(v, &req, rc, _i);
    mc_req_free(&req);
}
END_TEST

/* Every command of memcache_cmds.def, its name and kind, and a vector parsing to it. */
START_TEST(every_command)
{
    static const struct {
        enum mc_cmd cmd;
        const char *name;
        enum mc_kind kind;
    } cmds[] = {
        {MC_CMD_GET, "get", MC_KIND_RETRIEVE},
        {MC_CMD_GETS, "gets", MC_KIND_RETRIEVE},
        {MC_CMD_GAT, "gat", MC_KIND_GAT},
        {MC_CMD_GATS, "gats", MC_KIND_GAT},
        {MC_CMD_SET, "set", MC_KIND_STORE},
        {MC_CMD_ADD, "add", MC_KIND_STORE},
        {MC_CMD_REPLACE, "replace", MC_KIND_STORE},
        {MC_CMD_APPEND, "append", MC_KIND_STORE},
        {MC_CMD_PREPEND, "prepend", MC_KIND_STORE},
        {MC_CMD_CAS, "cas", MC_KIND_CAS},
        {MC_CMD_DELETE, "delete", MC_KIND_DELETE},
        {MC_CMD_INCR, "incr", MC_KIND_ARITH},
        {MC_CMD_DECR, "decr", MC_KIND_ARITH},
        {MC_CMD_TOUCH, "touch", MC_KIND_TOUCH},
        {MC_CMD_VERSION, "version", MC_KIND_VERSION},
        {MC_CMD_QUIT, "quit", MC_KIND_QUIT},
    };

    ck_assert_uint_eq(KT_NELEMS(cmds), MC_NCMDS);
    for (size_t i = 0; i < KT_NELEMS(cmds); i++) {
        int seen = 0;

        ck_assert_str_eq(mc_cmd_name(cmds[i].cmd), cmds[i].name);
        ck_assert_int_eq(mc_cmd_kind(cmds[i].cmd), cmds[i].kind);
        for (size_t j = 0; j < KT_NELEMS(req_vecs); j++) {
            seen += req_vecs[j].rc == PARSE_OK && req_vecs[j].cmd == cmds[i].cmd;
        }
        ck_assert_msg(seen > 0, "no vector parses to %s", cmds[i].name);
    }
}
END_TEST

/* memcached's KEY_MAX_LENGTH, for every command that takes a key. */
START_TEST(key_length_limit)
{
    static const struct {
        const char *before, *after;
    } lines[] = {
        {"get ", "\r\n"},       {"gets a ", "\r\n"},      {"gat 0 ", "\r\n"},
        {"set ", " 0 0 1\r\n"}, {"cas ", " 0 0 1 1\r\n"}, {"delete ", " noreply\r\n"},
        {"incr ", " 1\r\n"},    {"touch ", " 0\r\n"},
    };
    struct mc_req req = {0};
    char key[MC_KEY_MAX + 2], line[512];

    for (size_t i = 0; i < KT_NELEMS(lines); i++) {
        for (uint32_t klen = MC_KEY_MAX; klen <= MC_KEY_MAX + 1; klen++) {
            int n;

            memset(key, 'k', klen);
            key[klen] = '\0';
            n = snprintf(line, sizeof(line), "%s%s%s", lines[i].before, key, lines[i].after);
            if (klen == MC_KEY_MAX) {
                ck_assert_int_eq(parse(&req, line, (size_t)n), PARSE_OK);
                ck_assert_uint_eq(req.keys[req.nkeys - 1].len, MC_KEY_MAX);
                ck_assert_uint_eq(req.keys[req.nkeys - 1].off, strlen(lines[i].before));
            } else {
                ck_assert_int_eq(parse(&req, line, (size_t)n), PARSE_ERROR);
                ck_assert_int_eq(req.err, MC_ERR_CLIENT);
                ck_assert_str_eq(req.errmsg, BAD_KEY);
                ck_assert_uint_eq(req.line_len, (uint32_t)n);
            }
        }
    }
    mc_req_free(&req);
}
END_TEST

/* A multi-get of thousands of keys, then a short one reusing the key array. */
START_TEST(many_keys)
{
    enum { NKEYS = 5000 };
    struct mc_req req = {0};
    char *line = malloc(NKEYS * 8 + 16);
    size_t n = (size_t)sprintf(line, "get");

    for (uint32_t i = 0; i < NKEYS; i++) {
        n += (size_t)sprintf(line + n, " k%u", i);
    }
    n += (size_t)sprintf(line + n, "\r\n");
    ck_assert_int_eq(parse(&req, line, n), PARSE_OK);
    ck_assert_int_eq(req.cmd, MC_CMD_GET);
    ck_assert_uint_eq(req.line_len, n);
    ck_assert_uint_eq(req.nkeys, NKEYS);
    ck_assert_uint_ge(req.keys_cap, NKEYS);
    for (uint32_t i = 0, off = 4; i < NKEYS; i++) {
        char want[16];
        int wl = snprintf(want, sizeof(want), "k%u", i);

        ck_assert_uint_eq(req.keys[i].off, off);
        ck_assert_uint_eq(req.keys[i].len, (uint32_t)wl);
        ck_assert_int_eq(memcmp(line + off, want, (size_t)wl), 0);
        off += (uint32_t)wl + 1;
    }
    ck_assert_int_eq(parse(&req, "gets x\r\n", 8), PARSE_OK);
    ck_assert_uint_eq(req.nkeys, 1);
    ck_assert_uint_eq(req.keys[0].off, 5);
    mc_req_free(&req);
    ck_assert_ptr_null(req.keys);
    ck_assert_uint_eq(req.keys_cap, 0);
    free(line);
}
END_TEST

/* MC_LINE_MAX bytes without "\n" cannot be a request: the stream is lost. */
START_TEST(line_limit)
{
    size_t size = MC_LINE_MAX + 16;
    char *p = malloc(size);
    struct mc_req req = {0};

    memset(p, 'a', size);
    ck_assert_int_eq(parse(&req, p, MC_LINE_MAX - 1), PARSE_AGAIN);
    ck_assert_int_eq(parse(&req, p, MC_LINE_MAX), PARSE_ERROR);
    ck_assert_int_eq(req.err, MC_ERR_LINE);
    ck_assert_int_eq(parse(&req, p, size), PARSE_ERROR);
    ck_assert_int_eq(req.err, MC_ERR_LINE);
    /* a "\n" just past the limit comes too late */
    p[MC_LINE_MAX] = '\n';
    ck_assert_int_eq(parse(&req, p, size), PARSE_ERROR);
    ck_assert_int_eq(req.err, MC_ERR_LINE);
    /* a multi-get line of exactly MC_LINE_MAX bytes is taken */
    memcpy(p, "get", 3);
    for (size_t i = 3; i < MC_LINE_MAX - 2; i += 100) {
        p[i] = ' ';
    }
    memcpy(p + MC_LINE_MAX - 2, "\r\n", 2);
    ck_assert_int_eq(parse(&req, p, size), PARSE_OK);
    ck_assert_uint_eq(req.line_len, MC_LINE_MAX);
    ck_assert_uint_eq(req.nkeys, (MC_LINE_MAX - 5) / 100 + 1);
    mc_req_free(&req);
    free(p);
}
END_TEST

/*
 * The stream driver: a connection's read side in miniature. It parses what
 * has arrived so far from where it stopped, skips value data by length, and
 * writes what it parsed into a trace, so a stream fed in any pieces can be
 * compared with the same stream fed whole.
 */
struct drv;
/* Parse one line at <p>; trace it; set how many bytes it and its data take (0: stream lost). */
typedef int (*drv_step_fn)(struct drv *d, const uint8_t *p, size_t len, size_t *line, size_t *data);

struct drv {
    const uint8_t *s; /* the whole stream */
    size_t pos;       /* bytes consumed */
    size_t skip;      /* data bytes (with "\r\n") still to skip */
    int lost;         /* a line the stream cannot continue after */
    drv_step_fn step;
    uint32_t max_value;
    struct mc_req req; /* reused, as a connection reuses it */
    struct mc_rsp rsp;
    char trace[4096];
    size_t tlen;
};

static void drv_trace(struct drv *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
drv_trace(struct drv *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    d->tlen += (size_t)vsnprintf(d->trace + d->tlen, sizeof(d->trace) - d->tlen, fmt, ap);
    va_end(ap);
    ck_assert_uint_lt(d->tlen, sizeof(d->trace));
}

/* The first <have> bytes of the stream have arrived: parse all that can be. */
static void
drv_feed(struct drv *d, size_t have)
{
    while (!d->lost) {
        size_t line, data;
        int rc;

        if (d->skip > 0) {
            size_t take = KT_MIN(d->skip, have - d->pos);

            d->pos += take;
            d->skip -= take;
            if (d->skip > 0) {
                return;
            }
            /* the data ends where the parsed length says */
            ck_assert_msg(d->s[d->pos - 2] == '\r' && d->s[d->pos - 1] == '\n',
                          "data block does not end in \\r\\n at %zu", d->pos);
            continue;
        }
        if (d->pos == have) {
            return;
        }
        rc = d->step(d, d->s + d->pos, have - d->pos, &line, &data);
        if (rc == PARSE_AGAIN) {
            ck_assert_msg(memchr(d->s + d->pos, '\n', have - d->pos) == NULL,
                          "PARSE_AGAIN with a whole line at %zu of %zu", d->pos, have);
            return;
        }
        if (line == 0) {
            d->lost = 1;
            return;
        }
        ck_assert_uint_le(d->pos + line, have);
        ck_assert_int_eq(d->s[d->pos + line - 1], '\n');
        d->pos += line;
        d->skip = data;
    }
}

static int
req_step(struct drv *d, const uint8_t *p, size_t len, size_t *line, size_t *data)
{
    struct mc_req *req = &d->req;
    enum mc_kind kind;
    int rc = mc_req_parse(req, p, len, d->max_value);

    *line = 0;
    *data = 0;
    if (rc == PARSE_AGAIN) {
        return rc;
    }
    drv_trace(d, "%s", d->tlen > 0 ? "|" : "");
    if (rc == PARSE_ERROR) {
        switch (req->err) {
        case MC_ERR_UNKNOWN:
            drv_trace(d, "!unknown");
            break;
        case MC_ERR_CLIENT:
            drv_trace(d, "!client %s", req->errmsg);
            break;
        case MC_ERR_TOO_LARGE:
            drv_trace(d, "!too_large %u", req->vlen);
            *data = req->vlen + 2;
            break;
        default:
            drv_trace(d, "!line");
            return rc;
        }
        *line = req->line_len;
        return rc;
    }
    kind = mc_cmd_kind(req->cmd);
    drv_trace(d, "%s", mc_cmd_name(req->cmd));
    if (req->exptime_len > 0) {
        drv_trace(d, " @%.*s", (int)req->exptime_len, (const char *)p + req->exptime_off);
    }
    for (uint32_t i = 0; i < req->nkeys; i++) {
        drv_trace(d, " %.*s", (int)req->keys[i].len, (const char *)p + req->keys[i].off);
    }
    if (kind == MC_KIND_STORE || kind == MC_KIND_CAS) {
        drv_trace(d, " %u", req->vlen);
        *data = req->vlen + 2;
    }
    if (req->noreply) {
        drv_trace(d, " noreply");
    }
    *line = req->line_len;
    return rc;
}

static int
rsp_step(struct drv *d, const uint8_t *p, size_t len, size_t *line, size_t *data)
{
    struct mc_rsp *rsp = &d->rsp;
    int rc = mc_rsp_parse(rsp, p, len);
    uint32_t text;

    *line = 0;
    *data = 0;
    if (rc == PARSE_AGAIN) {
        return rc;
    }
    drv_trace(d, "%s", d->tlen > 0 ? "|" : "");
    if (rc == PARSE_ERROR) {
        drv_trace(d, "!lost");
        return rc;
    }
    text = rsp->line_len - 1 - (rsp->line_len > 1 && p[rsp->line_len - 2] == '\r');
    switch (rsp->type) {
    case MC_RSP_VALUE:
        drv_trace(d, "value %.*s %u", (int)rsp->key_len, (const char *)p + rsp->key_off, rsp->vlen);
        *data = rsp->vlen + 2;
        break;
    case MC_RSP_END:
        drv_trace(d, "end");
        break;
    case MC_RSP_STATUS:
        drv_trace(d, "status %.*s", (int)text, (const char *)p);
        break;
    case MC_RSP_NUMBER:
        drv_trace(d, "number %.*s", (int)text, (const char *)p);
        break;
    case MC_RSP_VERSION:
        drv_trace(d, "version");
        break;
    case MC_RSP_ERROR:
        drv_trace(d, "error %.*s", (int)text, (const char *)p);
        break;
    }
    *line = rsp->line_len;
    return rc;
}

/* Feed the <n> bytes at <s> in pieces ending at <cuts> (ascending, the last n); trace in <d>. */
static void
drv_run(struct drv *d, drv_step_fn step, uint32_t max_value, const char *s, size_t n,
        const size_t *cuts, size_t ncuts)
{
    memset(d, 0, sizeof(*d));
    d->s = (const uint8_t *)s;
    d->step = step;
    d->max_value = max_value;
    for (size_t i = 0; i < ncuts; i++) {
        drv_feed(d, cuts[i]);
    }
    if (!d->lost) {
        ck_assert_uint_eq(d->pos, n);
        ck_assert_uint_eq(d->skip, 0);
    }
    mc_req_free(&d->req);
}

/* Feed <s> whole, split in two at every offset, and one byte at a time: the same trace each time.
 */
static void
check_stream(drv_step_fn step, uint32_t max_value, const char *s, const char *want)
{
    size_t n = strlen(s);
    size_t *cuts = malloc((n + 1) * sizeof(*cuts));
    struct drv *d = malloc(sizeof(*d));

    drv_run(d, step, max_value, s, n, &n, 1);
    ck_assert_str_eq(d->trace, want);
    for (size_t k = 0; k <= n; k++) {
        size_t two[2] = {k, n};

        drv_run(d, step, max_value, s, n, two, 2);
        ck_assert_msg(strcmp(d->trace, want) == 0, "split at %zu: %s", k, d->trace);
    }
    for (size_t k = 0; k < n; k++) {
        cuts[k] = k + 1;
    }
    drv_run(d, step, max_value, s, n, cuts, n);
    ck_assert_msg(strcmp(d->trace, want) == 0, "byte at a time: %s", d->trace);
    free(cuts);
    free(d);
}

/* Pipelined requests with their data blocks; values larger than 64 bytes are too large. */
START_TEST(req_stream)
{
    static const char stream[] =
        "get a\r\n"
        "gets a bb ccc\r\n"
        "set k 1 2 5\r\nhello\r\n"
        "add k2 0 0 7 noreply\r\nget x\r\n\r\n"
        "cas k 0 0 0 99\r\n\r\n"
        "bogus\r\n"
        "set big 0 0 70\r\n"
        "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n"
        "incr n 5\n"
        "  delete   k  0  noreply\r\n"
        "gat 10 a b\r\n"
        "get a b\r\n"
        "touch k 1\r\n"
        "append k 0 0 2\r\n\r\n\r\n"
        "prepend k 0 0 2\r\nab\r\n"
        "replace k 0 0 0\r\n\r\n"
        "get\r\n"
        "decr n 1 noreply\r\n"
        "gats 0 z\r\n"
        "version\r\n"
        "incr k abc\r\n"
        "quit\r\n";

    check_stream(req_step, 64, stream,
                 "get a|gets a bb ccc|set k 5|add k2 7 noreply|cas k 0|!unknown|!too_large 70|"
                 "incr n|delete k noreply|gat @10 a b|get a b|touch k|append k 2|prepend k 2|"
                 "replace k 0|!client " BAD_FORMAT "|decr n noreply|gats @0 z|version|"
                 "!client " BAD_DELTA "|quit");
}
END_TEST

/* A line with no end in sight ends the stream, after what came before it. */
START_TEST(req_stream_line_too_long)
{
    size_t n = 7 + MC_LINE_MAX;
    char *s = malloc(n + 1);
    struct drv *d = malloc(sizeof(*d));
    size_t cuts[] = {3, 7, 100, MC_LINE_MAX, n};

    memcpy(s, "get a\r\n", 7);
    memset(s + 7, 'x', MC_LINE_MAX);
    s[n] = '\0';
    drv_run(d, req_step, MAX_VALUE, s, n, cuts, KT_NELEMS(cuts));
    ck_assert_str_eq(d->trace, "get a|!line");
    ck_assert_int_eq(d->lost, 1);
    ck_assert_uint_eq(d->pos, 7);
    free(d);
    free(s);
}
END_TEST

struct rsp_vec {
    const char *in;
    int rc;
    enum mc_rsp_type type;
    const char *key; /* VALUE */
    uint32_t vlen;
};

static const struct rsp_vec rsp_vecs[] = {
    {.in = "VALUE foo 0 5\r\n", .type = MC_RSP_VALUE, .key = "foo", .vlen = 5},
    {.in = "VALUE foo 123 0 456\r\n", .type = MC_RSP_VALUE, .key = "foo"},
    {.in = "VALUE k 4294967295 1048576 18446744073709551615\r\n",
     .type = MC_RSP_VALUE,
     .key = "k",
     .vlen = MAX_VALUE},
    {.in = "VALUE foo 0 5\nhello\r\n", .type = MC_RSP_VALUE, .key = "foo", .vlen = 5},
    /* around the one-pass VALUE parser */
    {.in = "VALUE foo 0 5 \r\n", .type = MC_RSP_VALUE, .key = "foo", .vlen = 5},
    {.in = "VALUE fo\to 0 5\r\n", .type = MC_RSP_VALUE, .key = "fo\to", .vlen = 5},
    {.in = "VALUE foo 00000000000 5\r\n", .type = MC_RSP_VALUE, .key = "foo", .vlen = 5},
    {.in = "VALUE foo 0 0000000005\r\n", .type = MC_RSP_VALUE, .key = "foo", .vlen = 5},
    {.in = "VALUE foo 0 2147483645\r\n", .type = MC_RSP_VALUE, .key = "foo", .vlen = 2147483645},
    {.in = "VALUE foo 0 5 1 2\r\n", .type = MC_RSP_VALUE, .key = "foo", .vlen = 5},
    {.in = "END\r\n", .type = MC_RSP_END},
    {.in = "END\n", .type = MC_RSP_END},
    {.in = "STORED\r\n", .type = MC_RSP_STATUS},
    {.in = "NOT_STORED\r\n", .type = MC_RSP_STATUS},
    {.in = "EXISTS\r\n", .type = MC_RSP_STATUS},
    {.in = "NOT_FOUND\r\n", .type = MC_RSP_STATUS},
    {.in = "DELETED\r\n", .type = MC_RSP_STATUS},
    {.in = "TOUCHED\r\n", .type = MC_RSP_STATUS},
    {.in = "OK\r\n", .type = MC_RSP_STATUS},
    {.in = "0\r\n", .type = MC_RSP_NUMBER},
    {.in = "42\r\n", .type = MC_RSP_NUMBER},
    {.in = "18446744073709551615\r\n", .type = MC_RSP_NUMBER},
    {.in = "VERSION 1.6.18\r\n", .type = MC_RSP_VERSION},
    {.in = "ERROR\r\n", .type = MC_RSP_ERROR},
    {.in = "CLIENT_ERROR bad command line format\r\n", .type = MC_RSP_ERROR},
    {.in = "SERVER_ERROR out of memory storing object\r\n", .type = MC_RSP_ERROR},
    {.in = "SERVER_ERROR object too large for cache\r\nEND\r\n", .type = MC_RSP_ERROR},
    /* partial lines */
    {.in = "", .rc = PARSE_AGAIN},
    {.in = "VALUE foo 0 5", .rc = PARSE_AGAIN},
    {.in = "END\r", .rc = PARSE_AGAIN},
    {.in = "STORED", .rc = PARSE_AGAIN},
    /* lines no memcached sends: the stream is lost */
    {.in = "HELLO\r\n", .rc = PARSE_ERROR},
    {.in = "\r\n", .rc = PARSE_ERROR},
    {.in = "stored\r\n", .rc = PARSE_ERROR},
    {.in = "ENDX\r\n", .rc = PARSE_ERROR},
    {.in = "STORED!\r\n", .rc = PARSE_ERROR},
    {.in = "ERRORS\r\n", .rc = PARSE_ERROR},
    {.in = "VALUEX a 0 1\r\n", .rc = PARSE_ERROR},
    {.in = "VALUE\r\n", .rc = PARSE_ERROR},
    {.in = "VALUE foo 0\r\n", .rc = PARSE_ERROR},
    {.in = "VALUE foo 0 abc\r\n", .rc = PARSE_ERROR},
    {.in = "VALUE foo 0 -1\r\n", .rc = PARSE_ERROR},
    {.in = "VALUE foo 0 2147483646\r\n", .rc = PARSE_ERROR},
    {.in = "12a\r\n", .rc = PARSE_ERROR},
    {.in = "18446744073709551616\r\n", .rc = PARSE_ERROR},
};

static void
check_rsp(const struct rsp_vec *v, const struct mc_rsp *rsp, int rc, int idx)
{
    ck_assert_msg(rc == v->rc, "vector %d \"%s\": rc %d, want %d", idx, show(v->in, strlen(v->in)),
                  rc, v->rc);
    if (rc != PARSE_OK) {
        return;
    }
    ck_assert_uint_eq(rsp->line_len, first_line_len(v->in));
    ck_assert_int_eq(rsp->type, v->type);
    if (v->type == MC_RSP_VALUE) {
        ck_assert_uint_eq(rsp->key_off, 6);
        ck_assert_uint_eq(rsp->key_len, strlen(v->key));
        ck_assert_int_eq(memcmp(v->in + rsp->key_off, v->key, rsp->key_len), 0);
        ck_assert_uint_eq(rsp->vlen, v->vlen);
    }
}

START_TEST(rsp_vectors)
{
    const struct rsp_vec *v = &rsp_vecs[_i];
    size_t len = strlen(v->in);
    size_t line = v->rc == PARSE_AGAIN ? len : first_line_len(v->in);
    struct mc_rsp rsp = {0};

    check_rsp(v, &rsp, mc_rsp_parse(&rsp, (const uint8_t *)v->in, len), _i);
    for (size_t k = 0; k < line; k++) {
        ck_assert_msg(mc_rsp_parse(&rsp, (const uint8_t *)v->in, k) == PARSE_AGAIN,
                      "vector %d: prefix of %zu bytes", _i, k);
    }
    check_rsp(v, &rsp, mc_rsp_parse(&rsp, (const uint8_t *)v->in, len), _i);
}
END_TEST

START_TEST(rsp_line_limit)
{
    uint8_t *p = malloc(MC_LINE_MAX);
    struct mc_rsp rsp = {0};

    memset(p, '1', MC_LINE_MAX);
    ck_assert_int_eq(mc_rsp_parse(&rsp, p, MC_LINE_MAX - 1), PARSE_AGAIN);
    ck_assert_int_eq(mc_rsp_parse(&rsp, p, MC_LINE_MAX), PARSE_ERROR);
    free(p);
}
END_TEST

/* Replies to a pipeline, values holding bytes that look like replies. */
START_TEST(rsp_stream)
{
    static const char stream[] = "VALUE a 0 5\r\nhello\r\n"
                                 "VALUE bb 3 0 42\r\n\r\n"
                                 "VALUE c 0 9\r\nEND\r\nOK\r\n\r\n"
                                 "END\r\n"
                                 "STORED\r\n"
                                 "NOT_STORED\r\n"
                                 "EXISTS\r\n"
                                 "NOT_FOUND\r\n"
                                 "DELETED\r\n"
                                 "TOUCHED\r\n"
                                 "OK\n"
                                 "12345\r\n"
                                 "VERSION 1.6.18\r\n"
                                 "ERROR\r\n"
                                 "CLIENT_ERROR bad data chunk\r\n"
                                 "SERVER_ERROR out of memory\r\n"
                                 "VALUE d 0 1\r\nx\r\n"
                                 "END\r\n";

    check_stream(rsp_step, 0, stream,
                 "value a 5|value bb 0|value c 9|end|status STORED|status NOT_STORED|"
                 "status EXISTS|status NOT_FOUND|status DELETED|status TOUCHED|status OK|"
                 "number 12345|version|error ERROR|error CLIENT_ERROR bad data chunk|"
                 "error SERVER_ERROR out of memory|value d 1|end");
}
END_TEST

/* A line no server sends ends the stream: nothing after it is trusted. */
START_TEST(rsp_stream_garbage)
{
    check_stream(rsp_step, 0, "END\r\nHELLO\r\nEND\r\n", "end|!lost");
}
END_TEST

/* The exptime token of each command that has one, as the gutter rewrites it. */
START_TEST(exptime_find)
{
    static const struct {
        enum mc_cmd cmd;
        const char *line; /* up to args_end */
        int rc;
        const char *token;
        int64_t value;
    } v[] = {
        {MC_CMD_SET, "set k 5 100 3", 0, "100", 100},
        {MC_CMD_ADD, "add  k  0  -1  3", 0, "-1", -1},
        {MC_CMD_CAS, "cas k 0 0 3 77", 0, "0", 0},
        {MC_CMD_APPEND, "append k 0 9 3", 0, "9", 9},
        {MC_CMD_TOUCH, "touch k 2592001", 0, "2592001", 2592001},
        {MC_CMD_GAT, "gat 30 a b c", 0, "30", 30},
        {MC_CMD_GATS, "gats 0 a", 0, "0", 0},
        {MC_CMD_GET, "get k", -1, NULL, 0},
        {MC_CMD_DELETE, "delete k 0", -1, NULL, 0},
        {MC_CMD_INCR, "incr k 1", -1, NULL, 0},
        {MC_CMD_SET, "set k 5", -1, NULL, 0},
        {MC_CMD_SET, "set k 5 x 3", -1, NULL, 0},
    };

    for (size_t i = 0; i < KT_NELEMS(v); i++) {
        uint32_t off = 0, len = 0;
        int64_t value = 0;
        int rc = mc_exptime_find(v[i].cmd, (const uint8_t *)v[i].line, (uint32_t)strlen(v[i].line),
                                 &off, &len, &value);

        ck_assert_msg(rc == v[i].rc, "%s: rc %d", v[i].line, rc);
        if (rc == 0) {
            ck_assert_uint_eq(len, strlen(v[i].token));
            ck_assert(memcmp(v[i].line + off, v[i].token, len) == 0);
            ck_assert_int_eq(value, v[i].value);
        }
    }
}
END_TEST

START_TEST(exptime_clamp)
{
    const int64_t now = 1800000000;

    ck_assert_int_eq(mc_exptime_clamp(0, 10, now), 10);          /* forever -> the gutter's */
    ck_assert_int_eq(mc_exptime_clamp(3600, 10, now), 10);       /* longer -> cut */
    ck_assert_int_eq(mc_exptime_clamp(5, 10, now), 5);           /* shorter -> kept */
    ck_assert_int_eq(mc_exptime_clamp(-1, 10, now), -1);         /* expired stays expired */
    ck_assert_int_eq(mc_exptime_clamp(now + 3, 10, now), 3);     /* a date 3 s ahead */
    ck_assert_int_eq(mc_exptime_clamp(now + 3600, 10, now), 10); /* a date far ahead */
    ck_assert_int_eq(mc_exptime_clamp(now - 5, 10, now), -1);    /* a date past */
    ck_assert_int_eq(mc_exptime_clamp(MC_EXPTIME_RELATIVE_MAX, 10, now), 10);
}
END_TEST

Suite *
memcache_text_suite(void)
{
    Suite *s = suite_create("memcache_text");
    TCase *tc = tcase_create("requests");

    tcase_add_loop_test(tc, req_vectors, 0, (int)KT_NELEMS(req_vecs));
    tcase_add_test(tc, every_command);
    tcase_add_test(tc, key_length_limit);
    tcase_add_test(tc, many_keys);
    tcase_add_test(tc, line_limit);
    tcase_add_test(tc, req_stream);
    tcase_add_test(tc, req_stream_line_too_long);
    suite_add_tcase(s, tc);
    tc = tcase_create("replies");
    tcase_add_loop_test(tc, rsp_vectors, 0, (int)KT_NELEMS(rsp_vecs));
    tcase_add_test(tc, rsp_line_limit);
    tcase_add_test(tc, rsp_stream);
    tcase_add_test(tc, rsp_stream_garbage);
    suite_add_tcase(s, tc);
    tc = tcase_create("exptime");
    tcase_add_test(tc, exptime_find);
    tcase_add_test(tc, exptime_clamp);
    suite_add_tcase(s, tc);
    return s;
}
