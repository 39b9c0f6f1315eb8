/*
 * regex guardrail: configuration, instance and worker lifecycle, and the plugin descriptor.
 */
#include "regex_int.h"

#include <stdio.h>
#include <string.h>

int rx_compile(const rx_pattern_t *p, regex_t *re)
{
    /*
     * Block patterns only answer "is there a match", so they are compiled without sub-match
     * tracking, which lets glibc take its faster path.  REG_STARTEND still works with REG_NOSUB.
     */
    return regcomp(re, p->source, p->cflags | (p->mask ? 0 : REG_NOSUB));
}

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static int get_string(const gantry_host_t *host, const gantry_conf_t *node, const char *what,
                      gantry_str_t *out)
{
    if (host->conf_string(node, out) != GANTRY_OK)
        return host->conf_error(node, "regex: `%s` must be a string", what);
    return GANTRY_OK;
}

/* Compile once to report a bad pattern at load time, with the node's file:line:col. */
static int validate_regex(const gantry_host_t *host, const gantry_conf_t *node,
                          const rx_pattern_t *p)
{
    regex_t re;
    regmatch_t m[1];
    char msg[256];
    int rc = rx_compile(p, &re);

    if (rc != 0) {
        regerror(rc, &re, msg, sizeof(msg));
        return host->conf_error(node, "regex: pattern '%s' does not compile: %s", p->name, msg);
    }
    /*
     * A pattern that matches the empty string matches every text: as a block pattern it would block
     * everything, as a mask pattern it would mask nothing.  Either way it is a mistake.
     */
    m[0].rm_so = 0;
    m[0].rm_eo = 0;
    rc = regexec(&re, "", 1, m, REG_STARTEND);
    regfree(&re);
    if (rc == 0)
        return host->conf_error(node, "regex: pattern '%s' matches the empty string", p->name);
    return GANTRY_OK;
}

static int parse_pattern(rx_instance_t *rx, const gantry_conf_t *node, rx_pattern_t *p)
{
    const gantry_host_t *host = rx->host;
    const gantry_conf_t *pattern_node = NULL, *replacement_node = NULL;
    gantry_str_t s;
    bool have_name = false;
    int rc;

    if (host->conf_type(node) != GANTRY_CONF_MAP)
        return host->conf_error(node, "regex: each entry of `patterns` must be a map with `name` "
                                      "and `pattern`");
    p->cflags = REG_EXTENDED;
    /* The core checks only the top-level keys; keys inside a pattern are checked here. */
    for (size_t i = 0; i < host->conf_count(node); i++) {
        gantry_str_t key = host->conf_key_at(node, i);
        const gantry_conf_t *value = host->conf_at(node, i);

        if (str_is(key, "name")) {
            if ((rc = get_string(host, value, "name", &s)) != GANTRY_OK)
                return rc;
            if (s.len == 0)
                return host->conf_error(value, "regex: `name` must not be empty");
            p->name = s.ptr;
            have_name = true;
        } else if (str_is(key, "pattern")) {
            if ((rc = get_string(host, value, "pattern", &s)) != GANTRY_OK)
                return rc;
            p->source = s.ptr;
            pattern_node = value;
        } else if (str_is(key, "action")) {
            if ((rc = get_string(host, value, "action", &s)) != GANTRY_OK)
                return rc;
            if (str_is(s, "mask"))
                p->mask = true;
            else if (!str_is(s, "block"))
                return host->conf_error(value, "regex: `action` must be `block` or `mask`");
        } else if (str_is(key, "replacement")) {
            if ((rc = get_string(host, value, "replacement", &p->replacement)) != GANTRY_OK)
                return rc;
            replacement_node = value;
        } else if (str_is(key, "case_insensitive")) {
            bool ci;
            if (host->conf_bool(value, &ci) != GANTRY_OK)
                return host->conf_error(value, "regex: `case_insensitive` must be true or false");
            if (ci)
                p->cflags |= REG_ICASE;
        } else {
            return host->conf_error(value,
                                    "regex: unknown key '%.*s' in a pattern (expected name, "
                                    "pattern, action, replacement, case_insensitive)",
                                    (int)key.len, key.ptr);
        }
    }
    if (!have_name)
        return host->conf_error(node, "regex: a pattern needs a `name`");
    if (pattern_node == NULL)
        return host->conf_error(node, "regex: pattern '%s' needs a `pattern`", p->name);
    if (replacement_node != NULL && !p->mask)
        return host->conf_error(
            replacement_node, "regex: `replacement` needs `action: mask` (pattern '%s')", p->name);
    if (p->mask && replacement_node == NULL) {
        size_t n = strlen(p->name) + sizeof("[REDACTED:]");
        p->replacement_owned = host->mem_alloc(n);
        if (p->replacement_owned == NULL)
            return GANTRY_ENOMEM;
        snprintf(p->replacement_owned, n, "[REDACTED:%s]", p->name);
        p->replacement = (gantry_str_t){p->replacement_owned, n - 1};
    }
    return validate_regex(host, pattern_node, p);
}

