/*
 * tests/unit/conf/check_conf_yaml.c - conf_yaml.c and conf_node.c: the
 * tree's shape, every node's line and column, byte columns inside scalars,
 * and the messages for YAML that is refused.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf_node.h"
#include "tests/unit/conf/suites.h"

static struct conf_node *
parse_ok(const char *yaml)
{
    struct kt_err err = {0};
    struct conf_node *root = (struct conf_node *)1;
    int rc = conf_yaml_parse(CT_FILE, yaml, strlen(yaml), &root, &err);

    ck_assert_msg(rc == 0, "rc %d: %s", rc, err.nmsgs > 0 ? err.msgs[0] : "");
    ck_assert_uint_eq(err.nmsgs, 0);
    return root;
}

/* Parse <yaml>, expect failure, return the messages (caller clears). */
static struct kt_err
parse_fail(const char *yaml)
{
    struct kt_err err = {0};
    struct conf_node *root = (struct conf_node *)1;
    int rc = conf_yaml_parse(CT_FILE, yaml, strlen(yaml), &root, &err);

    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_ptr_null(root);
    ck_assert_uint_ge(err.nmsgs, 1);
    return err;
}

static void
assert_at(const struct conf_node *node, enum conf_node_type type, int line, int col)
{
    ck_assert_int_eq(node->type, type);
    ck_assert_int_eq(node->line, line);
    ck_assert_int_eq(node->col, col);
}

static void
assert_scalar(const struct conf_node *node, const char *str, int line, int col)
{
    assert_at(node, CONF_NODE_SCALAR, line, col);
    ck_assert_str_eq(node->str, str);
    ck_assert_uint_eq(node->len, strlen(str));
}

START_TEST(tree_locations)
{
    const char *yaml = "# comment\n"
                       "a: 1\n"
                       "b:\n"
                       "  - x\n"
                       "  - \"y z\"\n"
                       "  - k: v\n"
                       "c: {d: e, f: [g]}\n";
    struct conf_node *root = parse_ok(yaml);
    const struct conf_node *b, *c, *item;

    assert_at(root, CONF_NODE_MAP, 2, 1);
    ck_assert_uint_eq(conf_node_count(root), 3);
    assert_scalar(conf_node_key(root, 0), "a", 2, 1);
    assert_scalar(conf_node_value(root, 0), "1", 2, 4);
    assert_scalar(conf_node_key(root, 1), "b", 3, 1);
    b = conf_node_value(root, 1);
    assert_at(b, CONF_NODE_SEQ, 4, 3);
    ck_assert_uint_eq(conf_node_count(b), 3);
    assert_scalar(conf_node_item(b, 0), "x", 4, 5);
    assert_scalar(conf_node_item(b, 1), "y z", 5, 5);
    item = conf_node_item(b, 2);
    assert_at(item, CONF_NODE_MAP, 6, 5);
    assert_scalar(conf_node_key(item, 0), "k", 6, 5);
    assert_scalar(conf_node_value(item, 0), "v", 6, 8);
    c = conf_node_value(root, 2);
    assert_at(c, CONF_NODE_MAP, 7, 4);
    assert_scalar(conf_node_key(c, 0), "d", 7, 5);
    assert_scalar(conf_node_value(c, 0), "e", 7, 8);
    assert_at(conf_node_value(c, 1), CONF_NODE_SEQ, 7, 14);
    assert_scalar(conf_node_item(conf_node_value(c, 1), 0), "g", 7, 15);
    ck_assert_uint_eq(conf_node_count(conf_node_value(root, 0)), 0);
    conf_node_free(root);
}
END_TEST

START_TEST(get_and_duplicates)
{
    struct conf_node *root = parse_ok("a: 1\nb: 2\na: 3\nc: 4\nb: 5\n");

    /* duplicates stay in the tree; the schema reports them with their pool */
    ck_assert_uint_eq(conf_node_count(root), 5);
    ck_assert_str_eq(conf_node_get(root, "a")->str, "1");
    ck_assert_str_eq(conf_node_get(root, "c")->str, "4");
    ck_assert_ptr_null(conf_node_get(root, "z"));
    ck_assert_int_eq(conf_node_dup_of(root, 0), -1);
    ck_assert_int_eq(conf_node_dup_of(root, 1), -1);
    ck_assert_int_eq(conf_node_dup_of(root, 2), 0);
    ck_assert_int_eq(conf_node_dup_of(root, 3), -1);
    ck_assert_int_eq(conf_node_dup_of(root, 4), 1);
    conf_node_free(root);
}
END_TEST

