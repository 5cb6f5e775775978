/*
 * tests/unit/protocols/check_redis_resp.c - RESP2 framing (redis_resp.c):
 * type-line and inline-command vectors, each also fed as every shorter
 * prefix; reply streams framed as proxy/redis.c frames a server's replies and
 * held to hiredis's reader, the reference oracle (linked for that alone).
 * The inline vectors are what redis-server 7.0.15 makes of the same lines.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/alloc.h"
#include "common/util.h"
#include "protocols/redis_resp.h"
#include "tests/unit/protocols/suites.h"

/* streams up to this size are also fed split at every byte offset */
#define SPLIT_ALL_MAX 4096
/* hiredis 0.14 reads up to 8 nested arrays (of a 9th it says "depth > 7") */
#define HIREDIS_DEPTH_MAX 8

/*
 * ck_assert for hot loops: Check reports every passing ck_assert to the parent
 * process (a write(2) each), this only a failing one.
 */
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            ck_abort_msg(__VA_ARGS__);                                                             \
        }                                                                                          \
    } while (0)

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

/* The first <len> bytes of <s> in a buffer of exactly that size, so ASan sees reads past it. */
static uint8_t *
prefix_copy(const char *s, size_t len)
{
    uint8_t *p = kt_malloc(len > 0 ? len : 1);

    memcpy(p, s, len);
    return p;
}

/* ---------------------------------------------------------------- type lines */

/*
 * One type line. rc defaults to PARSE_OK. need: the bytes that decide the
 * verdict (0 = all of in); every shorter prefix must be PARSE_AGAIN, every
 * longer one gives the same verdict. For PARSE_OK it is the line_len.
 * no_oracle: hiredis reads the bytes differently, for the reason beside it.
 */
struct line_vec {
    const char *in;
    int rc;
    int64_t value; /* '*', '$', ':' */
    uint32_t need;
    const char *err;
    int no_oracle;
};

#define BAD_MULTIBULK "invalid multibulk length"
#define BAD_BULK      "invalid bulk length"
#define BAD_INT       "invalid integer"
#define BAD_TYPE      "unknown type byte"
#define BAD_CRLF      "expected '\\n' after '\\r'"

