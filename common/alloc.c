/*
 * common/alloc.c - aborting wrappers over the C allocator.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

static void
alloc_fail(size_t size)
{
    fprintf(stderr, "ketch: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
kt_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL) {
        alloc_fail(size);
    }
    return p;
}

void *
kt_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL) {
        alloc_fail(n * size);
    }
    return p;
}

void *
kt_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL) {
        alloc_fail(size);
    }
    return p;
}

char *
kt_strndup(const char *s, size_t len)
{
    char *p = kt_malloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
kt_strdup(const char *s)
{
    return kt_strndup(s, strlen(s));
}

void
kt_free(void *ptr)
{
    free(ptr);
}
