/*
 * common/log.c - levelled logger writing whole lines with one write(2).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

int kt_log_level_current = KT_LOG_NOTICE;
static int log_fd = STDERR_FILENO;
static char log_path[4096];

static const char *const log_level_names[] = {"EMERG", "ALERT", "CRIT", "ERROR", "WARN",   "NOTICE",
                                              "INFO",  "DEBUG", "VERB", "VVERB", "VVVERB", "PVERB"};

int
log_init(int level, const char *path)
{
    kt_log_level_current = level;
    if (path == NULL || path[0] == '\0') {
        log_path[0] = '\0';
        log_fd = STDERR_FILENO;
        return 0;
    }
    snprintf(log_path, sizeof(log_path), "%s", path);
    return log_reopen();
}

int
log_reopen(void)
{
    int fd;

    if (log_path[0] == '\0') {
        return 0;
    }
    fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    if (log_fd != STDERR_FILENO) {
        /* dup2 swaps atomically, so a concurrent writer never sees a closed fd */
        dup2(fd, log_fd);
        close(fd);
    } else {
        log_fd = fd;
    }
    return 0;
}

void
log_write(int level, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int len;
    va_list ap;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "[%Y-%m-%d %H:%M:%S", &tm);
    len = snprintf(line + n, sizeof(line) - n, ".%03ld] %s ", (long)tv.tv_usec / 1000,
                   log_level_names[level < 0              ? 0
                                   : level > KT_LOG_PVERB ? KT_LOG_PVERB
                                                          : level]);
    n += (size_t)len;
    va_start(ap, fmt);
    len = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (len < 0) {
        len = 0;
    }
    n += (size_t)len;
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (write(log_fd, line, n) < 0) {
        /* nowhere left to report it */
    }
}
