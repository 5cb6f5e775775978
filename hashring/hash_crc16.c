/*
 * hashring/hash_crc16.c - CRC-16/XMODEM (CCITT polynomial, MSB first, start
 * 0) as nutcracker's hash_crc16 computes it: the running value is kept in 32
 * bits and never masked, so bits above 16 survive into the key hash.
 */
#include "config.h"

#include "hashring/hash.h"

/* CCITT polynomial x^16 + x^12 + x^5 + 1, MSB first (XMODEM). */
#define CRC16_POLY 0x1021u
#define CRC16_TOP  0x8000u
#define CRC16_MASK 0xffffu

/* The byte table, computed by the compiler: entry n is (n << 8) after eight steps. */
#define CRC16_STEP(c) ((((c) << 1) ^ ((0u - (((c)&CRC16_TOP) >> 15)) & CRC16_POLY)) & CRC16_MASK)
#define CRC16_ENTRY(n)                                                                             \
    CRC16_STEP(CRC16_STEP(CRC16_STEP(                                                              \
        CRC16_STEP(CRC16_STEP(CRC16_STEP(CRC16_STEP(CRC16_STEP((uint32_t)(n) << 8))))))))
#define CRC16_R4(n)   CRC16_ENTRY(n), CRC16_ENTRY(n + 1), CRC16_ENTRY(n + 2), CRC16_ENTRY(n + 3)
#define CRC16_R16(n)  CRC16_R4(n), CRC16_R4(n + 4), CRC16_R4(n + 8), CRC16_R4(n + 12)
#define CRC16_R64(n)  CRC16_R16(n), CRC16_R16(n + 16), CRC16_R16(n + 32), CRC16_R16(n + 48)
#define CRC16_R256(n) CRC16_R64(n), CRC16_R64(n + 64), CRC16_R64(n + 128), CRC16_R64(n + 192)

static const uint16_t crc16_table[256] = {CRC16_R256(0)};

uint32_t
hash_crc16(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t crc = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        /* nutcracker: no & 0xffff here, so the result grows past 16 bits. */
        crc = (crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xff];
    }
    return crc;
}
