/*
 * common/buf.h - refcounted byte chunks and span lists over them. Bytes read
 * from a socket stay in the chunk they were read into; messages refer to
 * them by span, so forwarding a value from a server to a client, or a
 * request to a server, copies nothing. A chunk belongs to one worker thread
 * (refcounts are not atomic) and returns to that worker's free list.
 */
#ifndef KT_COMMON_BUF_H
#define KT_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

/* nutcracker's -m default: 16 KiB chunks (mbuf size) */
#define BUF_CHUNK_SIZE_DEFAULT (16 * 1024)
#define BUF_CHUNK_SIZE_MIN     512
#define BUF_CHUNK_SIZE_MAX     (16 * 1024 * 1024)
/* free chunks a worker keeps for reuse; the rest go back to malloc */
#define BUF_POOL_KEEP_MAX 256

struct buf_pool;

struct buf {
    uint32_t refs;         /* holders: the reading conn, spans, writes in flight */
    uint32_t cap;          /* bytes of data[] */
    uint32_t len;          /* bytes filled */
    struct buf_pool *pool; /* where it returns when refs reaches 0 (ref) */
    struct buf *next;      /* free list link */
    uint8_t data[];
};

/* A worker's free list of standard-size chunks. */
struct buf_pool {
    uint32_t chunk_size; /* standard chunk capacity */
    uint32_t nfree;      /* chunks on the free list */
    struct buf *free;    /* free list */
    uint64_t nalloc;     /* chunks live (gauge, for stats and leak tests) */
};

void buf_pool_init(struct buf_pool *pool, uint32_t chunk_size);
/* Free every chunk on the free list. Chunks still referenced are not touched. */
void buf_pool_drain(struct buf_pool *pool);

/* A chunk of at least <cap> bytes (standard size when cap <= chunk_size), refs = 1. */
struct buf *buf_get(struct buf_pool *pool, uint32_t cap);

static inline struct buf *
buf_ref(struct buf *b)
{
    b->refs++;
    return b;
}

void buf_release(struct buf *b);

static inline void
buf_unref(struct buf *b)
{
    if (--b->refs == 0) {
        buf_release(b);
    }
}

/* A borrowed range of a chunk, holding one reference on it. */
struct span {
    struct buf *b; /* (ref) */
    uint32_t off;  /* start within b->data */
    uint32_t len;  /* bytes */
};

/* A growable list of spans: the bytes of one message, or a write queue. */
struct spans {
    struct span *v; /* n used of cap (owned) */
    uint32_t n;
    uint32_t cap;
    uint64_t bytes; /* sum of v[i].len */
};

/* Append a new span (no merge); the slow half of spans_add. */
void spans_push(struct spans *s, struct buf *b, uint32_t off, uint32_t len);

/*
 * Append <len> bytes of <b> at <off>, taking a reference on <b>. Bytes that
 * continue the last span in the same chunk extend it (the common case while
 * a request or reply is read piece by piece); this and a new span in an
 * array with room are inline, only growing the array is a call.
 */
static inline void
spans_add(struct spans *s, struct buf *b, uint32_t off, uint32_t len)
{
    if (s->n > 0) {
        struct span *last = &s->v[s->n - 1];

        if (last->b == b && last->off + last->len == off) {
            last->len += len;
            s->bytes += len;
            return;
        }
    }
    if (len > 0 && s->n < s->cap) {
        s->v[s->n].b = buf_ref(b);
        s->v[s->n].off = off;
        s->v[s->n].len = len;
        s->n++;
        s->bytes += len;
    } else if (len > 0) {
        spans_push(s, b, off, len);
    }
}
/* Move every span of <from> to the end of <to>; <from> is left empty. */
void spans_move(struct spans *to, struct spans *from);
/* Append references to every span of <from> to <to>; <from> is unchanged. */
void spans_copy(struct spans *to, const struct spans *from);
/* Append references to <len> bytes of <from> starting at byte <off>. */
void spans_slice(struct spans *to, const struct spans *from, uint64_t off, uint64_t len);
/* The slow half of spans_reset, for a list that holds spans. */
void spans_drop(struct spans *s);
/* Drop every reference and empty <s> (keeps its array for reuse). */
static inline void
spans_reset(struct spans *s)
{
    if (s->n > 0) {
        spans_drop(s);
    }
}
/* Drop every reference and free the array. */
void spans_free(struct spans *s);
/* Drop the first <n> bytes of <s> (after a partial write). */
void spans_consume(struct spans *s, uint64_t n);
/* Whether <s> ends with "\r\n" (a data block's terminator); the last span is checked first. */
int spans_ends_crlf(const struct spans *s);
/* Copy up to <cap> bytes of <s>, from byte <off> on, into <dst>; returns bytes copied. */
size_t spans_peek(const struct spans *s, uint64_t off, uint8_t *dst, size_t cap);

/*
 * A scratch writer for bytes the proxy makes itself (split requests,
 * error replies): appends into a worker chunk and returns spans of it.
 */
struct buf_writer {
    struct buf_pool *pool; /* (ref) */
    struct buf *cur;       /* chunk being filled, or NULL (one ref held) */
};

/* Append <len> bytes to <s>, copying them into the writer's chunk. */
void buf_writer_put(struct buf_writer *w, struct spans *s, const void *data, size_t len);
void buf_writer_close(struct buf_writer *w);

#endif
