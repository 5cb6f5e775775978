/*
 * tests/unit/common/check_buf.c - chunks and span lists (buf.c): refcounts
 * and the per-worker free list, span merging, moving, copying, slicing,
 * consuming and peeking across spans, and the scratch writer across chunk
 * boundaries. Every test ends with no chunk live (the nalloc gauge at 0).
 */
#include "config.h"

#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "tests/unit/common/suites.h"

/* small chunks, so boundaries are easy to reach */
#define CHUNK BUF_CHUNK_SIZE_MIN

/* A chunk of <pool> holding <text> (its len set). */
static struct buf *
chunk_with(struct buf_pool *pool, const char *text)
{
    struct buf *b = buf_get(pool, 0);

    b->len = (uint32_t)strlen(text);
    memcpy(b->data, text, b->len);
    return b;
}

/* Check that <s> holds exactly <want>, and that its byte count agrees with its spans. */
static void
check_bytes(const struct spans *s, const char *want)
{
    uint8_t out[4096];
    uint64_t sum = 0;
    size_t n;

    for (uint32_t i = 0; i < s->n; i++) {
        ck_assert_uint_gt(s->v[i].len, 0);
        ck_assert_uint_le(s->v[i].off + s->v[i].len, s->v[i].b->cap);
        sum += s->v[i].len;
    }
    ck_assert_uint_eq(s->bytes, sum);
    ck_assert_uint_eq(s->bytes, strlen(want));
    n = spans_peek(s, 0, out, sizeof(out));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(out, want, n), 0);
}

static void
check_span(const struct span *sp, const struct buf *b, uint32_t off, uint32_t len)
{
    ck_assert_ptr_eq(sp->b, b);
    ck_assert_uint_eq(sp->off, off);
    ck_assert_uint_eq(sp->len, len);
}

/* The end of every test: nothing live, then the free list returned to malloc. */
static void
pool_done(struct buf_pool *pool)
{
    ck_assert_uint_eq(pool->nalloc, 0);
    ck_assert_uint_le(pool->nfree, BUF_POOL_KEEP_MAX);
    buf_pool_drain(pool);
    ck_assert_uint_eq(pool->nfree, 0);
    ck_assert_ptr_null(pool->free);
}

START_TEST(chunk_reused)
{
    struct buf_pool pool;
    struct buf *b, *c;

    buf_pool_init(&pool, CHUNK);
    b = buf_get(&pool, 0);
    ck_assert_uint_eq(b->cap, CHUNK);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(b->len, 0);
    ck_assert_ptr_eq(b->pool, &pool);
    ck_assert_uint_eq(pool.nalloc, 1);
    b->len = 100;
    buf_unref(b);
    ck_assert_uint_eq(pool.nalloc, 0);
    ck_assert_uint_eq(pool.nfree, 1);
    /* any size up to a standard chunk comes from the free list, as new */
    c = buf_get(&pool, CHUNK);
    ck_assert_ptr_eq(c, b);
    ck_assert_uint_eq(pool.nfree, 0);
    ck_assert_uint_eq(pool.nalloc, 1);
    ck_assert_uint_eq(c->refs, 1);
    ck_assert_uint_eq(c->len, 0);
    ck_assert_uint_eq(c->cap, CHUNK);
    buf_unref(c);
    pool_done(&pool);
}
END_TEST

START_TEST(refcount)
{
    struct buf_pool pool;
    struct buf *b;

    buf_pool_init(&pool, CHUNK);
    b = buf_get(&pool, 0);
    ck_assert_ptr_eq(buf_ref(b), b);
    buf_ref(b);
    ck_assert_uint_eq(b->refs, 3);
    buf_unref(b);
    buf_unref(b);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(pool.nalloc, 1);
    ck_assert_uint_eq(pool.nfree, 0);
    buf_unref(b);
    ck_assert_uint_eq(pool.nalloc, 0);
    ck_assert_uint_eq(pool.nfree, 1);
    pool_done(&pool);
}
END_TEST

