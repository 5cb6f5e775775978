/*
 * common/sbuf.h - a growing text buffer for JSON and other output made in
 * one go (the stats page, the membership cache file).
 */
#ifndef KT_COMMON_SBUF_H
#define KT_COMMON_SBUF_H

#include <stddef.h>

struct sbuf {
    char *p; /* NUL-terminated text (owned) */
    size_t len;
    size_t cap;
};

/* An empty buffer with room for <cap> bytes. */
void sbuf_init(struct sbuf *s, size_t cap);
/* Append printf-formatted text. */
void sbuf_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append <str> as a JSON string, quotes included. */
void sbuf_json_str(struct sbuf *s, const char *str);

#endif
