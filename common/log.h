/*
 * common/log.h - the diagnostic logger: levels checked before any argument
 * is formatted, one write(2) per line so threads never interleave, a log
 * file that SIGHUP reopens. State transitions only; never keys or values
 * above debug. The only mutable global besides the allocator.
 */
#ifndef KT_COMMON_LOG_H
#define KT_COMMON_LOG_H

enum kt_log_level {
    KT_LOG_EMERG = 0, /* nutcracker's -v numbering: 0 .. 11 */
    KT_LOG_ALERT = 1,
    KT_LOG_CRIT = 2,
    KT_LOG_ERR = 3,
    KT_LOG_WARN = 4,
    KT_LOG_NOTICE = 5, /* nutcracker's default */
    KT_LOG_INFO = 6,
    KT_LOG_DEBUG = 7,
    KT_LOG_VERB = 8,
    KT_LOG_VVERB = 9,
    KT_LOG_VVVERB = 10,
    KT_LOG_PVERB = 11
};

extern int kt_log_level_current;

/* Log to <path> (NULL or "" = stderr) at <level>. Returns 0 or -errno. Main thread, at start. */
int log_init(int level, const char *path);
/* Reopen the log file (SIGHUP), so log rotation works. Returns 0 or -errno. */
int log_reopen(void);
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define KT_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= kt_log_level_current) {                                                     \
            log_write((level), __VA_ARGS__);                                                       \
        }                                                                                          \
    } while (0)

#define log_error(...)  KT_LOG(KT_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   KT_LOG(KT_LOG_WARN, __VA_ARGS__)
#define log_notice(...) KT_LOG(KT_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   KT_LOG(KT_LOG_INFO, __VA_ARGS__)
#ifdef KT_DEBUG
#define log_debug(...) KT_LOG(KT_LOG_DEBUG, __VA_ARGS__)
#else
#define log_debug(...) ((void)0)
#endif

#endif