START_TEST(oversized_chunk)
{
    struct buf_pool pool;
    struct buf *std, *big;

    buf_pool_init(&pool, CHUNK);
    std = buf_get(&pool, 0);
    buf_unref(std);
    ck_assert_uint_eq(pool.nfree, 1);
    /* a free standard chunk is too small: a new one is made to measure */
    big = buf_get(&pool, 4 * CHUNK + 1);
    ck_assert_ptr_ne(big, std);
    ck_assert_uint_ge(big->cap, 4 * CHUNK + 1);
    ck_assert_uint_eq(pool.nfree, 1);
    ck_assert_uint_eq(pool.nalloc, 1);
    memset(big->data, 0xab, big->cap);
    /* and it is freed, not kept */
    buf_unref(big);
    ck_assert_uint_eq(pool.nalloc, 0);
    ck_assert_uint_eq(pool.nfree, 1);
    ck_assert_ptr_eq(pool.free, std);
    ck_assert_ptr_null(pool.free->next);
    pool_done(&pool);
}
END_TEST

START_TEST(free_list_bounded)
{
    enum { N = BUF_POOL_KEEP_MAX + 50 };
    static struct buf *bufs[N];
    struct buf_pool pool;

    buf_pool_init(&pool, CHUNK);
    for (int i = 0; i < N; i++) {
        bufs[i] = buf_get(&pool, 0);
    }
    ck_assert_uint_eq(pool.nalloc, N);
    for (int i = 0; i < N; i++) {
        buf_unref(bufs[i]);
        ck_assert_uint_eq(pool.nfree, KT_MIN(i + 1, BUF_POOL_KEEP_MAX));
    }
    ck_assert_uint_eq(pool.nalloc, 0);
    ck_assert_uint_eq(pool.nfree, BUF_POOL_KEEP_MAX);
    /* the kept chunks serve the next burst without malloc */
    for (int i = 0; i < BUF_POOL_KEEP_MAX; i++) {
        bufs[i] = buf_get(&pool, 0);
    }
    ck_assert_uint_eq(pool.nfree, 0);
    for (int i = 0; i < BUF_POOL_KEEP_MAX; i++) {
        buf_unref(bufs[i]);
    }
    pool_done(&pool);
}
END_TEST

START_TEST(add_merges_contiguous)
{
    struct buf_pool pool;
    struct spans s = {0};
    struct buf *a, *b;

    buf_pool_init(&pool, CHUNK);
    a = chunk_with(&pool, "0123456789abcdefghij");
    b = chunk_with(&pool, "ABCDEFGHIJ");
    spans_add(&s, a, 0, 4);
    spans_add(&s, a, 4, 6);
    ck_assert_uint_eq(s.n, 1);
    check_span(&s.v[0], a, 0, 10);
    ck_assert_uint_eq(a->refs, 2);
    /* empty ranges add nothing */
    spans_add(&s, b, 3, 0);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_uint_eq(b->refs, 1);
    /* a gap, a step back, another chunk: new spans, one reference each */
    spans_add(&s, a, 12, 2);
    spans_add(&s, a, 11, 1);
    spans_add(&s, b, 0, 3);
    spans_add(&s, a, 12, 2);
    ck_assert_uint_eq(s.n, 5);
    check_span(&s.v[1], a, 12, 2);
    check_span(&s.v[2], a, 11, 1);
    check_span(&s.v[3], b, 0, 3);
    check_span(&s.v[4], a, 12, 2);
    ck_assert_uint_eq(a->refs, 5);
    ck_assert_uint_eq(b->refs, 2);
    check_bytes(&s, "0123456789cdbABCcd");
    /* reset keeps the array */
    spans_reset(&s);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_uint_eq(s.bytes, 0);
    ck_assert_ptr_nonnull(s.v);
    ck_assert_uint_eq(a->refs, 1);
    ck_assert_uint_eq(b->refs, 1);
    spans_add(&s, b, 5, 5);
    check_bytes(&s, "FGHIJ");
    spans_free(&s);
    ck_assert_ptr_null(s.v);
    ck_assert_uint_eq(s.cap, 0);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_uint_eq(b->refs, 1);
    buf_unref(a);
    buf_unref(b);
    pool_done(&pool);
}
END_TEST

