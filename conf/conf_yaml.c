/*
 * conf/conf_yaml.c - libyaml events -> conf_node tree with line and column.
 * The first stage of config loading: syntax only, no meaning. Uses an
 * explicit stack (no recursion over untrusted input).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <yaml.h>

#include "common/alloc.h"
#include "common/err.h"
#include "conf/conf_node.h"

struct builder {
    const char *name;                             /* file name for messages */
    struct kt_err *err;                           /* where messages go */
    struct conf_node *root;                       /* the document's top node */
    struct conf_node *stack[CONF_NODE_MAX_DEPTH]; /* open sequences and mappings */
    int depth;                                    /* entries of stack */
    int ndocs;                                    /* documents seen */
    int failed;                                   /* a message was added */
};

static void __attribute__((format(printf, 3, 4)))
build_error(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kt_err_add(b->err, "%s:%zu:%zu: %s", b->name, mark.line + 1, mark.column + 1, msg);
    b->failed = 1;
}

/* Report libyaml's own error: the parser cannot go on after one. */
static void
parser_error(struct builder *b, const yaml_parser_t *parser)
{
    const char *problem = parser->problem != NULL ? parser->problem : "invalid YAML";

    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        kt_err_add(b->err, "%s: out of memory while parsing YAML", b->name);
        break;
    case YAML_READER_ERROR:
        if (parser->problem_value != -1) {
            kt_err_add(b->err, "%s: %s: #%X at byte %zu", b->name, problem,
                       (unsigned)parser->problem_value, parser->problem_offset);
        } else {
            kt_err_add(b->err, "%s: %s at byte %zu", b->name, problem, parser->problem_offset);
        }
        break;
    default:
        if (parser->context != NULL) {
            kt_err_add(b->err, "%s:%zu:%zu: %s (%s at line %zu, column %zu)", b->name,
                       parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem,
                       parser->context, parser->context_mark.line + 1,
                       parser->context_mark.column + 1);
        } else {
            kt_err_add(b->err, "%s:%zu:%zu: %s", b->name, parser->problem_mark.line + 1,
                       parser->problem_mark.column + 1, problem);
        }
        break;
    }
    b->failed = 1;
}

static struct conf_node *
node_new(enum conf_node_type type, const yaml_event_t *ev)
{
    struct conf_node *node = kt_calloc(1, sizeof(*node));

    node->type = type;
    node->line = (int)ev->start_mark.line + 1;
    node->col = (int)ev->start_mark.column + 1;
    node->col_off = -1;
    return node;
}

/* Grow to the next power of two when full, so appends stay amortised O(1). */
static void
node_append(struct conf_node *parent, struct conf_node *kid)
{
    size_t n = parent->nkids;

    if ((n & (n - 1)) == 0) {
        parent->kids = kt_realloc(parent->kids, (n < 4 ? 4 : 2 * n) * sizeof(*parent->kids));
    }
    parent->kids[parent->nkids++] = kid;
}

/*
 * A scalar's bytes map onto columns one to one when it sits on one line, is
 * plain or quoted without escapes, and is ASCII (libyaml counts columns in
 * characters).
 */
static int
scalar_col_off(const yaml_event_t *ev)
{
    const yaml_mark_t *start = &ev->start_mark, *end = &ev->end_mark;
    size_t len = ev->data.scalar.length, width;
    int off;

    if (start->line != end->line) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (ev->data.scalar.value[i] >= 0x80) {
            return -1;
        }
    }
    switch (ev->data.scalar.style) {
    case YAML_PLAIN_SCALAR_STYLE:
        off = 0;
        break;
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        off = 1;
        break;
    default:
        return -1;
    }
    width = end->column - start->column;
    return width == len + 2 * (size_t)off ? off : -1;
}

/* Attach <node> to the open container (or make it the root). */
static void
build_add(struct builder *b, struct conf_node *node, const yaml_event_t *ev)
{
    struct conf_node *parent;

    if (b->depth == 0) {
        b->root = node;
        return;
    }
    parent = b->stack[b->depth - 1];
    if (parent->type == CONF_NODE_MAP && parent->nkids % 2 == 0 && node->type != CONF_NODE_SCALAR) {
        build_error(b, ev->start_mark, "a mapping key must be a scalar, not a %s",
                    conf_node_type_name(node->type));
    }
    node_append(parent, node);
}

static void
check_anchor(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor)
{
    if (anchor != NULL) {
        build_error(b, ev->start_mark, "YAML anchors are not supported ('&%s')",
                    (const char *)anchor);
    }
}

/* Handle one event; return 1 when the stream has ended, -1 to stop, else 0. */
static int
build_event(struct builder *b, const yaml_event_t *ev)
{
    struct conf_node *node;

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->ndocs > 1) {
            build_error(b, ev->start_mark, "only one YAML document is allowed");
            return -1;
        }
        return 0;
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_ALIAS_EVENT:
        /* keep the tree's shape with an empty scalar so later errors still show */
        build_error(b, ev->start_mark, "YAML aliases are not supported ('*%s')",
                    (const char *)ev->data.alias.anchor);
        node = node_new(CONF_NODE_SCALAR, ev);
        node->str = kt_strdup("");
        build_add(b, node, ev);
        return 0;
    case YAML_SCALAR_EVENT:
        check_anchor(b, ev, ev->data.scalar.anchor);
        node = node_new(CONF_NODE_SCALAR, ev);
        node->str = kt_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        node->len = ev->data.scalar.length;
        node->col_off = scalar_col_off(ev);
        build_add(b, node, ev);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth == CONF_NODE_MAX_DEPTH) {
            build_error(b, ev->start_mark, "nesting is deeper than %d levels", CONF_NODE_MAX_DEPTH);
            return -1;
        }
        if (ev->type == YAML_SEQUENCE_START_EVENT) {
            check_anchor(b, ev, ev->data.sequence_start.anchor);
            node = node_new(CONF_NODE_SEQ, ev);
        } else {
            check_anchor(b, ev, ev->data.mapping_start.anchor);
            node = node_new(CONF_NODE_MAP, ev);
        }
        build_add(b, node, ev);
        b->stack[b->depth++] = node;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        b->depth--;
        return 0;
    default:
        return 0;
    }
}

int
conf_yaml_parse(const char *name, const char *buf, size_t len, struct conf_node **root,
                struct kt_err *err)
{
    struct builder b = {.name = name, .err = err};
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0, done = 0;

    *root = NULL;
    if (!yaml_parser_initialize(&parser)) {
        kt_err_add(err, "%s: out of memory while parsing YAML", name);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            parser_error(&b, &parser);
            break;
        }
        done = build_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (b.failed) {
        rc = -EINVAL;
        goto fail;
    }
    *root = b.root;
    return 0;

fail:
    conf_node_free(b.root);
    return rc;
}