static const struct line_vec line_vecs[] = {
    /* every type */
    {.in = "*3\r\n", .value = 3},
    {.in = "*0\r\n", .value = 0},
    {.in = "*-1\r\n", .value = -1},
    {.in = "*1048576\r\n", .value = RESP_ARGS_MAX},
    {.in = "$5\r\n", .value = 5},
    {.in = "$0\r\n", .value = 0},
    {.in = "$-1\r\n", .value = -1},
    {.in = "$536870912\r\n", .value = RESP_BULK_MAX},
    {.in = "+OK\r\n"},
    {.in = "+\r\n"},
    {.in = "+\x01\x7f\xff bytes\r\n"},
    {.in = "-ERR unknown command 'x'\r\n"},
    {.in = "-\r\n"},
    {.in = ":0\r\n", .value = 0},
    {.in = ":1\r\n", .value = 1},
    {.in = ":-1\r\n", .value = -1},
    {.in = ":1000\r\n", .value = 1000},
    {.in = ":9223372036854775807\r\n", .value = INT64_MAX},
    {.in = ":-9223372036854775808\r\n", .value = INT64_MIN},
    /* only "\r\n" ends a line, as in hiredis and redis */
    {.in = "+a\nb\r\n"},
    /* the line alone is parsed, whatever follows it */
    {.in = "*1\r\n:1\r\n", .value = 1, .need = 4},
    {.in = "$3\r\nabc\r\n", .value = 3, .need = 4},
    {.in = "+OK\r\n+X\r\n", .need = 5},
    {.in = ":12\r\n\r\n", .value = 12, .need = 5},
    /*
     * below -1 the parser reports the count and leaves it to the caller: redis
     * takes "*-2" in a request as no command; hiredis refuses both in a reply
     */
    {.in = "*-2\r\n", .value = -2, .no_oracle = 1},
    {.in = "$-2\r\n", .value = -2, .no_oracle = 1},
    /* numbers as redis's string2ll reads them: no '+', spaces, leading zeros, "-0" */
    {.in = "*abc\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*-\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*01\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*00\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*-0\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*-01\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*+1\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "* 1\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*1 \r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*1a\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*1.0\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "*--1\r\n", .rc = PARSE_ERROR, .err = BAD_MULTIBULK},
    {.in = "$\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$-\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$abc\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$01\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$-0\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$+5\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$ 5\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$5 \r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = "$\t5\r\n", .rc = PARSE_ERROR, .err = BAD_BULK},
    {.in = ":\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":-\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":007\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":-0\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":+1\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":1e3\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":0x10\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":9223372036854775808\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":-9223372036854775809\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":18446744073709551616\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":99999999999999999999\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    {.in = ":100000000000000000000\r\n", .rc = PARSE_ERROR, .err = BAD_INT},
    /* a '\r' must be followed by '\n' (hiredis looks on for a "\r\n", so it waits) */
    {.in = "*1\rX", .rc = PARSE_ERROR, .need = 4, .err = BAD_CRLF, .no_oracle = 1},
    {.in = "*1\r\r\n", .rc = PARSE_ERROR, .need = 4, .err = BAD_CRLF},
    {.in = "$5\r$5\r\n", .rc = PARSE_ERROR, .need = 4, .err = BAD_CRLF},
    /* hiredis takes a lone '\r' into a status; servers never send one */
    {.in = "+OK\r+X\r\n", .rc = PARSE_ERROR, .need = 5, .err = BAD_CRLF, .no_oracle = 1},
    /* type bytes RESP2 does not have (RESP3's among them), and no type at all */
    {.in = "!3\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "_\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = ",1.5\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "#t\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "%1\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "~1\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = ">3\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "(1\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "=5\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "GET a\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = " +OK\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    {.in = "\r\n", .rc = PARSE_ERROR, .err = BAD_TYPE},
    /* partial lines */
    {.in = "", .rc = PARSE_AGAIN},
    {.in = "*", .rc = PARSE_AGAIN},
    {.in = "*3", .rc = PARSE_AGAIN},
    {.in = "*3\r", .rc = PARSE_AGAIN},
    {.in = "$5\r", .rc = PARSE_AGAIN},
    {.in = "+OK", .rc = PARSE_AGAIN},
    {.in = "-ERR x\r", .rc = PARSE_AGAIN},
    {.in = ":12", .rc = PARSE_AGAIN},
    {.in = "+a\nb\n", .rc = PARSE_AGAIN},
    /* a bad number is only seen at the line's end */
    {.in = "*abc", .rc = PARSE_AGAIN},
};

/* hiredis's verdict on <in> completed with the values its line announces. */
static void
check_line_hiredis(const struct line_vec *v, size_t len, size_t need)
{
    redisReader *r = redisReaderCreate();
    redisReply *reply = NULL;
    char *in = kt_malloc(len + 4096);
    size_t n = len;
    int rc;

    memcpy(in, v->in, len);
    /* complete a lone line, unless it announces more than a small reply */
    if (v->rc == PARSE_OK && len == need && v->in[0] == '*' && v->value > 0 && v->value <= 1000) {
        for (int64_t i = 0; i < v->value; i++) {
            memcpy(in + n, ":1\r\n", 4);
            n += 4;
        }
    } else if (v->rc == PARSE_OK && len == need && v->in[0] == '$' && v->value >= 0 &&
               v->value <= 4000) {
        memset(in + n, 'x', (size_t)v->value);
        n += (size_t)v->value;
        memcpy(in + n, "\r\n", 2);
        n += 2;
    }
    ck_assert_int_eq(redisReaderFeed(r, in, n), REDIS_OK);
    rc = redisReaderGetReply(r, (void **)&reply);
    if (v->rc == PARSE_ERROR) {
        ck_assert_msg(rc == REDIS_ERR, "\"%s\": hiredis accepts it", show(v->in, len));
    } else if (v->rc == PARSE_AGAIN || (v->in[0] == '*' && v->value > 1000) ||
               (v->in[0] == '$' && v->value > 4000)) {
        ck_assert_msg(rc == REDIS_OK && reply == NULL, "\"%s\": hiredis: rc %d %s",
                      show(v->in, len), rc, r->errstr);
    } else {
        ck_assert_msg(rc == REDIS_OK && reply != NULL, "\"%s\": hiredis: rc %d %s",
                      show(v->in, len), rc, r->errstr);
        switch (v->in[0]) {
        case '+':
        case '-':
            ck_assert_int_eq(reply->type, v->in[0] == '+' ? REDIS_REPLY_STATUS : REDIS_REPLY_ERROR);
            ck_assert_uint_eq(reply->len, need - 3);
            ck_assert_mem_eq(reply->str, v->in + 1, need - 3);
            break;
        case ':':
            ck_assert_int_eq(reply->type, REDIS_REPLY_INTEGER);
            ck_assert_int_eq(reply->integer, v->value);
            break;
        case '$':
            ck_assert_int_eq(reply->type, v->value < 0 ? REDIS_REPLY_NIL : REDIS_REPLY_STRING);
            ck_assert_int_eq(v->value < 0 ? -1 : (int64_t)reply->len, v->value);
            break;
        default:
            ck_assert_int_eq(reply->type, v->value < 0 ? REDIS_REPLY_NIL : REDIS_REPLY_ARRAY);
            ck_assert_int_eq(v->value < 0 ? -1 : (int64_t)reply->elements, v->value);
            break;
        }
        freeReplyObject(reply);
    }
    redisReaderFree(r);
    kt_free(in);
}

START_TEST(line_vectors)
{
    const struct line_vec *v = &line_vecs[_i];
    size_t len = strlen(v->in), need = v->need ? v->need : len;

    for (size_t k = 0; k <= len; k++) {
        uint8_t *p = prefix_copy(v->in, k);
        struct resp_line ln;
        const char *err = NULL;
        int rc;

        memset(&ln, 0xa5, sizeof(ln));
        rc = resp_line_parse(p, k, &ln, &err);
        if (k < need || v->rc == PARSE_AGAIN) {
            ck_assert_msg(rc == PARSE_AGAIN, "\"%s\" (%zu of %zu bytes): rc %d, want AGAIN",
                          show(v->in, len), k, len, rc);
        } else {
            ck_assert_msg(rc == v->rc, "\"%s\" (%zu of %zu bytes): rc %d, want %d (%s)",
                          show(v->in, len), k, len, rc, v->rc, rc == PARSE_ERROR ? err : "");
            if (rc == PARSE_OK) {
                ck_assert_int_eq(ln.type, (uint8_t)v->in[0]);
                ck_assert_uint_eq(ln.line_len, need);
                if (strchr("*$:", v->in[0]) != NULL) {
                    ck_assert_msg(ln.value == v->value, "\"%s\": value %" PRId64 ", want %" PRId64,
                                  show(v->in, len), ln.value, v->value);
                }
            } else {
                ck_assert_ptr_nonnull(err);
                ck_assert_str_eq(err, v->err);
            }
        }
        kt_free(p);
    }
    if (!v->no_oracle) {
        check_line_hiredis(v, len, need);
    }
}
END_TEST

/* ---------------------------------------------------------------- inline commands */

struct arg {
    const char *s;
    uint32_t len;
};

/* kept on one line: clang-format would spread the braces over four */
/* clang-format off */
#define ARG(lit) {.s = (lit), .len = sizeof(lit) - 1}
/* clang-format on */

/*
 * One inline command. rc defaults to PARSE_OK. line_len: the line with its
 * "\n" (0 = all of in); for PARSE_ERROR the bytes that decide it.
 */
struct inline_vec {
    const char *in;
    int rc;
    uint32_t line_len;
    struct arg args[8]; /* ends at a NULL s */
};

static const struct inline_vec inline_vecs[] = {
    {.in = "SET k v\r\n", .args = {ARG("SET"), ARG("k"), ARG("v")}},
    {.in = "SET k v\n", .args = {ARG("SET"), ARG("k"), ARG("v")}},
    {.in = "GET a\r\nGET b\r\n", .line_len = 7, .args = {ARG("GET"), ARG("a")}},
    {.in = "GET a\nGET b\r\n", .line_len = 6, .args = {ARG("GET"), ARG("a")}},
    {.in = "  SET \t k\t\t v  \r\n", .args = {ARG("SET"), ARG("k"), ARG("v")}},
    {.in = "PING\r\n", .args = {ARG("PING")}},
    /* an empty line is no command */
    {.in = "\r\n"},
    {.in = "\n"},
    {.in = " \t \r\n"},
    {.in = "\n\r\n", .line_len = 1},
    /* quotes */
    {.in = "ECHO \"quoted arg\"\r\n", .args = {ARG("ECHO"), ARG("quoted arg")}},
    {.in = "ECHO 'single quoted'\r\n", .args = {ARG("ECHO"), ARG("single quoted")}},
    {.in = "ECHO \"\" ''\r\n", .args = {ARG("ECHO"), ARG(""), ARG("")}},
    {.in = "ECHO x\"a b\" y'c d'\r\n", .args = {ARG("ECHO"), ARG("xa b"), ARG("yc d")}},
    {.in = "ECHO \"it's\" 'say \"hi\"'\r\n", .args = {ARG("ECHO"), ARG("it's"), ARG("say \"hi\"")}},
    {.in = "ECHO \"a\"\tb\r\n", .args = {ARG("ECHO"), ARG("a"), ARG("b")}},
    /* escapes in double quotes: \n \r \t \b \a \xHH, any other byte stands for itself */
    {.in = "ECHO \"\\n\\r\\t\\b\\a\\x41\\\"\\\\\"\r\n",
     .args = {ARG("ECHO"), ARG("\n\r\t\b\aA\"\\")}},
    {.in = "ECHO \"\\v\\f\\q\\e\\0\\'\"\r\n", .args = {ARG("ECHO"), ARG("vfqe0'")}},
    {.in = "ECHO \"a\\x41\"\r\n", .args = {ARG("ECHO"), ARG("aA")}},
    {.in = "ECHO \"\\x41\\x7a\\xfF\\x00\"\r\n", .args = {ARG("ECHO"), ARG("Az\xff\x00")}},
    {.in = "ECHO \"\\x4\" \"\\x4g\" \"\\xZZ\"\r\n",
     .args = {ARG("ECHO"), ARG("x4"), ARG("x4g"), ARG("xZZ")}},
    {.in = "ECHO \"a b\\\" c\"\r\n", .args = {ARG("ECHO"), ARG("a b\" c")}},
    /* in single quotes only \' is an escape */
    {.in = "ECHO 'a\\'b' 'c\\nd' '\\x41' 'e\\\\f'\r\n",
     .args = {ARG("ECHO"), ARG("a'b"), ARG("c\\nd"), ARG("\\x41"), ARG("e\\\\f")}},
    /* outside quotes a backslash is a byte */
    {.in = "ECHO \\x41 a\\nb\r\n", .args = {ARG("ECHO"), ARG("\\x41"), ARG("a\\nb")}},
    /* blanks are isspace()'s; only ' ', '\t', '\r' end an unquoted argument */
    {.in = "ECHO a\rb\r\n", .args = {ARG("ECHO"), ARG("a"), ARG("b")}},
    {.in = "ECHO a \r b\r\n", .args = {ARG("ECHO"), ARG("a"), ARG("b")}},
    {.in = "ECHO a\r\r\n", .args = {ARG("ECHO"), ARG("a")}},
    {.in = "ECHO a\vb\r\n", .args = {ARG("ECHO"), ARG("a\vb")}},
    {.in = "ECHO a\fb\r\n", .args = {ARG("ECHO"), ARG("a\fb")}},
    {.in = "ECHO \va\r\n", .args = {ARG("ECHO"), ARG("a")}},
    {.in = "\fECHO\f \v\r a \f\r\n", .args = {ARG("ECHO\f"), ARG("a")}},
    {.in = "ECHO \"a\"\vb\r\n", .args = {ARG("ECHO"), ARG("a"), ARG("b")}},
    {.in = "ECHO \"a\"\rb\r\n", .args = {ARG("ECHO"), ARG("a"), ARG("b")}},
    {.in = "ECHO 'a'\fb\r\n", .args = {ARG("ECHO"), ARG("a"), ARG("b")}},
    /* quotes that do not close, or close inside an argument */
    {.in = "ECHO \"unbalanced\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO 'unbalanced\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO \"a\"b\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO 'a'b\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO \"a\"\"b\"\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO a\"b c\"d\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO \"a\\\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO \"a\\\"\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO 'a\\'\r\n", .rc = PARSE_ERROR},
    {.in = "ECHO \"a\nb\"\r\n", .rc = PARSE_ERROR, .line_len = 8},
    /* no "\n" yet */
    {.in = "", .rc = PARSE_AGAIN},
    {.in = "SET k v", .rc = PARSE_AGAIN},
    {.in = "SET k v\r", .rc = PARSE_AGAIN},
    {.in = "SET k \"v", .rc = PARSE_AGAIN},
};

static void
check_inline_args(const struct resp_inline *in, const struct arg *args, const char *what)
{
    uint32_t n = 0;

    while (n < 8 && args[n].s != NULL) {
        n++;
    }
    ck_assert_msg(in->nargs == n, "\"%s\": %u args, want %u", what, in->nargs, n);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_msg(in->len[i] == args[i].len &&
                          memcmp(in->buf + in->off[i], args[i].s, args[i].len) == 0,
                      "\"%s\": arg %u is \"%s\"", what, i, show(in->buf + in->off[i], in->len[i]));
    }
}

START_TEST(inline_vectors)
{
    const struct inline_vec *v = &inline_vecs[_i];
    size_t len = strlen(v->in), need = v->line_len ? v->line_len : len;
    struct resp_inline in = {0};
    char what[600];

    snprintf(what, sizeof(what), "%s", show(v->in, len));
    for (size_t k = 0; k <= len; k++) {
        uint8_t *p = prefix_copy(v->in, k);
        const char *err = NULL;
        int rc = resp_inline_parse(p, k, &in, &err);

        if (k < need || v->rc == PARSE_AGAIN) {
            ck_assert_msg(rc == PARSE_AGAIN, "\"%s\" (%zu of %zu bytes): rc %d, want AGAIN", what,
                          k, len, rc);
        } else if (v->rc == PARSE_ERROR) {
            ck_assert_msg(rc == PARSE_ERROR, "\"%s\" (%zu bytes): rc %d, want ERROR", what, k, rc);
            ck_assert_ptr_nonnull(err);
            ck_assert_str_eq(err, "unbalanced quotes in request");
        } else {
            ck_assert_msg(rc == PARSE_OK, "\"%s\" (%zu bytes): rc %d (%s)", what, k, rc,
                          rc == PARSE_ERROR ? err : "");
            ck_assert_uint_eq(in.line_len, need);
            check_inline_args(&in, v->args, what);
        }
        kt_free(p);
    }
    resp_inline_free(&in);
    ck_assert_ptr_null(in.buf);
}
END_TEST

/* A line of many arguments and a long one: the arrays grow and stay consistent. */
START_TEST(inline_many_args)
{
    size_t cap = 64 * 1024, n = 0;
    char *line = kt_malloc(cap);
    struct resp_inline in = {0};
    const char *err = NULL;

    n += (size_t)snprintf(line + n, cap - n, "MSET");
    for (int i = 0; i < 2000; i++) {
        n += (size_t)snprintf(line + n, cap - n, " key:%d \"v\\x%02x%d\"", i, i & 0xff, i);
    }
    n += (size_t)snprintf(line + n, cap - n, " '");
    memset(line + n, 'z', 20000);
    n += 20000;
    n += (size_t)snprintf(line + n, cap - n, "'\r\n");
    ck_assert_int_eq(resp_inline_parse((const uint8_t *)line, n, &in, &err), PARSE_OK);
    ck_assert_uint_eq(in.line_len, n);
    ck_assert_uint_eq(in.nargs, 1 + 2 * 2000 + 1);
    ck_assert_uint_eq(in.len[0], 4);
    ck_assert_mem_eq(in.buf + in.off[0], "MSET", 4);
    for (uint32_t i = 0; i < 2000; i++) {
        char want[32];
        int wn;

        wn = snprintf(want, sizeof(want), "key:%u", i);
        ck_assert_uint_eq(in.len[1 + 2 * i], (uint32_t)wn);
        ck_assert_mem_eq(in.buf + in.off[1 + 2 * i], want, (size_t)wn);
        wn = snprintf(want, sizeof(want), "v%c%u", (char)(i & 0xff), i);
        ck_assert_uint_eq(in.len[2 + 2 * i], (uint32_t)wn);
        ck_assert_mem_eq(in.buf + in.off[2 + 2 * i], want, (size_t)wn);
    }
    ck_assert_uint_eq(in.len[in.nargs - 1], 20000);
    ck_assert_int_eq(in.buf[in.off[in.nargs - 1] + 19999], 'z');
    /* the same struct then takes a short line */
    ck_assert_int_eq(resp_inline_parse((const uint8_t *)"GET k\r\n", 7, &in, &err), PARSE_OK);
    ck_assert_uint_eq(in.nargs, 2);
    ck_assert_uint_eq(in.line_len, 7);
    ck_assert_mem_eq(in.buf + in.off[1], "k", 1);
    resp_inline_free(&in);
    kt_free(line);
}
END_TEST

/* ---------------------------------------------------------------- reply framing */

/* Where one reply ends and what it is. */
struct frame {
    size_t end;    /* offset just past its last byte */
    int type;      /* ketch, generator: its first line's type byte; hiredis: REDIS_REPLY_* */
    int64_t value; /* that line's number; hiredis: integer, string length or elements */
    uint32_t ntop; /* ketch: value_done calls that said top; generator: the elements */
};

struct frames {
    struct frame *v;
    size_t n, cap;
    size_t *tops; /* where each element of an outermost array ended */
    size_t ntops, captops;
};

static void
frames_add(struct frames *f, size_t end, int type, int64_t value, uint32_t ntop)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->v = kt_realloc(f->v, f->cap * sizeof(*f->v));
    }
    f->v[f->n++] = (struct frame){end, type, value, ntop};
}