START_TEST(move_keeps_references)
{
    struct buf_pool pool;
    struct spans from = {0}, to = {0};
    struct buf *a, *b;

    buf_pool_init(&pool, CHUNK);
    a = chunk_with(&pool, "hello world");
    b = chunk_with(&pool, "HELLO WORLD");
    /* into an empty list */
    spans_add(&from, a, 0, 5);
    spans_add(&from, b, 5, 6);
    spans_move(&to, &from);
    ck_assert_uint_eq(from.n, 0);
    ck_assert_uint_eq(from.bytes, 0);
    check_bytes(&to, "hello WORLD");
    ck_assert_uint_eq(a->refs, 2);
    ck_assert_uint_eq(b->refs, 2);
    /* <from> is still usable; moving onto a non-empty list appends */
    spans_add(&from, b, 0, 1);
    spans_add(&from, a, 5, 6);
    ck_assert_uint_eq(b->refs, 3);
    spans_move(&to, &from);
    ck_assert_uint_eq(from.n, 0);
    ck_assert_uint_eq(from.bytes, 0);
    check_bytes(&to, "hello WORLDH world");
    ck_assert_uint_eq(to.n, 4);
    ck_assert_uint_eq(a->refs, 3);
    ck_assert_uint_eq(b->refs, 3);
    /* moving onto a contiguous end merges, and the moved reference goes */
    spans_reset(&to);
    spans_add(&to, a, 0, 2);
    spans_add(&from, a, 2, 1);
    spans_add(&from, a, 3, 2);
    ck_assert_uint_eq(from.n, 1);
    ck_assert_uint_eq(a->refs, 3);
    spans_move(&to, &from);
    check_bytes(&to, "hello");
    ck_assert_uint_eq(to.n, 1);
    ck_assert_uint_eq(a->refs, 2);
    /* an empty list with room takes the spans one by one */
    spans_reset(&to);
    spans_add(&from, b, 0, 2);
    spans_move(&to, &from);
    check_bytes(&to, "HE");
    ck_assert_uint_eq(to.n, 1);
    ck_assert_uint_eq(a->refs, 1);
    ck_assert_uint_eq(b->refs, 2);
    /* a longer list onto a shorter, non-empty one: nothing of either is lost */
    for (uint32_t i = 0; i < 11; i += 2) {
        spans_add(&from, a, i, 1);
    }
    ck_assert_uint_gt(from.cap, to.cap);
    spans_move(&to, &from);
    check_bytes(&to, "HEhlowrd");
    ck_assert_uint_eq(from.n, 0);
    ck_assert_uint_eq(a->refs, 7);
    ck_assert_uint_eq(b->refs, 2);
    spans_free(&from);
    spans_free(&to);
    ck_assert_uint_eq(b->refs, 1);
    buf_unref(a);
    buf_unref(b);
    pool_done(&pool);
}
END_TEST

START_TEST(copy_takes_references)
{
    struct buf_pool pool;
    struct spans from = {0}, to = {0};
    struct buf *a, *b;

    buf_pool_init(&pool, CHUNK);
    a = chunk_with(&pool, "abcdef");
    b = chunk_with(&pool, "ghijkl");
    spans_add(&from, a, 2, 4);
    spans_add(&from, b, 0, 3);
    spans_copy(&to, &from);
    check_bytes(&from, "cdefghi");
    check_bytes(&to, "cdefghi");
    ck_assert_uint_eq(a->refs, 3);
    ck_assert_uint_eq(b->refs, 3);
    /* a copy onto a contiguous end merges, holding one reference */
    spans_reset(&to);
    spans_add(&to, a, 0, 2);
    spans_copy(&to, &from);
    ck_assert_uint_eq(to.n, 2);
    check_bytes(&to, "abcdefghi");
    ck_assert_uint_eq(a->refs, 3);
    ck_assert_uint_eq(b->refs, 3);
    spans_free(&from);
    check_bytes(&to, "abcdefghi");
    spans_free(&to);
    ck_assert_uint_eq(a->refs, 1);
    ck_assert_uint_eq(b->refs, 1);
    buf_unref(a);
    buf_unref(b);
    pool_done(&pool);
}
END_TEST

