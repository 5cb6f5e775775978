/*
 * proxy/proto.h - what the proxy core asks of a wire protocol. The client
 * and backend readers own the bytes and the line/data framing; a protocol
 * parses lines, decides how many data bytes follow, routes requests and
 * builds replies. One instance per protocol: memcached text, Redis RESP.
 */
#ifndef KT_PROXY_PROTO_H
#define KT_PROXY_PROTO_H

#include <stdint.h>

struct backend;
struct client;
struct req;
struct spans;
struct worker;

struct proto_ops {
    const char *name;
    /*
     * Parse from the line starting at <p> (<avail> bytes, the client's
     * rpos): consume it (advance rpos), create requests, and set the
     * reader to RSTATE_DATA/SWALLOW when bytes follow. Returns 0 to go on,
     * 1 when more bytes are needed or the connection must stop reading.
     */
    int (*client_line)(struct client *cl, const uint8_t *p, uint32_t avail);
    /* The data block read into cl->cur is complete. */
    void (*client_data_done)(struct client *cl);
    /* The same for a server's reply stream: FIFO head, be->blk. */
    int (*backend_line)(struct backend *be, const uint8_t *p, uint32_t avail);
    void (*backend_data_done)(struct backend *be);
    /* Append the error reply for <msg> to <out>. */
    void (*error)(struct worker *w, struct spans *out, const char *msg);
    /* Build the reply of a request sent as several fragments. */
    void (*merge)(struct req *req);
    /* A backend connection opened: queue what must precede requests. */
    void (*backend_open)(struct backend *be);
    /*
     * Make <frag>'s bytes in its (empty) out for a server past the chain's
     * first hop: a split fragment's keys, or the whole request; writes
     * with their TTL clamped to <ttl> seconds (0: as asked).
     */
    void (*encode)(struct req *req, struct frag *frag, uint32_t ttl);
    /* Whether <req>'s keys may be sent to several servers and the replies merged. */
    int (*can_split)(const struct req *req);
    /* Whether error reply <rsp> says the server cannot serve now, so that a gutter may. */
    int (*busy)(const struct spans *rsp);
};

/* proxy/redis.c: RESP the proxy makes, appended to <s>: printf-formatted, a bulk string. */
void rd_putf(struct worker *w, struct spans *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rd_put_bulk(struct worker *w, struct spans *s, const void *p, size_t n);

extern const struct proto_ops proto_memcache;
extern const struct proto_ops proto_redis;

#endif
