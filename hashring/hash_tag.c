/*
 * hashring/hash_tag.c - the hash tag rule of twemproxy (server_pool_idx in
 * src/nc_server.c): hash only the part of a key between the first tag[0]
 * and the next tag[1], when that part is not empty.
 */
#include "config.h"

#include <string.h>

#include "hashring/ring.h"

void
hash_tag_extract(const char tag[2], const char *key, size_t len, const char **out, size_t *outlen)
{
    const char *start, *end;

    *out = key;
    *outlen = len;
    if (tag == NULL || len == 0) {
        return;
    }
    start = memchr(key, tag[0], len);
    if (start == NULL) {
        return;
    }
    start++;
    end = memchr(start, tag[1], (size_t)(key + len - start));
    /* twemproxy looks no further: "{}{a}" hashes the whole key. */
    if (end == NULL || end == start) {
        return;
    }
    *out = start;
    *outlen = (size_t)(end - start);
}