static int parse_patterns(rx_instance_t *rx, const gantry_conf_t *conf)
{
    const gantry_host_t *host = rx->host;
    const gantry_conf_t *list = host->conf_get(conf, "patterns");
    size_t n;
    int rc;

    if (list == NULL)
        return host->conf_error(conf, "regex: `patterns` is required");
    if (host->conf_type(list) != GANTRY_CONF_SEQ)
        return host->conf_error(list, "regex: `patterns` must be a list");
    n = host->conf_count(list);
    if (n == 0)
        return host->conf_error(list, "regex: `patterns` must not be empty");
    rx->patterns = host->mem_calloc(n, sizeof(*rx->patterns));
    if (rx->patterns == NULL)
        return GANTRY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const gantry_conf_t *node = host->conf_at(list, i);

        rx->npatterns = i + 1; /* so destroy() frees what this entry allocated, even on error */
        if ((rc = parse_pattern(rx, node, &rx->patterns[i])) != GANTRY_OK)
            return rc;
        /* Names appear in error messages and logs; two with one name could not be told apart. */
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rx->patterns[j].name, rx->patterns[i].name) == 0)
                return host->conf_error(node, "regex: two patterns are named '%s'",
                                        rx->patterns[i].name);
        }
        if (rx->patterns[i].mask)
            rx->has_mask = true;
        else
            rx->has_block = true;
    }
    return GANTRY_OK;
}

static int parse_apply_to(rx_instance_t *rx, const gantry_conf_t *list)
{
    const gantry_host_t *host = rx->host;
    gantry_str_t s;

    if (list == NULL) {
        rx->on_request = rx->on_response = true;
        return GANTRY_OK;
    }
    if (host->conf_type(list) != GANTRY_CONF_SEQ || host->conf_count(list) == 0)
        return host->conf_error(list, "regex: `apply_to` must be a list of `request` and/or "
                                      "`response`");
    for (size_t i = 0; i < host->conf_count(list); i++) {
        const gantry_conf_t *node = host->conf_at(list, i);

        if (host->conf_string(node, &s) == GANTRY_OK && str_is(s, "request"))
            rx->on_request = true;
        else if (host->conf_string(node, &s) == GANTRY_OK && str_is(s, "response"))
            rx->on_response = true;
        else
            return host->conf_error(node, "regex: `apply_to` entries are `request` or `response`");
    }
    return GANTRY_OK;
}

static int parse_window(rx_instance_t *rx, const gantry_conf_t *node)
{
    const gantry_host_t *host = rx->host;
    int64_t v;

    rx->stream_window = RX_DEFAULT_STREAM_WINDOW;
    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_int(node, &v) != GANTRY_OK || v < 0 || v > RX_MAX_STREAM_WINDOW)
        return host->conf_error(node, "regex: `stream_window` must be an integer from 0 to %d",
                                RX_MAX_STREAM_WINDOW);
    rx->stream_window = (size_t)v;
    return GANTRY_OK;
}

