/*
 * protocols/redis_cmds.c - the command table and its lookup: binary search
 * over the rows, which redis_cmds.def keeps sorted by name.
 */
#include "config.h"

#include <string.h>

#include "protocols/redis_cmds.h"

/* no Redis command name is longer; a longer word is not a command */
#define REDIS_CMD_NAME_MAX 32

static const struct redis_cmd_desc redis_cmds[] = {
#define REDIS_CMD(stem, name, arity, first, last, step, numkeys, class, flags)                     \
    {name, sizeof(name) - 1, arity, first, last, step, numkeys, REDIS_CLASS_##class, flags},
#include "protocols/redis_cmds.def"
#undef REDIS_CMD
};

const struct redis_cmd_desc *
redis_cmd(enum redis_cmd cmd)
{
    return &redis_cmds[cmd];
}

/* Compare lower-cased <a> (<alen> bytes) with a row's name, as strcmp would order them. */
static int
redis_cmd_cmp(const char *a, size_t alen, const struct redis_cmd_desc *d)
{
    size_t n = alen < d->len ? alen : d->len;

    for (size_t i = 0; i < n; i++) {
        if (a[i] != d->name[i]) {
            return (unsigned char)a[i] < (unsigned char)d->name[i] ? -1 : 1;
        }
    }
    return alen < d->len ? -1 : alen > d->len ? 1 : 0;
}

int
redis_cmd_lookup(const uint8_t *name, size_t len)
{
    char lower[REDIS_CMD_NAME_MAX];
    int lo = 0, hi = REDIS_NCMDS - 1;

    if (len == 0 || len > sizeof(lower)) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = name[i];

        lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int cmp = redis_cmd_cmp(lower, len, &redis_cmds[mid]);

        if (cmp == 0) {
            return mid;
        }
        if (cmp < 0) {
            hi = mid - 1;
        } else {
            lo = mid + 1;
        }
    }
    return -1;
}

int
redis_cmd_arity_ok(enum redis_cmd cmd, uint32_t argc)
{
    int32_t arity = redis_cmds[cmd].arity;

    return arity >= 0 ? argc == (uint32_t)arity : argc >= (uint32_t)-arity;
}
