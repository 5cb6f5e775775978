/*
 * common/util.h - small helpers every module may use: container_of,
 * min/max, assertions, array length. Header only; no dependencies.
 */
#ifndef KT_COMMON_UTIL_H
#define KT_COMMON_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define KT_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))
#define KT_NELEMS(a)                      (sizeof(a) / sizeof((a)[0]))
#define KT_MIN(a, b)                      ((a) < (b) ? (a) : (b))
#define KT_MAX(a, b)                      ((a) > (b) ? (a) : (b))
#define KT_UNUSED(x)                      ((void)(x))

/* Always-on check for invariants whose violation would corrupt memory. */
#define KT_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0)) {                                                       \
            fprintf(stderr, "ketch: BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Debug-build assertion; compiled out otherwise. */
#ifdef KT_DEBUG
#define KT_ASSERT(cond) KT_BUG_ON(!(cond))
#else
#define KT_ASSERT(cond) ((void)0)
#endif

#define KT_LIKELY(x)   __builtin_expect(!!(x), 1)
#define KT_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
