#include "cfg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gantry/host.h>

#include "cache.h"
#include "cfg_schema.h"
#include "log.h"
#include "util.h"

static unsigned error_count;

void cfg_verror(const cfg_node_t *node, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (node != NULL)
        log_msg(LOG_ERROR, NULL, "%s:%u:%u: %s", node->file, node->line, node->col, msg);
    else
        log_msg(LOG_ERROR, NULL, "%s", msg);
    error_count++;
}

void cfg_error(const cfg_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_verror(node, fmt, ap);
    va_end(ap);
}

void cfg_warn(const cfg_node_t *node, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node != NULL)
        log_msg(LOG_WARN, NULL, "%s:%u:%u: %s", node->file, node->line, node->col, msg);
    else
        log_msg(LOG_WARN, NULL, "%s", msg);
}

unsigned cfg_error_count(void)
{
    return error_count;
}

void cfg_error_reset(void)
{
    error_count = 0;
}

static const char *type_name(gantry_conf_type_t t)
{
    switch ((int)t) {
    case GANTRY_CONF_STRING:
        return "a string";
    case GANTRY_CONF_INT:
        return "an integer";
    case GANTRY_CONF_NUMBER:
        return "a number";
    case GANTRY_CONF_BOOL:
        return "a boolean (true/false)";
    case GANTRY_CONF_MAP:
        return "a map";
    case GANTRY_CONF_SEQ:
        return "a list";
    case CFG_T_DURATION:
        return "a duration (seconds, or a string like \"500ms\", \"30s\", \"5m\")";
    default:
        return "a value";
    }
}

static bool type_ok(const cfg_node_t *n, gantry_conf_type_t t)
{
    int64_t i;
    double d;
    bool b;
    switch ((int)t) {
    case GANTRY_CONF_ANY:
        return true;
    case GANTRY_CONF_STRING:
        return n->kind == CFG_STR || n->kind == CFG_INT || n->kind == CFG_NUM;
    case GANTRY_CONF_INT:
        return cfg_read_int(n, &i) == 0;
    case GANTRY_CONF_NUMBER:
        return cfg_read_num(n, &d) == 0;
    case GANTRY_CONF_BOOL:
        return cfg_read_bool(n, &b) == 0;
    case GANTRY_CONF_MAP:
        return n->kind == CFG_MAP;
    case GANTRY_CONF_SEQ:
        return n->kind == CFG_SEQ;
    case CFG_T_DURATION: {
        int64_t ms;
        if (n->kind == CFG_INT || n->kind == CFG_NUM)
            return n->d >= 0;
        return n->kind == CFG_STR && parse_duration_ms(n->str, &ms) == 0;
    }
    }
    return false;
}

/* Edit distance, for "did you mean" hints; keys are short, so the quadratic table is fine. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    }
    return d[la][lb];
}

static const char *closest(const gantry_conf_field_t *a, const gantry_conf_field_t *b,
                           const char *key)
{
    const char *best = NULL;
    size_t bestd = 3; /* suggest only near misses: at most two edits */
    for (int k = 0; k < 2; k++) {
        for (const gantry_conf_field_t *f = k ? b : a; f != NULL && f->name != NULL; f++) {
            size_t dd = distance(f->name, key);
            if (dd < bestd) {
                bestd = dd;
                best = f->name;
            }
        }
    }
    return best;
}

static const gantry_conf_field_t *find_field(const gantry_conf_field_t *fields, const char *key)
{
    if (fields == NULL)
        return NULL;
    for (const gantry_conf_field_t *f = fields; f->name != NULL; f++) {
        size_t n = strlen(f->name);
        if (n > 0 && f->name[n - 1] == '*') {
            if (strncmp(f->name, key, n - 1) == 0)
                return f;
        } else if (strcmp(f->name, key) == 0) {
            return f;
        }
    }
    return NULL;
}

