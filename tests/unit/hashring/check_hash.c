/*
 * tests/unit/hashring/check_hash.c - the twelve key hashes: published test
 * vectors where the algorithm is standard, then every value nutcracker 0.5.0
 * produced for 336 keys (tests/vectors/nutcracker_hash.txt).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "hashring/hash.h"
#include "tests/unit/hashring/suites.h"
#include "tests/unit/hashring/vectors.h"

#define S(s) (s), (sizeof(s) - 1)

/* nutcracker's hash_type order (src/hashkit/nc_hashkit.h) and config names. */
static const char *const nutcracker_names[] = {
    "one_at_a_time", "md5",     "crc16",    "crc32", "crc32a", "fnv1_64",
    "fnv1a_64",      "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
};

START_TEST(test_registry)
{
    const hash_fn fns[] = {hash_one_at_a_time, hash_md5,     hash_crc16,    hash_crc32,
                           hash_crc32a,        hash_fnv1_64, hash_fnv1a_64, hash_fnv1_32,
                           hash_fnv1a_32,      hash_hsieh,   hash_murmur,   hash_jenkins};
    int i;

    ck_assert_int_eq(HASH_NTYPES, KT_NELEMS(nutcracker_names));
    for (i = 0; i < HASH_NTYPES; i++) {
        ck_assert_str_eq(hash_name(i), nutcracker_names[i]);
        ck_assert_int_eq(hash_from_name(nutcracker_names[i], strlen(nutcracker_names[i])), i);
        ck_assert_ptr_eq(hash_get(i), fns[i]);
    }
    ck_assert_int_eq(HASH_FNV1A_64, 6);
    ck_assert_int_eq(hash_from_name(S("fnv1a")), -1);
    ck_assert_int_eq(hash_from_name(S("MD5")), -1);
    ck_assert_int_eq(hash_from_name(S("")), -1);
    /* Only <len> bytes count: "md5x" cut to 3 is md5, "crc32a" cut to 5 is crc32. */
    ck_assert_int_eq(hash_from_name("md5x", 3), HASH_MD5);
    ck_assert_int_eq(hash_from_name("crc32a", 5), HASH_CRC32);
}
END_TEST

