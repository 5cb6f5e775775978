/*
 * protocols/redis_cmds.c - the command table and its lookup: a hash table
 * of row numbers, built once on first use.
 */
#include "config.h"

#include <pthread.h>
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

/* Open addressing over the lower-cased name: about one probe per lookup. */
#define REDIS_CMD_SLOTS 1024

static int16_t redis_cmd_slots[REDIS_CMD_SLOTS];
static pthread_once_t redis_cmd_once = PTHREAD_ONCE_INIT;

/* ASCII lower case by table (filled by redis_cmd_index): one load per byte */
static uint8_t redis_lower_tab[256];

static inline uint8_t
redis_lower(uint8_t ch)
{
    return redis_lower_tab[ch];
}

/* Hash of a name from its length and its first, second and last bytes, any case. */
static inline uint32_t
redis_cmd_hash(const uint8_t *name, size_t len)
{
    uint32_t h = (uint32_t)len;

    h = h * 31 + redis_lower(name[0]);
    h = h * 31 + redis_lower(name[len > 1]);
    return h * 31 + redis_lower(name[len - 1]);
}

static void
redis_cmd_index(void)
{
    for (int ch = 0; ch < 256; ch++) {
        redis_lower_tab[ch] = (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
    }
    for (int i = 0; i < REDIS_CMD_SLOTS; i++) {
        redis_cmd_slots[i] = -1;
    }
    for (int c = 0; c < REDIS_NCMDS; c++) {
        uint32_t slot = redis_cmd_hash((const uint8_t *)redis_cmds[c].name, redis_cmds[c].len);

        while (redis_cmd_slots[slot % REDIS_CMD_SLOTS] >= 0) {
            slot++;
        }
        redis_cmd_slots[slot % REDIS_CMD_SLOTS] = (int16_t)c;
    }
}

int
redis_cmd_lookup(const uint8_t *name, size_t len)
{
    uint32_t h;
    int c;

    if (len == 0 || len > REDIS_CMD_NAME_MAX) {
        return -1;
    }
    pthread_once(&redis_cmd_once, redis_cmd_index);
    h = redis_cmd_hash(name, len);
    while ((c = redis_cmd_slots[h % REDIS_CMD_SLOTS]) >= 0) {
        const struct redis_cmd_desc *d = &redis_cmds[c];
        size_t i = 0;

        if (d->len == len) {
            while (i < len && (uint8_t)d->name[i] == redis_lower(name[i])) {
                i++;
            }
            if (i == len) {
                return c;
            }
        }
        h++;
    }
    return -1;
}

int
redis_cmd_arity_ok(enum redis_cmd cmd, uint32_t argc)
{
    int32_t arity = redis_cmds[cmd].arity;

    return arity >= 0 ? argc == (uint32_t)arity : argc >= (uint32_t)-arity;
}
