/*
 * common/sbuf.c - a growing text buffer.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/alloc.h"
#include "common/sbuf.h"

void
sbuf_init(struct sbuf *s, size_t cap)
{
    s->cap = cap > 0 ? cap : 64;
    s->p = kt_malloc(s->cap);
    s->p[0] = '\0';
    s->len = 0;
}

void
sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < s->cap - s->len) {
            s->len += (size_t)n;
            return;
        }
        s->cap = s->cap * 2 + (size_t)(n > 0 ? n : 64);
        s->p = kt_realloc(s->p, s->cap);
    }
}

void
sbuf_json_str(struct sbuf *s, const char *str)
{
    sbuf_printf(s, "\"");
    for (; *str != '\0'; str++) {
        unsigned char ch = (unsigned char)*str;

        if (ch == '"' || ch == '\\') {
            sbuf_printf(s, "\\%c", ch);
        } else if (ch < 0x20) {
            sbuf_printf(s, "\\u%04x", ch);
        } else {
            sbuf_printf(s, "%c", ch);
        }
    }
    sbuf_printf(s, "\"");
}
