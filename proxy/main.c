/*
 * proxy/main.c - command line (nutcracker's flags, plus -T for threads),
 * config test, daemonising and the pid file; then the instance runs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "proxy/instance.h"
#include "proxy/stats.h"
#include "proxy/topology.h"

#define MAIN_THREADS_MAX 1024

static const struct option main_long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"test-conf", no_argument, NULL, 't'},
    {"daemonize", no_argument, NULL, 'd'},
    {"describe-stats", no_argument, NULL, 'D'},
    {"verbose", required_argument, NULL, 'v'},
    {"output", required_argument, NULL, 'o'},
    {"conf-file", required_argument, NULL, 'c'},
    {"stats-port", required_argument, NULL, 's'},
    {"stats-interval", required_argument, NULL, 'i'},
    {"stats-addr", required_argument, NULL, 'a'},
    {"pid-file", required_argument, NULL, 'p'},
    {"mbuf-size", required_argument, NULL, 'm'},
    {"threads", required_argument, NULL, 'T'},
    {NULL, 0, NULL, 0},
};

static void
main_usage(FILE *f)
{
    fprintf(f,
            "Usage: ketch [-?hVdDt] [-v verbosity level] [-o output file]\n"
            "             [-c conf file] [-s stats port] [-a stats addr]\n"
            "             [-i stats interval] [-p pid file] [-m mbuf size] [-T threads]\n"
            "\n"
            "Options:\n"
            "  -h, --help             : this help\n"
            "  -V, --version          : show version and exit\n"
            "  -t, --test-conf        : test configuration for syntax errors and exit\n"
            "  -d, --daemonize        : run as a daemon\n"
            "  -D, --describe-stats   : print stats description and exit\n"
            "  -v, --verbose=N        : set logging level (default: %d, min: %d, max: %d)\n"
            "  -o, --output=S         : set logging file (default: stderr)\n"
            "  -c, --conf-file=S      : set configuration file (default: %s)\n"
            "  -s, --stats-port=N     : set stats monitoring port (default: %d)\n"
            "  -a, --stats-addr=S     : set stats monitoring ip (default: %s)\n"
            "  -i, --stats-interval=N : set stats aggregation interval in msec (default: %d)\n"
            "  -p, --pid-file=S       : set pid file (default: off)\n"
            "  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: %d bytes)\n"
            "  -T, --threads=N        : set worker threads (default: online cores)\n",
            KT_LOG_NOTICE, KT_LOG_EMERG, KT_LOG_PVERB, INST_DEFAULT_CONF, INST_DEFAULT_STATS_PORT,
            INST_DEFAULT_STATS_ADDR, INST_DEFAULT_STATS_INTERVAL, BUF_CHUNK_SIZE_DEFAULT);
}

static int
main_int_arg(const char *s, long min, long max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parse argv into <opt>. Returns -1 to go on, else the exit status. */
static int
main_options(int argc, char **argv, struct options *opt, int *describe)
{
    int c;

    while ((c = getopt_long(argc, argv, "hVtdDv:o:c:s:i:a:p:m:T:", main_long_options, NULL)) !=
           -1) {
        int bad = 0;

        switch (c) {
        case 'h':
            main_usage(stdout);
            return 0;
        case 'V':
            printf("This is ketch-%s\n", PACKAGE_VERSION);
            return 0;
        case 't':
            opt->test_conf = 1;
            break;
        case 'd':
            opt->daemonize = 1;
            break;
        case 'D':
            *describe = 1;
            break;
        case 'v':
            bad = main_int_arg(optarg, KT_LOG_EMERG, KT_LOG_PVERB, &opt->log_level);
            break;
        case 'o':
            opt->log_file = optarg;
            break;
        case 'c':
            opt->conf_file = optarg;
            break;
        case 's':
            bad = main_int_arg(optarg, 1, 65535, &opt->stats_port);
            break;
        case 'i':
            bad = main_int_arg(optarg, 1, 1000000000, &opt->stats_interval_ms);
            break;
        case 'a':
            opt->stats_addr = optarg;
            break;
        case 'p':
            opt->pid_file = optarg;
            break;
        case 'm':
            bad = main_int_arg(optarg, BUF_CHUNK_SIZE_MIN, BUF_CHUNK_SIZE_MAX, &opt->mbuf_size);
            break;
        case 'T':
            bad = main_int_arg(optarg, 1, MAIN_THREADS_MAX, &opt->threads);
            break;
        default:
            main_usage(stderr);
            return 1;
        }
        if (bad) {
            fprintf(stderr, "ketch: option -%c: invalid value '%s'\n", c, optarg);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ketch: unexpected argument '%s'\n", argv[optind]);
        main_usage(stderr);
        return 1;
    }
    return -1;
}

static int
main_daemonize(void)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0) {
        return -errno;
    }
    if (pid > 0) {
        _exit(0);
    }
    if (setsid() < 0) {
        return -errno;
    }
    pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid > 0) {
        _exit(0);
    }
    if (chdir("/") != 0) {
        return -errno;
    }
    umask(0);
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    return 0;
}

static int
main_write_pid(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        return -errno;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return 0;
}

int
main(int argc, char **argv)
{
    static struct instance inst;
    struct options *opt = &inst.opt;
    struct kt_err err = {0};
    struct conf *conf = NULL;
    int describe = 0, rc;

    opt->conf_file = INST_DEFAULT_CONF;
    opt->stats_addr = INST_DEFAULT_STATS_ADDR;
    opt->stats_port = INST_DEFAULT_STATS_PORT;
    opt->stats_interval_ms = INST_DEFAULT_STATS_INTERVAL;
    opt->log_level = KT_LOG_NOTICE;
    opt->mbuf_size = BUF_CHUNK_SIZE_DEFAULT;
    rc = main_options(argc, argv, opt, &describe);
    if (rc >= 0) {
        return rc;
    }
    if (describe) {
        stats_describe();
        return 0;
    }
    rc = conf_read_file(opt->conf_file, &inst.conf_text, &inst.conf_len, &err);
    if (rc == 0) {
        rc = conf_load_buf(opt->conf_file, inst.conf_text, inst.conf_len, &conf, &err);
    }
    if (rc != 0) {
        for (size_t i = 0; i < err.nmsgs; i++) {
            fprintf(stderr, "%s\n", err.msgs[i]);
        }
        fprintf(stderr, "ketch: configuration file '%s' syntax is invalid\n", opt->conf_file);
        kt_err_clear(&err);
        return 1;
    }
    if (opt->test_conf) {
        printf("ketch: configuration file '%s' syntax is ok\n", opt->conf_file);
        conf_free(conf);
        return 0;
    }
    if (log_init(opt->log_level, opt->log_file) != 0) {
        fprintf(stderr, "ketch: cannot open log file '%s': %s\n", opt->log_file, strerror(errno));
        return 1;
    }
    inst.nworkers = (uint32_t)(opt->threads > 0          ? opt->threads
                               : conf->ketch.threads > 0 ? conf->ketch.threads
                                                         : (int)uv_available_parallelism());
    inst.boot_conf = conf;
    if (opt->daemonize && (rc = main_daemonize()) != 0) {
        fprintf(stderr, "ketch: cannot daemonize: %s\n", strerror(-rc));
        return 1;
    }
    if (opt->pid_file != NULL && (rc = main_write_pid(opt->pid_file)) != 0) {
        log_error("cannot write pid file '%s': %s", opt->pid_file, strerror(-rc));
        return 1;
    }
    return instance_run(&inst);
}
