/*
 * tests/unit/hashring/check_hash_tag.c - twemproxy's hash tag rule, table
 * driven; the nutcracker vectors with `hash_tag` (ketama "{}", modula "$$")
 * check it end to end in check_ketama.c and check_modula.c.
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "common/util.h"
#include "hashring/hash.h"
#include "hashring/ring.h"
#include "tests/unit/hashring/suites.h"

static const struct {
    const char *tag, *key, *want;
} tag_cases[] = {
    {"{}", "{user1000}.following", "user1000"},
    {"{}", "foo{bar}baz", "bar"},
    {"{}", "plain", "plain"},
    {"{}", "{}", "{}"},       /* nothing between: whole key */
    {"{}", "{}{a}", "{}{a}"}, /* twemproxy stops at the first '{' */
    {"{}", "{a}{b}", "a"},    /* first tag wins */
    {"{}", "{{a}}", "{a"},    /* first '{', then the next '}' */
    {"{}", "}{", "}{"},       /* no '}' after the '{' */
    {"{}", "}a{b}", "b"},     /* a '}' before the '{' does not count */
    {"{}", "{a", "{a"},       /* unterminated */
    {"{}", "a}", "a}"},       /* no opener */
    {"{}", "{x}", "x"},
    {"{}", "x{}", "x{}"},
    {"{}", "{", "{"},
    {"$$", "$a$b", "a"},    /* same opener and closer */
    {"$$", "$$x$", "$$x$"}, /* the closer is the very next '$' */
    {"$$", "a$bc$d", "bc"},
    {"$$", "$", "$"},
    {"::", "a::b:c", "a::b:c"},
    {"::", ":a:b", "a"},
    {"[]", "{a}", "{a}"}, /* other tag characters do nothing */
};

START_TEST(test_table)
{
    const char *key = tag_cases[_i].key, *out;
    size_t len = strlen(key), outlen;

    hash_tag_extract(tag_cases[_i].tag, key, len, &out, &outlen);
    ck_assert_msg(outlen == strlen(tag_cases[_i].want) &&
                      memcmp(out, tag_cases[_i].want, outlen) == 0,
                  "tag %s key %s: got %.*s, want %s", tag_cases[_i].tag, key, (int)outlen, out,
                  tag_cases[_i].want);
    /* the part points into the key; nothing is copied */
    ck_assert(out >= key && out + outlen <= key + len);
}
END_TEST

START_TEST(test_no_tag)
{
    const char *key = "{user}.x", *out;
    size_t outlen;

    hash_tag_extract(NULL, key, strlen(key), &out, &outlen);
    ck_assert_ptr_eq(out, key);
    ck_assert_uint_eq(outlen, strlen(key));
    hash_tag_extract("{}", key, 0, &out, &outlen);
    ck_assert_uint_eq(outlen, 0);
}
END_TEST

/* Only <len> bytes count: a closer beyond them is not seen. */
START_TEST(test_len_bounds)
{
    const char *key = "{abc}def", *out;
    size_t outlen;

    hash_tag_extract("{}", key, 4, &out, &outlen);
    ck_assert_ptr_eq(out, key);
    ck_assert_uint_eq(outlen, 4);
    hash_tag_extract("{}", key, 5, &out, &outlen);
    ck_assert_ptr_eq(out, key + 1);
    ck_assert_uint_eq(outlen, 3);
}
END_TEST

/* Keys sharing a tag share a server: the point of hash tags. */
START_TEST(test_same_server)
{
    static const struct ring_node nodes[] = {
        {"a", 1, 1, 0},
        {"b", 1, 1, 1},
        {"c", 1, 1, 2},
        {"d", 1, 1, 3},
    };
    static const char *const keys[] = {"{user:42}.name", "{user:42}.mail", "x{user:42}",
                                       "{user:42}"};
    struct ring *ring = ring_build(RING_KETAMA, nodes, 4);
    uint32_t first = RING_NONE;
    size_t i;

    for (i = 0; i < KT_NELEMS(keys); i++) {
        const char *out;
        size_t outlen;
        uint32_t id;

        hash_tag_extract("{}", keys[i], strlen(keys[i]), &out, &outlen);
        id = ring_lookup(ring, hash_fnv1a_64(out, outlen));
        if (i == 0) {
            first = id;
        }
        ck_assert_uint_eq(id, first);
    }
    ring_free(ring);
}
END_TEST

Suite *
hash_tag_suite(void)
{
    Suite *s = suite_create("hash_tag");
    TCase *tc = tcase_create("hash_tag");

    tcase_add_loop_test(tc, test_table, 0, (int)KT_NELEMS(tag_cases));
    tcase_add_test(tc, test_no_tag);
    tcase_add_test(tc, test_len_bounds);
    tcase_add_test(tc, test_same_server);
    suite_add_tcase(s, tc);
    return s;
}
