/*
 * protocols/memcache_text.c - memcached text protocol line parsers.
 * Requests are checked as strictly as memcached checks them, so that
 * nothing malformed ever reaches a server and the client learns why.
 */
#include "config.h"

#include <string.h>

#include "common/alloc.h"
#include "protocols/memcache_text.h"

/* memcached: MAX_TOKENS - a non-retrieval line never has more words */
#define MC_TOKENS_MAX 24

struct mc_cmd_desc {
    const char *name;
    uint8_t len;
    enum mc_kind kind;
};

static const struct mc_cmd_desc mc_cmds[] = {
#define MC_CMD(stem, name, kind) {name, sizeof(name) - 1, MC_KIND_##kind},
#include "protocols/memcache_cmds.def"
#undef MC_CMD
};

const char *
mc_cmd_name(enum mc_cmd cmd)
{
    return mc_cmds[cmd].name;
}

struct tok {
    uint32_t off;
    uint32_t len;
};

/* The next space-separated word of p[*pos, end) into <t>; 0 at the end of the line. */
static int
mc_next_token(const uint8_t *p, uint32_t *pos, uint32_t end, struct tok *t)
{
    uint32_t i = *pos;

    while (i < end && p[i] == ' ') {
        i++;
    }
    t->off = i;
    while (i < end && p[i] != ' ') {
        i++;
    }
    t->len = i - t->off;
    *pos = i;
    return t->len > 0;
}

static int
mc_parse_u64(const uint8_t *s, uint32_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20) {
        return -1;
    }
    for (uint32_t i = 0; i < len; i++) {
        uint64_t next;

        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        next = v * 10 + (uint64_t)(s[i] - '0');
        if (next / 10 != v) {
            return -1; /* overflow */
        }
        v = next;
    }
    *out = v;
    return 0;
}

