/*
 * common/err.h - errors that a person reads: a list of messages, each with
 * its location already formatted in, collected rather than stopping at the
 * first (config files, znode payloads).
 */
#ifndef KT_COMMON_ERR_H
#define KT_COMMON_ERR_H

#include <stddef.h>

struct kt_err {
    char **msgs;  /* nmsgs messages (owned) */
    size_t nmsgs; /* how many were recorded */
};

/* Append a printf-formatted message to <err>. */
void kt_err_add(struct kt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free the messages of <err> and leave it empty. */
void kt_err_clear(struct kt_err *err);

#endif