/* Three spans "abcde" "fghij" "klmno", the first from the middle of its chunk. */
static void
three_spans(struct buf_pool *pool, struct spans *s, struct buf **bufs)
{
    bufs[0] = chunk_with(pool, "xxabcdexx");
    bufs[1] = chunk_with(pool, "fghij");
    bufs[2] = chunk_with(pool, "klmno");
    spans_add(s, bufs[0], 2, 5);
    spans_add(s, bufs[1], 0, 5);
    spans_add(s, bufs[2], 0, 5);
}

static void
drop_three(struct spans *s, struct buf **bufs)
{
    spans_free(s);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(bufs[i]->refs, 1);
        buf_unref(bufs[i]);
    }
}

START_TEST(slice_across_spans)
{
    struct buf_pool pool;
    struct spans s = {0}, to = {0};
    struct buf *bufs[3];

    buf_pool_init(&pool, CHUNK);
    three_spans(&pool, &s, bufs);
    spans_slice(&to, &s, 3, 9);
    check_bytes(&to, "defghijkl");
    ck_assert_uint_eq(to.n, 3);
    check_span(&to.v[0], bufs[0], 5, 2);
    check_span(&to.v[1], bufs[1], 0, 5);
    check_span(&to.v[2], bufs[2], 0, 2);
    ck_assert_uint_eq(bufs[0]->refs, 3);
    spans_reset(&to);
    /* exactly one span, from a span boundary */
    spans_slice(&to, &s, 5, 5);
    check_bytes(&to, "fghij");
    ck_assert_uint_eq(to.n, 1);
    ck_assert_uint_eq(bufs[0]->refs, 2);
    ck_assert_uint_eq(bufs[1]->refs, 3);
    spans_reset(&to);
    /* within one span */
    spans_slice(&to, &s, 1, 3);
    check_bytes(&to, "bcd");
    check_span(&to.v[0], bufs[0], 3, 3);
    spans_reset(&to);
    /* nothing, and a length running past the end */
    spans_slice(&to, &s, 4, 0);
    ck_assert_uint_eq(to.n, 0);
    spans_slice(&to, &s, 15, 10);
    ck_assert_uint_eq(to.n, 0);
    spans_slice(&to, &s, 12, 100);
    check_bytes(&to, "mno");
    /* the source is unchanged */
    check_bytes(&s, "abcdefghijklmno");
    spans_free(&to);
    drop_three(&s, bufs);
    pool_done(&pool);
}
END_TEST

START_TEST(consume_partial_and_whole)
{
    struct buf_pool pool;
    struct spans s = {0};
    struct buf *bufs[3];

    buf_pool_init(&pool, CHUNK);
    three_spans(&pool, &s, bufs);
    spans_consume(&s, 0);
    check_bytes(&s, "abcdefghijklmno");
    spans_consume(&s, 2);
    check_bytes(&s, "cdefghijklmno");
    ck_assert_uint_eq(s.n, 3);
    check_span(&s.v[0], bufs[0], 4, 3);
    /* exactly the rest of the first span: it goes, with its reference */
    spans_consume(&s, 3);
    check_bytes(&s, "fghijklmno");
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(bufs[0]->refs, 1);
    /* a whole span and part of the next */
    spans_consume(&s, 6);
    check_bytes(&s, "lmno");
    ck_assert_uint_eq(s.n, 1);
    check_span(&s.v[0], bufs[2], 1, 4);
    ck_assert_uint_eq(bufs[1]->refs, 1);
    spans_consume(&s, 4);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_uint_eq(s.bytes, 0);
    ck_assert_uint_eq(bufs[2]->refs, 1);
    /* still usable */
    spans_add(&s, bufs[1], 1, 2);
    check_bytes(&s, "gh");
    drop_three(&s, bufs);
    pool_done(&pool);
}
END_TEST