static void
frames_top(struct frames *f, size_t end)
{
    if (f->ntops == f->captops) {
        f->captops = f->captops ? f->captops * 2 : 64;
        f->tops = kt_realloc(f->tops, f->captops * sizeof(*f->tops));
    }
    f->tops[f->ntops++] = end;
}

static void
frames_free(struct frames *f)
{
    kt_free(f->v);
    kt_free(f->tops);
    memset(f, 0, sizeof(*f));
}

/* Frames a stream of server replies with ketch's functions, as proxy/redis.c does. */
struct framer {
    struct resp_reply r;
    size_t pos;    /* next byte to read */
    uint64_t skip; /* bulk payload and "\r\n" bytes still to pass */
    int type;      /* the current reply's first line */
    int64_t value;
    uint32_t ntop;
    const char *err; /* the stream cannot be framed */
    struct frames out;
};

static void
framer_value_done(struct framer *f)
{
    int top = -1, complete = resp_reply_value_done(&f->r, &top);

    EXPECT(top == 0 || top == 1, "top %d", top);
    if (top) {
        f->ntop++;
        frames_top(&f->out, f->pos);
    }
    if (complete) {
        frames_add(&f->out, f->pos, f->type, f->value, f->ntop);
        f->ntop = 0;
    }
}

/* Frame what the first <avail> bytes of <s> allow; the framer keeps its place. */
static void
framer_feed(struct framer *f, const uint8_t *s, size_t avail)
{
    while (f->err == NULL) {
        struct resp_line ln;
        const char *err = NULL;
        int rc;

        if (f->skip > 0) {
            size_t n = (size_t)KT_MIN(f->skip, (uint64_t)(avail - f->pos));

            f->pos += n;
            f->skip -= n;
            if (f->skip > 0) {
                return;
            }
            framer_value_done(f);
            continue;
        }
        rc = resp_line_parse(s + f->pos, avail - f->pos, &ln, &err);
        if (rc == PARSE_AGAIN) {
            return;
        }
        if (rc != PARSE_OK) {
            f->err = err;
            return;
        }
        if (f->r.depth == 0) {
            f->type = ln.type;
            f->value = ln.value;
        }
        f->pos += ln.line_len;
        if (ln.type == '*' && ln.value > 0) {
            if (resp_reply_open(&f->r, ln.value) != 0) {
                f->err = "reply nested too deep";
            }
        } else if (ln.type == '$' && ln.value >= 0) {
            f->skip = (uint64_t)ln.value + 2;
        } else {
            framer_value_done(f);
        }
    }
}

