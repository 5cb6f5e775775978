/*
 * common/buf.c - chunk free lists and span lists.
 */
#include "config.h"

#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/util.h"

void
buf_pool_init(struct buf_pool *pool, uint32_t chunk_size)
{
    memset(pool, 0, sizeof(*pool));
    pool->chunk_size = chunk_size;
}

void
buf_pool_drain(struct buf_pool *pool)
{
    while (pool->free != NULL) {
        struct buf *b = pool->free;

        pool->free = b->next;
        kt_free(b);
    }
    pool->nfree = 0;
}

struct buf *
buf_get(struct buf_pool *pool, uint32_t cap)
{
    struct buf *b;

    if (cap <= pool->chunk_size && pool->free != NULL) {
        b = pool->free;
        pool->free = b->next;
        pool->nfree--;
    } else {
        if (cap < pool->chunk_size) {
            cap = pool->chunk_size;
        }
        b = kt_malloc(sizeof(*b) + cap);
        b->cap = cap;
        b->pool = pool;
    }
    b->refs = 1;
    b->len = 0;
    b->next = NULL;
    pool->nalloc++;
    return b;
}

void
buf_release(struct buf *b)
{
    struct buf_pool *pool = b->pool;

    pool->nalloc--;
    if (b->cap == pool->chunk_size && pool->nfree < BUF_POOL_KEEP_MAX) {
        b->next = pool->free;
        pool->free = b;
        pool->nfree++;
        return;
    }
    kt_free(b);
}

static void
spans_grow(struct spans *s, uint32_t need)
{
    if (s->n + need <= s->cap) {
        return;
    }
    s->cap = KT_MAX(s->cap * 2, s->n + need);
    if (s->cap < 4) {
        s->cap = 4;
    }
    s->v = kt_realloc(s->v, s->cap * sizeof(*s->v));
}

void
spans_push(struct spans *s, struct buf *b, uint32_t off, uint32_t len)
{
    spans_grow(s, 1);
    s->v[s->n].b = buf_ref(b);
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    s->bytes += len;
}

void
spans_move(struct spans *to, struct spans *from)
{
    /* into an empty list, the arrays trade places: no span is touched */
    if (to->n == 0) {
        struct spans tmp = *to;

        *to = *from;
        *from = tmp;
        from->n = 0;
        from->bytes = 0;
        return;
    }
    /* otherwise the spans change lists with their references */
    spans_grow(to, from->n);
    for (uint32_t i = 0; i < from->n; i++) {
        const struct span *sp = &from->v[i];
        struct span *last = &to->v[to->n - 1];

        if (last->b == sp->b && last->off + last->len == sp->off) {
            last->len += sp->len;
            buf_unref(sp->b); /* <to> holds one on the same chunk: never the last */
        } else {
            to->v[to->n++] = *sp;
        }
    }
    to->bytes += from->bytes;
    from->n = 0;
    from->bytes = 0;
}

void
spans_copy(struct spans *to, const struct spans *from)
{
    for (uint32_t i = 0; i < from->n; i++) {
        spans_add(to, from->v[i].b, from->v[i].off, from->v[i].len);
    }
}

void
spans_slice(struct spans *to, const struct spans *from, uint64_t off, uint64_t len)
{
    for (uint32_t i = 0; i < from->n && len > 0; i++) {
        const struct span *sp = &from->v[i];
        uint32_t take;

        if (off >= sp->len) {
            off -= sp->len;
            continue;
        }
        take = (uint32_t)KT_MIN(len, sp->len - off);
        spans_add(to, sp->b, sp->off + (uint32_t)off, take);
        len -= take;
        off = 0;
    }
}

void
spans_drop(struct spans *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        buf_unref(s->v[i].b);
    }
    s->n = 0;
    s->bytes = 0;
}

void
spans_free(struct spans *s)
{
    spans_reset(s);
    kt_free(s->v);
    s->v = NULL;
    s->cap = 0;
}

void
spans_consume(struct spans *s, uint64_t n)
{
    uint32_t i = 0;

    s->bytes -= n;
    while (n > 0 && i < s->n) {
        struct span *sp = &s->v[i];

        if (n < sp->len) {
            sp->off += (uint32_t)n;
            sp->len -= (uint32_t)n;
            break;
        }
        n -= sp->len;
        buf_unref(sp->b);
        i++;
    }
    if (i == s->n) {
        s->n = 0; /* all written: the usual case */
    } else if (i > 0) {
        memmove(s->v, s->v + i, (s->n - i) * sizeof(*s->v));
        s->n -= i;
    }
}

int
spans_ends_crlf(const struct spans *s)
{
    uint8_t tail[2];
    const struct span *last;

    if (s->bytes < 2) {
        return 0;
    }
    last = &s->v[s->n - 1];
    if (last->len >= 2) {
        const uint8_t *p = last->b->data + last->off + last->len - 2;

        return p[0] == '\r' && p[1] == '\n';
    }
    spans_peek(s, s->bytes - 2, tail, 2);
    return tail[0] == '\r' && tail[1] == '\n';
}

size_t
spans_peek(const struct spans *s, uint64_t off, uint8_t *dst, size_t cap)
{
    size_t done = 0;

    for (uint32_t i = 0; i < s->n && done < cap; i++) {
        const struct span *sp = &s->v[i];
        size_t take;

        if (off >= sp->len) {
            off -= sp->len;
            continue;
        }
        take = KT_MIN(cap - done, sp->len - off);
        memcpy(dst + done, sp->b->data + sp->off + off, take);
        done += take;
        off = 0;
    }
    return done;
}

void
buf_writer_put(struct buf_writer *w, struct spans *s, const void *data, size_t len)
{
    while (len > 0) {
        struct buf *b = w->cur;
        uint32_t room, take;

        if (b == NULL || b->len == b->cap) {
            if (b != NULL) {
                buf_unref(b);
            }
            b = w->cur = buf_get(w->pool, len > w->pool->chunk_size ? (uint32_t)len : 0);
        }
        room = b->cap - b->len;
        take = len < room ? (uint32_t)len : room;
        memcpy(b->data + b->len, data, take);
        spans_add(s, b, b->len, take);
        b->len += take;
        data = (const uint8_t *)data + take;
        len -= take;
    }
}

void
buf_writer_close(struct buf_writer *w)
{
    if (w->cur != NULL) {
        buf_unref(w->cur);
        w->cur = NULL;
    }
}
