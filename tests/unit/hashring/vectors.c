/*
 * tests/unit/hashring/vectors.c - parse the nutcracker golden vector files
 * (line-oriented: hash, distribution, hash_tag, node, hashes, key). Test
 * code only; aborts on out-of-memory like the rest of ketch.
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "tests/unit/hashring/vectors.h"

/* Longest line: "key", a 250-byte key escaped to 750, 12 hex columns. */
#define VEC_LINE_MAX 4096

static int vec_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
vec_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int
vec_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Undo the generator's %XX escaping of <text> into a new buffer; -1 if malformed. */
static int
vec_unescape(const char *text, char **out, size_t *outlen)
{
    size_t n = strlen(text), i, j = 0;
    char *buf = kt_malloc(n + 1);

    for (i = 0; i < n; i++) {
        if (text[i] == '%') {
            int hi = i + 2 < n ? vec_hexval(text[i + 1]) : -1;
            int lo = hi >= 0 ? vec_hexval(text[i + 2]) : -1;

            if (lo < 0) {
                kt_free(buf);
                return -1;
            }
            buf[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            buf[j++] = text[i];
        }
    }
    buf[j] = '\0';
    *out = buf;
    *outlen = j;
    return 0;
}

static void
vec_path(const char *name, char *path, size_t len)
{
    const char *dir = getenv("KETCH_SRCDIR");

    if (dir == NULL || *dir == '\0') {
        dir = getenv("srcdir");
    }
    if (dir == NULL || *dir == '\0') {
        dir = ".";
    }
    snprintf(path, len, "%s/tests/vectors/%s", dir, name);
}

/* The next space-separated word of <*s>, NUL-terminated in place; NULL at the end. */
static char *
vec_word(char **s)
{
    char *w = *s;

    while (*w == ' ') {
        w++;
    }
    if (*w == '\0') {
        return NULL;
    }
    *s = w + strcspn(w, " ");
    if (**s != '\0') {
        *(*s)++ = '\0';
    }
    return w;
}

static int
vec_parse_key(struct vec_file *vf, char *rest, size_t lineno, char *err, size_t errlen)
{
    struct vec_key *k;
    char *w;
    uint32_t c;

    vf->keys = kt_realloc(vf->keys, (vf->nkeys + 1) * sizeof(*vf->keys));
    k = &vf->keys[vf->nkeys];
    memset(k, 0, sizeof(*k));
    if (vf->ncolumns == 0) {
        /* ring file: key <index> <escaped> */
        w = vec_word(&rest);
        if (w == NULL) {
            return vec_fail(err, errlen, "%s:%zu: key without index", vf->path, lineno);
        }
        k->index = (uint32_t)strtoul(w, NULL, 10);
        if (k->index >= vf->nnodes) {
            return vec_fail(err, errlen, "%s:%zu: index %s out of range", vf->path, lineno, w);
        }
    }
    w = vec_word(&rest);
    if (w == NULL || vec_unescape(w, &k->key, &k->len) != 0) {
        return vec_fail(err, errlen, "%s:%zu: bad key", vf->path, lineno);
    }
    k->text = kt_strdup(w);
    vf->nkeys++;
    for (c = 0; c < vf->ncolumns; c++) {
        w = vec_word(&rest);
        if (w == NULL) {
            return vec_fail(err, errlen, "%s:%zu: %u values, want %u", vf->path, lineno, c,
                            vf->ncolumns);
        }
        k->values[c] = (uint32_t)strtoul(w, NULL, 16);
    }
    return 0;
}

static int
vec_parse_line(struct vec_file *vf, char *line, size_t lineno, char *err, size_t errlen)
{
    char *rest = line, *cmd = vec_word(&rest), *w;

    if (cmd == NULL || cmd[0] == '#') {
        return 0;
    }
    if (strcmp(cmd, "key") == 0) {
        return vec_parse_key(vf, rest, lineno, err, errlen);
    }
    if (strcmp(cmd, "hash") == 0 || strcmp(cmd, "distribution") == 0) {
        char *dst = cmd[0] == 'h' ? vf->hash : vf->dist;

        w = vec_word(&rest);
        if (w == NULL || strlen(w) >= sizeof(vf->hash)) {
            return vec_fail(err, errlen, "%s:%zu: bad %s", vf->path, lineno, cmd);
        }
        strcpy(dst, w);
        return 0;
    }
    if (strcmp(cmd, "hash_tag") == 0) {
        w = vec_word(&rest);
        if (w == NULL || strlen(w) != 2) {
            return vec_fail(err, errlen, "%s:%zu: bad hash_tag", vf->path, lineno);
        }
        memcpy(vf->tag, w, 2);
        vf->has_tag = 1;
        return 0;
    }
    if (strcmp(cmd, "node") == 0) {
        char *idx = vec_word(&rest), *weight = vec_word(&rest), *name = vec_word(&rest);
        struct ring_node *n = &vf->nodes[vf->nnodes];

        if (name == NULL || vf->nnodes >= VEC_MAX_NODES || strtoul(idx, NULL, 10) != vf->nnodes) {
            return vec_fail(err, errlen, "%s:%zu: bad node", vf->path, lineno);
        }
        n->name = kt_strdup(name);
        n->name_len = strlen(name);
        n->weight = (uint32_t)strtoul(weight, NULL, 10);
        n->id = vf->nnodes++;
        return 0;
    }
    if (strcmp(cmd, "hashes") == 0) {
        while ((w = vec_word(&rest)) != NULL) {
            int t = hash_from_name(w, strlen(w));

            if (t < 0 || vf->ncolumns >= HASH_NTYPES) {
                return vec_fail(err, errlen, "%s:%zu: unknown hash %s", vf->path, lineno, w);
            }
            vf->columns[vf->ncolumns++] = t;
        }
        return 0;
    }
    return vec_fail(err, errlen, "%s:%zu: unknown line '%s'", vf->path, lineno, cmd);
}

int
vec_load(const char *name, struct vec_file *vf, char *err, size_t errlen)
{
    char line[VEC_LINE_MAX];
    size_t lineno = 0;
    int rc = 0;
    FILE *f;

    memset(vf, 0, sizeof(*vf));
    vec_path(name, vf->path, sizeof(vf->path));
    f = fopen(vf->path, "r");
    if (f == NULL) {
        return vec_fail(err, errlen, "%s: cannot open (set KETCH_SRCDIR)", vf->path);
    }
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        rc = vec_parse_line(vf, line, lineno, err, errlen);
    }
    fclose(f);
    if (rc == 0 && vf->nkeys == 0) {
        rc = vec_fail(err, errlen, "%s: no keys", vf->path);
    }
    return rc;
}