START_TEST(peek_across_spans)
{
    struct buf_pool pool;
    struct spans s = {0};
    struct buf *bufs[3];
    uint8_t out[32];

    buf_pool_init(&pool, CHUNK);
    three_spans(&pool, &s, bufs);
    memset(out, '.', sizeof(out));
    ck_assert_uint_eq(spans_peek(&s, 3, out, 9), 9);
    ck_assert_int_eq(memcmp(out, "defghijkl.", 10), 0);
    ck_assert_uint_eq(spans_peek(&s, 13, out, sizeof(out)), 2);
    ck_assert_int_eq(memcmp(out, "no", 2), 0);
    ck_assert_uint_eq(spans_peek(&s, 5, out, 5), 5);
    ck_assert_int_eq(memcmp(out, "fghij", 5), 0);
    ck_assert_uint_eq(spans_peek(&s, 14, out, 2), 1);
    ck_assert_int_eq(out[0], 'o');
    ck_assert_uint_eq(spans_peek(&s, 15, out, sizeof(out)), 0);
    ck_assert_uint_eq(spans_peek(&s, 0, out, 0), 0);
    /* the last two bytes, as the proxy checks a value's "\r\n" */
    ck_assert_uint_eq(spans_peek(&s, s.bytes - 2, out, 2), 2);
    ck_assert_int_eq(memcmp(out, "no", 2), 0);
    drop_three(&s, bufs);
    pool_done(&pool);
}
END_TEST

/* <n> bytes of a pattern that repeats every 251, so misplaced bytes show. */
static void
pattern(uint8_t *p, size_t n, size_t from)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)((from + i) % 251);
    }
}

static void
check_pattern(const struct spans *s, size_t n)
{
    static uint8_t got[8 * CHUNK], want[8 * CHUNK];

    ck_assert_uint_le(n, sizeof(got));
    ck_assert_uint_eq(s->bytes, n);
    ck_assert_uint_eq(spans_peek(s, 0, got, sizeof(got)), n);
    pattern(want, n, 0);
    ck_assert_int_eq(memcmp(got, want, n), 0);
}

START_TEST(writer_across_chunks)
{
    struct buf_pool pool;
    struct buf_writer w = {.pool = &pool};
    struct spans s = {0};
    uint8_t data[600];
    struct buf *first;

    buf_pool_init(&pool, CHUNK);
    pattern(data, sizeof(data), 0);
    buf_writer_put(&w, &s, data, 300);
    first = w.cur;
    ck_assert_uint_eq(s.n, 1);
    ck_assert_uint_eq(first->refs, 2);
    /* the rest of the chunk, then a new one; the first put and the fill merge */
    buf_writer_put(&w, &s, data + 300, 300);
    ck_assert_ptr_ne(w.cur, first);
    ck_assert_uint_eq(s.n, 2);
    check_span(&s.v[0], first, 0, CHUNK);
    check_span(&s.v[1], w.cur, 0, 600 - CHUNK);
    ck_assert_uint_eq(first->refs, 1);
    ck_assert_uint_eq(w.cur->refs, 2);
    ck_assert_uint_eq(pool.nalloc, 2);
    check_pattern(&s, 600);
    buf_writer_put(&w, &s, data, 0);
    ck_assert_uint_eq(s.n, 2);
    buf_writer_close(&w);
    ck_assert_ptr_null(w.cur);
    ck_assert_uint_eq(pool.nalloc, 2);
    check_pattern(&s, 600);
    spans_free(&s);
    ck_assert_uint_eq(pool.nfree, 2);
    pool_done(&pool);
}
END_TEST

