/*
 * proxy/dual.h - two rings live during an expansion (DESIGN.md section 4).
 * While a pool has a previous ring, a key whose old server differs from
 * its new one is handled so that it keeps being found while it moves:
 *
 *   read:   new server; on a miss, the old server answers, and the key is
 *           copied forward in the background (memcached "mg t f v" then
 *           "add" with the remaining TTL; Redis DUMP, PTTL, RESTORE without
 *           REPLACE: a newer write on the new server is never clobbered)
 *   write:  the key is first copied forward if it is only on the old
 *           server (a modifying write must see it), deleted there, and then
 *           the write goes to the new server; a plain overwrite (memcached
 *           set/add/replace/cas, Redis SET/SETEX/PSETEX) only deletes there
 *   delete: on the old server, then on the new one
 *
 * The steps are the proxy's own requests, one after the other; the
 * client's request waits for them and keeps its place in the reply order.
 */
#ifndef KT_PROXY_DUAL_H
#define KT_PROXY_DUAL_H

#include <stdint.h>

struct req;
struct frag;

enum dual_mode {
    DUAL_COPY,    /* copy forward from old to new, nobody waits */
    DUAL_MIGRATE, /* copy forward, delete on old, then send the request to new */
    DUAL_DELETE,  /* delete on old, then send the request to new */
};

/*
 * The old server of <req>'s single key when its pool is in an expansion
 * and that server differs from <sgidx>, its new one; else ROUTE_NONE.
 */
uint32_t dual_old(struct req *req, uint32_t sgidx, const char *key, uint32_t len);

/*
 * Start <mode> for key <key> from server <old> to <dst>. For MIGRATE and
 * DELETE <req> waits and is sent to <dst> when the steps are done
 * (<send> does it); for COPY <req> is NULL.
 */
void dual_start(struct worker *w, uint32_t pool, enum dual_mode mode, struct req *req,
                const char *key, uint32_t klen, uint32_t old, uint32_t dst,
                void (*send)(struct req *req, uint32_t dst));

/*
 * Frag <frag> of a read (req->dual) was answered by the new ring: when it missed keys
 * whose old server differs, ask the old servers too (and copy hits
 * forward). Returns 1 when the fragment was sent on (it is not done).
 */
int dual_reply(struct frag *frag);

#endif