void
vec_free(struct vec_file *vf)
{
    size_t i;

    for (i = 0; i < vf->nnodes; i++) {
        kt_free((char *)vf->nodes[i].name);
    }
    for (i = 0; i < vf->nkeys; i++) {
        kt_free(vf->keys[i].key);
        kt_free(vf->keys[i].text);
    }
    kt_free(vf->keys);
    memset(vf, 0, sizeof(*vf));
}

size_t
vec_check_ring(const char *name)
{
    struct ring_node reversed[VEC_MAX_NODES];
    struct ring *rings[2];
    struct vec_file vf;
    char err[256];
    size_t k;
    int type, dist, r;
    uint32_t i;

    ck_assert_msg(vec_load(name, &vf, err, sizeof(err)) == 0, "%s", err);
    type = hash_from_name(vf.hash, strlen(vf.hash));
    dist = ring_dist_from_name(vf.dist, strlen(vf.dist));
    ck_assert_msg(type >= 0 && dist >= 0, "%s: hash %s, distribution %s", vf.path, vf.hash,
                  vf.dist);
    ck_assert_uint_ge(vf.nnodes, 2);
    for (i = 0; i < vf.nnodes; i++) {
        reversed[i] = vf.nodes[vf.nnodes - 1 - i];
    }
    rings[0] = ring_build(dist, vf.nodes, vf.nnodes);
    rings[1] = ring_build(dist, reversed, vf.nnodes);

    for (k = 0; k < vf.nkeys; k++) {
        const struct vec_key *key = &vf.keys[k];
        const char *part;
        size_t partlen;
        uint32_t hash;

        hash_tag_extract(vf.has_tag ? vf.tag : NULL, key->key, key->len, &part, &partlen);
        hash = hash_get(type)(part, partlen);
        for (r = 0; r < 2; r++) {
            uint32_t got = ring_lookup(rings[r], hash);

            ck_assert_msg(got == key->index, "%s: key %s -> node %u, nutcracker chose %u (%s)",
                          name, key->text, got, key->index, r ? "nodes reversed" : "config order");
        }
    }
    ring_free(rings[0]);
    ring_free(rings[1]);
    k = vf.nkeys;
    vec_free(&vf);
    return k;
}
