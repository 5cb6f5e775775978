/*
 * hashring/hash_jenkins.c - Bob Jenkins' lookup3 hashlittle() with the
 * initial value nutcracker passes (13). Bytes are gathered little-endian one
 * at a time, which gives hashlittle's result on any alignment or host.
 */
#include "config.h"

#include "hashring/hash.h"

/* lookup3: a = b = c = 0xdeadbeef + length + initval. */
#define JENKINS_GOLDEN 0xdeadbeefu
/* nutcracker nc_jenkins.c: the initval it passes to hashlittle(). */
#define JENKINS_INITVAL 13u

#define JENKINS_ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

/* lookup3 mix(): reversibly mix three 32-bit values. */
#define JENKINS_MIX(a, b, c)                                                                       \
    do {                                                                                           \
        a -= c;                                                                                    \
        a ^= JENKINS_ROT(c, 4);                                                                    \
        c += b;                                                                                    \
        b -= a;                                                                                    \
        b ^= JENKINS_ROT(a, 6);                                                                    \
        a += c;                                                                                    \
        c -= b;                                                                                    \
        c ^= JENKINS_ROT(b, 8);                                                                    \
        b += a;                                                                                    \
        a -= c;                                                                                    \
        a ^= JENKINS_ROT(c, 16);                                                                   \
        c += b;                                                                                    \
        b -= a;                                                                                    \
        b ^= JENKINS_ROT(a, 19);                                                                   \
        a += c;                                                                                    \
        c -= b;                                                                                    \
        c ^= JENKINS_ROT(b, 4);                                                                    \
        b += a;                                                                                    \
    } while (0)

/* lookup3 final(): final mixing of three 32-bit values into c. */
#define JENKINS_FINAL(a, b, c)                                                                     \
    do {                                                                                           \
        c ^= b;                                                                                    \
        c -= JENKINS_ROT(b, 14);                                                                   \
        a ^= c;                                                                                    \
        a -= JENKINS_ROT(c, 11);                                                                   \
        b ^= a;                                                                                    \
        b -= JENKINS_ROT(a, 25);                                                                   \
        c ^= b;                                                                                    \
        c -= JENKINS_ROT(b, 16);                                                                   \
        a ^= c;                                                                                    \
        a -= JENKINS_ROT(c, 4);                                                                    \
        b ^= a;                                                                                    \
        b -= JENKINS_ROT(a, 14);                                                                   \
        c ^= b;                                                                                    \
        c -= JENKINS_ROT(b, 24);                                                                   \
    } while (0)

/* Up to four bytes at <p> as a little-endian word, missing bytes zero. */
static uint32_t
jenkins_word(const unsigned char *p, size_t n)
{
    uint32_t w = 0;
    size_t i;

    for (i = 0; i < n && i < 4; i++) {
        w |= (uint32_t)p[i] << (8 * i);
    }
    return w;
}

uint32_t
hash_lookup3(const char *key, size_t len, uint32_t initval)
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t a, b, c;
    size_t rest = len;

    a = b = c = JENKINS_GOLDEN + (uint32_t)len + initval;

    for (; rest > 12; rest -= 12, p += 12) {
        a += jenkins_word(p, 4);
        b += jenkins_word(p + 4, 4);
        c += jenkins_word(p + 8, 4);
        JENKINS_MIX(a, b, c);
    }
    if (rest == 0) {
        return c; /* lookup3: zero-length tails need no final mixing */
    }
    a += jenkins_word(p, rest);
    if (rest > 4) {
        b += jenkins_word(p + 4, rest - 4);
    }
    if (rest > 8) {
        c += jenkins_word(p + 8, rest - 8);
    }
    JENKINS_FINAL(a, b, c);
    return c;
}

uint32_t
hash_jenkins(const char *key, size_t len)
{
    return hash_lookup3(key, len, JENKINS_INITVAL);
}
