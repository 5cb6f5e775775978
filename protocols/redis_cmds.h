/*
 * protocols/redis_cmds.h - the Redis command table (redis_cmds.def): for
 * every command its arity, where its keys are, its class and what ketch
 * does with it, so that routing code never matches command names.
 */
#ifndef KT_PROTOCOLS_REDIS_CMDS_H
#define KT_PROTOCOLS_REDIS_CMDS_H

#include <stddef.h>
#include <stdint.h>

enum redis_class { REDIS_CLASS_READ, REDIS_CLASS_WRITE, REDIS_CLASS_DELETE, REDIS_CLASS_ADMIN };

#define RC_SPLIT       0x01 /* keys split by server, replies merged in key order */
#define RC_SAME        0x02 /* several keys that must hash to one server */
#define RC_LOCAL       0x04 /* answered by ketch itself */
#define RC_ANY         0x08 /* no key: sent to any one server */
#define RC_UNSUPPORTED 0x10 /* refused at once */

enum redis_cmd {
#define REDIS_CMD(stem, name, arity, first, last, step, numkeys, class, flags) REDIS_CMD_##stem,
#include "protocols/redis_cmds.def"
#undef REDIS_CMD
    REDIS_NCMDS
};

struct redis_cmd_desc {
    const char *name; /* lower case */
    uint8_t len;
    int32_t arity; /* n exactly, -n at least n (counting the name) */
    int32_t first; /* first fixed key, 0 = none */
    int32_t last;  /* last fixed key; negative counts from the end */
    int32_t step;
    int32_t numkeys; /* argument that counts the keys after it, 0 = none */
    enum redis_class class;
    uint32_t flags; /* RC_* */
};

/* The row of <cmd> (below REDIS_NCMDS). */
const struct redis_cmd_desc *redis_cmd(enum redis_cmd cmd);
/* The command named by the <len> bytes at <name>, any case, or -1. */
int redis_cmd_lookup(const uint8_t *name, size_t len);
/* Whether <argc> arguments (counting the name) satisfy the arity of <cmd>. */
int redis_cmd_arity_ok(enum redis_cmd cmd, uint32_t argc);

#endif