void cfg_check_map(const cfg_node_t *map, const char *what, const gantry_conf_field_t *fields,
                   const gantry_conf_field_t *extra)
{
    if (map == NULL)
        return;
    if (map->kind != CFG_MAP) {
        cfg_error(map, "%s must be a map, not %s", what, cfg_kind_name(map->kind));
        return;
    }
    for (size_t i = 0; i < map->count; i++) {
        const cfg_pair_t *p = &map->pairs[i];
        const gantry_conf_field_t *f = find_field(fields, p->key);
        if (f == NULL)
            f = find_field(extra, p->key);
        if (f == NULL) {
            cfg_node_t pos = *p->value;
            pos.line = p->key_line;
            pos.col = p->key_col;
            const char *hint = closest(fields, extra, p->key);
            if (hint != NULL)
                cfg_error(&pos, "unknown key '%s' in %s (did you mean '%s'?)", p->key, what, hint);
            else
                cfg_error(&pos, "unknown key '%s' in %s", p->key, what);
            continue;
        }
        if (p->value->kind == CFG_NULL && !(f->flags & GANTRY_CONF_REQUIRED))
            continue; /* `key:` with no value means "not set", as in LiteLLM configs */
        if (!type_ok(p->value, f->type)) {
            cfg_error(p->value, "'%s' in %s must be %s, not %s", p->key, what, type_name(f->type),
                      cfg_kind_name(p->value->kind));
            continue;
        }
        if (f->flags & CFG_F_IGNORED) {
            cfg_node_t pos = *p->value;
            pos.line = p->key_line;
            pos.col = p->key_col;
            cfg_warn(&pos,
                     "'%s' in %s is accepted for LiteLLM compatibility but not used by Gantry",
                     p->key, what);
        }
    }
    for (const gantry_conf_field_t *f = fields; f != NULL && f->name != NULL; f++) {
        if ((f->flags & GANTRY_CONF_REQUIRED) && cfg_map_get(map, f->name) == NULL)
            cfg_error(map, "%s is missing the required key '%s'", what, f->name);
    }
    for (const gantry_conf_field_t *f = extra; f != NULL && f->name != NULL; f++) {
        if ((f->flags & GANTRY_CONF_REQUIRED) && cfg_map_get(map, f->name) == NULL)
            cfg_error(map, "%s is missing the required key '%s'", what, f->name);
    }
}

bool cfg_get_duration(const cfg_node_t *map, const char *key, int64_t *ms)
{
    const cfg_node_t *n = cfg_map_get(map, key);
    if (n == NULL || n->kind == CFG_NULL)
        return false;
    if (n->kind == CFG_INT || n->kind == CFG_NUM) {
        if (n->d < 0)
            return false;
        *ms = (int64_t)(n->d * 1000.0 + 0.5);
        return true;
    }
    return n->kind == CFG_STR && parse_duration_ms(n->str, ms) == 0;
}

bool cfg_get_int(const cfg_node_t *map, const char *key, int64_t *v)
{
    const cfg_node_t *n = cfg_map_get(map, key);
    return n != NULL && cfg_read_int(n, v) == 0;
}

bool cfg_get_num(const cfg_node_t *map, const char *key, double *v)
{
    const cfg_node_t *n = cfg_map_get(map, key);
    return n != NULL && cfg_read_num(n, v) == 0;
}

bool cfg_get_bool(const cfg_node_t *map, const char *key, bool *v)
{
    const cfg_node_t *n = cfg_map_get(map, key);
    return n != NULL && cfg_read_bool(n, v) == 0;
}

const char *cfg_get_str(const cfg_node_t *map, const char *key)
{
    const cfg_node_t *n = cfg_map_get(map, key);
    if (n == NULL || (n->kind != CFG_STR && n->kind != CFG_INT && n->kind != CFG_NUM))
        return NULL;
    return n->str;
}

/* guardrail: values of LiteLLM configs and the plugins that serve them. */
static const struct {
    const char *name, *plugin;
} guard_aliases[] = {
    {"bedrock", "bedrock_guardrail"}, {"bedrock_guardrail", "bedrock_guardrail"},
    {"max-length", "max_length"},     {"max_tokens", "max_length"},
    {"max-tokens", "max_length"},
};

static unsigned guard_mode(const cfg_node_t *n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } modes[] = {
        {"pre_call", GANTRY_GUARD_PRE_CALL},   {"during_call", GANTRY_GUARD_DURING_CALL},
        {"post_call", GANTRY_GUARD_POST_CALL}, {"logging_only", GANTRY_GUARD_LOGGING_ONLY},
    };
    for (size_t i = 0; n->kind == CFG_STR && i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(n->str, modes[i].name) == 0)
            return modes[i].bit;
    }
    cfg_error(n, "mode must be pre_call, during_call, post_call or logging_only");
    return 0;
}

