/*
 * proxy/request.h - a client request from parse to reply, and the
 * fragments it sends to servers.
 *
 *   client read -> mc_req_parse -> struct req (bytes by reference)
 *     -> route: hash(key | hash tag) -> ring -> server -> backend FIFO
 *        (a multi-key get is split into one fragment per server)
 *     -> writev, coalesced per backend connection per loop turn
 *   backend read -> mc_rsp_parse -> FIFO head fragment -> frag_done()
 *     -> req complete (fragments merged in key order)
 *     -> client reply queue, strictly in request order -> writev
 */
#ifndef KT_PROXY_REQUEST_H
#define KT_PROXY_REQUEST_H

#include <stdint.h>
#include <sys/queue.h>

#include "common/buf.h"

struct client;
struct proto_ops;
struct backend;
struct worker;

/* A key: borrowed bytes inside the request, or in req->copies. */
struct req_key {
    const char *p;
    uint32_t len;
};

/* A Redis argument: where its bytes are within req->in. */
struct req_arg {
    uint64_t off; /* from the first byte of the request */
    uint32_t len;
};

/* What one server is asked, and what it answered. */
struct frag {
    TAILQ_ENTRY(frag) link; /* backend FIFO */
    struct req *req;        /* owner (ref) */
    uint32_t sgidx;         /* server it went to */
    uint32_t nextra;        /* replies to the proxy's own commands after the client's */
    uint64_t deadline_ms;   /* loop time by which it must be answered; 0 = none */
    uint64_t out_bytes;     /* bytes sent */
    uint32_t *keyidx;       /* split: the request key indices it carries (owned) */
    uint32_t nkeys;         /* of keyidx */
    uint32_t kpos;          /* split: next keyidx to file a value under */
    int64_t ival;           /* Redis integer reply (DEL/EXISTS/... counts) */
    unsigned failed : 1;    /* answered by the proxy with an error */
    unsigned error : 1;     /* the server answered with an error */
    unsigned main_done : 1; /* the client's reply is in; nextra replies follow */
    unsigned retired : 1;   /* failed over: its keys went on in other fragments */
    unsigned old_ring : 1;  /* sent to an expansion's old ring (proxy/dual.c) */
    uint32_t hop;           /* of the listening pool's chain: 0 primary, then gutters */
    /* the span lists last: a reused request keeps their arrays (req_create) */
    struct spans out; /* bytes made for it; empty: send req->in (owned refs) */
    struct spans rsp; /* the reply, unless filed per key (owned refs) */
};

struct req {
    TAILQ_ENTRY(req) link;         /* client's in-order queue */
    struct req *cache_next;        /* worker's cache of finished requests */
    struct client *client;         /* NULL once the client has gone */
    struct worker *w;              /* (ref) */
    const struct proto_ops *proto; /* the pool's protocol (ref) */
    uint32_t pool;                 /* pool index */
    int cmd;                       /* enum mc_cmd, or a Redis command table index */
    /* memcached: the request line */
    struct buf *line_buf; /* chunk holding the line (ref held by in) */
    uint32_t line_off;    /* where the line starts in line_buf */
    uint32_t line_len;
    uint32_t args_end;    /* end of the arguments, before " noreply" */
    uint32_t exptime_off; /* gat: the exptime token within the line */
    uint32_t exptime_len;
    /* Redis: the arguments (the array itself is kept below) */
    uint32_t nargs;      /* read so far */
    uint32_t nargs_want; /* declared by the multibulk header */
    uint8_t *copies;     /* keys that straddled two chunks, copied (owned) */
    /* routing and replies */
    uint32_t nkeys;
    uint32_t frags_cap;   /* split: allocated, room for a failover of every key */
    struct req_key *keys; /* nkeys (owned, or &key1) */
    struct req_key key1;  /* storage for a single key */
    uint32_t npending;    /* fragments not yet answered */
    uint32_t nfrags;
    struct frag *frags;     /* nfrags (owned, or &frag1) */
    struct spans *kv;       /* split: per-key values (owned) */
    unsigned noreply : 1;   /* the client asked for no reply */
    unsigned done : 1;      /* reply is complete */
    unsigned quit : 1;      /* close the client after this reply */
    unsigned split : 1;     /* sent as several fragments; proto->merge builds the reply */
    unsigned internal : 1;  /* the proxy's own request (AUTH/SELECT upstream) */
    unsigned broadcast : 1; /* one fragment per server of the pool (SCRIPT LOAD) */
    unsigned dual : 1;      /* a read in a pool with two rings: misses ask the old one */
    unsigned meta : 1;      /* memcached: the proxy's own "mg", whose value ends the reply */
    void (*on_done)(struct req *req); /* the proxy's own request: gets the reply */
    void *job;                        /* for on_done */
    /*
     * From here on a reused request keeps its arrays: req_create zeroes
     * everything above, frag1 up to its span lists, and empties the lists.
     */
    struct frag frag1;
    struct spans in;      /* the request as read (owned refs) */
    struct spans reply;   /* what the client gets (owned refs) */
    struct req_arg *args; /* Redis: args_cap allocated, nargs used (owned) */
    uint32_t args_cap;
};

