/*
 * protocols/redis_resp.h - RESP2 framing, both directions, over contiguous
 * lines: type lines ("*3", "$5", "+OK", "-ERR x", ":1"), inline commands,
 * and the nesting state that says when a reply is complete. Bulk payloads
 * are never looked at: the caller skips "<len> + 2" bytes. Pure: no I/O,
 * no logging.
 */
#ifndef KT_PROTOCOLS_REDIS_RESP_H
#define KT_PROTOCOLS_REDIS_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "protocols/parse.h"

/* redis: proto-max-bulk-len default, 512 MB */
#define RESP_BULK_MAX (512LL * 1024 * 1024)
/* redis: PROTO_INLINE_MAX_SIZE, also the longest "*<n>" / "$<n>" line it reads */
#define RESP_LINE_MAX (64 * 1024)
/* redis: a multibulk of more than 1024*1024 arguments is refused before AUTH */
#define RESP_ARGS_MAX (1024 * 1024)
/* reply nesting ketch follows (hiredis stops at 9; server replies stay far below) */
#define RESP_DEPTH_MAX 64

/* One type line: the type byte, its integer (for '*', '$', ':'), its length. */
struct resp_line {
    uint8_t type;      /* '*', '$', '+', '-', ':' */
    int64_t value;     /* '*' and '$': the count (-1 = nil); ':' the integer */
    uint32_t line_len; /* bytes including "\r\n" */
};

/*
 * The common line in one pass: "*", "$" or ":" and up to 18 digits, no sign,
 * no leading zero, then "\r\n". Anything else (or not yet complete) goes
 * the general way, which also finds the errors. Inline: the proxy reads
 * whole requests with it.
 */
static inline int
resp_line_plain(const uint8_t *p, size_t len, struct resp_line *line)
{
    int64_t v = 0;
    size_t i = 1, lim = len < 19 ? len : 19;

    if (p[0] != '*' && p[0] != '$' && p[0] != ':') {
        return 0;
    }
    while (i < lim && (uint8_t)(p[i] - '0') <= 9) {
        v = v * 10 + (p[i] - '0');
        i++;
    }
    if (i == 1 || (p[1] == '0' && i > 2) || i + 1 >= len || p[i] != '\r' || p[i + 1] != '\n') {
        return 0;
    }
    line->type = p[0];
    line->value = v;
    line->line_len = (uint32_t)i + 2;
    return 1;
}

/*
 * Parse the type line at <p> (<len> bytes). PARSE_AGAIN without "\r\n"
 * (the caller refuses lines longer than RESP_LINE_MAX); PARSE_ERROR with
 * *<err> set for an unknown type byte or a bad number.
 */
int resp_line_parse(const uint8_t *p, size_t len, struct resp_line *line, const char **err);

/* An inline command ("SET k v\r\n"), split as redis splits it (quotes, escapes). */
struct resp_inline {
    uint32_t line_len; /* bytes of the line including "\n" */
    uint32_t nargs;
    uint32_t *off;     /* nargs offsets into buf (owned) */
    uint32_t *len;     /* nargs lengths (owned) */
    uint8_t *buf;      /* the decoded arguments back to back (owned) */
    uint32_t cap_args; /* allocated */
    uint32_t cap_buf;
};

/*
 * Split the inline command at <p>. PARSE_AGAIN without "\n"; PARSE_ERROR
 * (*err = "unbalanced quotes in request") when quotes do not close.
 * <in> keeps its arrays across calls; resp_inline_free releases them.
 */
int resp_inline_parse(const uint8_t *p, size_t len, struct resp_inline *in, const char **err);
void resp_inline_free(struct resp_inline *in);

/* Where a server's reply stands: how many values each open array still needs. */
struct resp_reply {
    uint32_t depth;               /* open arrays */
    int64_t left[RESP_DEPTH_MAX]; /* values still to come in each */
};

/* Open an array of <n> > 0 values. Returns 0, or -1 when nested too deep. */
int resp_reply_open(struct resp_reply *r, int64_t n);
/*
 * A value (a scalar, a nil, an empty array) has been read completely.
 * Returns 1 when the whole reply is complete. Sets *top to 1 when the value
 * completed was an element of the outermost array (for MGET merging).
 */
int resp_reply_value_done(struct resp_reply *r, int *top);

#endif
