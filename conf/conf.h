/*
 * conf/conf.h - the configuration: a nutcracker YAML file (every nutcracker
 * key with its nutcracker meaning and default) plus ketch's own extensions,
 * loaded into an immutable struct conf. libyaml events -> node tree with
 * file:line:column -> schema -> validation. Every error is collected.
 * Depends on common/ and hashring/ (for hash and distribution names) only.
 */
#ifndef KT_CONF_CONF_H
#define KT_CONF_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kt_err;

/* nutcracker's defaults (src/nc_conf.h) */
#define CONF_DEFAULT_HASH                 HASH_FNV1A_64
#define CONF_DEFAULT_DIST                 RING_KETAMA
#define CONF_DEFAULT_TIMEOUT_MS           (-1) /* wait forever */
#define CONF_DEFAULT_BACKLOG              512
#define CONF_DEFAULT_CLIENT_CONNECTIONS   0 /* unlimited */
#define CONF_DEFAULT_SERVER_CONNECTIONS   1
#define CONF_DEFAULT_SERVER_RETRY_MS      30000
#define CONF_DEFAULT_SERVER_FAILURE_LIMIT 2
/* ketch's failure handling (mcrouter's TKO defaults where it has one) */
#define CONF_DEFAULT_GUTTER_TTL_S        10    /* writes landing on a gutter live this long */
#define CONF_DEFAULT_MAX_TKO_SHARE       0.5   /* of a pool's servers, TKO at once */
#define CONF_DEFAULT_SERVER_RETRY_MAX_MS 60000 /* cap of the probe backoff */
/* ZooKeeper membership */
#define CONF_DEFAULT_MAX_REMOVAL_SHARE 0.5      /* of a pool's ring, removed by one snapshot */
#define CONF_DEFAULT_ZK_ROOT           "/ketch" /* where ketch's znodes live */
#define CONF_DEFAULT_ZK_SESSION_MS     10000
#define CONF_DEFAULT_ZK_DEBOUNCE_MS    200 /* a burst of znode changes makes one snapshot */
/* memcached's default item size maximum (-I 1m) */
#define CONF_DEFAULT_MAX_VALUE_SIZE (1024 * 1024)

/* A listen or server address: TCP host:port or a unix socket path. */
struct conf_addr {
    char *host;  /* hostname or IP literal, or the socket path (owned) */
    int port;    /* TCP port; 0 for a unix socket */
    int is_unix; /* 1 for a unix socket */
    mode_t perm; /* unix listen socket permissions, 0 = default */
};

struct conf_server {
    struct conf_addr addr; /* where the server is */
    uint32_t weight;       /* > 0 */
    char *name;            /* ketama identity (owned): the explicit name, else host when
                              port is 11211, else host:port, as written; a unix socket
                              as nutcracker has it, the path and its colon ("/a.sock:") */
    int named;             /* 1 when the config line gave an explicit name */
    char *text;            /* the config line as written, for messages (owned) */
};

enum conf_route_type { CONF_ROUTE_NONE, CONF_ROUTE_FAILOVER };

/* Where a pool's members come from. */
enum conf_servers_from { CONF_FROM_FILE, CONF_FROM_ZOOKEEPER };

/* A listening pool's route: pools tried in order (mcrouter's FailoverRoute). */
struct conf_route {
    enum conf_route_type type;
    char **children; /* pool names (owned) */
    size_t nchildren;
    int line; /* where "route:" is, for messages */
};

