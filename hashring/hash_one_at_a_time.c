/*
 * hashring/hash_one_at_a_time.c - Bob Jenkins' one-at-a-time hash, as
 * nutcracker computes it: each key byte is widened as a signed char (x86
 * char), which only matters for bytes >= 0x80.
 */
#include "config.h"

#include "hashring/hash.h"

uint32_t
hash_one_at_a_time(const char *key, size_t len)
{
    uint32_t value = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        value += (uint32_t)(int32_t)(signed char)key[i];
        value += value << 10;
        value ^= value >> 6;
    }
    value += value << 3;
    value ^= value >> 11;
    value += value << 15;
    return value;
}
