/*
 * proxy/health.c - the TKO state machine and the probe backoff (health.h).
 * Every field is read and written with atomics: any worker may record a
 * failure of any server, and a compare-and-swap decides which one marks it.
 */
#include "config.h"

#include "proxy/health.h"

/* jitter: up to 1/JITTER_DIV of the delay is added at random */
#define HEALTH_JITTER_DIV 4

uint32_t
health_max_tko(double share, uint32_t nservers)
{
    double n = share * (double)nservers;

    /* a share just under a whole number of servers still means that number */
    return n <= 0 ? 0 : (uint32_t)(n + 1e-9);
}

/* Take one of the pool's TKO places; 0 when it has none left. */
static int
health_take_place(struct health_pool *hp)
{
    uint32_t n = __atomic_load_n(&hp->ntko, __ATOMIC_RELAXED);

    do {
        if (n >= hp->max_tko) {
            return 0;
        }
    } while (
        !__atomic_compare_exchange_n(&hp->ntko, &n, n + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    return 1;
}

enum health_event
health_failed(struct health *h, struct health_pool *hp, enum health_fault fault, uint32_t limit)
{
    uint32_t up = HEALTH_UP, to = fault == HEALTH_FAULT_HARD ? HEALTH_HARD_TKO : HEALTH_SOFT_TKO;
    uint32_t nfail = __atomic_add_fetch(&h->nfail, 1, __ATOMIC_RELAXED);
    uint32_t soft = HEALTH_SOFT_TKO;

    if (health_is_tko(h)) {
        if (fault == HEALTH_FAULT_HARD) {
            /* a refusal while soft TKO: only a probe's answer brings it back either way */
            __atomic_compare_exchange_n(&h->state, &soft, HEALTH_HARD_TKO, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED);
        }
        return HEALTH_ALREADY;
    }
    if (fault == HEALTH_FAULT_SOFT && nfail < limit) {
        return HEALTH_COUNTED;
    }
    if (!health_take_place(hp)) {
        if (health_is_tko(h)) {
            return HEALTH_ALREADY; /* another worker took the last place for this very server */
        }
        if (__atomic_exchange_n(&hp->fail_open, 1, __ATOMIC_RELAXED) == 0) {
            return HEALTH_FAIL_OPEN_ENTERED;
        }
        return HEALTH_FAIL_OPEN;
    }
    if (!__atomic_compare_exchange_n(&h->state, &up, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        /* another worker marked it first */
        __atomic_sub_fetch(&hp->ntko, 1, __ATOMIC_RELAXED);
        return HEALTH_ALREADY;
    }
    __atomic_add_fetch(&hp->gen, 1, __ATOMIC_RELEASE);
    return HEALTH_MARKED;
}

int
health_probe_ok(struct health *h, struct health_pool *hp)
{
    uint32_t was = __atomic_exchange_n(&h->state, HEALTH_UP, __ATOMIC_ACQ_REL);

    __atomic_store_n(&h->nfail, 0, __ATOMIC_RELAXED);
    if (was == HEALTH_UP) {
        return 0;
    }
    __atomic_sub_fetch(&hp->ntko, 1, __ATOMIC_RELAXED);
    /* a place is free again: the next server to fail may be marked */
    __atomic_store_n(&hp->fail_open, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&hp->gen, 1, __ATOMIC_RELEASE);
    return 1;
}

uint64_t
health_backoff(uint64_t prev_ms, uint64_t initial_ms, uint64_t cap_ms, uint32_t rnd)
{
    uint64_t next, jitter;

    if (initial_ms == 0) {
        initial_ms = 1;
    }
    if (cap_ms < initial_ms) {
        cap_ms = initial_ms;
    }
    if (prev_ms == 0) {
        return initial_ms;
    }
    next = prev_ms + (prev_ms > 1 ? prev_ms / 2 : 1);
    jitter = next / HEALTH_JITTER_DIV;
    if (jitter > 0) {
        next += rnd % (jitter + 1);
    }
    if (next < initial_ms) {
        next = initial_ms;
    }
    return next > cap_ms ? cap_ms : next;
}
