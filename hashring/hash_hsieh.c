/*
 * hashring/hash_hsieh.c - Paul Hsieh's SuperFastHash as libmemcached and
 * nutcracker have it: the state starts at 0 (not at the length), 16-bit
 * reads are little-endian, and the odd byte of a 3-byte tail is widened as a
 * signed char (x86 char).
 */
#include "config.h"

#include "hashring/hash.h"

static uint32_t
hsieh_get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

uint32_t
hash_hsieh(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t hash = 0, tmp;
    size_t nwords = len / 4;

    if (len == 0) {
        return 0;
    }
    for (; nwords > 0; nwords--, p += 4) {
        hash += hsieh_get16(p);
        tmp = (hsieh_get16(p + 2) << 11) ^ hash;
        hash = (hash << 16) ^ tmp;
        hash += hash >> 11;
    }
    switch (len & 3) {
    case 3:
        hash += hsieh_get16(p);
        hash ^= hash << 16;
        hash ^= (uint32_t)(int32_t)(signed char)p[2] << 18;
        hash += hash >> 11;
        break;
    case 2:
        hash += hsieh_get16(p);
        hash ^= hash << 11;
        hash += hash >> 17;
        break;
    case 1:
        hash += p[0];
        hash ^= hash << 10;
        hash += hash >> 1;
        break;
    default:
        break;
    }

    /* Final avalanche of the last 127 bits. */
    hash ^= hash << 3;
    hash += hash >> 5;
    hash ^= hash << 4;
    hash += hash >> 17;
    hash ^= hash << 25;
    hash += hash >> 6;
    return hash;
}
