/*
 * proxy/instance.h - the process: command-line options, the current
 * topology, the worker threads and the control loop (signals, stats port).
 */
#ifndef KT_PROXY_INSTANCE_H
#define KT_PROXY_INSTANCE_H

#include <stdint.h>
#include <uv.h>

struct topology;
struct worker;

/* nutcracker's command-line defaults */
#define INST_DEFAULT_CONF           "conf/nutcracker.yml"
#define INST_DEFAULT_STATS_PORT     22222
#define INST_DEFAULT_STATS_ADDR     "0.0.0.0"
#define INST_DEFAULT_STATS_INTERVAL 30000

struct options {
    const char *conf_file;  /* -c */
    const char *log_file;   /* -o */
    const char *pid_file;   /* -p */
    const char *stats_addr; /* -a */
    int stats_port;         /* -s */
    int stats_interval_ms;  /* -i: accepted; ketch sums the shards on every read */
    int log_level;          /* -v */
    int mbuf_size;          /* -m: chunk size */
    int threads;            /* -T: 0 = online cores */
    int daemonize;          /* -d */
    int test_conf;          /* -t */
};

struct instance {
    struct options opt;
    struct topology *topo;  /* current snapshot (one ref) */
    struct worker *workers; /* nworkers */
    uint32_t nworkers;
    uv_loop_t loop; /* control loop */
    uv_tcp_t stats_server;
    uv_signal_t sig[6];
    int64_t start_time; /* seconds since the epoch */
    char hostname[256];
};

/* Run ketch with <opt> until a terminating signal. Returns the exit status. */
int instance_run(struct instance *inst);

#endif