static void load_guard(cfg_t *c, const cfg_node_t *e)
{
    if (e->kind != CFG_MAP) {
        cfg_error(e, "guardrails entries must be maps with guardrail_name and litellm_params");
        return;
    }
    cfg_check_map(e, "a guardrails entry", cfg_guard_entry_fields, NULL);
    const cfg_node_t *lp = cfg_map_get(e, "litellm_params");
    const char *name = cfg_get_str(e, "guardrail_name");
    if (lp == NULL || lp->kind != CFG_MAP || name == NULL)
        return;
    cfg_guard_t *g = &c->guards[c->nguards];
    *g = (cfg_guard_t){.node = e, .name = name, .modes = GANTRY_GUARD_PRE_CALL};
    g->plugin = cfg_get_str(lp, "guardrail");
    if (g->plugin == NULL) {
        cfg_error(lp, "litellm_params needs 'guardrail' (bedrock, regex, pii, keywords, ...)");
        return;
    }
    for (size_t i = 0; i < sizeof guard_aliases / sizeof guard_aliases[0]; i++) {
        if (strcmp(guard_aliases[i].name, g->plugin) == 0)
            g->plugin = guard_aliases[i].plugin;
    }
    const cfg_node_t *mode = cfg_map_get(lp, "mode");
    if (mode != NULL && mode->kind == CFG_SEQ) {
        g->modes = 0;
        for (size_t i = 0; i < mode->count; i++)
            g->modes |= guard_mode(mode->items[i]);
    } else if (mode != NULL) {
        g->modes = guard_mode(mode);
    }
    cfg_get_bool(lp, "default_on", &g->default_on);
    cfg_get_bool(lp, "fail_open", &g->fail_open);
    cfg_get_bool(lp, "allow_disable", &g->allow_disable);
    /* The plugin gets litellm_params without the core's keys, as its own config block. */
    g->config = calloc(1, sizeof *g->config);
    *g->config = *lp;
    g->config->pairs = calloc(lp->count + 1, sizeof *g->config->pairs);
    g->config->count = 0;
    for (size_t i = 0; i < lp->count; i++) {
        bool core = false;
        for (const gantry_conf_field_t *f = cfg_guard_core_fields; f->name && !core; f++)
            core = strcmp(f->name, lp->pairs[i].key) == 0;
        if (!core)
            g->config->pairs[g->config->count++] = lp->pairs[i];
    }
    for (size_t i = 0; i < c->nguards; i++) {
        if (strcmp(c->guards[i].name, name) == 0) {
            cfg_error(cfg_map_get(e, "guardrail_name"), "a guardrail named '%s' already exists",
                      name);
            free(g->config->pairs);
            free(g->config);
            return;
        }
    }
    c->nguards++;
}

static void load_guards(cfg_t *c, const cfg_node_t *list)
{
    if (list == NULL || list->kind != CFG_SEQ)
        return;
    c->guards = calloc(list->count + 1, sizeof *c->guards);
    for (size_t i = 0; i < list->count; i++)
        load_guard(c, list->items[i]);
}

static void load_history(cfg_t *c, const cfg_node_t *h)
{
    cfg_history_t *v = &c->history;
    *v = (cfg_history_t){.enabled = true,
                         .max_messages = 100,
                         .max_bytes = 1 << 20,
                         .ttl_ms = 30LL * 86400 * 1000,
                         .max_sessions = 1000};
    if (h == NULL)
        return;
    cfg_check_map(h, "chat_history", cfg_history_fields, NULL);
    cfg_get_bool(h, "enabled", &v->enabled);
    cfg_get_duration(h, "ttl", &v->ttl_ms);
    struct {
        const char *key;
        int64_t *v, min, max;
    } ints[] = {
        {"max_messages", &v->max_messages, 2, 100000},
        {"max_bytes", &v->max_bytes, 1024, 64 << 20},
        {"max_sessions_per_key", &v->max_sessions, 1, 10000000},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (cfg_get_int(h, ints[i].key, ints[i].v) &&
            (*ints[i].v < ints[i].min || *ints[i].v > ints[i].max))
            cfg_error(cfg_map_get(h, ints[i].key), "%s must be between %lld and %lld",
                      ints[i].key, (long long)ints[i].min, (long long)ints[i].max);
    }
}

