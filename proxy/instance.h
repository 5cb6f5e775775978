/*
 * proxy/instance.h - the process: command-line options, the current
 * topology, the worker threads and the control loop (signals, stats port).
 */
#ifndef KT_PROXY_INSTANCE_H
#define KT_PROXY_INSTANCE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/topology.h"

struct conf;
struct membership;
struct topology;
struct worker;
struct zk_snapshot;
struct zk_watch;

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
    struct topology *topo; /* current snapshot (one ref) */
    struct registry reg;   /* slots of pools and servers, across snapshots */
    uint64_t generation;   /* of the current snapshot */
    char *conf_text;       /* the config file as last loaded whole (owned) */
    size_t conf_len;
    struct conf *boot_conf;        /* the config at start: which pools follow ZooKeeper (owned) */
    struct membership *membership; /* last good, of the pools that follow ZooKeeper (owned) */
    struct zk_watch *zk;           /* NULL without a zookeeper: section */
    char *cache_file;              /* where the membership is kept (owned) */
    int cache_failed;              /* its last write failed (logged once) */
    char *last_bad;                /* the bad payload last logged (owned) */
    uv_fs_poll_t conf_watch;       /* the config file, for a change */
    struct worker *workers;        /* nworkers */
    uint32_t nworkers;
    uv_loop_t loop; /* control loop */
    uv_tcp_t stats_server;
    uv_signal_t sig[6];
    int64_t start_time; /* seconds since the epoch */
    char hostname[256];
};

/* Run ketch with <opt> until a terminating signal. Returns the exit status. */
int instance_run(struct instance *inst);

/* proxy/control.c: build a snapshot from the config text and membership, and publish it. */
int control_rebuild(struct instance *inst, const char *why);
/* Read the config file again; a file that does not load whole changes nothing. */
void control_reload(struct instance *inst, const char *why);
/* Reload whenever the config file changes. */
void control_watch_file(struct instance *inst);
/* Read the membership cache file, if there is one. */
void control_load_membership(struct instance *inst);
/* Follow ZooKeeper (waits briefly for a first snapshot). */
void control_start_zk(struct instance *inst);
/* A snapshot from ZooKeeper: check it, keep it, publish it. */
void control_on_snapshot(void *arg, struct zk_snapshot *snap);

#endif
