/*
 * bench/copycount.c - an LD_PRELOAD shim for the harness: counts the bytes a
 * process copies in user space with memcpy, memmove and mempcpy (and their
 * _chk forms), and at exit writes the totals to $KETCH_COPYCOUNT_OUT:
 *
 *     bytes=<total> calls=<n> big=<copies of 4 KiB or more> largest=<bytes>
 *
 * The harness runs ketch under it while 100 KiB values go through: a value
 * copied inside ketch shows as a copy of at least its size. Copies the
 * compiler inlines (small fixed sizes) and copies made inside libc itself do
 * not go through these symbols and are not counted; neither is the kernel's
 * copy of the bytes read from a socket, which is the one copy a value gets.
 * Built by bench/run with: cc -O1 -shared -fPIC -fno-builtin
 * -fno-tree-loop-distribute-patterns -o copycount.so copycount.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef void *(*copy_fn)(void *, const void *, size_t);

static copy_fn real_memcpy, real_memmove, real_mempcpy;
static uint64_t n_bytes, n_calls, n_big, n_largest;

/* Until dlsym has answered (it may copy too): a byte loop the compiler cannot make a call. */
static void *
byte_move(void *dst, const void *src, size_t n)
{
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;

    if (d < s) {
        for (size_t i = 0; i < n; i++) {
            d[i] = s[i];
        }
    } else {
        for (size_t i = n; i > 0; i--) {
            d[i - 1] = s[i - 1];
        }
    }
    return dst;
}

static void
count(size_t n)
{
    uint64_t seen = __atomic_load_n(&n_largest, __ATOMIC_RELAXED);

    __atomic_fetch_add(&n_bytes, n, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_calls, 1, __ATOMIC_RELAXED);
    if (n >= 4096) {
        __atomic_fetch_add(&n_big, 1, __ATOMIC_RELAXED);
    }
    while (n > seen && !__atomic_compare_exchange_n(&n_largest, &seen, n, 1, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED)) {
    }
}

void *
memcpy(void *dst, const void *src, size_t n)
{
    count(n);
    return real_memcpy != NULL ? real_memcpy(dst, src, n) : byte_move(dst, src, n);
}

void *
memmove(void *dst, const void *src, size_t n)
{
    count(n);
    return real_memmove != NULL ? real_memmove(dst, src, n) : byte_move(dst, src, n);
}

void *
mempcpy(void *dst, const void *src, size_t n)
{
    count(n);
    if (real_mempcpy != NULL) {
        return real_mempcpy(dst, src, n);
    }
    return (char *)byte_move(dst, src, n) + n;
}

void *
__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
    if (n > dstlen) {
        abort();
    }
    return memcpy(dst, src, n);
}

void *
__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
    if (n > dstlen) {
        abort();
    }
    return memmove(dst, src, n);
}

__attribute__((constructor)) static void
copycount_init(void)
{
    real_memcpy = (copy_fn)dlsym(RTLD_NEXT, "memcpy");
    real_memmove = (copy_fn)dlsym(RTLD_NEXT, "memmove");
    real_mempcpy = (copy_fn)dlsym(RTLD_NEXT, "mempcpy");
}

__attribute__((destructor)) static void
copycount_report(void)
{
    const char *path = getenv("KETCH_COPYCOUNT_OUT");
    FILE *f;

    if (path == NULL || (f = fopen(path, "w")) == NULL) {
        return;
    }
    fprintf(f, "bytes=%llu calls=%llu big=%llu largest=%llu\n", (unsigned long long)n_bytes,
            (unsigned long long)n_calls, (unsigned long long)n_big, (unsigned long long)n_largest);
    fclose(f);
}
