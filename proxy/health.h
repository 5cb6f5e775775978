/*
 * proxy/health.h - whether a server may be sent client traffic: the TKO
 * ("technical knockout") state machine of mcrouter, shared by every worker
 * thread through atomics, and the probe backoff schedule.
 *
 *            server_failure_limit soft failures in a row
 *   UP  -----------------------------------------------> SOFT_TKO
 *    |  \  one hard failure (refused, reset)                |
 *    |   `----------------------------------------> HARD_TKO |
 *    ^                                                |     |
 *    `------------- a probe answered -----------------+-----'
 *
 * A pool refuses to mark a server TKO when that would put more than
 * max_tko_share of its servers out at once: it fails open, and the server
 * keeps its traffic. Only the worker whose failure marked a server probes
 * it, so exactly one probe runs per TKO server.
 *
 * No libuv and no I/O here: the unit tests drive it directly.
 */
#ifndef KT_PROXY_HEALTH_H
#define KT_PROXY_HEALTH_H

#include <stdint.h>

enum health_state { HEALTH_UP = 0, HEALTH_SOFT_TKO = 1, HEALTH_HARD_TKO = 2 };

/* How bad a failure is: a timeout or error counts, a refusal marks at once. */
enum health_fault { HEALTH_FAULT_SOFT, HEALTH_FAULT_HARD };

/* What a failure did. */
enum health_event {
    HEALTH_COUNTED,           /* one more failure in a row; still UP */
    HEALTH_MARKED,            /* this call marked the server TKO: the caller probes it */
    HEALTH_FAIL_OPEN,         /* it should be TKO, but its pool is at max_tko_share */
    HEALTH_FAIL_OPEN_ENTERED, /* the same, and the pool was not failing open before */
    HEALTH_ALREADY,           /* it was TKO already */
};

/* One server's health: shared by the workers, written with atomics. */
struct health {
    uint32_t state; /* enum health_state */
    uint32_t nfail; /* consecutive failures */
};

/* One pool's: how many of its servers are TKO, and when that last changed. */
struct health_pool {
    uint32_t ntko;      /* servers TKO now */
    uint32_t max_tko;   /* at most this many: floor(max_tko_share * nservers) */
    uint32_t gen;       /* changes with every transition (rings rebuilt on it) */
    uint32_t fail_open; /* 1 while a TKO is being refused */
};

/* <share> of <nservers>, rounded down: how many may be TKO at once. */
uint32_t health_max_tko(double share, uint32_t nservers);

static inline enum health_state
health_state(const struct health *h)
{
    return (enum health_state)__atomic_load_n(&h->state, __ATOMIC_RELAXED);
}

static inline int
health_is_tko(const struct health *h)
{
    return health_state(h) != HEALTH_UP;
}

static inline uint32_t
health_gen(const struct health_pool *hp)
{
    return __atomic_load_n(&hp->gen, __ATOMIC_ACQUIRE);
}

/*
 * A request to the server failed with <fault>; <limit> soft failures in a
 * row mark it (0 or 1: the first). Any thread.
 */
enum health_event health_failed(struct health *h, struct health_pool *hp, enum health_fault fault,
                                uint32_t limit);

/* The server answered a request: its run of failures ends. Cheap when there was none. */
static inline void
health_answered(struct health *h)
{
    if (__atomic_load_n(&h->nfail, __ATOMIC_RELAXED) != 0) {
        __atomic_store_n(&h->nfail, 0, __ATOMIC_RELAXED);
    }
}

/* A probe was answered: back UP. Returns 1 when this call brought it back. */
int health_probe_ok(struct health *h, struct health_pool *hp);

/*
 * The delay before the probe after one that took <prev_ms> (0: the first,
 * which waits <initial_ms>): x1.5, plus <rnd>-driven jitter of 0 .. 25%,
 * never above <cap_ms> (nor below <initial_ms>). <rnd> is any random number.
 */
uint64_t health_backoff(uint64_t prev_ms, uint64_t initial_ms, uint64_t cap_ms, uint32_t rnd);

#endif
