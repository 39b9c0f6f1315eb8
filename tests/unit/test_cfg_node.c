/*
 * Unit tests for core/cfg_node.c: scalar typing, positions, environment resolution, merge keys,
 * aliases, limits and error messages.  The environment comes from a table passed to the loader,
 * never from setenv(), so the tests do not depend on or disturb the real environment.
 */
#include "cfg_node.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            if (err[0] != '\0')                                                                    \
                fprintf(stderr, "    last error: %s\n", err);                                      \
        }                                                                                          \
    } while (0)

static char err[512];
static unsigned env_calls;

static const char *test_env(const char *name, void *arg)
{
    static const char *const vars[][2] = {
        {"API_KEY", "sk-123"}, {"PORT", "8080"},      {"FLAG", "TRUE"},        {"MIXED", "tRuE"},
        {"OFF", "false"},      {"RATE", "0.5"},       {"HEX", "0x10"},         {"BAD_INT", "8080x"},
        {"EMPTY", ""},         {"HOST", "api.local"}, {"RECUR", "${API_KEY}"},
    };
    (void)arg;
    env_calls++;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (strcmp(vars[i][0], name) == 0)
            return vars[i][1];
    return NULL;
}

static cfg_doc_t *load(const char *text)
{
    err[0] = '\0';
    return cfg_doc_load_mem("test.yaml", text, strlen(text), test_env, NULL, err, sizeof(err));
}

/* Load text that must fail, and check that the message contains `want`. */
static void expect_error(int line, const char *text, const char *want)
{
    cfg_doc_t *doc = load(text);
    if (doc == NULL && strstr(err, want) != NULL) {
        passed++;
        return;
    }
    failed++;
    fprintf(stderr, "%s:%d: expected an error containing \"%s\", got %s\"%s\"\n", __FILE__, line,
            want, doc != NULL ? "success and " : "", err);
    cfg_doc_free(doc);
}
#define EXPECT_ERROR(text, want) expect_error(__LINE__, text, want)

static const cfg_node_t *get(const cfg_node_t *map, const char *key)
{
    return cfg_map_get(map, key);
}

