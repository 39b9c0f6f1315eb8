/*
 * cfg_node: a YAML document as a tree of typed nodes that remember where they came from.
 *
 * libyaml parses; we keep our own tree (not cJSON) because every configuration error must name the
 * file:line:col of the node at fault, and cJSON has no room for that.  Scalars are typed the
 * YAML 1.2 core-schema way (plain true/false/null/~, integers, floats; quoted scalars stay
 * strings).  Strings of the form `os.environ/NAME`, and `${NAME}` inside strings, are resolved from
 * the environment at load; a missing variable is a load error naming it.  Merge keys (`<<: *base`)
 * are applied.
 *
 * All nodes of a document live in one arena owned by the cfg_doc_t; aliases share nodes (so a
 * "billion laughs" document stays small) and nothing is freed until cfg_doc_free().
 */
#ifndef GANTRY_CFG_NODE_H
#define GANTRY_CFG_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cfg_kind {
    CFG_NULL = 0,
    CFG_BOOL,
    CFG_INT,
    CFG_NUM,
    CFG_STR,
    CFG_SEQ,
    CFG_MAP,
} cfg_kind_t;

typedef struct cfg_node cfg_node_t;

typedef struct cfg_pair {
    const char *key; /* NUL-terminated; keys are always strings (other scalars converted) */
    unsigned key_line, key_col; /* where the key was written, for "unknown key" errors */
    cfg_node_t *value;
} cfg_pair_t;

struct cfg_node {
    cfg_kind_t kind;
    const char *file; /* the document's file name (shared) */
    unsigned line;    /* 1-based */
    unsigned col;     /* 1-based */
    bool from_env; /* the scalar came from os.environ/ or ${}: typed readers may parse its text */
    /* Scalars: the text after environment resolution (always set, NUL-terminated; "" for null). */
    const char *str;
    size_t len;
    bool b;    /* CFG_BOOL */
    int64_t i; /* CFG_INT */
    double d;  /* CFG_NUM; also set for CFG_INT */
    /* Collections */
    size_t count;       /* items of a CFG_SEQ, pairs of a CFG_MAP */
    cfg_node_t **items; /* CFG_SEQ */
    cfg_pair_t *pairs;  /* CFG_MAP, in document order, keys unique */
};

typedef struct cfg_doc {
    cfg_node_t *root; /* never NULL after a successful load: an empty document is an empty map */
    const char *file;
    void *_arena;
} cfg_doc_t;

/* Limits that keep hostile or broken input bounded (documented, and enforced by the loader). */
#define CFG_MAX_FILE_BYTES (16u << 20) /* 16 MiB */
#define CFG_MAX_DEPTH 64
#define CFG_MAX_NODES 1000000

/*
 * Load a document.  On failure return NULL and write one message into err (always NUL-terminated),
 * of the form "FILE:LINE:COL: what is wrong" whenever a position is known.
 * `env` looks up environment variables; pass NULL to use getenv().
 */
typedef const char *(*cfg_env_fn)(const char *name, void *arg);
cfg_doc_t *cfg_doc_load_file(const char *path, cfg_env_fn env, void *env_arg, char *err,
                             size_t errlen);
cfg_doc_t *cfg_doc_load_mem(const char *name, const char *buf, size_t len, cfg_env_fn env,
                            void *env_arg, char *err, size_t errlen);
void cfg_doc_free(cfg_doc_t *doc);

/* The value of `key` in a map, or NULL (also when `map` is NULL or not a map). */
cfg_node_t *cfg_map_get(const cfg_node_t *map, const char *key);
/* The pair of `key` in a map, or NULL. */
const cfg_pair_t *cfg_map_pair(const cfg_node_t *map, const char *key);

/* "string", "integer", "map", ... for messages. */
const char *cfg_kind_name(cfg_kind_t kind);

/*
 * Typed readers that honour from_env (an env-sourced "8080" reads as an int, "true" as a bool).
 * Return 0 on success, -1 on a type mismatch.
 */
int cfg_read_int(const cfg_node_t *n, int64_t *out);
int cfg_read_num(const cfg_node_t *n, double *out);
int cfg_read_bool(const cfg_node_t *n, bool *out);

#endif