static void rx_destroy(void *state)
{
    rx_instance_t *rx = state;
    const gantry_host_t *host;

    if (rx == NULL)
        return;
    host = rx->host;
    for (size_t i = 0; i < rx->npatterns; i++)
        host->mem_free(rx->patterns[i].replacement_owned);
    host->mem_free(rx->patterns);
    host->mem_free(rx);
}

static int rx_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    rx_instance_t *rx = host->mem_calloc(1, sizeof(*rx));
    int rc;

    if (rx == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
        return GANTRY_ENOMEM;
    }
    rx->host = host;
    rx->self = self;
    rx->name = host->instance_name(self);
    if (rx->name == NULL)
        rx->name = "regex";
    if ((rc = parse_patterns(rx, conf)) != GANTRY_OK ||
        (rc = parse_apply_to(rx, host->conf_get(conf, "apply_to"))) != GANTRY_OK ||
        (rc = parse_window(rx, host->conf_get(conf, "stream_window"))) != GANTRY_OK)
        goto fail;
    *state = rx;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
    rx_destroy(rx);
    return rc;
}

static void free_worker(const gantry_host_t *host, rx_worker_t *ws)
{
    for (size_t i = 0; i < ws->n; i++)
        regfree(&ws->re[i]);
    host->mem_free(ws->re);
    host->mem_free(ws);
}

static int rx_worker_init(void *state, unsigned worker_id, void **worker_state)
{
    const rx_instance_t *rx = state;
    const gantry_host_t *host = rx->host;
    rx_worker_t *ws = host->mem_calloc(1, sizeof(*ws));

    if (ws == NULL || (ws->re = host->mem_calloc(rx->npatterns, sizeof(*ws->re))) == NULL)
        goto nomem;
    for (size_t i = 0; i < rx->npatterns; i++) {
        /* The patterns compiled in create(), so a failure here can only be a lack of memory. */
        if (rx_compile(&rx->patterns[i], &ws->re[i]) != 0)
            goto nomem;
        ws->n = i + 1;
    }
    *worker_state = ws;
    return GANTRY_OK;

nomem:
    host->log(rx->self, NULL, GANTRY_LOG_ERROR, "worker %u: out of memory compiling the patterns",
              worker_id);
    if (ws != NULL)
        free_worker(host, ws);
    return GANTRY_ENOMEM;
}

static void rx_worker_fini(void *state, unsigned worker_id, void *worker_state)
{
    const rx_instance_t *rx = state;

    (void)worker_id;
    if (worker_state != NULL)
        free_worker(rx->host, worker_state);
}

static const gantry_conf_field_t rx_fields[] = {
    {"patterns", GANTRY_CONF_SEQ, GANTRY_CONF_REQUIRED,
     "list of {name, pattern (POSIX ERE), action: block|mask (default block), replacement "
     "(default \"[REDACTED:<name>]\"), case_insensitive (default false)}"},
    {"apply_to", GANTRY_CONF_SEQ, 0,
     "where to look: [request, response] (default both); response covers streamed chunks"},
    {"stream_window", GANTRY_CONF_INT, 0,
     "bytes of earlier streamed text re-checked with each chunk for block patterns: how far "
     "back a match split across chunks may start (default 1024, at most 65536)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t rx_ops = {
    .size = sizeof(gantry_ops_t),
    .create = rx_create,
    .destroy = rx_destroy,
    .worker_init = rx_worker_init,
    .worker_fini = rx_worker_fini,
    .check_request = rx_check_request,
    .check_chunk = rx_check_chunk,
    .check_response = rx_check_response,
};

static const gantry_plugin_desc_t rx_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_GUARDRAIL,
    .name = "regex",
    .version = "0.1.0",
    .summary = "blocks or masks regular-expression matches in prompts and completions",
    .flags = 0,
    .config_fields = rx_fields,
    .deployment_fields = NULL,
    .ops = &rx_ops,
};

GANTRY_PLUGIN(&rx_desc)
