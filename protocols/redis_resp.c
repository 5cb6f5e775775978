/*
 * protocols/redis_resp.c - RESP2 line parsing, inline command splitting and
 * reply nesting. Values are framed, never copied: a proxy only needs to
 * know where a request or a reply ends and where its parts are.
 */
#include "config.h"

#include <string.h>

#include "common/alloc.h"
#include "protocols/redis_resp.h"

/* A signed decimal as redis's string2ll accepts it: no spaces, no '+', no leading zeros. */
static int
resp_parse_i64(const uint8_t *s, size_t len, int64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    int neg = 0;

    if (len == 0 || len > 20) {
        return -1;
    }
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (len == 1) {
            return -1;
        }
    }
    if (s[i] == '0' && (len > i + 1 || neg)) { /* "0" alone: not "01", not "-0" */
        return -1;
    }
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        if (v > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) {
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int
resp_line_parse(const uint8_t *p, size_t len, struct resp_line *line, const char **err)
{
    const uint8_t *cr;
    size_t end;

    if (len == 0) {
        return PARSE_AGAIN;
    }
    if (resp_line_plain(p, len, line)) {
        return PARSE_OK;
    }
    cr = memchr(p, '\r', len);
    if (cr == NULL || (size_t)(cr - p) + 1 >= len) {
        return PARSE_AGAIN;
    }
    end = (size_t)(cr - p);
    if (cr[1] != '\n') {
        *err = "expected '\\n' after '\\r'";
        return PARSE_ERROR;
    }
    line->type = p[0];
    line->line_len = (uint32_t)end + 2;
    line->value = 0;
    switch (p[0]) {
    case '+':
    case '-':
        return PARSE_OK;
    case '*':
        if (resp_parse_i64(p + 1, end - 1, &line->value) != 0) {
            *err = "invalid multibulk length";
            return PARSE_ERROR;
        }
        return PARSE_OK;
    case '$':
        if (resp_parse_i64(p + 1, end - 1, &line->value) != 0) {
            *err = "invalid bulk length";
            return PARSE_ERROR;
        }
        return PARSE_OK;
    case ':':
        if (resp_parse_i64(p + 1, end - 1, &line->value) != 0) {
            *err = "invalid integer";
            return PARSE_ERROR;
        }
        return PARSE_OK;
    default:
        *err = "unknown type byte";
        return PARSE_ERROR;
    }
}

static int
resp_hex(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void
resp_inline_put(struct resp_inline *in, uint32_t *used, uint8_t c)
{
    if (*used == in->cap_buf) {
        in->cap_buf = in->cap_buf ? in->cap_buf * 2 : 256;
        in->buf = kt_realloc(in->buf, in->cap_buf);
    }
    in->buf[(*used)++] = c;
}

static void
resp_inline_arg(struct resp_inline *in, uint32_t start, uint32_t end)
{
    if (in->nargs == in->cap_args) {
        in->cap_args = in->cap_args ? in->cap_args * 2 : 8;
        in->off = kt_realloc(in->off, in->cap_args * sizeof(*in->off));
        in->len = kt_realloc(in->len, in->cap_args * sizeof(*in->len));
    }
    in->off[in->nargs] = start;
    in->len[in->nargs] = end - start;
    in->nargs++;
}

/* The escape after a backslash inside double quotes, as redis's sdssplitargs reads it. */
static uint32_t
resp_inline_escape(const uint8_t *s, uint32_t i, uint32_t end, uint8_t *out)
{
    static const char from[] = "nrtba", to[] = "\n\r\t\b\a";
    const char *m;

    if (s[i + 1] == 'x' && i + 3 < end && resp_hex(s[i + 2]) >= 0 && resp_hex(s[i + 3]) >= 0) {
        *out = (uint8_t)(resp_hex(s[i + 2]) * 16 + resp_hex(s[i + 3]));
        return 4;
    }
    m = strchr(from, s[i + 1]);
    *out = (m != NULL && s[i + 1] != '\0') ? (uint8_t)to[m - from] : s[i + 1];
    return 2;
}

/* isspace() in the C locale: what sdssplitargs skips between arguments and wants after a quote */
static int
resp_inline_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int
resp_inline_parse(const uint8_t *p, size_t len, struct resp_inline *in, const char **err)
{
    const uint8_t *nl = memchr(p, '\n', len);
    uint32_t end, i = 0, used = 0;

    in->nargs = 0;
    if (nl == NULL) {
        return PARSE_AGAIN;
    }
    in->line_len = (uint32_t)(nl - p) + 1;
    end = (uint32_t)(nl - p);
    if (end > 0 && p[end - 1] == '\r') {
        end--;
    }
    for (;;) {
        uint32_t start;
        int dq = 0, sq = 0;

        while (i < end && resp_inline_blank(p[i])) {
            i++;
        }
        if (i >= end) {
            return PARSE_OK;
        }
        start = used;
        for (;;) {
            if (dq) {
                if (i >= end) {
                    goto unbalanced;
                }
                if (p[i] == '\\' && i + 1 < end) {
                    uint8_t c;

                    i += resp_inline_escape(p, i, end, &c);
                    resp_inline_put(in, &used, c);
                    continue;
                }
                if (p[i] == '"') {
                    /* a closing quote must end the argument */
                    if (i + 1 < end && !resp_inline_blank(p[i + 1])) {
                        goto unbalanced;
                    }
                    i++;
                    break;
                }
                resp_inline_put(in, &used, p[i++]);
            } else if (sq) {
                if (i >= end) {
                    goto unbalanced;
                }
                if (p[i] == '\\' && i + 1 < end && p[i + 1] == '\'') {
                    resp_inline_put(in, &used, '\'');
                    i += 2;
                    continue;
                }
                if (p[i] == '\'') {
                    if (i + 1 < end && !resp_inline_blank(p[i + 1])) {
                        goto unbalanced;
                    }
                    i++;
                    break;
                }
                resp_inline_put(in, &used, p[i++]);
            } else {
                /* sdssplitargs: only these end an unquoted argument ('\v', '\f' do not) */
                if (i >= end || p[i] == ' ' || p[i] == '\t' || p[i] == '\r') {
                    break;
                }
                if (p[i] == '"') {
                    dq = 1;
                    i++;
                } else if (p[i] == '\'') {
                    sq = 1;
                    i++;
                } else {
                    resp_inline_put(in, &used, p[i++]);
                }
            }
        }
        resp_inline_arg(in, start, used);
    }
unbalanced:
    *err = "unbalanced quotes in request";
    return PARSE_ERROR;
}

void
resp_inline_free(struct resp_inline *in)
{
    kt_free(in->off);
    kt_free(in->len);
    kt_free(in->buf);
    memset(in, 0, sizeof(*in));
}

int
resp_reply_open(struct resp_reply *r, int64_t n)
{
    if (r->depth == RESP_DEPTH_MAX) {
        return -1;
    }
    r->left[r->depth++] = n;
    return 0;
}

int
resp_reply_value_done(struct resp_reply *r, int *top)
{
    *top = 0;
    while (r->depth > 0) {
        if (r->depth == 1) {
            *top = 1;
        }
        if (--r->left[r->depth - 1] > 0) {
            return 0;
        }
        r->depth--; /* that array is complete: it is a value of its parent */
    }
    return 1;
}
