/*
 * hashring/hash_murmur.c - Austin Appleby's MurmurHash2 (32 bit) with the
 * seed nutcracker and libmemcached use: 0xdeadbeef * length. Words are read
 * little-endian, as on the x86 nutcracker that defines the expected values.
 */
#include "config.h"

#include "hashring/hash.h"

/* MurmurHash2 mixing constants (Appleby). */
#define MURMUR_M 0x5bd1e995u
#define MURMUR_R 24
/* libmemcached/nutcracker: seed = 0xdeadbeef * key length. */
#define MURMUR_SEED_FACTOR 0xdeadbeefu

uint32_t
hash_murmur(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t seed = MURMUR_SEED_FACTOR * (uint32_t)len;
    uint32_t h = seed ^ (uint32_t)len;
    size_t rest = len;

    for (; rest >= 4; rest -= 4, p += 4) {
        uint32_t k =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

        k *= MURMUR_M;
        k ^= k >> MURMUR_R;
        k *= MURMUR_M;
        h *= MURMUR_M;
        h ^= k;
    }
    switch (rest) {
    case 3:
        h ^= (uint32_t)p[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)p[1] << 8;
        /* fall through */
    case 1:
        h ^= p[0];
        h *= MURMUR_M;
        break;
    default:
        break;
    }
    h ^= h >> 13;
    h *= MURMUR_M;
    h ^= h >> 15;
    return h;
}