/* A reply stream and what it holds, written by the test. */
struct gen {
    uint8_t *buf;
    size_t len, cap;
    struct frames want;
    uint64_t rng;
};

static void
gen_put(struct gen *g, const void *p, size_t n)
{
    if (g->len + n > g->cap) {
        while (g->len + n > g->cap) {
            g->cap = g->cap ? g->cap * 2 : 4096;
        }
        g->buf = kt_realloc(g->buf, g->cap);
    }
    memcpy(g->buf + g->len, p, n);
    g->len += n;
}

static void gen_printf(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
gen_printf(struct gen *g, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    EXPECT(n >= 0 && (size_t)n < sizeof(line), "gen_printf: %d bytes", n);
    gen_put(g, line, (size_t)n);
}

static void
gen_bulk(struct gen *g, const void *p, size_t n)
{
    gen_printf(g, "$%zu\r\n", n);
    gen_put(g, p, n);
    gen_put(g, "\r\n", 2);
}

static void
gen_bulk_str(struct gen *g, const char *s)
{
    gen_bulk(g, s, strlen(s));
}

/* A reply ends here. */
static void
gen_end(struct gen *g, int type, int64_t value)
{
    frames_add(&g->want, g->len, type, value, type == '*' && value > 0 ? (uint32_t)value : 0);
}

/* An element of the reply's outermost array ends here. */
static void
gen_top(struct gen *g)
{
    frames_top(&g->want, g->len);
}

static void
gen_free(struct gen *g)
{
    kt_free(g->buf);
    frames_free(&g->want);
}

/* splitmix64: a seeded sequence, the same on every machine */
static uint64_t
rnd(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
rnd_below(struct gen *g, uint64_t n)
{
    return rnd(&g->rng) % n;
}

/* <n> random bytes, often with "\r\n" and type lines inside. */
static void
gen_random_bytes(struct gen *g, uint8_t *p, size_t n)
{
    static const char traps[] = "\r\n*3\r\n$-1\r\n+OK\r\n";

    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rnd(&g->rng);
    }
    for (size_t i = 0; i + sizeof(traps) < n; i += 1 + rnd_below(g, 200)) {
        memcpy(p + i, traps, sizeof(traps) - 1);
    }
}

static void
gen_random_bulk(struct gen *g, size_t n)
{
    uint8_t *p = kt_malloc(n > 0 ? n : 1);

    gen_random_bytes(g, p, n);
    gen_bulk(g, p, n);
    kt_free(p);
}

/* A line of printable bytes (and sometimes a lone '\n'), as servers send in '+' and '-'. */
static void
gen_random_text(struct gen *g, uint8_t type)
{
    char line[64];
    size_t n = 0, len = rnd_below(g, 40);

    line[n++] = (char)type;
    for (size_t i = 0; i < len; i++) {
        line[n++] = rnd_below(g, 30) == 0 ? '\n' : (char)(0x20 + rnd_below(g, 0x5f));
    }
    gen_put(g, line, n);
    gen_put(g, "\r\n", 2);
}

/* A random value at nesting <level> (0: the reply); its first line's type and number. */
static void
gen_random_value(struct gen *g, uint32_t level, int *type, int64_t *value)
{
    static const int64_t ints[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1000000};
    uint64_t r = rnd_below(g, 100);
    /* arrays get rarer deeper down; hiredis reads 8 levels */
    uint64_t arrays = level < HIREDIS_DEPTH_MAX ? 24 / (level + 1) : 0;

    *value = 0;
    if (r < arrays) {
        int64_t n =
            rnd_below(g, 10) == 0 ? 6 + (int64_t)rnd_below(g, 60) : 1 + (int64_t)rnd_below(g, 5);

        gen_printf(g, "*%" PRId64 "\r\n", n);
        for (int64_t i = 0; i < n; i++) {
            int t;
            int64_t v;

            gen_random_value(g, level + 1, &t, &v);
            if (level == 0) {
                gen_top(g);
            }
        }
        *type = '*';
        *value = n;
        return;
    }
    r = rnd_below(g, 100);
    if (r < 15) {
        gen_random_text(g, '+');
        *type = '+';
    } else if (r < 25) {
        gen_random_text(g, '-');
        *type = '-';
    } else if (r < 40) {
        if (rnd_below(g, 3) == 0) {
            *value = ints[rnd_below(g, KT_NELEMS(ints))];
        } else {
            *value = (int64_t)rnd(&g->rng);
            *value /= (int64_t)1 << rnd_below(g, 63);
        }
        gen_printf(g, ":%" PRId64 "\r\n", *value);
        *type = ':';
    } else if (r < 90) {
        uint64_t s = rnd_below(g, 100);

        *value = s < 60   ? (int64_t)rnd_below(g, 17)
                 : s < 90 ? 17 + (int64_t)rnd_below(g, 496)
                 : s < 99 ? 513 + (int64_t)rnd_below(g, 7680)
                          : 8193 + (int64_t)rnd_below(g, 57344);
        gen_random_bulk(g, (size_t)*value);
        *type = '$';
    } else if (r < 95) {
        gen_printf(g, "$-1\r\n");
        *type = '$';
        *value = -1;
    } else if (r < 97) {
        gen_printf(g, "*-1\r\n");
        *type = '*';
        *value = -1;
    } else {
        gen_printf(g, "*0\r\n");
        *type = '*';
    }
}

/* A chain of <depth> one-element arrays around ":7"; its outer element ends with it. */
static void
gen_chain(struct gen *g, uint32_t depth)
{
    for (uint32_t i = 0; i < depth; i++) {
        gen_printf(g, "*1\r\n");
    }
    gen_printf(g, ":7\r\n");
    gen_top(g);
    gen_end(g, '*', 1);
}

/* A full binary tree of <depth> arrays with bulk leaves. */
static void
gen_tree(struct gen *g, uint32_t depth, uint32_t level)
{
    if (depth == 0) {
        gen_bulk_str(g, "leaf");
        return;
    }
    gen_printf(g, "*2\r\n");
    for (int i = 0; i < 2; i++) {
        gen_tree(g, depth - 1, level + 1);
        if (level == 0) {
            gen_top(g);
        }
    }
    if (level == 0) {
        gen_end(g, '*', 2);
    }
}

static void
build_simple_strings(struct gen *g)
{
    /* empty, a lone '\n', type bytes, bytes above 0x7f */
    static const char *const s[] = {"OK", "", "QUEUED", "a\nb", "$3 *2 :1 -x +y", "\x01\x7f\xff"};

    for (size_t i = 0; i < KT_NELEMS(s); i++) {
        gen_printf(g, "+%s\r\n", s[i]);
        gen_end(g, '+', 0);
    }
}

static void
build_errors(struct gen *g)
{
    static const char *const s[] = {
        "ERR unknown command 'foo', with args beginning with: ",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "MOVED 3999 127.0.0.1:6381", "NOSCRIPT No matching script. Please use EVAL.", ""};

    for (size_t i = 0; i < KT_NELEMS(s); i++) {
        gen_printf(g, "-%s\r\n", s[i]);
        gen_end(g, '-', 0);
    }
}

static void
build_long_lines(struct gen *g)
{
    static char text[RESP_LINE_MAX];

    memset(text, 'x', sizeof(text));
    for (int i = 0; i < 2; i++) {
        gen_put(g, i == 0 ? "+" : "-", 1);
        gen_put(g, text, sizeof(text) - 3);
        gen_put(g, "\r\n", 2);
        gen_end(g, i == 0 ? '+' : '-', 0);
    }
}

static void
build_integers(struct gen *g)
{
    static const int64_t v[] = {0, 1, -1, 1000, -1000, INT64_MAX, INT64_MIN, INT64_MAX - 1};

    for (size_t i = 0; i < KT_NELEMS(v); i++) {
        gen_printf(g, ":%" PRId64 "\r\n", v[i]);
        gen_end(g, ':', v[i]);
    }
}

static void
build_bulks(struct gen *g)
{
    static const char *const s[] = {"hello", "\r\n", "*3\r\n$1\r\nx\r\n", "$-1\r\n", "\r", "\n"};

    gen_printf(g, "$-1\r\n");
    gen_end(g, '$', -1);
    gen_bulk(g, "", 0);
    gen_end(g, '$', 0);
    for (size_t i = 0; i < KT_NELEMS(s); i++) {
        gen_bulk_str(g, s[i]);
        gen_end(g, '$', (int64_t)strlen(s[i]));
    }
    gen_bulk(g, "\0\xff\r\0", 4);
    gen_end(g, '$', 4);
    for (size_t n = 1; n <= 40; n += 3) {
        gen_random_bulk(g, n);
        gen_end(g, '$', (int64_t)n);
    }
}

static void
build_big_bulks(struct gen *g)
{
    size_t mib = 1024 * 1024;

    gen_random_bulk(g, mib);
    gen_end(g, '$', (int64_t)mib);
    gen_printf(g, "+OK\r\n");
    gen_end(g, '+', 0);
    /* as an element, between others */
    gen_printf(g, "*3\r\n:1\r\n");
    gen_top(g);
    gen_random_bulk(g, mib);
    gen_top(g);
    gen_printf(g, "$-1\r\n");
    gen_top(g);
    gen_end(g, '*', 3);
    gen_printf(g, ":1\r\n");
    gen_end(g, ':', 1);
}

static void
build_arrays(struct gen *g)
{
    gen_printf(g, "*-1\r\n");
    gen_end(g, '*', -1);
    gen_printf(g, "*0\r\n");
    gen_end(g, '*', 0);
    gen_printf(g, "*1\r\n$-1\r\n");
    gen_top(g);
    gen_end(g, '*', 1);
    /* nil, empty bulk, nil array and empty array as elements */
    gen_printf(g, "*4\r\n$-1\r\n");
    gen_top(g);
    gen_printf(g, "$0\r\n\r\n");
    gen_top(g);
    gen_printf(g, "*-1\r\n");
    gen_top(g);
    gen_printf(g, "*0\r\n");
    gen_top(g);
    gen_end(g, '*', 4);
    /* MGET */
    gen_printf(g, "*3\r\n$1\r\na\r\n");
    gen_top(g);
    gen_printf(g, "$-1\r\n");
    gen_top(g);
    gen_printf(g, "$3\r\nxyz\r\n");
    gen_top(g);
    gen_end(g, '*', 3);
    /* EXEC */
    gen_printf(g, "*5\r\n+OK\r\n");
    gen_top(g);
    gen_printf(g, ":1\r\n");
    gen_top(g);
    gen_printf(g, "-ERR value is not an integer or out of range\r\n");
    gen_top(g);
    gen_printf(g, "*-1\r\n");
    gen_top(g);
    gen_bulk_str(g, "abc");
    gen_top(g);
    gen_end(g, '*', 5);
}

static void
build_zrange_withscores(struct gen *g)
{
    gen_printf(g, "*200\r\n");
    for (int i = 0; i < 100; i++) {
        gen_printf(g, "$%d\r\nmember:%d\r\n", (int)strlen("member:") + (i < 10 ? 1 : 2), i);
        gen_top(g);
        gen_printf(g, "$%d\r\n%d.5\r\n", (i < 10 ? 1 : 2) + 2, i);
        gen_top(g);
    }
    gen_end(g, '*', 200);
}

static void
build_hgetall(struct gen *g)
{
    char s[32];

    gen_printf(g, "*100\r\n");
    for (int i = 0; i < 50; i++) {
        snprintf(s, sizeof(s), "field:%d", i);
        gen_bulk_str(g, s);
        gen_top(g);
        snprintf(s, sizeof(s), "%s", i % 7 == 0 ? "" : "value\r\n");
        gen_bulk_str(g, s);
        gen_top(g);
    }
    gen_end(g, '*', 100);
}

static void
build_lrange_5000(struct gen *g)
{
    char s[32];

    gen_printf(g, "*5000\r\n");
    for (int i = 0; i < 5000; i++) {
        if (i % 100 == 0) {
            s[0] = '\0';
        } else {
            snprintf(s, sizeof(s), "item:%d", i);
        }
        gen_bulk_str(g, s);
        gen_top(g);
    }
    gen_end(g, '*', 5000);
    gen_printf(g, "+OK\r\n");
    gen_end(g, '+', 0);
}

/* Nesting hiredis 0.14 reads: up to 8 arrays deep. */
static void
build_nested(struct gen *g)
{
    gen_chain(g, HIREDIS_DEPTH_MAX);
    gen_tree(g, HIREDIS_DEPTH_MAX, 0);
    /* [[a, [b, [c, [d]]]], e] */
    gen_printf(g, "*2\r\n*2\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n*2\r\n$1\r\nc\r\n*1\r\n$1\r\nd\r\n");
    gen_top(g);
    gen_printf(g, "$1\r\ne\r\n");
    gen_top(g);
    gen_end(g, '*', 2);
    /* XRANGE: [[id, [f, v, f, v]], [id, [f, v]]] */
    gen_printf(g, "*2\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$0\r\n\r\n");
    gen_top(g);
    gen_printf(g, "*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$1\r\nw\r\n");
    gen_top(g);
    gen_end(g, '*', 2);
    /* XREAD: [[stream, [[id, [f, v]]]]], then a nil */
    gen_printf(g, "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    gen_top(g);
    gen_end(g, '*', 1);
    gen_printf(g, "*-1\r\n");
    gen_end(g, '*', -1);
    /* SCAN: [cursor, [keys]], and an empty page */
    gen_printf(g, "*2\r\n$2\r\n17\r\n");
    gen_top(g);
    gen_printf(g, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    gen_top(g);
    gen_end(g, '*', 2);
    gen_printf(g, "*2\r\n$1\r\n0\r\n");
    gen_top(g);
    gen_printf(g, "*0\r\n");
    gen_top(g);
    gen_end(g, '*', 2);
    /* statuses, errors, integers and nils deep inside */
    gen_printf(g, "*3\r\n*2\r\n+OK\r\n*2\r\n-ERR x\r\n*1\r\n:-5\r\n");
    gen_top(g);
    gen_printf(g, "*1\r\n*1\r\n*1\r\n*1\r\n*-1\r\n");
    gen_top(g);
    gen_printf(g, "$-1\r\n");
    gen_top(g);
    gen_end(g, '*', 3);
}

/* Deeper than hiredis 0.14 reads: the generator's own record is the reference. */
static void
build_nested_deep(struct gen *g)
{
    gen_chain(g, 10);
    gen_tree(g, 10, 0);
    gen_chain(g, RESP_DEPTH_MAX);
    gen_printf(g, ":1\r\n");
    gen_end(g, ':', 1);
}

/* A pipeline's replies: a bit of everything, in turn. */
static void
build_pipeline_1000(struct gen *g)
{
    char s[32];

    for (int i = 0; i < 1000; i++) {
        switch (i % 10) {
        case 0:
            gen_printf(g, "+OK\r\n");
            gen_end(g, '+', 0);
            break;
        case 1:
            gen_printf(g, ":%d\r\n", i);
            gen_end(g, ':', i);
            break;
        case 2:
            gen_printf(g, "$-1\r\n");
            gen_end(g, '$', -1);
            break;
        case 3:
            snprintf(s, sizeof(s), "value:%d", i);
            gen_bulk_str(g, s);
            gen_end(g, '$', (int64_t)strlen(s));
            break;
        case 4:
            gen_printf(g, "-ERR wrong number of arguments for 'get' command\r\n");
            gen_end(g, '-', 0);
            break;
        case 5:
            gen_printf(g, "*-1\r\n");
            gen_end(g, '*', -1);
            break;
        case 6:
            gen_printf(g, "*0\r\n");
            gen_end(g, '*', 0);
            break;
        case 7:
            gen_printf(g, "*3\r\n$1\r\na\r\n");
            gen_top(g);
            gen_printf(g, "$-1\r\n");
            gen_top(g);
            gen_printf(g, "$0\r\n\r\n");
            gen_top(g);
            gen_end(g, '*', 3);
            break;
        case 8:
            gen_printf(g, "*2\r\n*2\r\n$1\r\nm\r\n$1\r\n1\r\n");
            gen_top(g);
            gen_printf(g, ":%d\r\n", -i);
            gen_top(g);
            gen_end(g, '*', 2);
            break;
        default:
            gen_printf(g, "$0\r\n\r\n");
            gen_end(g, '$', 0);
            break;
        }
    }
}

/* Replies from a seeded generator. */
static void
build_random(struct gen *g, uint64_t seed, int nreplies)
{
    g->rng = seed;
    for (int i = 0; i < nreplies; i++) {
        int type;
        int64_t value;

        if (rnd_below(g, 50) == 0) {
            gen_chain(g, 1 + (uint32_t)rnd_below(g, HIREDIS_DEPTH_MAX));
            continue;
        }
        gen_random_value(g, 0, &type, &value);
        gen_end(g, type, value);
    }
}

/*
 * The replies hiredis reads in <s>, fed in pieces of up to 4 KiB. A reply
 * ends where hiredis's cursor stands when it hands the reply over: its buffer
 * holds the last r->len bytes fed, and r->pos is its place in them.
 */
static int
hiredis_frames(const uint8_t *s, size_t len, struct frames *out, char *err, size_t errlen)
{
    redisReader *r = redisReaderCreate();
    size_t fed = 0;
    int ok = 1;

    while (fed < len && ok) {
        size_t n = KT_MIN(len - fed, 1 + fed % 4096);

        EXPECT(redisReaderFeed(r, (const char *)s + fed, n) == REDIS_OK, "redisReaderFeed");
        fed += n;
        for (;;) {
            redisReply *reply = NULL;
            int64_t value = 0;

            if (redisReaderGetReply(r, (void **)&reply) != REDIS_OK) {
                snprintf(err, errlen, "before byte %zu: %s", fed, r->errstr);
                ok = 0;
                break;
            }
            if (reply == NULL) {
                break;
            }
            if (reply->type == REDIS_REPLY_INTEGER) {
                value = reply->integer;
            } else if (reply->type == REDIS_REPLY_STRING) {
                value = (int64_t)reply->len;
            } else if (reply->type == REDIS_REPLY_ARRAY) {
                value = (int64_t)reply->elements;
            }
            frames_add(out, fed - r->len + r->pos, reply->type, value, 0);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(r);
    return ok;
}

/* Whether ketch's first line <type> <value> is the reply hiredis calls <hr>. */
static int
same_reply(int type, int64_t value, const struct frame *hr)
{
    switch (hr->type) {
    case REDIS_REPLY_STATUS:
        return type == '+';
    case REDIS_REPLY_ERROR:
        return type == '-';
    case REDIS_REPLY_NIL:
        return (type == '$' || type == '*') && value == -1;
    case REDIS_REPLY_INTEGER:
        return type == ':' && value == hr->value;
    case REDIS_REPLY_STRING:
        return type == '$' && value == hr->value;
    case REDIS_REPLY_ARRAY:
        return type == '*' && value == hr->value;
    }
    return 0;
}

/* <got> (ketch's or the generator's frames) against hiredis's. */
static void
check_against_hiredis(const struct frames *got, const struct frames *hr, const char *who,
                      const char *how)
{
    EXPECT(got->n == hr->n, "%s (%s): %zu replies, hiredis %zu", who, how, got->n, hr->n);
    for (size_t i = 0; i < got->n; i++) {
        const struct frame *f = &got->v[i], *h = &hr->v[i];

        EXPECT(f->end == h->end, "%s (%s): reply %zu ends at %zu, hiredis at %zu", who, how, i,
               f->end, h->end);
        EXPECT(same_reply(f->type, f->value, h),
               "%s (%s): reply %zu is '%c' %" PRId64 ", hiredis type %d %" PRId64, who, how, i,
               f->type, f->value, h->type, h->value);
        /* value_done says top once per element of an outermost array */
        EXPECT(f->ntop == (h->type == REDIS_REPLY_ARRAY ? (uint32_t)h->value : 0),
               "%s (%s): reply %zu: top %u times, hiredis has %" PRId64 " elements", who, how, i,
               f->ntop, h->type == REDIS_REPLY_ARRAY ? h->value : 0);
    }
}

/* ketch's frames against what the generator wrote, including where each top element ended. */
static void
check_against_gen(const struct framer *f, const struct gen *g, const char *how)
{
    const struct frames *got = &f->out, *want = &g->want;

    EXPECT(f->err == NULL, "%s: %s at byte %zu", how, f->err, f->pos);
    EXPECT(f->pos == g->len && f->skip == 0 && f->r.depth == 0,
           "%s: stopped at %zu of %zu (skip %" PRIu64 ", depth %u)", how, f->pos, g->len, f->skip,
           f->r.depth);
    EXPECT(got->n == want->n, "%s: %zu replies, want %zu", how, got->n, want->n);
    for (size_t i = 0; i < got->n; i++) {
        const struct frame *a = &got->v[i], *b = &want->v[i];

        EXPECT(a->end == b->end && a->type == b->type && a->value == b->value && a->ntop == b->ntop,
               "%s: reply %zu: end %zu '%c' %" PRId64 " top %u, want end %zu '%c' %" PRId64
               " top %u",
               how, i, a->end, a->type, a->value, a->ntop, b->end, b->type, b->value, b->ntop);
    }
    EXPECT(got->ntops == want->ntops, "%s: %zu top elements, want %zu", how, got->ntops,
           want->ntops);
    for (size_t i = 0; i < got->ntops; i++) {
        EXPECT(got->tops[i] == want->tops[i], "%s: top element %zu ends at %zu, want %zu", how, i,
               got->tops[i], want->tops[i]);
    }
}

static void
check_framer(struct framer *f, const struct gen *g, const struct frames *hr, const char *how)
{
    check_against_gen(f, g, how);
    if (hr != NULL) {
        check_against_hiredis(&f->out, hr, "ketch", how);
    }
    frames_free(&f->out);
}

/*
 * Frame <g>'s stream whole, one byte at a time, split in two at every offset
 * (small streams) and in random chunks, and hold each run to hiredis's replies
 * (when hiredis can read the stream) and to what the generator wrote.
 */
static void
check_stream(const struct gen *g, int deep, uint64_t seed)
{
    struct frames hr = {0};
    struct framer f;
    char err[256] = "", how[64];
    uint64_t rng = seed;
    int hr_ok = hiredis_frames(g->buf, g->len, &hr, err, sizeof(err));

    /* the oracle reads every stream but those nested deeper than it goes */
    ck_assert_msg(hr_ok || deep, "hiredis: %s", err);
    if (hr_ok) {
        check_against_hiredis(&g->want, &hr, "generator", "its record");
    }
    memset(&f, 0, sizeof(f));
    framer_feed(&f, g->buf, g->len);
    check_framer(&f, g, hr_ok ? &hr : NULL, "whole");

    memset(&f, 0, sizeof(f));
    for (size_t i = 1; i <= g->len; i++) {
        framer_feed(&f, g->buf, i);
    }
    check_framer(&f, g, hr_ok ? &hr : NULL, "one byte at a time");

    if (g->len <= SPLIT_ALL_MAX) {
        for (size_t k = 0; k <= g->len; k++) {
            memset(&f, 0, sizeof(f));
            framer_feed(&f, g->buf, k);
            framer_feed(&f, g->buf, g->len);
            snprintf(how, sizeof(how), "split at %zu", k);
            check_framer(&f, g, hr_ok ? &hr : NULL, how);
        }
    }
    for (int round = 0; round < 20; round++) {
        static const uint64_t maxchunk[] = {16, 1500, 65536};
        size_t avail = 0;

        memset(&f, 0, sizeof(f));
        while (avail < g->len) {
            avail += 1 + rnd(&rng) % maxchunk[rnd(&rng) % KT_NELEMS(maxchunk)];
            framer_feed(&f, g->buf, KT_MIN(avail, g->len));
        }
        snprintf(how, sizeof(how), "random chunks, round %d", round);
        check_framer(&f, g, hr_ok ? &hr : NULL, how);
    }
    frames_free(&hr);
}

struct stream_vec {
    const char *name;
    void (*build)(struct gen *g);
    int deep; /* nests deeper than hiredis 0.14 reads */
};

static const struct stream_vec stream_vecs[] = {
    {.name = "simple strings", .build = build_simple_strings},
    {.name = "errors", .build = build_errors},
    {.name = "long lines", .build = build_long_lines},
    {.name = "integers", .build = build_integers},
    {.name = "bulks", .build = build_bulks},
    {.name = "1 MiB bulks", .build = build_big_bulks},
    {.name = "arrays", .build = build_arrays},
    {.name = "ZRANGE WITHSCORES", .build = build_zrange_withscores},
    {.name = "HGETALL", .build = build_hgetall},
    {.name = "LRANGE of 5000", .build = build_lrange_5000},
    {.name = "nested", .build = build_nested},
    {.name = "nested deeper than hiredis reads", .build = build_nested_deep, .deep = 1},
    {.name = "pipeline of 1000", .build = build_pipeline_1000},
};

START_TEST(reply_streams)
{
    const struct stream_vec *v = &stream_vecs[_i];
    struct gen g = {0};

    v->build(&g);
    ck_assert_msg(g.want.n > 0, "%s: empty", v->name);
    check_stream(&g, v->deep, 0x5eed0000 + (uint64_t)_i);
    gen_free(&g);
}
END_TEST

START_TEST(reply_streams_random)
{
    struct gen g = {0};

    build_random(&g, 0xfeed0000 + (uint64_t)_i, 1000);
    check_stream(&g, 0, 0x5eed1000 + (uint64_t)_i);
    gen_free(&g);
}
END_TEST

/* ---------------------------------------------------------------- nesting state */

/* [[a, b], c]: the inner array completes the outer's first element. */
START_TEST(reply_nesting_steps)
{
    struct resp_reply r = {0};
    int top = -1;

    ck_assert_int_eq(resp_reply_value_done(&r, &top), 1); /* a scalar reply */
    ck_assert_int_eq(top, 0);
    ck_assert_int_eq(resp_reply_open(&r, 2), 0);
    ck_assert_int_eq(resp_reply_open(&r, 2), 0);
    ck_assert_int_eq(resp_reply_value_done(&r, &top), 0); /* a */
    ck_assert_int_eq(top, 0);
    ck_assert_int_eq(resp_reply_value_done(&r, &top), 0); /* b, and so [a, b] */
    ck_assert_int_eq(top, 1);
    ck_assert_uint_eq(r.depth, 1);
    ck_assert_int_eq(resp_reply_value_done(&r, &top), 1); /* c, and so the reply */
    ck_assert_int_eq(top, 1);
    ck_assert_uint_eq(r.depth, 0);
}
END_TEST

START_TEST(reply_depth_limit)
{
    struct resp_reply r = {0};
    struct gen g = {0};
    struct framer f;
    int top = -1;

    for (int i = 0; i < RESP_DEPTH_MAX; i++) {
        ck_assert_int_eq(resp_reply_open(&r, 1), 0);
    }
    ck_assert_int_eq(resp_reply_open(&r, 1), -1);
    ck_assert_int_eq(resp_reply_open(&r, 5), -1);
    ck_assert_uint_eq(r.depth, RESP_DEPTH_MAX);
    /* the refusal left the open arrays as they were: one value closes them all */
    ck_assert_int_eq(resp_reply_value_done(&r, &top), 1);
    ck_assert_int_eq(top, 1);
    ck_assert_uint_eq(r.depth, 0);

    /* a server reply one level deeper stops the framer at the line that opens it */
    for (int i = 0; i <= RESP_DEPTH_MAX; i++) {
        gen_printf(&g, "*1\r\n");
    }
    gen_printf(&g, ":1\r\n");
    memset(&f, 0, sizeof(f));
    framer_feed(&f, g.buf, g.len);
    ck_assert_ptr_nonnull(f.err);
    ck_assert_str_eq(f.err, "reply nested too deep");
    ck_assert_uint_eq(f.pos, 4 * (RESP_DEPTH_MAX + 1));
    ck_assert_uint_eq(f.out.n, 0);
    frames_free(&f.out);
    gen_free(&g);
}
END_TEST

Suite *
redis_resp_suite(void)
{
    Suite *s = suite_create("redis_resp");
    TCase *tc = tcase_create("lines");

    tcase_add_loop_test(tc, line_vectors, 0, (int)KT_NELEMS(line_vecs));
    suite_add_tcase(s, tc);
    tc = tcase_create("inline");
    tcase_add_loop_test(tc, inline_vectors, 0, (int)KT_NELEMS(inline_vecs));
    tcase_add_test(tc, inline_many_args);
    suite_add_tcase(s, tc);
    tc = tcase_create("replies");
    /* a 1 MiB stream fed one byte at a time to hiredis and ketch, under sanitizers too */
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, reply_streams, 0, (int)KT_NELEMS(stream_vecs));
    tcase_add_loop_test(tc, reply_streams_random, 0, 4);
    tcase_add_test(tc, reply_nesting_steps);
    tcase_add_test(tc, reply_depth_limit);
    suite_add_tcase(s, tc);
    return s;
}