START_TEST(scalar_columns)
{
    const char *yaml = "p: abc:def\n"
                       "q: \"abc:def\"\n"
                       "r: 'abc:def'\n"
                       "s: \"a\\tb:def\"\n"
                       "t: 'it''s:x'\n"
                       "u: |\n"
                       "  abc:def\n"
                       "v: abc\n"
                       "  def\n"
                       "w: h\xc3\xa9:1\n";
    struct conf_node *root = parse_ok(yaml);

    /* plain: byte 4 ('d') at column 4 + 4 */
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "p"), 4), 8);
    /* quoted: one more for the quote */
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "q"), 4), 9);
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "r"), 4), 9);
    /* escapes, literal blocks, folded lines and non-ASCII: the scalar's own column */
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "s"), 4), 4);
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "t"), 4), 4);
    ck_assert_str_eq(conf_node_get(root, "u")->str, "abc:def\n");
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "u"), 4), 4);
    ck_assert_str_eq(conf_node_get(root, "v")->str, "abc def");
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "v"), 4), 4);
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "w"), 3), 4);
    /* past the end: the scalar's column */
    ck_assert_int_eq(conf_node_col_at(conf_node_get(root, "p"), 99), 4);
    conf_node_free(root);
}
END_TEST

START_TEST(empty_documents)
{
    static const char *const empty[] = {"", "# nothing\n", "\n\n"};
    struct conf_node *root;

    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        ck_assert_ptr_null(parse_ok(empty[i]));
    }
    /* an explicit document start holds one empty (null) scalar */
    root = parse_ok("---\n");
    assert_scalar(root, "", 2, 1);
    conf_node_free(root);
}
END_TEST

START_TEST(type_names)
{
    ck_assert_str_eq(conf_node_type_name(CONF_NODE_SCALAR), "scalar");
    ck_assert_str_eq(conf_node_type_name(CONF_NODE_SEQ), "sequence");
    ck_assert_str_eq(conf_node_type_name(CONF_NODE_MAP), "mapping");
}
END_TEST

/* A refused document, its message count, and each message's start (libyaml's wording may vary). */
struct bad_yaml {
    const char *yaml;
    size_t nmsgs;
    const char *msgs[2]; /* exact when ours, else the location prefix plus libyaml's problem */
};

static const struct bad_yaml bad[] = {
    {"a: [1, 2\n", 1, {"t.yml:2:1: did not find expected ',' or ']'"}},
    {"a:\n\tb: 1\n", 1, {"t.yml:2:1: found character that cannot start any token"}},
    {"a: b: c\n", 1, {"t.yml:1:5: mapping values are not allowed in this context"}},
    {"a: \"x\n", 1, {"t.yml:2:1: found unexpected end of stream"}},
    {"a: 1\n---\nb: 2\n", 1, {"t.yml:2:1: only one YAML document is allowed"}},
    {"a: &x 1\nb: *x\n",
     2,
     {"t.yml:1:4: YAML anchors are not supported ('&x')",
      "t.yml:2:4: YAML aliases are not supported ('*x')"}},
    {"base: &b {x: 1}\nweb:\n  <<: *b\n",
     2,
     {"t.yml:1:7: YAML anchors are not supported ('&b')",
      "t.yml:3:7: YAML aliases are not supported ('*b')"}},
    {"? [a]\n: 1\n", 1, {"t.yml:1:3: a mapping key must be a scalar, not a sequence"}},
    {"{x: 1}: 1\n", 1, {"t.yml:1:1: a mapping key must be a scalar, not a mapping"}},
    {"\"a\xff\": 1\n", 1, {"t.yml: invalid leading UTF-8 octet: #FF at byte 2"}},
};

START_TEST(refused)
{
    const struct bad_yaml *t = &bad[_i];
    struct kt_err err = parse_fail(t->yaml);

    ck_assert_msg(err.nmsgs == t->nmsgs, "%zu messages for '%s', first: %s", err.nmsgs, t->yaml,
                  err.msgs[0]);
    for (size_t i = 0; i < t->nmsgs; i++) {
        ck_assert_msg(strncmp(err.msgs[i], t->msgs[i], strlen(t->msgs[i])) == 0,
                      "got '%s', want '%s...'", err.msgs[i], t->msgs[i]);
    }
    kt_err_clear(&err);
}
END_TEST

/* "[[[...]]]" with <depth> levels. */
static char *
nested(int depth)
{
    static char buf[2 * 200 + 2];

    memset(buf, '[', (size_t)depth);
    memset(buf + depth, ']', (size_t)depth);
    buf[2 * depth] = '\n';
    buf[2 * depth + 1] = '\0';
    return buf;
}

START_TEST(depth_limit)
{
    struct conf_node *root = parse_ok(nested(CONF_NODE_MAX_DEPTH));
    struct kt_err err;

    conf_node_free(root);
    err = parse_fail(nested(CONF_NODE_MAX_DEPTH + 1));
    ck_assert_uint_eq(err.nmsgs, 1);
    ck_assert_str_eq(err.msgs[0], "t.yml:1:65: nesting is deeper than 64 levels");
    kt_err_clear(&err);
    err = parse_fail(nested(200));
    ck_assert_uint_eq(err.nmsgs, 1);
    kt_err_clear(&err);
}
END_TEST

Suite *
conf_yaml_suite(void)
{
    Suite *s = suite_create("conf_yaml");
    TCase *tc = tcase_create("tree");

    tcase_add_test(tc, tree_locations);
    tcase_add_test(tc, get_and_duplicates);
    tcase_add_test(tc, scalar_columns);
    tcase_add_test(tc, empty_documents);
    tcase_add_test(tc, type_names);
    tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, depth_limit);
    suite_add_tcase(s, tc);
    return s;
}
