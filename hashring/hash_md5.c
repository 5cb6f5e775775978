/*
 * hashring/hash_md5.c - MD5 (RFC 1321), written here so the ring needs no
 * crypto library. Ketama places its points from MD5 digests; the "md5" key
 * hash is the first four digest bytes read little-endian (libketama's
 * ketama_hashi, nutcracker's hash_md5).
 */
#include "config.h"

#include <string.h>

#include "hashring/hash.h"

/* RFC 1321 3.3: the initial state A, B, C, D. */
#define MD5_INIT_A 0x67452301u
#define MD5_INIT_B 0xefcdab89u
#define MD5_INIT_C 0x98badcfeu
#define MD5_INIT_D 0x10325476u

/* RFC 1321 3.1: a block is 512 bits; the length field takes its last 64. */
#define MD5_BLOCK     64
#define MD5_LEN_FIELD 8

/* RFC 1321 3.4: T[i] = floor(2^32 * abs(sin(i + 1))), i = 0..63. */
static const uint32_t md5_t[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* RFC 1321 3.4: the per-step left rotations, four per round. */
static const unsigned char md5_shift[4][4] = {
    {7, 12, 17, 22},
    {5, 9, 14, 20},
    {4, 11, 16, 23},
    {6, 10, 15, 21},
};

static uint32_t
md5_rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t
md5_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
md5_put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Fold one 64-byte block into <state> (RFC 1321 3.4: four rounds of 16 steps). */
static void
md5_block(uint32_t state[4], const unsigned char *block)
{
    uint32_t x[16], a = state[0], b = state[1], c = state[2], d = state[3];
    unsigned i;

    for (i = 0; i < 16; i++) {
        x[i] = md5_le32(block + 4 * i);
    }
    for (i = 0; i < 64; i++) {
        uint32_t f, tmp;
        unsigned g, round = i / 16;

        switch (round) {
        case 0:
            f = (b & c) | (~b & d);
            g = i;
            break;
        case 1:
            f = (b & d) | (c & ~d);
            g = (5 * i + 1) % 16;
            break;
        case 2:
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
            break;
        default:
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
            break;
        }
        tmp = d;
        d = c;
        c = b;
        b = b + md5_rotl(a + f + md5_t[i] + x[g], md5_shift[round][i % 4]);
        a = tmp;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
}

void
hash_md5_digest(const char *key, size_t len, unsigned char digest[16])
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t state[4] = {MD5_INIT_A, MD5_INIT_B, MD5_INIT_C, MD5_INIT_D};
    unsigned char tail[2 * MD5_BLOCK];
    uint64_t bits = (uint64_t)len * 8;
    size_t rest, ntail, i;

    for (rest = len; rest >= MD5_BLOCK; rest -= MD5_BLOCK, p += MD5_BLOCK) {
        md5_block(state, p);
    }

    /* RFC 1321 3.1-3.2: a 1 bit, zeros to 448 mod 512, the bit length (little-endian). */
    memset(tail, 0, sizeof(tail));
    if (rest > 0) {
        memcpy(tail, p, rest);
    }
    tail[rest] = 0x80;
    ntail = rest + 1 + MD5_LEN_FIELD <= MD5_BLOCK ? MD5_BLOCK : 2 * MD5_BLOCK;
    for (i = 0; i < MD5_LEN_FIELD; i++) {
        tail[ntail - MD5_LEN_FIELD + i] = (unsigned char)(bits >> (8 * i));
    }
    for (i = 0; i < ntail; i += MD5_BLOCK) {
        md5_block(state, tail + i);
    }

    for (i = 0; i < 4; i++) {
        md5_put_le32(digest + 4 * i, state[i]);
    }
}

uint32_t
hash_md5(const char *key, size_t len)
{
    unsigned char digest[16];

    hash_md5_digest(key, len, digest);
    return md5_le32(digest);
}
