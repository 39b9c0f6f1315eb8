/*
 * libFuzzer target for the YAML loader (core/cfg_node.c).
 *
 * The input is loaded as a config file.  Environment lookups succeed for some names and fail for
 * others, so both substitution and the "not set" error are reached.  A successful load is walked,
 * within a visit budget because aliases may make the expanded tree exponentially large, and the
 * loader's promises are checked: positions are 1-based, scalar text is terminated, keys are
 * unique.  A broken promise aborts, which libFuzzer reports as a crash.
 */
#include "cfg_node.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *fuzz_env(const char *name, void *arg)
{
    (void)arg;
    if (name[0] >= 'A' && name[0] <= 'M')
        return "value";
    if (strcmp(name, "PORT") == 0)
        return "8080";
    if (strcmp(name, "FLAG") == 0)
        return "true";
    if (strcmp(name, "LONG") == 0)
        return "0123456789012345678901234567890123456789012345678901234567890123456789";
    return NULL;
}

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void walk(const cfg_node_t *n, unsigned depth, size_t *budget)
{
    if (*budget == 0)
        return;
    (*budget)--;
    check(n != NULL && depth <= CFG_MAX_DEPTH + 1);
    check(n->line >= 1 && n->col >= 1 && n->file != NULL && n->str != NULL);
    check(strlen(n->str) == n->len || n->kind == CFG_SEQ || n->kind == CFG_MAP);
    check(strcmp(cfg_kind_name(n->kind), "unknown") != 0);

    int64_t i;
    double d;
    bool b;
    if (cfg_read_int(n, &i) == 0)
        check(n->kind == CFG_INT || n->from_env);
    if (cfg_read_num(n, &d) == 0)
        check(n->kind == CFG_INT || n->kind == CFG_NUM || n->from_env);
    if (cfg_read_bool(n, &b) == 0)
        check(n->kind == CFG_BOOL || n->from_env);

    if (n->kind == CFG_SEQ) {
        for (size_t k = 0; k < n->count; k++)
            walk(n->items[k], depth + 1, budget);
    } else if (n->kind == CFG_MAP) {
        for (size_t k = 0; k < n->count; k++) {
            const cfg_pair_t *p = &n->pairs[k];
            check(p->key != NULL && p->key_line >= 1 && p->key_col >= 1);
            /* Keys are unique, so a lookup finds this very pair (checked on small maps only,
             * since the lookup is linear). */
            if (n->count <= 64)
                check(cfg_map_pair(n, p->key) == p);
            walk(p->value, depth + 1, budget);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    memset(err, 'x', sizeof(err));
    cfg_doc_t *doc =
        cfg_doc_load_mem("fuzz.yaml", (const char *)data, size, fuzz_env, NULL, err, sizeof(err));
    if (doc == NULL) {
        check(memchr(err, '\0', sizeof(err)) != NULL && strncmp(err, "fuzz.yaml:", 10) == 0);
        return 0;
    }
    check(doc->root != NULL && strcmp(doc->file, "fuzz.yaml") == 0);
    size_t budget = 100000;
    walk(doc->root, 1, &budget);
    cfg_doc_free(doc);
    return 0;
}