START_TEST(writer_piece_larger_than_chunk)
{
    struct buf_pool pool;
    struct buf_writer w = {.pool = &pool};
    struct spans s = {0}, t = {0};
    uint8_t data[4 * CHUNK];
    struct buf *big;

    buf_pool_init(&pool, CHUNK);
    pattern(data, sizeof(data), 0);
    /* a small piece, then one too big for any chunk: the fill, then a chunk to measure */
    buf_writer_put(&w, &s, data, 10);
    buf_writer_put(&w, &s, data + 10, 3 * CHUNK);
    ck_assert_uint_eq(s.n, 2);
    big = w.cur;
    ck_assert_uint_eq(big->cap, 3 * CHUNK + 10 - CHUNK);
    check_span(&s.v[1], big, 0, big->cap);
    check_pattern(&s, 3 * CHUNK + 10);
    /* the big chunk is full: the next piece goes to a standard one */
    buf_writer_put(&w, &s, data + 3 * CHUNK + 10, 5);
    ck_assert_ptr_ne(w.cur, big);
    ck_assert_uint_eq(w.cur->cap, CHUNK);
    ck_assert_uint_eq(s.n, 3);
    check_pattern(&s, 3 * CHUNK + 15);
    /* a fresh writer given a huge piece makes one chunk of exactly that size */
    buf_writer_close(&w);
    buf_writer_put(&w, &t, data, sizeof(data));
    ck_assert_uint_eq(t.n, 1);
    ck_assert_uint_eq(w.cur->cap, sizeof(data));
    check_pattern(&t, sizeof(data));
    buf_writer_close(&w);
    spans_free(&t);
    spans_free(&s);
    /* only standard chunks are kept */
    ck_assert_uint_eq(pool.nfree, 2);
    pool_done(&pool);
}
END_TEST

/* One writer serving two lists: each list gets its own bytes, in order. */
START_TEST(writer_two_lists)
{
    struct buf_pool pool;
    struct buf_writer w = {.pool = &pool};
    struct spans s = {0}, t = {0};

    buf_pool_init(&pool, CHUNK);
    buf_writer_put(&w, &s, "get", 3);
    buf_writer_put(&w, &t, "get", 3);
    buf_writer_put(&w, &s, " a", 2);
    buf_writer_put(&w, &t, " b", 2);
    buf_writer_put(&w, &s, "\r\n", 2);
    buf_writer_put(&w, &t, "\r\n", 2);
    check_bytes(&s, "get a\r\n");
    check_bytes(&t, "get b\r\n");
    ck_assert_uint_eq(pool.nalloc, 1);
    buf_writer_close(&w);
    spans_free(&s);
    ck_assert_uint_eq(pool.nalloc, 1);
    check_bytes(&t, "get b\r\n");
    spans_free(&t);
    pool_done(&pool);
}
END_TEST

Suite *
buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("chunks");

    tcase_add_test(tc, chunk_reused);
    tcase_add_test(tc, refcount);
    tcase_add_test(tc, oversized_chunk);
    tcase_add_test(tc, free_list_bounded);
    suite_add_tcase(s, tc);
    tc = tcase_create("spans");
    tcase_add_test(tc, add_merges_contiguous);
    tcase_add_test(tc, move_keeps_references);
    tcase_add_test(tc, copy_takes_references);
    tcase_add_test(tc, slice_across_spans);
    tcase_add_test(tc, consume_partial_and_whole);
    tcase_add_test(tc, peek_across_spans);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_add_test(tc, writer_across_chunks);
    tcase_add_test(tc, writer_piece_larger_than_chunk);
    tcase_add_test(tc, writer_two_lists);
    suite_add_tcase(s, tc);
    return s;
}