/* A new request for <client>, in its worker's pool <pool>. */
struct req *req_create(struct worker *w, struct client *client, uint32_t pool);
/* Free <req> and every reference it holds. It must not be in any FIFO. */
void req_free(struct req *req);

/* Complete <req> with the proxy's own <len> bytes of reply. */
void req_reply_text(struct req *req, const char *text, size_t len);
/* Complete <req> with the protocol's error reply for <msg>. */
void req_reply_error(struct req *req, const char *msg);
/*
 * Send <frag> of <req> to server <sgidx> (ROUTE_TKO / ROUTE_NONE: fail it at
 * once). Past the chain's first hop its bytes are made again by the
 * protocol, with the TTL of writes clamped to the pool's gutter_ttl.
 */
void req_send(struct req *req, struct frag *frag, uint32_t sgidx, uint32_t hint);
/* Split <req> by server: one fragment per distinct sg[i] over its keys (keyidx set). */
void req_group(struct req *req, const uint32_t *sg);
/*
 * Send fragments <first> .. nfrags - 1 of <req>, each to its sgidx. The
 * request may complete (and be freed) in the last send, and a fragment
 * that fails at once may append fragments of its own: they are sent where
 * they are made, not here.
 */
void req_send_frags(struct req *req, uint32_t first);
/* Empty <frag> for another try: nothing of its last one (reply, bytes made) is kept. */
void frag_reset(struct frag *frag);
/*
 * Add fragments for keys <keyidx> (<n>), key keyidx[i] to server sg[i], to
 * split request <req>; returns the first, or UINT32_MAX when there is no room.
 */
uint32_t req_more_frags(struct req *req, const uint32_t *keyidx, uint32_t n, const uint32_t *sg);
/* Send <req> as one fragment carrying its own bytes to <sgidx>. */
void req_forward(struct req *req, uint32_t sgidx, uint32_t hint);

/*
 * Send <frag>'s keys on to the next hop of the chain, if there is one and
 * the request may go; returns 1 when they went (frag is then done with).
 */
int frag_retry(struct frag *frag);
/*
 * <frag> was sent to a server that has left the topology, and not
 * answered: send its keys again from the first hop of the new one.
 */
void frag_resend(struct frag *frag);
/* <frag> has its reply (or failed): account for it and complete the request when all are in. */
void frag_done(struct frag *frag);
/*
 * <frag> failed (error, timeout, lost connection): send its keys on to the
 * next hop of the chain, or when there is none answer them with the
 * protocol's error for <msg>.
 */
void frag_fail(struct frag *frag, const char *msg);

#endif