static void
hex_digest(const char *in, size_t len, char out[33])
{
    unsigned char d[16];
    int i;

    hash_md5_digest(in, len, d);
    for (i = 0; i < 16; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

/* RFC 1321 appendix A.5, the test suite. */
START_TEST(test_md5_rfc1321)
{
    static const struct {
        const char *in, *digest;
    } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"1234567890123456789012345678901234567890123456789012345678901234567890123456"
         "7890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    char out[33];
    size_t i;

    for (i = 0; i < KT_NELEMS(v); i++) {
        hex_digest(v[i].in, strlen(v[i].in), out);
        ck_assert_msg(strcmp(out, v[i].digest) == 0, "md5(\"%s\") = %s, want %s", v[i].in, out,
                      v[i].digest);
    }
    /* hash_md5 is the digest's first four bytes, little-endian: d4 1d 8c d9. */
    ck_assert_uint_eq(hash_md5(S("")), 0xd98c1dd4u);
    ck_assert_uint_eq(hash_md5(S("a")), 0xb975c10cu);
}
END_TEST

/*
 * Padding edges (55 bytes fit one block with the length, 56 need two, 64 is
 * a whole block) and a long message; digests from an independent MD5
 * (Python's hashlib).
 */
START_TEST(test_md5_lengths)
{
    static const struct {
        size_t n;
        const char *digest;
    } v[] = {
        {55, "04364420e25c512fd958a70738aa8f72"},  {56, "668a72d5ba17f08e62dabcafad6db14b"},
        {57, "693037871c4a9d3d8685018905cb530a"},  {63, "7dc2ca208106a2f703567bdff99d8981"},
        {64, "c1bb4f81d892b2d57947682aeb252456"},  {65, "1bc932052302d074bdec39795fe00cf6"},
        {119, "ab347a5f68c8a443cfcddc633f12c24f"}, {120, "fb98667f98096de92620b64f46e1c5b5"},
    };
    static char big[1000000];
    char buf[128], out[33];
    size_t i;

    memset(buf, 'x', sizeof(buf));
    for (i = 0; i < KT_NELEMS(v); i++) {
        hex_digest(buf, v[i].n, out);
        ck_assert_msg(strcmp(out, v[i].digest) == 0, "md5 of %zu x: %s, want %s", v[i].n, out,
                      v[i].digest);
    }
    memset(big, 'a', sizeof(big));
    hex_digest(big, sizeof(big), out);
    ck_assert_str_eq(out, "7707d6ae4e027c70eea2a935c2296f21");
}
END_TEST

START_TEST(test_crc)
{
    /* The CRC catalogue check value: CRC-32("123456789") = 0xcbf43926. */
    ck_assert_uint_eq(hash_crc32a(S("123456789")), 0xcbf43926u);
    ck_assert_uint_eq(hash_crc32a(S("")), 0);
    /* libmemcached's crc32: bits 16..30 of the same CRC. */
    ck_assert_uint_eq(hash_crc32(S("123456789")), (0xcbf43926u >> 16) & 0x7fff);
    /* CRC-16/XMODEM check value 0x31c3; nutcracker keeps the bits above 16. */
    ck_assert_uint_eq(hash_crc16(S("123456789")) & 0xffff, 0x31c3);
    ck_assert_uint_gt(hash_crc16(S("123456789")), 0xffff);
    ck_assert_uint_eq(hash_crc16(S("a")), 0x7c87);
}
END_TEST

/* Published FNV values (Noll's FNV test suite); 64-bit ones compared on their low 32 bits. */
START_TEST(test_fnv)
{
    ck_assert_uint_eq(hash_fnv1_32(S("")), 0x811c9dc5u);
    ck_assert_uint_eq(hash_fnv1a_32(S("")), 0x811c9dc5u);
    ck_assert_uint_eq(hash_fnv1_32(S("a")), 0x050c5d7eu);
    ck_assert_uint_eq(hash_fnv1a_32(S("a")), 0xe40c292cu);
    ck_assert_uint_eq(hash_fnv1_32(S("foobar")), 0x31f0b262u);
    ck_assert_uint_eq(hash_fnv1a_32(S("foobar")), 0xbf9cf968u);
    ck_assert_uint_eq(hash_fnv1_64(S("")), (uint32_t)0xcbf29ce484222325u);
    ck_assert_uint_eq(hash_fnv1_64(S("a")), (uint32_t)0xaf63bd4c8601b7beu);
    ck_assert_uint_eq(hash_fnv1a_64(S("a")), (uint32_t)0xaf63dc4c8601ec8cu);
    ck_assert_uint_eq(hash_fnv1_64(S("foobar")), (uint32_t)0x340d8765a4dda9c2u);
    ck_assert_uint_eq(hash_fnv1a_64(S("foobar")), (uint32_t)0x85944171f73967e8u);
}
END_TEST

START_TEST(test_jenkins)
{
    /* lookup3.c driver5(): published hashlittle() values. */
    ck_assert_uint_eq(hash_lookup3(S(""), 0), 0xdeadbeefu);
    ck_assert_uint_eq(hash_lookup3(S(""), 0xdeadbeefu), 0xbd5b7ddeu);
    ck_assert_uint_eq(hash_lookup3(S("Four score and seven years ago"), 0), 0x17770551u);
    ck_assert_uint_eq(hash_lookup3(S("Four score and seven years ago"), 1), 0xcd628161u);
    /* nutcracker passes 13. */
    ck_assert_uint_eq(hash_jenkins(S("Four score and seven years ago")),
                      hash_lookup3(S("Four score and seven years ago"), 13));
    ck_assert_uint_eq(hash_jenkins(S("")), 0xdeadbeefu + 13);
}
END_TEST

START_TEST(test_one_at_a_time)
{
    /* Published one-at-a-time values (Jenkins' hash function write-ups). */
    ck_assert_uint_eq(hash_one_at_a_time(S("a")), 0xca2e9442u);
    ck_assert_uint_eq(hash_one_at_a_time(S("The quick brown fox jumps over the lazy dog")),
                      0x519e91f5u);
}
END_TEST

/* A hash reads only its <len> bytes: the byte after the key never matters. */
START_TEST(test_reads_only_len)
{
    int t;

    for (t = 0; t < HASH_NTYPES; t++) {
        char a[] = "some-key-with-tail", b[] = "some-key-with-tail";
        size_t n = 9;

        b[n] = 'Z';
        ck_assert_msg(hash_get(t)(a, n) == hash_get(t)(b, n), "%s reads past len", hash_name(t));
        if (t != HASH_CRC32) {
            ck_assert_msg(hash_get(t)(a, n) != hash_get(t)(a, n + 1), "%s ignores a byte",
                          hash_name(t));
        }
    }
}
END_TEST

static struct vec_file hash_vectors;

static void
hash_vectors_setup(void)
{
    char err[256];

    ck_assert_msg(vec_load("nutcracker_hash.txt", &hash_vectors, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(hash_vectors.ncolumns, HASH_NTYPES);
}

static void
hash_vectors_teardown(void)
{
    vec_free(&hash_vectors);
}

/* Loop test over the hash types: every key must hash as nutcracker hashed it. */
START_TEST(test_nutcracker_values)
{
    int type = hash_vectors.columns[_i];
    hash_fn fn = hash_get(type);
    size_t k, nhigh = 0;

    ck_assert_uint_ge(hash_vectors.nkeys, 300);
    for (k = 0; k < hash_vectors.nkeys; k++) {
        const struct vec_key *key = &hash_vectors.keys[k];
        uint32_t got = fn(key->key, key->len);

        ck_assert_msg(got == key->values[_i], "%s(%s) = %08x, nutcracker %08x", hash_name(type),
                      key->text, got, key->values[_i]);
        nhigh += strchr(key->text, '%') != NULL;
    }
    /* The vectors exercise bytes >= 0x80 (signed char) and 1- to 250-byte keys. */
    ck_assert_uint_gt(nhigh, 50);
}
END_TEST

Suite *
hash_suite(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("published");
    TCase *nc = tcase_create("nutcracker");

    tcase_add_test(tc, test_registry);
    tcase_add_test(tc, test_md5_rfc1321);
    tcase_add_test(tc, test_md5_lengths);
    tcase_add_test(tc, test_crc);
    tcase_add_test(tc, test_fnv);
    tcase_add_test(tc, test_jenkins);
    tcase_add_test(tc, test_one_at_a_time);
    tcase_add_test(tc, test_reads_only_len);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(nc, hash_vectors_setup, hash_vectors_teardown);
    tcase_add_loop_test(nc, test_nutcracker_values, 0, HASH_NTYPES);
    suite_add_tcase(s, nc);
    return s;
}