static int
mc_parse_i64(const uint8_t *s, uint32_t len, int64_t *out)
{
    uint64_t v;
    int neg = len > 0 && s[0] == '-';

    if (mc_parse_u64(s + neg, len - (uint32_t)neg, &v) != 0 || v > INT64_MAX) {
        return -1;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static const uint8_t *
mc_find_eol(const uint8_t *p, size_t len)
{
    return memchr(p, '\n', len);
}

static void
mc_req_add_key(struct mc_req *req, uint32_t off, uint32_t len)
{
    if (req->nkeys == req->keys_cap) {
        req->keys_cap = req->keys_cap ? req->keys_cap * 2 : 8;
        req->keys = kt_realloc(req->keys, req->keys_cap * sizeof(*req->keys));
    }
    req->keys[req->nkeys].off = off;
    req->keys[req->nkeys].len = len;
    req->nkeys++;
}

static int
mc_client_error(struct mc_req *req, const char *msg)
{
    req->err = MC_ERR_CLIENT;
    req->errmsg = msg;
    return PARSE_ERROR;
}

/* Retrieval: every token after the command (and gat's exptime) is a key. */
static int
mc_parse_retrieval(struct mc_req *req, const uint8_t *p, uint32_t pos, uint32_t end, int gat)
{
    int first = 1;

    struct tok t;

    while (mc_next_token(p, &pos, end, &t)) {
        if (gat && first) {
            if (mc_parse_i64(p + t.off, t.len, &req->exptime) != 0) {
                return mc_client_error(req, "invalid exptime argument");
            }
            req->exptime_off = t.off;
            req->exptime_len = t.len;
            first = 0;
            continue;
        }
        first = 0;
        if (t.len > MC_KEY_MAX) {
            return mc_client_error(req, "bad command line format: key longer than 250 bytes");
        }
        mc_req_add_key(req, t.off, t.len);
    }
    if (req->nkeys == 0) {
        return mc_client_error(req, "bad command line format");
    }
    req->args_end = end;
    return PARSE_OK;
}

static int
mc_parse_fixed(struct mc_req *req, const uint8_t *p, const struct tok *t, uint32_t nt,
               uint32_t max_value)
{
    enum mc_kind kind = mc_cmds[req->cmd].kind;
    uint32_t nargs = nt - 1;
    uint64_t u;
    int64_t i;

    /* a trailing "noreply" is an option, not an argument */
    if (nargs > 0 && t[nt - 1].len == 7 && memcmp(p + t[nt - 1].off, "noreply", 7) == 0 &&
        kind != MC_KIND_VERSION && kind != MC_KIND_QUIT) {
        req->noreply = 1;
        nargs--;
    }
    req->args_end = nargs > 0 ? t[nargs].off + t[nargs].len : t[0].off + t[0].len;
    switch (kind) {
    case MC_KIND_VERSION:
    case MC_KIND_QUIT:
        if (nargs != 0) {
            return mc_client_error(req, "bad command line format");
        }
        return PARSE_OK;
    case MC_KIND_STORE:
    case MC_KIND_CAS:
        if (nargs != (kind == MC_KIND_CAS ? 5u : 4u)) {
            return mc_client_error(req, "bad command line format");
        }
        if (mc_parse_u64(p + t[2].off, t[2].len, &u) != 0 || u > UINT32_MAX) {
            return mc_client_error(req, "bad command line format");
        }
        req->flags = (uint32_t)u;
        if (mc_parse_i64(p + t[3].off, t[3].len, &req->exptime) != 0) {
            return mc_client_error(req, "bad command line format");
        }
        if (mc_parse_i64(p + t[4].off, t[4].len, &i) != 0 || i < 0 || i > INT32_MAX - 2) {
            return mc_client_error(req, "bad command line format");
        }
        if (kind == MC_KIND_CAS && mc_parse_u64(p + t[5].off, t[5].len, &req->cas) != 0) {
            return mc_client_error(req, "bad command line format");
        }
        req->vlen = (uint32_t)i;
        if (req->vlen > max_value) {
            req->err = MC_ERR_TOO_LARGE;
            req->errmsg = "object too large for cache";
            return PARSE_ERROR;
        }
        break;
    case MC_KIND_DELETE:
        /* memcached still accepts a legacy "0" hold time */
        if (nargs == 2 && !(t[2].len == 1 && p[t[2].off] == '0')) {
            return mc_client_error(req, "bad command line format.  Usage: delete <key> [noreply]");
        }
        if (nargs != 1 && nargs != 2) {
            return mc_client_error(req, "bad command line format");
        }
        break;
    case MC_KIND_ARITH:
        if (nargs != 2) {
            return mc_client_error(req, "bad command line format");
        }
        if (mc_parse_u64(p + t[2].off, t[2].len, &req->delta) != 0) {
            return mc_client_error(req, "invalid numeric delta argument");
        }
        break;
    case MC_KIND_TOUCH:
        if (nargs != 2) {
            return mc_client_error(req, "bad command line format");
        }
        if (mc_parse_i64(p + t[2].off, t[2].len, &req->exptime) != 0) {
            return mc_client_error(req, "invalid exptime argument");
        }
        break;
    default:
        return mc_client_error(req, "bad command line format");
    }
    if (t[1].len > MC_KEY_MAX) {
        return mc_client_error(req, "bad command line format: key longer than 250 bytes");
    }
    mc_req_add_key(req, t[1].off, t[1].len);
    return PARSE_OK;
}

static int
mc_find_cmd(const uint8_t *s, uint32_t len)
{
    for (int c = 0; c < MC_NCMDS; c++) {
        if (mc_cmds[c].len == len && memcmp(mc_cmds[c].name, s, len) == 0) {
            return c;
        }
    }
    return -1;
}

/*
 * Decimal digits at p[*i] (at most <max> of them) into *v; 0 when there was
 * at least one. Stops at the first non-digit, which the line's "\n" is, so
 * no bound is needed inside a line that has one.
 */
static inline int
mc_digits(const uint8_t *p, uint32_t *i, uint32_t max, uint64_t *v)
{
    uint32_t k = *i;
    uint64_t n = 0;

    while (p[k] >= '0' && p[k] <= '9' && k - *i < max) {
        n = n * 10 + (uint64_t)(p[k] - '0');
        k++;
    }
    if (k == *i || (p[k] >= '0' && p[k] <= '9')) {
        return -1;
    }
    *i = k;
    *v = n;
    return 0;
}

/*
 * The key at p[*i]: the bytes up to the next ' ' before <end>, or up to
 * <end> (the same token the general parser takes); 1 .. MC_KEY_MAX bytes.
 * *i moves past it, onto the ' ' or <end>.
 */
static inline int
mc_fast_key(const uint8_t *p, uint32_t *i, uint32_t end)
{
    const uint8_t *sp = memchr(p + *i, ' ', end - *i);
    uint32_t k = sp != NULL ? (uint32_t)(sp - p) : end;

    if (k == *i || k - *i > MC_KEY_MAX) {
        return -1;
    }
    *i = k;
    return 0;
}

/*
 * The two lines nearly every client sends, "get <key>" and "set <key>
 * <flags> <exptime> <bytes>", in their plain form (single spaces, no
 * noreply): parsed in one pass. Anything else, including every error, is
 * left to the general parser (-1), so the fast path can only agree with it.
 */
static int
mc_req_fast(struct mc_req *req, const uint8_t *p, uint32_t end, uint32_t max_value)
{
    uint32_t i = 4, klen;
    uint64_t flags, exptime, vlen;

    if (memcmp(p, "get ", 4) == 0) {
        if (mc_fast_key(p, &i, end) != 0 || i != end) {
            return -1;
        }
        klen = i - 4;
        req->cmd = MC_CMD_GET;
    } else if (memcmp(p, "set ", 4) == 0) {
        if (mc_fast_key(p, &i, end) != 0 || i == end) {
            return -1;
        }
        klen = i - 4;
        i++;
        if (mc_digits(p, &i, 10, &flags) != 0 || flags > UINT32_MAX || p[i++] != ' ' ||
            mc_digits(p, &i, 10, &exptime) != 0 || p[i++] != ' ' ||
            mc_digits(p, &i, 10, &vlen) != 0 || i != end || vlen > max_value ||
            vlen > INT32_MAX - 2) {
            return -1;
        }
        req->cmd = MC_CMD_SET;
        req->flags = (uint32_t)flags;
        req->exptime = (int64_t)exptime;
        req->vlen = (uint32_t)vlen;
    } else {
        return -1;
    }
    if (req->keys_cap > 0) {
        req->keys[0].off = 4; /* no call for the one key of a plain line */
        req->keys[0].len = klen;
        req->nkeys = 1;
    } else {
        mc_req_add_key(req, 4, klen);
    }
    req->args_end = end;
    return 0;
}

int
mc_req_parse(struct mc_req *req, const uint8_t *p, size_t len, uint32_t max_value)
{
    const uint8_t *eol = mc_find_eol(p, len < MC_LINE_MAX ? len : MC_LINE_MAX);
    struct tok t[MC_TOKENS_MAX + 1];
    uint32_t end, pos, nt = 0, cmdlen;
    int cmd;

    req->nkeys = 0;
    req->noreply = 0;
    req->vlen = 0;
    /* only gat sets these, and a split get re-encodes an exptime when they are */
    req->exptime_off = 0;
    req->exptime_len = 0;
    req->err = MC_ERR_NONE;
    req->errmsg = NULL;
    if (eol == NULL) {
        if (len >= MC_LINE_MAX) {
            req->err = MC_ERR_LINE;
            req->errmsg = "line too long";
            return PARSE_ERROR;
        }
        return PARSE_AGAIN;
    }
    req->line_len = (uint32_t)(eol - p) + 1;
    end = (uint32_t)(eol - p);
    if (end > 0 && p[end - 1] == '\r') {
        end--;
    }
    if (end > 4 && mc_req_fast(req, p, end, max_value) == 0) {
        return PARSE_OK;
    }
    pos = 0;
    while (pos < end && p[pos] == ' ') {
        pos++;
    }
    cmdlen = 0;
    while (pos + cmdlen < end && p[pos + cmdlen] != ' ') {
        cmdlen++;
    }
    cmd = mc_find_cmd(p + pos, cmdlen);
    if (cmd < 0) {
        req->err = MC_ERR_UNKNOWN;
        return PARSE_ERROR;
    }
    req->cmd = (enum mc_cmd)cmd;
    if (mc_cmds[cmd].kind == MC_KIND_RETRIEVE || mc_cmds[cmd].kind == MC_KIND_GAT) {
        return mc_parse_retrieval(req, p, pos + cmdlen, end, mc_cmds[cmd].kind == MC_KIND_GAT);
    }
    while (mc_next_token(p, &pos, end, &t[nt])) {
        if (nt == MC_TOKENS_MAX) {
            return mc_client_error(req, "bad command line format");
        }
        nt++;
    }
    return mc_parse_fixed(req, p, t, nt, max_value);
}

void
mc_req_free(struct mc_req *req)
{
    kt_free(req->keys);
    req->keys = NULL;
    req->keys_cap = 0;
    req->nkeys = 0;
}

/* Whether the line <p> (<len> bytes) is the word <w> (<wl> bytes), alone or before a space. */
static int
mc_word_is(const uint8_t *p, uint32_t len, const char *w, uint32_t wl)
{
    return len >= wl && memcmp(p, w, wl) == 0 && (len == wl || p[wl] == ' ');
}

#define MC_WORD_IS(p, len, lit) mc_word_is((p), (len), (lit), sizeof(lit) - 1)

struct mc_word {
    const char *w;
    uint8_t len;
};

#define MC_WORD(lit)                                                                               \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

/* "VALUE <key> <flags> <bytes> [<cas>]" in its plain form, in one pass; -1 for anything else. */
static int
mc_rsp_value_fast(struct mc_rsp *rsp, const uint8_t *p, uint32_t end)
{
    uint32_t i = 6;
    uint64_t flags, vlen, cas;

    if (mc_fast_key(p, &i, end) != 0 || i == end) {
        return -1;
    }
    rsp->key_len = i - 6;
    i++;
    if (mc_digits(p, &i, 10, &flags) != 0 || p[i++] != ' ' || mc_digits(p, &i, 10, &vlen) != 0 ||
        vlen > INT32_MAX - 2) {
        return -1;
    }
    if (p[i] == ' ') {
        i++;
        if (mc_digits(p, &i, 20, &cas) != 0) {
            return -1;
        }
    }
    if (i != end) {
        return -1;
    }
    rsp->type = MC_RSP_VALUE;
    rsp->key_off = 6;
    rsp->vlen = (uint32_t)vlen;
    return 0;
}

int
mc_rsp_parse(struct mc_rsp *rsp, const uint8_t *p, size_t len)
{
    static const struct mc_word status[] = {
        MC_WORD("STORED"),  MC_WORD("NOT_STORED"), MC_WORD("EXISTS"), MC_WORD("NOT_FOUND"),
        MC_WORD("DELETED"), MC_WORD("TOUCHED"),    MC_WORD("OK")};
    const uint8_t *eol = mc_find_eol(p, len < MC_LINE_MAX ? len : MC_LINE_MAX);
    uint32_t end;

    if (eol == NULL) {
        return len >= MC_LINE_MAX ? PARSE_ERROR : PARSE_AGAIN;
    }
    rsp->line_len = (uint32_t)(eol - p) + 1;
    end = (uint32_t)(eol - p);
    if (end > 0 && p[end - 1] == '\r') {
        end--;
    }
    if ((end == 3 && memcmp(p, "END", 3) == 0) || (end == 2 && memcmp(p, "EN", 2) == 0)) {
        rsp->type = MC_RSP_END; /* "EN": the meta protocol's miss */
        return PARSE_OK;
    }
    if (end > 6 && memcmp(p, "VALUE ", 6) == 0 && mc_rsp_value_fast(rsp, p, end) == 0) {
        return PARSE_OK;
    }
    if (end > 3 && memcmp(p, "VA ", 3) == 0) {
        /* meta: "VA <bytes> <flags>*", the value follows (ketch's own "mg" only) */
        uint32_t pos = 2;
        struct tok t;
        uint64_t v;

        if (!mc_next_token(p, &pos, end, &t) || mc_parse_u64(p + t.off, t.len, &v) != 0 ||
            v > INT32_MAX - 2) {
            return PARSE_ERROR;
        }
        rsp->type = MC_RSP_VALUE;
        rsp->key_off = rsp->key_len = 0;
        rsp->vlen = (uint32_t)v;
        return PARSE_OK;
    }
    if (MC_WORD_IS(p, end, "VALUE")) {
        struct tok t[5];
        uint32_t pos = 5, nt = 0;
        uint64_t v;

        while (nt < 5 && mc_next_token(p, &pos, end, &t[nt])) {
            nt++;
        }
        if (nt < 3 || mc_parse_u64(p + t[2].off, t[2].len, &v) != 0 || v > INT32_MAX - 2) {
            return PARSE_ERROR;
        }
        rsp->type = MC_RSP_VALUE;
        rsp->key_off = t[0].off;
        rsp->key_len = t[0].len;
        rsp->vlen = (uint32_t)v;
        return PARSE_OK;
    }
    for (size_t i = 0; i < sizeof(status) / sizeof(status[0]); i++) {
        if (end == status[i].len && memcmp(p, status[i].w, end) == 0) {
            rsp->type = MC_RSP_STATUS;
            return PARSE_OK;
        }
    }
    if (end > 0 && p[0] >= '0' && p[0] <= '9') {
        uint64_t v;

        if (mc_parse_u64(p, end, &v) != 0) {
            return PARSE_ERROR;
        }
        rsp->type = MC_RSP_NUMBER;
        return PARSE_OK;
    }
    if (MC_WORD_IS(p, end, "VERSION")) {
        rsp->type = MC_RSP_VERSION;
        return PARSE_OK;
    }
    if (MC_WORD_IS(p, end, "ERROR") || MC_WORD_IS(p, end, "CLIENT_ERROR") ||
        MC_WORD_IS(p, end, "SERVER_ERROR")) {
        rsp->type = MC_RSP_ERROR;
        return PARSE_OK;
    }
    return PARSE_ERROR;
}

int
mc_exptime_find(enum mc_cmd cmd, const uint8_t *line, uint32_t len, uint32_t *off, uint32_t *tlen,
                int64_t *value)
{
    uint32_t pos = 0, want;
    struct tok t;

    switch (mc_cmd_kind(cmd)) {
    case MC_KIND_STORE:
    case MC_KIND_CAS:
        want = 3;
        break;
    case MC_KIND_TOUCH:
        want = 2;
        break;
    case MC_KIND_GAT:
        want = 1;
        break;
    default:
        return -1;
    }
    for (uint32_t i = 0; i <= want; i++) {
        if (!mc_next_token(line, &pos, len, &t)) {
            return -1;
        }
    }
    if (mc_parse_i64(line + t.off, t.len, value) != 0) {
        return -1;
    }
    *off = t.off;
    *tlen = t.len;
    return 0;
}

int64_t
mc_exptime_clamp(int64_t exptime, uint32_t ttl, int64_t now)
{
    int64_t left;

    if (exptime < 0) {
        return exptime;
    }
    if (exptime == 0) {
        return ttl;
    }
    left = exptime > MC_EXPTIME_RELATIVE_MAX ? exptime - now : exptime;
    if (left <= 0) {
        return -1; /* a date already past: expired, as memcached would have it */
    }
    return left < (int64_t)ttl ? left : (int64_t)ttl;
}
