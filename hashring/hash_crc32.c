/*
 * hashring/hash_crc32.c - CRC-32 (IEEE 802.3, reflected) key hashes.
 * "crc32" is libmemcached's variant that nutcracker kept: bits 16..30 of
 * the CRC, so only 15 bits. "crc32a" is the whole CRC as the spec has it.
 */
#include "config.h"

#include "hashring/hash.h"

/* IEEE 802.3 polynomial 0x04c11db7, bit-reversed for the LSB-first CRC. */
#define CRC32_POLY 0xedb88320u
/* The CRC starts from and is finished with all ones (ISO 3309). */
#define CRC32_INIT 0xffffffffu
/* libmemcached's hash_crc32: ((~crc) >> 16) & 0x7fff. */
#define CRC32_LIBMC_SHIFT 16
#define CRC32_LIBMC_MASK  0x7fffu

/*
 * The byte table, computed by the compiler from the polynomial: entry n is n
 * run through eight shift-and-xor steps.
 */
#define CRC32_STEP(c) (((c) >> 1) ^ ((0u - ((c)&1u)) & CRC32_POLY))
#define CRC32_ENTRY(n)                                                                             \
    CRC32_STEP(CRC32_STEP(                                                                         \
        CRC32_STEP(CRC32_STEP(CRC32_STEP(CRC32_STEP(CRC32_STEP(CRC32_STEP((uint32_t)(n)))))))))
#define CRC32_R4(n)   CRC32_ENTRY(n), CRC32_ENTRY(n + 1), CRC32_ENTRY(n + 2), CRC32_ENTRY(n + 3)
#define CRC32_R16(n)  CRC32_R4(n), CRC32_R4(n + 4), CRC32_R4(n + 8), CRC32_R4(n + 12)
#define CRC32_R64(n)  CRC32_R16(n), CRC32_R16(n + 16), CRC32_R16(n + 32), CRC32_R16(n + 48)
#define CRC32_R256(n) CRC32_R64(n), CRC32_R64(n + 64), CRC32_R64(n + 128), CRC32_R64(n + 192)

static const uint32_t crc32_table[256] = {CRC32_R256(0)};

static uint32_t
crc32_update(uint32_t crc, const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    size_t i;

    for (i = 0; i < len; i++) {
        crc = (crc >> 8) ^ crc32_table[(crc ^ p[i]) & 0xff];
    }
    return crc;
}

uint32_t
hash_crc32(const char *key, size_t len)
{
    uint32_t crc = crc32_update(CRC32_INIT, key, len);

    return ((~crc) >> CRC32_LIBMC_SHIFT) & CRC32_LIBMC_MASK;
}

uint32_t
hash_crc32a(const char *key, size_t len)
{
    return crc32_update(CRC32_INIT, key, len) ^ CRC32_INIT;
}
