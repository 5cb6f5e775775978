/*
 * proxy/conn.h - client and backend connections over libuv streams. A
 * connection reads into refcounted chunks (requests and replies keep
 * references to the bytes they were parsed from) and writes span lists
 * with writev, flushed once per loop turn so that everything bound for one
 * socket in that turn leaves in one system call.
 *
 * Lifetime: a connection's memory is freed only in its close callback;
 * pending writes own references to the bytes they send.
 */
#ifndef KT_PROXY_CONN_H
#define KT_PROXY_CONN_H

#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "common/buf.h"
#include "protocols/memcache_text.h"
#include "protocols/redis_resp.h"

struct worker;
struct req;
struct frag;
struct server_rt;
struct proto_ops;
struct server;

enum conn_kind { CONN_CLIENT, CONN_BACKEND };

/* Reader states: between lines, inside a value, or skipping a refused value. */
enum conn_rstate { RSTATE_LINE, RSTATE_DATA, RSTATE_SWALLOW };

/* A TCP or unix socket stream, seen as any of libuv's handle types. */
union conn_stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

struct conn {
    union conn_stream u;
    struct worker *w; /* owner (ref) */
    enum conn_kind kind;
    struct buf *rbuf; /* chunk being read into (one ref) */
    uint32_t rpos;    /* first unparsed byte in rbuf */
    enum conn_rstate rstate;
    uint32_t remaining;           /* RSTATE_DATA / SWALLOW: bytes still expected */
    struct spans out;             /* waiting to be written (owned refs) */
    TAILQ_ENTRY(conn) flush_link; /* worker's list of conns with output */
    unsigned in_flush : 1;        /* on that list */
    unsigned closing : 1;         /* uv_close called */
    unsigned reading : 1;         /* uv_read_start active */
    unsigned is_unix : 1;         /* pipe, not tcp */
};

struct client {
    struct conn c;
    uint32_t pool;                 /* pool index of the listener */
    const struct proto_ops *proto; /* the pool's protocol (ref) */
    TAILQ_HEAD(, req) reqs;        /* in request order */
    uint32_t nreqs;
    struct req *cur;        /* request whose value is being read */
    struct mc_req parsed;   /* parser scratch (keys array reused) */
    struct resp_inline inl; /* Redis inline command scratch (reused) */
    unsigned eof : 1;       /* client closed its side */
    unsigned quit : 1;      /* a quit was read: no more requests */
    unsigned authed : 1;    /* Redis: AUTH accepted, or none required */
    char *name;             /* Redis: CLIENT SETNAME (owned), or NULL */
};

struct backend {
    struct conn c;
    struct server_rt *srv;         /* server it talks to (ref); NULL once detached */
    const struct proto_ops *proto; /* the server's protocol (ref) */
    uint32_t slot;                 /* index in srv->conns */
    TAILQ_HEAD(, frag) fifo;       /* sent or queued, awaiting replies in order */
    uint32_t nfifo;
    uint64_t fifo_bytes;
    uint32_t nunsent; /* of those, not yet handed to the socket (in_queue) */
    uint64_t unsent_bytes;
    uv_timer_t timer; /* deadline of the FIFO head (connect + response) */
    uv_connect_t creq;
    unsigned connected : 1;
    unsigned timer_on : 1;
    struct spans blk;       /* value being collected (owned refs) */
    struct mc_rsp parsed;   /* memcached reply parser scratch */
    struct resp_reply resp; /* Redis reply nesting */
};

/* Conn plumbing shared by clients and backends. */
void conn_init(struct conn *c, struct worker *w, enum conn_kind kind, int is_unix);
/* Queue <c> for a flush at the end of this loop turn. */
void conn_want_flush(struct conn *c);
/* Write out everything queued on <c>. */
void conn_flush(struct conn *c);
/* Prepare rbuf so that at least some bytes can be read; returns the free room. */
void conn_alloc(struct conn *c, uint32_t want, uv_buf_t *buf);
void conn_close(struct conn *c);
/*
 * Init <s> on <loop> as <srv>'s kind of socket and start connecting it
 * with <creq>; <cb> runs when done. Returns 0, or a libuv error when the
 * connect failed at once (<s> must be closed either way).
 */
int conn_connect(uv_loop_t *loop, union conn_stream *s, uv_connect_t *creq,
                 const struct server *srv, uv_connect_cb cb);
/* Give back the read chunk when nothing in it is unparsed or referenced: idle costs no chunk. */
void conn_release_idle(struct conn *c);

/* Accept a client on <server> (a listener) of pool <pool>. */
void client_accept(struct worker *w, uv_stream_t *server, uint32_t pool, int is_unix);
/* A new request at the end of <client>'s queue. */
struct req *client_new_req(struct client *client);
/* A request of <client> completed: write out what is now in order. */
void client_reply_ready(struct client *client);

/* Queue <frag> on a connection to server <sgidx>, connecting if needed. */
void backend_send(struct worker *w, uint32_t sgidx, struct frag *frag, uint32_t hint);
/* The FIFO head <head> of <be> is fully answered. */
void backend_complete(struct backend *be, struct frag *head);
/* The connection is lost: fail every fragment it carries with <msg> (or <status>'s text). */
void backend_fail(struct backend *be, int status, const char *msg);
/* <be>'s server left the topology: close it and send what it owed again (frag_resend). */
void backend_retire(struct backend *be);
/* Queue the proxy's own request <req> (no client) first on <be>. */
void backend_send_internal(struct backend *be, struct req *req);
/* The queued output of <be> went to the socket: in_queue becomes out_queue. */
void backend_flushed(struct backend *be);
/* Connect every connection of <srv> now (preconnect). */
void backend_preconnect(struct worker *w, uint32_t sgidx);

#endif
