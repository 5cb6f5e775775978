/*
 * hashring/hash.c - the registry of key hash functions: type <-> config name
 * <-> function, generated from hash.def so no code lists the hashes by hand.
 */
#include "config.h"

#include <string.h>

#include "common/util.h"
#include "hashring/hash.h"

static const hash_fn hash_fns[] = {
#define HASH_ENUM(stem, name, fn) fn,
#include "hashring/hash.def"
#undef HASH_ENUM
};

static const char *const hash_names[] = {
#define HASH_ENUM(stem, name, fn) name,
#include "hashring/hash.def"
#undef HASH_ENUM
};

hash_fn
hash_get(enum hash_type type)
{
    KT_BUG_ON((unsigned)type >= HASH_NTYPES);
    return hash_fns[type];
}

const char *
hash_name(enum hash_type type)
{
    KT_BUG_ON((unsigned)type >= HASH_NTYPES);
    return hash_names[type];
}

int
hash_from_name(const char *name, size_t len)
{
    int i;

    for (i = 0; i < HASH_NTYPES; i++) {
        if (strlen(hash_names[i]) == len && memcmp(hash_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}