struct conf_pool {
    char *name;                      /* pool name: the top-level key (owned) */
    struct conf_addr listen;         /* listen address */
    int has_listen;                  /* 0 for a backend-only pool */
    int hash;                        /* enum hash_type */
    char hash_tag[2];                /* valid when has_hash_tag */
    int has_hash_tag;                /* 1 when hash_tag was given */
    int distribution;                /* enum ring_dist */
    int64_t timeout_ms;              /* connect + response; -1 = wait forever */
    int backlog;                     /* listen backlog */
    uint32_t client_connections;     /* 0 = unlimited */
    int redis;                       /* 1: RESP pool */
    char *redis_auth;                /* NULL when unset (owned) */
    int redis_db;                    /* >= 0 */
    int preconnect;                  /* connect to every server at start */
    int auto_eject_hosts;            /* ejected servers leave the ring */
    uint32_t server_connections;     /* per server (per worker thread in ketch) */
    int64_t server_retry_timeout_ms; /* how long an ejected server stays out */
    uint32_t server_failure_limit;   /* consecutive failures before ejection */
    int tcpkeepalive;                /* SO_KEEPALIVE on server connections */
    int reuseport;                   /* accepted for nutcracker compatibility */
    uint32_t max_value_size;         /* ketch: largest value a client may store */
    struct conf_server *servers;     /* nservers servers, in file order (owned) */
    size_t nservers;                 /* >= 1, or 0 when the pool has a route */
    /* ketch's failure handling */
    char *gutter;                        /* pool taking a failing server's keys, or NULL (owned) */
    uint32_t gutter_ttl_s;               /* TTL cap of writes landing on the gutter */
    double max_tko_share;                /* 0 .. 1: of the servers, TKO at once */
    int64_t server_retry_timeout_max_ms; /* cap of the probe backoff */
    struct conf_route route;             /* type ROUTE_NONE: its own servers (+ gutter) */
    /* membership */
    int servers_from;                 /* enum conf_servers_from */
    struct conf_server *prev_servers; /* previous_servers: the old ring of an expansion (owned) */
    size_t nprev;                     /* 0 = no expansion in progress */
    double max_removal_share;         /* 0 .. 1: of the ring, removed by one ZooKeeper snapshot */
};

/* ketch.zookeeper: where membership lives. */
struct conf_zk {
    char *hosts; /* "host:port,host:port"; NULL = no ZooKeeper (owned) */
    char *root;  /* path of ketch's tree (owned) */
    int session_timeout_ms;
    int debounce_ms;  /* wait for a burst of changes to end */
    char *cache_file; /* last good membership; NULL = none (owned) */
};

/* The reserved top-level section "ketch:" - process-wide settings. */
struct conf_ketch {
    int threads;       /* worker threads; 0 = not set (command line or online cores) */
    int watch_config;  /* reload when the file changes (default on) */
    struct conf_zk zk; /* zookeeper: */
};

struct conf {
    char *path;              /* file it was loaded from (owned) */
    struct conf_ketch ketch; /* process-wide settings */
    struct conf_pool *pools; /* npools pools in file order (owned) */
    size_t npools;
};

/*
 * Load and validate the YAML file at <path>. On success store a new conf in
 * <*out> and return 0. On failure return a negative errno, store NULL in
 * <*out> and add to <err> every problem found, each as
 * "<file>:<line>:<column>: <pool>: <message>" (or without a location when
 * the file cannot be read). Any thread; no global state.
 */
int conf_load_file(const char *path, struct conf **out, struct kt_err *err);
/* The same for <len> bytes of YAML at <buf>; <name> stands for the file in messages. */
int conf_load_buf(const char *name, const char *buf, size_t len, struct conf **out,
                  struct kt_err *err);
void conf_free(struct conf *conf);
/* Read the file at <path> into <*buf> (owned by the caller), <*len> bytes. */
int conf_read_file(const char *path, char **buf, size_t *len, struct kt_err *err);

/*
 * Parse one server line "host:port:weight [name]" as the servers: key
 * does, into <srv>; <what> names it in messages added to <err>.
 */
int conf_server_parse(const char *line, const char *what, struct conf_server *srv,
                      struct kt_err *err);
/* Free what <srv> owns and zero it. */
void conf_server_clear(struct conf_server *srv);
/* Free <n> servers at <servers> and the array itself. */
void conf_servers_free(struct conf_server *servers, size_t n);

/* The pool named <name>, or NULL. */
const struct conf_pool *conf_pool_find(const struct conf *conf, const char *name);

#endif
