/*
 * hashring/hash.h - the key hash functions nutcracker offers, by name.
 * Each algorithm lives in its own file (hash_<name>.c). Pure: no I/O,
 * no allocation, no logging.
 */
#ifndef KT_HASHRING_HASH_H
#define KT_HASHRING_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A key hash: 32 bits, as nutcracker uses them (64-bit FNV is truncated). */
typedef uint32_t (*hash_fn)(const char *key, size_t len);

/* X(ENUM_STEM, config_name, function) - the table lives in hash.def. */
enum hash_type {
#define HASH_ENUM(stem, name, fn) HASH_##stem,
#include "hashring/hash.def"
#undef HASH_ENUM
    HASH_NTYPES
};

/* The function for <type>; <type> must be below HASH_NTYPES. */
hash_fn hash_get(enum hash_type type);
/* The config name of <type> ("fnv1a_64"). */
const char *hash_name(enum hash_type type);
/* The type named by the <len> bytes at <name>, or -1 when none is. */
int hash_from_name(const char *name, size_t len);

uint32_t hash_one_at_a_time(const char *key, size_t len);
uint32_t hash_md5(const char *key, size_t len);
uint32_t hash_crc16(const char *key, size_t len);
uint32_t hash_crc32(const char *key, size_t len);
uint32_t hash_crc32a(const char *key, size_t len);
uint32_t hash_fnv1_64(const char *key, size_t len);
uint32_t hash_fnv1a_64(const char *key, size_t len);
uint32_t hash_fnv1_32(const char *key, size_t len);
uint32_t hash_fnv1a_32(const char *key, size_t len);
uint32_t hash_hsieh(const char *key, size_t len);
uint32_t hash_murmur(const char *key, size_t len);
uint32_t hash_jenkins(const char *key, size_t len);

/*
 * Bob Jenkins' lookup3 hashlittle() of <len> bytes at <key> with <initval>;
 * hash_jenkins() is hash_lookup3(key, len, 13), as in nutcracker.
 */
uint32_t hash_lookup3(const char *key, size_t len, uint32_t initval);

/* The 16-byte MD5 digest of <len> bytes at <key> into <digest> (ketama needs it). */
void hash_md5_digest(const char *key, size_t len, unsigned char digest[16]);

#endif
