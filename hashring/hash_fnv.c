/*
 * hashring/hash_fnv.c - Fowler/Noll/Vo FNV-1 and FNV-1a, 32 and 64 bits, as
 * nutcracker computes them: the 64-bit ones return the low 32 bits, and each
 * key byte is widened as a signed char (x86 char), which only matters for
 * bytes >= 0x80.
 */
#include "config.h"

#include "hashring/hash.h"

/* FNV parameters (Fowler, Noll, Vo; draft-eastlake-fnv): offset basis and prime. */
#define FNV_64_INIT  UINT64_C(0xcbf29ce484222325)
#define FNV_64_PRIME UINT64_C(0x100000001b3)
#define FNV_32_INIT  UINT32_C(2166136261)
#define FNV_32_PRIME UINT32_C(16777619)

/* A key byte as nutcracker's `(uint32_t)key[x]` sees it on x86: sign-extended. */
static uint32_t
fnv_byte32(char c)
{
    return (uint32_t)(int32_t)(signed char)c;
}

static uint64_t
fnv_byte64(char c)
{
    return (uint64_t)(int64_t)(signed char)c;
}

uint32_t
hash_fnv1_64(const char *key, size_t len)
{
    uint64_t hash = FNV_64_INIT;
    size_t i;

    for (i = 0; i < len; i++) {
        hash *= FNV_64_PRIME;
        hash ^= fnv_byte64(key[i]);
    }
    return (uint32_t)hash;
}

uint32_t
hash_fnv1a_64(const char *key, size_t len)
{
    uint64_t hash = FNV_64_INIT;
    size_t i;

    for (i = 0; i < len; i++) {
        hash ^= fnv_byte64(key[i]);
        hash *= FNV_64_PRIME;
    }
    return (uint32_t)hash;
}

uint32_t
hash_fnv1_32(const char *key, size_t len)
{
    uint32_t hash = FNV_32_INIT;
    size_t i;

    for (i = 0; i < len; i++) {
        hash *= FNV_32_PRIME;
        hash ^= fnv_byte32(key[i]);
    }
    return hash;
}

uint32_t
hash_fnv1a_32(const char *key, size_t len)
{
    uint32_t hash = FNV_32_INIT;
    size_t i;

    for (i = 0; i < len; i++) {
        hash ^= fnv_byte32(key[i]);
        hash *= FNV_32_PRIME;
    }
    return hash;
}
