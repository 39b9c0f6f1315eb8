/*
 * cfg: the typed configuration built from a cfg_doc_t.  It checks the skeleton (sections, types,
 * required keys, unknown keys) and reports every problem as "file:line:col: message" through
 * cfg_error(); callers look at cfg_error_count() and never start half-configured.
 * Plugin and provider-specific keys are checked later, against the plugins' own schemas (gen.c).
 */
#ifndef GANTRY_CFG_H
#define GANTRY_CFG_H

#include <gantry/plugin.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg_node.h"

/* Internal schema extensions on top of gantry_conf_field_t (never seen by plugins). */
#define CFG_F_IGNORED 0x100u /* a LiteLLM key Gantry accepts but does not act on: warn */
#define CFG_T_DURATION 100   /* seconds (number) or "250ms"/"30s"/"5m"/"1h" */

typedef struct cfg_server {
    const char *host;
    int port;
    int workers;
    bool http2, h2c;
    const char *tls_cert, *tls_key;
    int64_t max_request_bytes;
    int64_t max_response_bytes;
    int64_t request_memory_bytes;
    int64_t connect_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t drain_timeout_ms;
    int64_t client_timeout_ms;
} cfg_server_t;

typedef struct cfg_deployment {
    const cfg_node_t *node;    /* the model_list entry */
    const cfg_node_t *params;  /* litellm_params */
    const cfg_node_t *info;    /* model_info, may be NULL */
    const char *model_name;    /* the group */
    const char *model;         /* "openai/gpt-4o" */
    char *prefix;              /* "openai" (malloc'd) */
    const char *model_id;      /* "gpt-4o" (points into model) */
    char *id;                  /* model_info.id or a generated stable id (malloc'd) */
    int64_t timeout_ms;        /* whole non-streaming call; 0 = default */
    int64_t stream_timeout_ms; /* to the first streamed byte; 0 = timeout */
    int64_t max_retries;       /* -1: not set */
    double weight;
    int64_t rpm, tpm, max_parallel, order;
    bool drop_params;
    double input_cost_per_token, output_cost_per_token; /* < 0: not set */
} cfg_deployment_t;

typedef struct cfg_plugin_ref {
    const cfg_node_t *node;   /* the list entry */
    const char *plugin;       /* .so / descriptor name */
    const char *name;         /* instance name; NULL = the plugin's name */
    const cfg_node_t *config; /* may be NULL */
} cfg_plugin_ref_t;

/* One entry of LiteLLM's `guardrails:` list: a guardrail plugin instance and how the core runs it. */
typedef struct cfg_guard {
    const cfg_node_t *node;   /* the list entry */
    const char *name;         /* guardrail_name: the instance name */
    const char *plugin;       /* plugin name, from litellm_params.guardrail (mapped) */
    cfg_node_t *config;       /* litellm_params without the core's keys (malloc'd map) */
    unsigned modes;           /* GANTRY_GUARD_* */
    bool default_on, fail_open, allow_disable;
} cfg_guard_t;

/*
 * litellm_settings.cache and cache_params (cache_conf.c): the cache instance LiteLLM's config asks
 * for, and the rules every cache instance follows (also those from plugins.load).
 */
typedef struct cfg_cache {
    bool enabled;            /* litellm_settings.cache: true creates the instance below */
    const cfg_node_t *node;  /* cache_params, else litellm_settings.cache: for messages */
    const char *type;        /* cache_params.type: "local" or "redis" */
    const char *plugin;      /* the plugin serving the type: "memory" or "redis" */
    cfg_node_t *plugin_conf; /* the cache_params keys the plugin takes (malloc'd map), or NULL */
    const char *namespace_;  /* part of every key; NULL: none */
    bool default_off;        /* mode: default_off - only requests with cache: {"use-cache": true} */
    bool shared;             /* scope: shared - callers share entries (default: per team) */
    unsigned endpoints;      /* supported_call_types as bits (1u << gantry_endpoint_t) */
} cfg_cache_t;

/* chat_history: conversations kept per key (hist.c). */
typedef struct cfg_history {
    bool enabled;
    int64_t max_messages; /* per session; the oldest are dropped first */
    int64_t max_bytes;    /* per session, as stored JSON */
    int64_t ttl_ms;       /* sessions untouched this long are deleted */
    int64_t max_sessions; /* per owner; the least recently used go first */
} cfg_history_t;

typedef struct cfg {
    cfg_doc_t *doc;
    char *path; /* as given */
    char *dir;  /* directory of the file, for relative paths */
    cfg_server_t server;
    cfg_deployment_t *deps;
    size_t ndeps;
    cfg_plugin_ref_t *plugins;
    size_t nplugins;
    const char **plugin_path; /* from plugins.path */
    size_t nplugin_path;
    const cfg_node_t *master_key_node;
    const char *master_key;
    int64_t
        default_timeout_ms; /* router_settings.timeout / litellm_settings.request_timeout (600 s) */
    int64_t default_stream_timeout_ms; /* router_settings.stream_timeout; -1: the timeout */
    bool drop_params;                  /* litellm_settings.drop_params */
    const char *database;              /* SQLite file: server.database, database_url, gantry.db */
    char *database_buf;                /* ... when it had to be built */
    cfg_history_t history;             /* chat_history: */
    cfg_guard_t *guards;               /* guardrails: */
    size_t nguards;
    cfg_cache_t cache;                 /* litellm_settings.cache / cache_params */
} cfg_t;

/* Load and check a file; NULL when it cannot even be parsed.  Check cfg_error_count() after. */
cfg_t *cfg_load(const char *path);
cfg_t *cfg_load_mem(const char *name, const char *text, size_t len);
void cfg_free(cfg_t *cfg);

/* Report a configuration error at a node (NULL: no position). */
void cfg_error(const cfg_node_t *node, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg_verror(const cfg_node_t *node, const char *fmt, va_list ap);
void cfg_warn(const cfg_node_t *node, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned cfg_error_count(void);
void cfg_error_reset(void);

/*
 * Check a map against a schema: unknown keys (with `extra` as a second accepted list, may be NULL),
 * types and required keys.  Keys flagged CFG_F_IGNORED are accepted with a warning.
 */
void cfg_check_map(const cfg_node_t *map, const char *what, const gantry_conf_field_t *fields,
                   const gantry_conf_field_t *extra);

/* Readers used while building the config; they report errors themselves. */
bool cfg_get_duration(const cfg_node_t *map, const char *key, int64_t *ms);
bool cfg_get_int(const cfg_node_t *map, const char *key, int64_t *v);
bool cfg_get_num(const cfg_node_t *map, const char *key, double *v);
bool cfg_get_bool(const cfg_node_t *map, const char *key, bool *v);
const char *cfg_get_str(const cfg_node_t *map, const char *key);

#endif