static void test_scalar_typing(void)
{
    cfg_doc_t *doc = load("t1: true\nt2: True\nt3: TRUE\nf1: false\nf2: False\nf3: FALSE\n"
                          "n1: null\nn2: Null\nn3: NULL\nn4: ~\nn5:\n"
                          "i1: 42\ni2: -17\ni3: +5\ni4: 0x1F\ni5: 0o17\ni6: 012\n"
                          "d1: 1.5\nd2: 1e3\nd3: .5\nd4: -2.5E-2\nd5: .inf\nd6: -.Inf\nd7: .NaN\n"
                          "d8: 1.\n"
                          "s1: yes\ns2: no\ns3: on\ns4: off\ns5: 1_000\ns6: -0x1\ns7: 0x\n"
                          "s8: hello world\ns9: 0b101\ns10: tru\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    const cfg_node_t *r = doc->root;
    CHECK(r->kind == CFG_MAP);
    const char *trues[] = {"t1", "t2", "t3"}, *falses[] = {"f1", "f2", "f3"};
    for (int i = 0; i < 3; i++) {
        CHECK(get(r, trues[i])->kind == CFG_BOOL && get(r, trues[i])->b);
        CHECK(get(r, falses[i])->kind == CFG_BOOL && !get(r, falses[i])->b);
    }
    const char *nulls[] = {"n1", "n2", "n3", "n4", "n5"};
    for (int i = 0; i < 5; i++) {
        const cfg_node_t *n = get(r, nulls[i]);
        CHECK(n->kind == CFG_NULL && strcmp(n->str, "") == 0 && n->len == 0);
    }
    CHECK(get(r, "i1")->kind == CFG_INT && get(r, "i1")->i == 42 && get(r, "i1")->d == 42.0);
    CHECK(get(r, "i2")->kind == CFG_INT && get(r, "i2")->i == -17);
    CHECK(get(r, "i3")->kind == CFG_INT && get(r, "i3")->i == 5);
    CHECK(get(r, "i4")->kind == CFG_INT && get(r, "i4")->i == 31);
    CHECK(strcmp(get(r, "i4")->str, "0x1F") == 0 && get(r, "i4")->len == 4);
    CHECK(get(r, "i5")->kind == CFG_INT && get(r, "i5")->i == 15);
    CHECK(get(r, "i6")->kind == CFG_INT && get(r, "i6")->i == 12);
    CHECK(get(r, "d1")->kind == CFG_NUM && get(r, "d1")->d == 1.5);
    CHECK(get(r, "d2")->kind == CFG_NUM && get(r, "d2")->d == 1000.0);
    CHECK(get(r, "d3")->kind == CFG_NUM && get(r, "d3")->d == 0.5);
    CHECK(get(r, "d4")->kind == CFG_NUM && get(r, "d4")->d == -0.025);
    CHECK(get(r, "d5")->kind == CFG_NUM && isinf(get(r, "d5")->d) && get(r, "d5")->d > 0);
    CHECK(get(r, "d6")->kind == CFG_NUM && isinf(get(r, "d6")->d) && get(r, "d6")->d < 0);
    CHECK(get(r, "d7")->kind == CFG_NUM && isnan(get(r, "d7")->d));
    CHECK(get(r, "d8")->kind == CFG_NUM && get(r, "d8")->d == 1.0);
    const char *strs[] = {"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10"};
    for (int i = 0; i < 10; i++)
        CHECK(get(r, strs[i])->kind == CFG_STR && !get(r, strs[i])->from_env);
    CHECK(strcmp(get(r, "s1")->str, "yes") == 0 && get(r, "s1")->len == 3);
    CHECK(strcmp(get(r, "s8")->str, "hello world") == 0);
    CHECK(strcmp(get(r, "t1")->str, "true") == 0);
    cfg_doc_free(doc);
}

static void test_quoted_vs_plain(void)
{
    cfg_doc_t *doc = load("a: \"42\"\nb: 'true'\nc: \"null\"\nd: |\n  7\ne: >\n  1.5\n"
                          "f: !!str 12\ng: ! 12\nh: \"\"\ni: ''\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    const cfg_node_t *r = doc->root;
    CHECK(get(r, "a")->kind == CFG_STR && strcmp(get(r, "a")->str, "42") == 0);
    CHECK(get(r, "b")->kind == CFG_STR && strcmp(get(r, "b")->str, "true") == 0);
    CHECK(get(r, "c")->kind == CFG_STR && strcmp(get(r, "c")->str, "null") == 0);
    CHECK(get(r, "d")->kind == CFG_STR && strcmp(get(r, "d")->str, "7\n") == 0);
    CHECK(get(r, "e")->kind == CFG_STR && strcmp(get(r, "e")->str, "1.5\n") == 0);
    CHECK(get(r, "f")->kind == CFG_STR && strcmp(get(r, "f")->str, "12") == 0);
    CHECK(get(r, "g")->kind == CFG_STR);
    /* Quoted empty strings are strings, not null. */
    CHECK(get(r, "h")->kind == CFG_STR && get(r, "h")->len == 0);
    CHECK(get(r, "i")->kind == CFG_STR && get(r, "i")->len == 0);
    cfg_doc_free(doc);
}

static void test_positions(void)
{
    cfg_doc_t *doc = load("# comment\n"
                          "server:\n"
                          "  port: 8080\n"
                          "  hosts: [a, \"b\"]\n"
                          "list:\n"
                          "  - x: 1\n"
                          "    y: 2\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    const cfg_node_t *r = doc->root;
    CHECK(r->line == 2 && r->col == 1);
    CHECK(strcmp(r->file, "test.yaml") == 0 && strcmp(doc->file, "test.yaml") == 0);
    const cfg_pair_t *p = cfg_map_pair(r, "server");
    CHECK(p != NULL && p->key_line == 2 && p->key_col == 1);
    const cfg_node_t *server = p->value;
    CHECK(server->line == 3 && server->col == 3);
    p = cfg_map_pair(server, "port");
    CHECK(p->key_line == 3 && p->key_col == 3);
    CHECK(p->value->line == 3 && p->value->col == 9);
    const cfg_node_t *hosts = get(server, "hosts");
    CHECK(hosts->kind == CFG_SEQ && hosts->count == 2 && hosts->line == 4 && hosts->col == 10);
    CHECK(hosts->items[0]->line == 4 && hosts->items[0]->col == 11);
    CHECK(hosts->items[1]->line == 4 && hosts->items[1]->col == 14);
    const cfg_node_t *list = get(r, "list");
    CHECK(list->line == 6 && list->col == 3);
    const cfg_node_t *item = list->items[0];
    CHECK(item->kind == CFG_MAP && item->line == 6 && item->col == 5);
    p = cfg_map_pair(item, "y");
    CHECK(p->key_line == 7 && p->key_col == 5 && p->value->line == 7 && p->value->col == 8);
    /* Pairs keep document order. */
    CHECK(strcmp(r->pairs[0].key, "server") == 0 && strcmp(r->pairs[1].key, "list") == 0);
    cfg_doc_free(doc);
}

static void test_environment(void)
{
    cfg_doc_t *doc = load("key: os.environ/API_KEY\n"
                          "quoted: \"os.environ/PORT\"\n"
                          "url: http://${HOST}:${PORT}/v1\n"
                          "lit: |\n  Bearer ${API_KEY}\n"
                          "dollar: $${API_KEY}\n"
                          "open: ${API_KEY\n"
                          "notname: ${1X} and ${} and $API_KEY\n"
                          "recur: ${RECUR}\n"
                          "empty: os.environ/EMPTY\n"
                          "os.environ/API_KEY: keys are not resolved\n"
                          "plain: no variables here\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    const cfg_node_t *r = doc->root;
    const cfg_node_t *n = get(r, "key");
    CHECK(n->kind == CFG_STR && n->from_env && strcmp(n->str, "sk-123") == 0 && n->len == 6);
    CHECK(n->line == 1 && n->col == 6);
    n = get(r, "quoted");
    CHECK(n->kind == CFG_STR && n->from_env && strcmp(n->str, "8080") == 0);
    n = get(r, "url");
    CHECK(n->from_env && strcmp(n->str, "http://api.local:8080/v1") == 0);
    n = get(r, "lit");
    CHECK(n->from_env && strcmp(n->str, "Bearer sk-123\n") == 0);
    n = get(r, "dollar");
    CHECK(n->from_env && strcmp(n->str, "$sk-123") == 0);
    n = get(r, "open");
    CHECK(!n->from_env && strcmp(n->str, "${API_KEY") == 0);
    n = get(r, "notname");
    CHECK(!n->from_env && strcmp(n->str, "${1X} and ${} and $API_KEY") == 0);
    /* A value is never scanned again for variables. */
    n = get(r, "recur");
    CHECK(n->from_env && strcmp(n->str, "${API_KEY}") == 0);
    n = get(r, "empty");
    CHECK(n->kind == CFG_STR && n->from_env && n->len == 0);
    n = get(r, "os.environ/API_KEY");
    CHECK(n != NULL && strcmp(n->str, "keys are not resolved") == 0);
    CHECK(!get(r, "plain")->from_env);
    cfg_doc_free(doc);

    EXPECT_ERROR("a: 1\nb:\n  c: os.environ/MISSING_VAR\n",
                 "test.yaml:3:6: environment variable MISSING_VAR is not set");
    EXPECT_ERROR("a: \"x ${API_KEY} ${NOPE} y\"\n",
                 "test.yaml:1:4: environment variable NOPE is not set");
    EXPECT_ERROR("a: os.environ/\n", "test.yaml:1:4: bad environment variable name");
    EXPECT_ERROR("a: os.environ/MY-KEY\n", "bad environment variable name in 'os.environ/MY-KEY'");

    /* Without an injected function the loader asks getenv(); PATH is set in any test run. */
    err[0] = '\0';
    const char *text = "p: os.environ/PATH\n";
    doc = cfg_doc_load_mem("t", text, strlen(text), NULL, NULL, err, sizeof(err));
    CHECK(doc != NULL && getenv("PATH") != NULL &&
          strcmp(get(doc->root, "p")->str, getenv("PATH")) == 0);
    cfg_doc_free(doc);
}

static void test_readers(void)
{
    cfg_doc_t *doc = load("port: os.environ/PORT\n"
                          "hex: os.environ/HEX\n"
                          "bad: os.environ/BAD_INT\n"
                          "flag: os.environ/FLAG\n"
                          "mixed: ${MIXED}\n"
                          "off: os.environ/OFF\n"
                          "rate: os.environ/RATE\n"
                          "quoted: \"8080\"\n"
                          "qtrue: \"true\"\n"
                          "int: 3\n"
                          "num: 2.5\n"
                          "yes: yes\n"
                          "bool: false\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    const cfg_node_t *r = doc->root;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    CHECK(cfg_read_int(get(r, "port"), &i) == 0 && i == 8080);
    CHECK(cfg_read_int(get(r, "hex"), &i) == 0 && i == 16);
    CHECK(cfg_read_int(get(r, "bad"), &i) == -1);
    CHECK(cfg_read_int(get(r, "rate"), &i) == -1);
    CHECK(cfg_read_int(get(r, "quoted"), &i) == -1); /* written quoted: a string, not from env */
    CHECK(cfg_read_int(get(r, "int"), &i) == 0 && i == 3);
    CHECK(cfg_read_int(get(r, "num"), &i) == -1);
    CHECK(cfg_read_int(NULL, &i) == -1);
    CHECK(cfg_read_num(get(r, "rate"), &d) == 0 && d == 0.5);
    CHECK(cfg_read_num(get(r, "port"), &d) == 0 && d == 8080.0);
    CHECK(cfg_read_num(get(r, "int"), &d) == 0 && d == 3.0);
    CHECK(cfg_read_num(get(r, "num"), &d) == 0 && d == 2.5);
    CHECK(cfg_read_num(get(r, "bad"), &d) == -1);
    CHECK(cfg_read_num(get(r, "flag"), &d) == -1);
    CHECK(cfg_read_bool(get(r, "flag"), &b) == 0 && b);
    CHECK(cfg_read_bool(get(r, "mixed"), &b) == 0 && b);
    CHECK(cfg_read_bool(get(r, "off"), &b) == 0 && !b);
    CHECK(cfg_read_bool(get(r, "bool"), &b) == 0 && !b);
    CHECK(cfg_read_bool(get(r, "qtrue"), &b) == -1);
    CHECK(cfg_read_bool(get(r, "yes"), &b) == -1);
    CHECK(cfg_read_bool(get(r, "port"), &b) == -1);
    CHECK(cfg_read_bool(get(r, "int"), &b) == -1);
    cfg_doc_free(doc);
}

static void test_merge(void)
{
    cfg_doc_t *doc = load("base: &base\n"
                          "  a: 1\n"
                          "  b: 2\n"
                          "other: &other\n"
                          "  b: 20\n"
                          "  c: 30\n"
                          "m1:\n"
                          "  <<: *base\n"
                          "  b: 3\n"
                          "m2: &m2\n"
                          "  a: 10\n"
                          "  <<: [*other, *base]\n"
                          "m3: {<<: {x: 1}, \"<<\": literal}\n"
                          "m4:\n"
                          "  <<: []\n"
                          "  k: v\n"
                          "m5: &m5\n"
                          "  <<: *m2\n"
                          "  d: 4\n"
                          "m6:\n"
                          "  <<: *m5\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    const cfg_node_t *r = doc->root;
    const cfg_node_t *m1 = get(r, "m1");
    CHECK(m1->count == 2);
    CHECK(get(m1, "a")->i == 1 && get(m1, "b")->i == 3);
    CHECK(get(m1, "<<") == NULL);
    /* Merged pairs take the place of `<<` and keep the position where they were written. */
    CHECK(strcmp(m1->pairs[0].key, "a") == 0 && m1->pairs[0].key_line == 2);
    CHECK(strcmp(m1->pairs[1].key, "b") == 0 && m1->pairs[1].key_line == 9);
    CHECK(get(m1, "a") == get(get(r, "base"), "a"));

    const cfg_node_t *m2 = get(r, "m2");
    CHECK(m2->count == 3);
    CHECK(get(m2, "a")->i == 10); /* explicit wins, even when written before `<<` */
    CHECK(get(m2, "b")->i == 20); /* the earlier map in the list wins */
    CHECK(get(m2, "c")->i == 30);

    const cfg_node_t *m3 = get(r, "m3");
    CHECK(m3->count == 2 && get(m3, "x")->i == 1);
    CHECK(get(m3, "<<") != NULL && strcmp(get(m3, "<<")->str, "literal") == 0);

    const cfg_node_t *m4 = get(r, "m4");
    CHECK(m4->count == 1 && strcmp(get(m4, "k")->str, "v") == 0);

    /* Merges of maps that were themselves merged. */
    const cfg_node_t *m6 = get(r, "m6");
    CHECK(m6->count == 4 && get(m6, "a")->i == 10 && get(m6, "b")->i == 20 &&
          get(m6, "c")->i == 30 && get(m6, "d")->i == 4);
    cfg_doc_free(doc);

    EXPECT_ERROR("a: &a 5\nb:\n  <<: *a\n",
                 "test.yaml:3:3: the merge key '<<' needs a map or a list of maps, not a integer");
    EXPECT_ERROR("a: &a {x: 1}\nb:\n  <<: [*a, [1]]\n",
                 "test.yaml:3:3: the merge key '<<' lists a");
    EXPECT_ERROR("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n",
                 "test.yaml:4:3: duplicate merge key '<<' (first at 3:3)");
}

static void test_duplicates(void)
{
    EXPECT_ERROR("x: 1\ny: 2\nx: 3\n", "test.yaml:3:1: duplicate key 'x' (first at 1:1)");
    EXPECT_ERROR("a:\n  - {k: 1, k: 2}\n", "test.yaml:2:12: duplicate key 'k' (first at 2:6)");
    /* A quoted and a plain spelling of the same key are the same key. */
    EXPECT_ERROR("k: 1\n\"k\": 2\n", "duplicate key 'k' (first at 1:1)");

    /* Enough keys that the key table has to grow. */
    char buf[8192];
    size_t len = 0;
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "key%d: %d\n", i, i);
    cfg_doc_t *doc = load(buf);
    CHECK(doc != NULL && doc->root->count == 300 && get(doc->root, "key299")->i == 299);
    cfg_doc_free(doc);
    snprintf(buf + len, sizeof(buf) - len, "key17: again\n");
    EXPECT_ERROR(buf, "test.yaml:301:1: duplicate key 'key17' (first at 18:1)");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_aliases(void)
{
    cfg_doc_t *doc = load("a: &x {k: 1}\nb: *x\nc: &s str\nd: [*s, *x]\n"
                          "e: &r 1\ne2: &r 2\nf: *r\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    const cfg_node_t *r = doc->root;
    CHECK(get(r, "a") == get(r, "b"));
    CHECK(get(r, "d")->items[0] == get(r, "c") && get(r, "d")->items[1] == get(r, "a"));
    CHECK(get(r, "f")->i == 2); /* a redefined anchor means the newer node */
    cfg_doc_free(doc);

    /* The classic billion laughs: nine levels of nine aliases each. */
    char buf[4096];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "l0: &l0 \"lol\"\n");
    for (int lv = 1; lv <= 9; lv++) {
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "l%d: &l%d [", lv, lv);
        for (int k = 0; k < 9; k++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s*l%d", k ? ", " : "", lv - 1);
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "]\n");
    }
    double t0 = now();
    doc = load(buf);
    double elapsed = now() - t0;
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    CHECK(elapsed < 1.0);
    for (int lv = 1; lv <= 9; lv++) {
        char name[8], prev[8];
        snprintf(name, sizeof(name), "l%d", lv);
        snprintf(prev, sizeof(prev), "l%d", lv - 1);
        const cfg_node_t *n = get(doc->root, name);
        CHECK(n->kind == CFG_SEQ && n->count == 9);
        int shared = 1;
        for (size_t k = 0; k < n->count; k++)
            shared &= n->items[k] == get(doc->root, prev);
        CHECK(shared);
    }
    cfg_doc_free(doc);

    /* Forty doublings: 2^40 leaves in the expanded tree, 41 nodes in ours. */
    len = (size_t)snprintf(buf, sizeof(buf), "- &a0 lol\n");
    for (int lv = 1; lv <= 40; lv++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "- &a%d [*a%d, *a%d]\n", lv, lv - 1,
                                lv - 1);
    t0 = now();
    doc = load(buf);
    CHECK(doc != NULL && now() - t0 < 1.0);
    CHECK(doc != NULL && doc->root->count == 41);
    cfg_doc_free(doc);

    EXPECT_ERROR("a: *nope\n", "test.yaml:1:4: alias *nope refers to no anchor defined before it");
    /* An alias inside its own anchor would make a cycle. */
    EXPECT_ERROR("a: &x [1, *x]\n", "test.yaml:1:11: alias *x refers to no anchor");
    EXPECT_ERROR("a: &x 1\n*x : 2\n", "test.yaml:2:1: aliases as map keys are not supported");
    EXPECT_ERROR("&k a: 1\n", "test.yaml:1:1: anchors on map keys are not supported");
}

static void nested(char *buf, size_t size, int levels)
{
    size_t len = 0;
    for (int i = 0; i < levels && len + 1 < size; i++)
        buf[len++] = '[';
    for (int i = 0; i < levels && len + 1 < size; i++)
        buf[len++] = ']';
    buf[len] = '\0';
}

static void test_depth(void)
{
    char buf[8192];
    nested(buf, sizeof(buf), CFG_MAX_DEPTH);
    cfg_doc_t *doc = load(buf);
    CHECK(doc != NULL);
    cfg_doc_free(doc);
    nested(buf, sizeof(buf), CFG_MAX_DEPTH + 1);
    EXPECT_ERROR(buf, "test.yaml:1:65: nesting deeper than 64 levels");

    /* Block style nests the same way. */
    size_t len = 0;
    for (int i = 0; i < CFG_MAX_DEPTH + 1; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%*s- \n", i * 2, "");
    EXPECT_ERROR(buf, "nesting deeper than 64 levels");

    /* Aliases must not smuggle depth past the limit: 1 + 30 + 40 levels. */
    len = (size_t)snprintf(buf, sizeof(buf), "a: &a ");
    for (int i = 0; i < 40; i++)
        buf[len++] = '[';
    for (int i = 0; i < 40; i++)
        buf[len++] = ']';
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\nb: ");
    for (int i = 0; i < 30; i++)
        buf[len++] = '[';
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "*a");
    for (int i = 0; i < 30; i++)
        buf[len++] = ']';
    buf[len] = '\0';
    EXPECT_ERROR(buf, "test.yaml:2:34: alias *a nests deeper than 64 levels");

    /* Nor merge keys, but merged values sit one level higher than their map. */
    len = (size_t)snprintf(buf, sizeof(buf), "a: &a {k: ");
    for (int i = 0; i < 61; i++)
        buf[len++] = '[';
    for (int i = 0; i < 61; i++)
        buf[len++] = ']';
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "}\nb: &b {<<: *a}\nc: [*b]\n");
    buf[len] = '\0';
    doc = load(buf);
    CHECK(doc != NULL);
    cfg_doc_free(doc);
    len -= strlen("c: [*b]\n");
    snprintf(buf + len, sizeof(buf) - len, "c: [[*b]]\n");
    EXPECT_ERROR(buf, "alias *b nests deeper than 64 levels");
}

static void test_documents(void)
{
    const char *empties[] = {"", "# only a comment\n", "---\n", "--- \n...\n", "\n\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        cfg_doc_t *doc = load(empties[i]);
        CHECK(doc != NULL && doc->root != NULL && doc->root->kind == CFG_MAP &&
              doc->root->count == 0);
        cfg_doc_free(doc);
    }
    cfg_doc_t *doc = cfg_doc_load_mem("t", NULL, 0, test_env, NULL, err, sizeof(err));
    CHECK(doc != NULL && doc->root->kind == CFG_MAP);
    cfg_doc_free(doc);

    /* A root that is not a map is the caller's business. */
    doc = load("- 1\n- 2\n");
    CHECK(doc != NULL && doc->root->kind == CFG_SEQ && doc->root->count == 2);
    cfg_doc_free(doc);
    doc = load("42\n");
    CHECK(doc != NULL && doc->root->kind == CFG_INT && doc->root->i == 42);
    cfg_doc_free(doc);
    doc = load("~\n");
    CHECK(doc != NULL && doc->root->kind == CFG_NULL);
    cfg_doc_free(doc);

    EXPECT_ERROR("a: 1\n---\nb: 2\n", "test.yaml:2:1: a second document");
    EXPECT_ERROR("a: 1\n...\n--- x\n", "test.yaml:3:1: a second document");
}

static void test_syntax_errors(void)
{
    EXPECT_ERROR("a: 1\n  b: 2\n", "test.yaml:2:4: mapping values are not allowed in this context");
    EXPECT_ERROR("a: \"abc", "test.yaml:1:8: found unexpected end of stream "
                             "(while scanning a quoted scalar at 1:4)");
    EXPECT_ERROR("a: [1, 2\nb: 3\n", "test.yaml:2:2: did not find expected ',' or ']'");
    EXPECT_ERROR("a: 1\nb: \xff\n", "test.yaml:2:4: invalid leading UTF-8 octet");
    EXPECT_ERROR("? [a]\n: 1\n", "test.yaml:1:3: map keys must be scalars, not a sequence");
    EXPECT_ERROR("a: \"x\\0y\"\n", "test.yaml:1:4: strings may not contain NUL characters");
}

static void test_numbers_out_of_range(void)
{
    EXPECT_ERROR("a: 1\nb: 9223372036854775808\n",
                 "test.yaml:2:4: integer out of range: 9223372036854775808");
    EXPECT_ERROR("b: -9223372036854775809\n", "test.yaml:1:4: integer out of range");
    EXPECT_ERROR("b: 0x8000000000000000\n", "test.yaml:1:4: integer out of range");
    EXPECT_ERROR("b: 0o1000000000000000000000\n", "test.yaml:1:4: integer out of range");
    EXPECT_ERROR("b: 99999999999999999999999999\n", "integer out of range");
    EXPECT_ERROR("b: 1e999\n", "test.yaml:1:4: number out of range");
    cfg_doc_t *doc = load("max: 9223372036854775807\nmin: -9223372036854775808\n"
                          "hex: 0x7FFFFFFFFFFFFFFF\noct: 0o777777777777777777777\n"
                          "quoted: \"99999999999999999999\"\ntiny: 1e-999\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    CHECK(get(doc->root, "max")->i == INT64_MAX);
    CHECK(get(doc->root, "min")->i == INT64_MIN);
    CHECK(get(doc->root, "hex")->i == INT64_MAX);
    CHECK(get(doc->root, "oct")->i == INT64_MAX);
    CHECK(get(doc->root, "quoted")->kind == CFG_STR);
    CHECK(get(doc->root, "tiny")->kind == CFG_NUM && get(doc->root, "tiny")->d == 0.0);
    cfg_doc_free(doc);
}

static void test_limits(void)
{
    /* File size: checked before anything is parsed. */
    size_t big = CFG_MAX_FILE_BYTES + 1;
    char *buf = malloc(big);
    CHECK(buf != NULL);
    if (buf == NULL)
        return;
    memset(buf, '#', big);
    err[0] = '\0';
    cfg_doc_t *doc = cfg_doc_load_mem("big.yaml", buf, big, test_env, NULL, err, sizeof(err));
    CHECK(doc == NULL && strstr(err, "big.yaml: file is larger than") != NULL);
    free(buf);

    /* Node count: a sequence node plus its items. */
    size_t items = CFG_MAX_NODES - 1;
    buf = malloc(items * 2 + 16);
    CHECK(buf != NULL);
    if (buf == NULL)
        return;
    size_t len = 0;
    buf[len++] = '[';
    for (size_t i = 0; i < items; i++) {
        buf[len++] = '0';
        buf[len++] = ',';
    }
    buf[len - 1] = ']';
    buf[len] = '\0';
    doc = load(buf);
    CHECK(doc != NULL && doc->root->count == items);
    cfg_doc_free(doc);
    memcpy(buf + len - 1, ",0]", 4);
    EXPECT_ERROR(buf, "too many nodes");
    free(buf);

    /* Merges copy pairs, so they count too: 2000 maps each merging a 1000-key map. */
    buf = malloc(1 << 20);
    CHECK(buf != NULL);
    if (buf == NULL)
        return;
    len = (size_t)snprintf(buf, 1 << 20, "base: &b\n");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(buf + len, (1 << 20) - len, "  k%d: 0\n", i);
    len += (size_t)snprintf(buf + len, (1 << 20) - len, "list:\n");
    for (int i = 0; i < 2000; i++)
        len += (size_t)snprintf(buf + len, (1 << 20) - len, "  - {<<: *b}\n");
    EXPECT_ERROR(buf, "too many nodes");
    free(buf);
}

static void test_api(void)
{
    cfg_doc_t *doc = load("a: 1\nlist: [x]\n");
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    CHECK(cfg_map_get(NULL, "a") == NULL);
    CHECK(cfg_map_pair(NULL, "a") == NULL);
    CHECK(cfg_map_get(doc->root, "nope") == NULL);
    CHECK(cfg_map_get(get(doc->root, "list"), "x") == NULL);
    CHECK(cfg_map_pair(doc->root, "list") == &doc->root->pairs[1]);
    CHECK(strcmp(cfg_kind_name(CFG_NULL), "null") == 0);
    CHECK(strcmp(cfg_kind_name(CFG_BOOL), "boolean") == 0);
    CHECK(strcmp(cfg_kind_name(CFG_INT), "integer") == 0);
    CHECK(strcmp(cfg_kind_name(CFG_NUM), "number") == 0);
    CHECK(strcmp(cfg_kind_name(CFG_STR), "string") == 0);
    CHECK(strcmp(cfg_kind_name(CFG_SEQ), "sequence") == 0);
    CHECK(strcmp(cfg_kind_name(CFG_MAP), "map") == 0);
    cfg_doc_free(doc);
    cfg_doc_free(NULL);

    /* A short error buffer is truncated and still terminated; no buffer at all is allowed. */
    char small[12];
    memset(small, 'x', sizeof(small));
    const char *bad = "x: 1\nx: 2\n";
    doc = cfg_doc_load_mem("test.yaml", bad, strlen(bad), test_env, NULL, small, sizeof(small));
    CHECK(doc == NULL && strlen(small) == sizeof(small) - 1 &&
          strncmp(small, "test.yaml:2", 11) == 0);
    doc = cfg_doc_load_mem("test.yaml", bad, strlen(bad), test_env, NULL, NULL, 0);
    CHECK(doc == NULL);
    /* A text need not be NUL-terminated: only len bytes are read. */
    doc = cfg_doc_load_mem("test.yaml", "a: 12345", 5, test_env, NULL, err, sizeof(err));
    CHECK(doc != NULL && get(doc->root, "a")->i == 12);
    cfg_doc_free(doc);
}

static void test_file(void)
{
    char path[] = "/tmp/test_cfg_node_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    const char *text = "model_list:\n  - model_name: gpt\n    litellm_params:\n"
                       "      api_key: os.environ/API_KEY\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    err[0] = '\0';
    cfg_doc_t *doc = cfg_doc_load_file(path, test_env, NULL, err, sizeof(err));
    CHECK(doc != NULL);
    if (doc != NULL) {
        const cfg_node_t *m = get(doc->root, "model_list")->items[0];
        const cfg_node_t *k = get(get(m, "litellm_params"), "api_key");
        CHECK(strcmp(k->str, "sk-123") == 0 && k->line == 4 && k->col == 16);
        CHECK(strcmp(k->file, path) == 0 && strcmp(doc->file, path) == 0);
        cfg_doc_free(doc);
    }
    unlink(path);
    doc = cfg_doc_load_file(path, test_env, NULL, err, sizeof(err));
    CHECK(doc == NULL && strncmp(err, path, strlen(path)) == 0 &&
          strstr(err, ": cannot open: ") != NULL);
    doc = cfg_doc_load_file("/tmp", test_env, NULL, err, sizeof(err));
    CHECK(doc == NULL && strstr(err, "/tmp: cannot read: ") != NULL);
}

int main(void)
{
    test_scalar_typing();
    test_quoted_vs_plain();
    test_positions();
    test_environment();
    test_readers();
    test_merge();
    test_duplicates();
    test_aliases();
    test_depth();
    test_documents();
    test_syntax_errors();
    test_numbers_out_of_range();
    test_limits();
    test_api();
    test_file();
    CHECK(env_calls > 0);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
