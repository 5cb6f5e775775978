/*
 * protocols/memcache_text.h - memcached's text protocol, both directions:
 * request lines from clients and reply lines from servers. Line-at-a-time
 * parsers over contiguous bytes: the caller finds the value data (the
 * <bytes> that follow a storage command or a VALUE line) by length. Pure:
 * no I/O, no logging.
 */
#ifndef KT_PROTOCOLS_MEMCACHE_TEXT_H
#define KT_PROTOCOLS_MEMCACHE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "protocols/parse.h"

/* memcached: KEY_MAX_LENGTH */
#define MC_KEY_MAX 250
/* longest request line ketch buffers (a multi-get of thousands of keys fits) */
#define MC_LINE_MAX (1024 * 1024)

enum mc_cmd {
#define MC_CMD(stem, name, kind) MC_CMD_##stem,
#include "protocols/memcache_cmds.def"
#undef MC_CMD
    MC_NCMDS
};

enum mc_kind {
    MC_KIND_RETRIEVE,
    MC_KIND_GAT,
    MC_KIND_STORE,
    MC_KIND_CAS,
    MC_KIND_DELETE,
    MC_KIND_ARITH,
    MC_KIND_TOUCH,
    MC_KIND_VERSION,
    MC_KIND_QUIT
};

/* How a request line failed, which decides the reply and how to go on. */
enum mc_err {
    MC_ERR_NONE,
    MC_ERR_UNKNOWN,   /* unknown command: "ERROR" */
    MC_ERR_CLIENT,    /* malformed line: "CLIENT_ERROR <msg>"; skip the line */
    MC_ERR_TOO_LARGE, /* "SERVER_ERROR object too large for cache"; skip line and data */
    MC_ERR_LINE       /* no end of line within MC_LINE_MAX: reply, then close */
};

/* A key: an offset into the parsed line. */
struct mc_key {
    uint32_t off; /* from the first byte of the line */
    uint32_t len; /* 1 .. MC_KEY_MAX */
};

/* One parsed request line. keys grows as needed and is reused across calls. */
struct mc_req {
    enum mc_cmd cmd;      /* valid on PARSE_OK */
    uint32_t line_len;    /* bytes of the line including its "\n" */
    uint32_t nkeys;       /* keys used */
    uint32_t keys_cap;    /* keys allocated */
    struct mc_key *keys;  /* the keys in request order (owned) */
    uint32_t flags;       /* storage: client flags */
    int64_t exptime;      /* storage, touch, gat: expiration */
    uint32_t exptime_off; /* gat: offset of the exptime token (for re-encoding) */
    uint32_t exptime_len; /* gat: its length */
    uint32_t vlen;        /* storage: value bytes (data is vlen + 2 with "\r\n") */
    uint64_t cas;         /* cas: unique */
    uint64_t delta;       /* incr/decr */
    uint32_t args_end;    /* offset where the arguments end (before " noreply" or "\r\n") */
    unsigned noreply : 1; /* "noreply" was the last token */
    enum mc_err err;      /* on PARSE_ERROR */
    const char *errmsg;   /* on MC_ERR_CLIENT: the reason, without "CLIENT_ERROR " */
};

/* The kind of <cmd>: inline, it is asked several times per request. */
static inline enum mc_kind
mc_cmd_kind(enum mc_cmd cmd)
{
    switch (cmd) {
#define MC_CMD(stem, name, kind)                                                                   \
    case MC_CMD_##stem:                                                                            \
        return MC_KIND_##kind;
#include "protocols/memcache_cmds.def"
#undef MC_CMD
    default:
        return MC_KIND_QUIT;
    }
}
const char *mc_cmd_name(enum mc_cmd cmd);

/*
 * Parse one request line from the <len> bytes at <p>. PARSE_AGAIN when no
 * "\n" is there yet (and len < MC_LINE_MAX). PARSE_OK fills <req>;
 * PARSE_ERROR sets req->err, req->errmsg and, except for MC_ERR_LINE,
 * req->line_len (and req->vlen for MC_ERR_TOO_LARGE). Values longer than
 * <max_value> bytes are MC_ERR_TOO_LARGE.
 */
int mc_req_parse(struct mc_req *req, const uint8_t *p, size_t len, uint32_t max_value);
void mc_req_free(struct mc_req *req);

enum mc_rsp_type {
    MC_RSP_VALUE,   /* VALUE <key> <flags> <bytes> [<cas>], or meta VA <bytes>: data follows */
    MC_RSP_END,     /* END (meta: EN): a retrieval is complete */
    MC_RSP_STATUS,  /* STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK */
    MC_RSP_NUMBER,  /* incr/decr result */
    MC_RSP_VERSION, /* VERSION <text> */
    MC_RSP_ERROR,   /* ERROR, CLIENT_ERROR ..., SERVER_ERROR ... */
};

/* One parsed reply line. */
struct mc_rsp {
    enum mc_rsp_type type; /* valid on PARSE_OK */
    uint32_t line_len;     /* bytes of the line including "\n" */
    uint32_t key_off;      /* VALUE: the key */
    uint32_t key_len;
    uint32_t vlen; /* VALUE: data bytes (vlen + 2 with "\r\n") */
};

/*
 * Parse one reply line from a server. PARSE_AGAIN when no "\n" yet;
 * PARSE_ERROR for a line no memcached sends (the stream is lost).
 */
int mc_rsp_parse(struct mc_rsp *rsp, const uint8_t *p, size_t len);

/* memcached reads an exptime above this many seconds as a unix time */
#define MC_EXPTIME_RELATIVE_MAX (30 * 24 * 3600)

/*
 * Where the exptime of a <cmd> request line is: the <len> bytes at <line>
 * (up to args_end), storage and cas "<cmd> <key> <flags> <exptime> ...",
 * touch "<cmd> <key> <exptime>", gat "<cmd> <exptime> <key>...". Stores its
 * offset and length and its value; returns 0, or -1 for a command without
 * one (or a line that is not well formed).
 */
int mc_exptime_find(enum mc_cmd cmd, const uint8_t *line, uint32_t len, uint32_t *off,
                    uint32_t *tlen, int64_t *value);

/*
 * The exptime that makes an item live at most <ttl> seconds, for a request
 * that asked for <exptime> (0 = never expires, above 30 days = a unix time
 * compared with <now>, negative = already expired, kept as it is).
 */
int64_t mc_exptime_clamp(int64_t exptime, uint32_t ttl, int64_t now);

#endif
