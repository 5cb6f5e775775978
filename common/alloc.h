/*
 * common/alloc.h - the allocator every module uses for small fixed objects.
 * These functions abort on out-of-memory (bulk data is bounded by budgets
 * elsewhere, so an allocation failure here means the process is doomed).
 */
#ifndef KT_COMMON_ALLOC_H
#define KT_COMMON_ALLOC_H

#include <stddef.h>

/* Return <size> bytes (uninitialised / zeroed); never NULL. Any thread. */
void *kt_malloc(size_t size);
void *kt_calloc(size_t n, size_t size);
/* Resize <ptr> to <size> bytes; never NULL. */
void *kt_realloc(void *ptr, size_t size);
/* Return a NUL-terminated copy of the <len> bytes at <s>; never NULL. */
char *kt_strndup(const char *s, size_t len);
char *kt_strdup(const char *s);
void kt_free(void *ptr);

#endif
