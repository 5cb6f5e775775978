/*
 * common/err.c - collected human-readable errors.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/alloc.h"
#include "common/err.h"

void
kt_err_add(struct kt_err *err, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    err->msgs = kt_realloc(err->msgs, (err->nmsgs + 1) * sizeof(*err->msgs));
    err->msgs[err->nmsgs++] = kt_strdup(line);
}

void
kt_err_clear(struct kt_err *err)
{
    for (size_t i = 0; i < err->nmsgs; i++) {
        kt_free(err->msgs[i]);
    }
    kt_free(err->msgs);
    err->msgs = NULL;
    err->nmsgs = 0;
}