static void load_server(cfg_t *c, const cfg_node_t *s)
{
    cfg_server_t *v = &c->server;
    v->host = "0.0.0.0";
    v->port = 4000;
    v->workers = 0;
    v->http2 = v->h2c = true;
    v->max_request_bytes = 4 << 20;
    v->max_response_bytes = 64 << 20;
    v->request_memory_bytes = 64 << 20;
    v->connect_timeout_ms = 10000;
    v->idle_timeout_ms = 300000;
    v->drain_timeout_ms = 30000;
    v->client_timeout_ms = 30000;
    c->database = NULL; /* general_settings.database_url, or gantry.db beside the config */
    if (s == NULL)
        return;
    const char *db = cfg_get_str(s, "database");
    if (db != NULL)
        c->database = db;
    cfg_check_map(s, "server", cfg_server_fields, NULL);
    const char *str;
    int64_t i;
    if ((str = cfg_get_str(s, "host")) != NULL)
        v->host = str;
    if (cfg_get_int(s, "port", &i)) {
        if (i < 0 || i > 65535)
            cfg_error(cfg_map_get(s, "port"), "port must be between 0 and 65535");
        v->port = (int)i;
    }
    if (cfg_get_int(s, "workers", &i)) {
        if (i < 0 || i > 256)
            cfg_error(cfg_map_get(s, "workers"), "workers must be between 0 (= CPU count) and 256");
        v->workers = (int)i;
    }
    cfg_get_bool(s, "http2", &v->http2);
    cfg_get_bool(s, "h2c", &v->h2c);
    v->tls_cert = cfg_get_str(s, "tls_cert");
    v->tls_key = cfg_get_str(s, "tls_key");
    if ((v->tls_cert == NULL) != (v->tls_key == NULL))
        cfg_error(s, "server: tls_cert and tls_key must be given together");
    struct {
        const char *key;
        int64_t *dst;
        int64_t min;
    } sizes[] = {{"max_request_bytes", &v->max_request_bytes, 1024},
                 {"max_response_bytes", &v->max_response_bytes, 1024},
                 {"request_memory_bytes", &v->request_memory_bytes, 65536}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        if (cfg_get_int(s, sizes[k].key, &i)) {
            if (i < sizes[k].min)
                cfg_error(cfg_map_get(s, sizes[k].key), "%s must be at least %lld", sizes[k].key,
                          (long long)sizes[k].min);
            *sizes[k].dst = i;
        }
    }
    cfg_get_duration(s, "connect_timeout", &v->connect_timeout_ms);
    cfg_get_duration(s, "idle_timeout", &v->idle_timeout_ms);
    cfg_get_duration(s, "drain_timeout", &v->drain_timeout_ms);
    cfg_get_duration(s, "client_timeout", &v->client_timeout_ms);
}

static void load_plugins(cfg_t *c, const cfg_node_t *p)
{
    if (p == NULL)
        return;
    cfg_check_map(p, "plugins", cfg_plugins_fields, NULL);
    const cfg_node_t *path = cfg_map_get(p, "path");
    if (path != NULL && path->kind == CFG_SEQ) {
        c->plugin_path = calloc(path->count + 1, sizeof *c->plugin_path);
        for (size_t i = 0; i < path->count; i++) {
            if (path->items[i]->kind != CFG_STR)
                cfg_error(path->items[i], "plugins.path entries must be directory names");
            else
                c->plugin_path[c->nplugin_path++] = path->items[i]->str;
        }
    }
    const cfg_node_t *load = cfg_map_get(p, "load");
    if (load == NULL || load->kind != CFG_SEQ)
        return;
    c->plugins = calloc(load->count + 1, sizeof *c->plugins);
    for (size_t i = 0; i < load->count; i++) {
        const cfg_node_t *e = load->items[i];
        if (e->kind != CFG_MAP) {
            cfg_error(e, "plugins.load entries must be maps with 'plugin', 'name' and 'config'");
            continue;
        }
        cfg_check_map(e, "a plugins.load entry", cfg_plugin_entry_fields, NULL);
        cfg_plugin_ref_t *r = &c->plugins[c->nplugins];
        r->node = e;
        r->plugin = cfg_get_str(e, "plugin");
        r->name = cfg_get_str(e, "name"); /* NULL: the plugin's own name, known once it is loaded */
        r->config = cfg_map_get(e, "config");
        if (r->config != NULL && r->config->kind == CFG_NULL)
            r->config = NULL;
        if (r->plugin == NULL)
            continue;
        c->nplugins++;
    }
}

static void load_deployment(cfg_t *c, const cfg_node_t *e, size_t index)
{
    if (e->kind != CFG_MAP) {
        cfg_error(e, "model_list entries must be maps with model_name and litellm_params");
        return;
    }
    cfg_check_map(e, "a model_list entry", cfg_model_fields, NULL);
    const char *name = cfg_get_str(e, "model_name");
    const cfg_node_t *params = cfg_map_get(e, "litellm_params");
    const cfg_node_t *info = cfg_map_get(e, "model_info");
    if (info != NULL && info->kind == CFG_NULL)
        info = NULL;
    cfg_check_map(info, "model_info", cfg_model_info_fields, NULL);
    if (name == NULL || params == NULL || params->kind != CFG_MAP)
        return;
    if (*name == '\0') {
        cfg_error(cfg_map_get(e, "model_name"), "model_name must not be empty");
        return;
    }
    const cfg_node_t *mnode = cfg_map_get(params, "model");
    if (mnode == NULL) {
        cfg_error(params, "litellm_params is missing the required key 'model'");
        return;
    }
    if (mnode->kind != CFG_STR) {
        cfg_error(mnode, "'model' must be a string like \"openai/gpt-4o\"");
        return;
    }
    const char *slash = strchr(mnode->str, '/');
    if (slash == NULL || slash == mnode->str || slash[1] == '\0') {
        cfg_error(mnode,
                  "'model' must be \"<provider>/<model-id>\" (e.g. \"openai/gpt-4o\"), got \"%s\"",
                  mnode->str);
        return;
    }
    cfg_deployment_t *d = &c->deps[c->ndeps++];
    d->node = e;
    d->params = params;
    d->info = info;
    d->model_name = name;
    d->model = mnode->str;
    d->prefix = strndup(mnode->str, (size_t)(slash - mnode->str));
    d->model_id = slash + 1;
    d->weight = 1;
    d->input_cost_per_token = d->output_cost_per_token = -1;
    d->drop_params = c->drop_params;
    const char *id = info != NULL ? cfg_get_str(info, "id") : NULL;
    if (id != NULL) {
        d->id = strdup(id);
    } else {
        /* Stable across restarts as long as the entry and its position stay the same. */
        char seed[1024], hex[65];
        int n =
            snprintf(seed, sizeof seed, "%s\n%s\n%s\n%zu", name, d->model,
                     cfg_get_str(params, "api_base") ? cfg_get_str(params, "api_base") : "", index);
        sha256_hex(seed, (size_t)(n < (int)sizeof seed ? n : (int)sizeof seed - 1), hex);
        hex[16] = '\0';
        d->id = strdup(hex);
    }
    for (size_t k = 0; k + 1 < c->ndeps; k++) {
        if (strcmp(c->deps[k].id, d->id) == 0) {
            cfg_error(info ? cfg_map_get(info, "id") : e, "deployment id '%s' is used twice",
                      d->id);
            break;
        }
    }
    /* The provider-specific keys are checked later against the provider's schema. */
    if (!cfg_get_duration(params, "timeout", &d->timeout_ms))
        d->timeout_ms = c->default_timeout_ms;
    if (!cfg_get_duration(params, "stream_timeout", &d->stream_timeout_ms))
        d->stream_timeout_ms =
            c->default_stream_timeout_ms >= 0 ? c->default_stream_timeout_ms : d->timeout_ms;
    d->max_retries = -1;
    cfg_get_int(params, "max_retries", &d->max_retries);
    cfg_get_num(params, "weight", &d->weight);
    cfg_get_int(params, "rpm", &d->rpm);
    cfg_get_int(params, "tpm", &d->tpm);
    cfg_get_int(params, "order", &d->order);
    cfg_get_int(params, "max_parallel_requests", &d->max_parallel);
    cfg_get_bool(params, "drop_params", &d->drop_params);
    cfg_get_num(params, "input_cost_per_token", &d->input_cost_per_token);
    cfg_get_num(params, "output_cost_per_token", &d->output_cost_per_token);
    if (d->weight < 0)
        cfg_error(cfg_map_get(params, "weight"), "weight must not be negative");
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/*
 * The database: server.database when given (a plain path or :memory:), else LiteLLM's
 * general_settings.database_url - sqlite:///rel.db is relative to the config's directory,
 * sqlite:////abs.db absolute - else gantry.db beside the config.
 */
static void load_database(cfg_t *c, const cfg_node_t *gs)
{
    if (c->database != NULL)
        return;
    const cfg_node_t *n = cfg_map_get(gs, "database_url");
    const char *url = cfg_get_str(gs, "database_url");
    const char *rel = "gantry.db";
    if (url != NULL) {
        if (strcmp(url, ":memory:") == 0 || strcmp(url, "sqlite://:memory:") == 0) {
            c->database = ":memory:";
            return;
        }
        if (strncmp(url, "sqlite:///", 10) != 0 || url[10] == '\0') {
            cfg_error(n, "database_url: only SQLite is built in (sqlite:///relative/path.db or "
                         "sqlite:////absolute/path.db)");
            c->database = ":memory:";
            return;
        }
        rel = url + 10;
        if (*rel == '/') {
            c->database = rel;
            return;
        }
    }
    size_t len = strlen(c->dir) + strlen(rel) + 2;
    c->database_buf = malloc(len);
    if (c->database_buf != NULL)
        snprintf(c->database_buf, len, "%s/%s", c->dir, rel);
    c->database = c->database_buf != NULL ? c->database_buf : ":memory:";
}

static cfg_t *build(cfg_doc_t *doc, const char *path)
{
    cfg_t *c = calloc(1, sizeof *c);
    c->doc = doc;
    c->path = strdup(path);
    c->dir = dir_of(path);
    c->default_timeout_ms = 600000;
    const cfg_node_t *root = doc->root;
    if (root->kind != CFG_MAP) {
        cfg_error(root, "the configuration must be a map (model_list:, general_settings:, ...)");
        load_server(c, NULL);
        load_history(c, NULL);
        load_database(c, NULL);
        return c;
    }
    cfg_check_map(root, "the configuration", cfg_top_fields, NULL);
    cfg_check_map(cfg_map_get(root, "general_settings"), "general_settings", cfg_general_fields,
                  NULL);
    cfg_check_map(cfg_map_get(root, "router_settings"), "router_settings", cfg_router_fields, NULL);
    const cfg_node_t *ls = cfg_map_get(root, "litellm_settings");
    cfg_check_map(ls, "litellm_settings", cfg_litellm_fields, NULL);
    cfg_get_duration(ls, "request_timeout", &c->default_timeout_ms);
    const cfg_node_t *rs = cfg_map_get(root, "router_settings");
    cfg_get_duration(rs, "timeout", &c->default_timeout_ms);
    c->default_stream_timeout_ms = -1;
    cfg_get_duration(rs, "stream_timeout", &c->default_stream_timeout_ms);
    cfg_get_bool(ls, "drop_params", &c->drop_params);
    load_server(c, cfg_map_get(root, "server"));
    load_history(c, cfg_map_get(root, "chat_history"));
    cache_conf_load(c, ls);
    load_guards(c, cfg_map_get(root, "guardrails"));
    load_plugins(c, cfg_map_get(root, "plugins"));

    const cfg_node_t *gs = cfg_map_get(root, "general_settings");
    c->master_key_node = cfg_map_get(gs, "master_key");
    if (c->master_key_node != NULL && c->master_key_node->kind != CFG_NULL) {
        c->master_key = cfg_get_str(gs, "master_key");
        if (c->master_key != NULL && *c->master_key == '\0')
            cfg_error(c->master_key_node, "master_key must not be empty");
    } else {
        c->master_key_node = NULL;
    }
    load_database(c, gs);

    const cfg_node_t *ml = cfg_map_get(root, "model_list");
    if (ml != NULL && ml->kind == CFG_SEQ) {
        c->deps = calloc(ml->count + 1, sizeof *c->deps);
        for (size_t i = 0; i < ml->count; i++)
            load_deployment(c, ml->items[i], i);
    }
    return c;
}

cfg_t *cfg_load(const char *path)
{
    char err[1024];
    cfg_doc_t *doc = cfg_doc_load_file(path, NULL, NULL, err, sizeof err);
    if (doc == NULL) {
        log_error("%s", err);
        error_count++;
        return NULL;
    }
    return build(doc, path);
}

cfg_t *cfg_load_mem(const char *name, const char *text, size_t len)
{
    char err[1024];
    cfg_doc_t *doc = cfg_doc_load_mem(name, text, len, NULL, NULL, err, sizeof err);
    if (doc == NULL) {
        log_error("%s", err);
        error_count++;
        return NULL;
    }
    return build(doc, name);
}

void cfg_free(cfg_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->ndeps; i++) {
        free(c->deps[i].prefix);
        free(c->deps[i].id);
    }
    free(c->deps);
    for (size_t i = 0; i < c->nguards; i++) {
        free(c->guards[i].config->pairs);
        free(c->guards[i].config);
    }
    free(c->guards);
    cache_conf_free(c);
    free(c->plugins);
    free(c->plugin_path);
    free(c->path);
    free(c->dir);
    free(c->database_buf);
    cfg_doc_free(c->doc);
    free(c);
}
