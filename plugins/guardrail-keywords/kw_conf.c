/*
 * keywords guardrail: configuration, instance lifecycle, and the plugin descriptor.
 */
#include "kw_int.h"

#include <string.h>

#define KW_DEFAULT_REPLACEMENT "[REDACTED]"

/* Defaults for list entries that do not say. */
typedef struct kw_defaults {
    bool block;
    bool case_sensitive;
    bool whole_word;
    gantry_str_t repl;
} kw_defaults_t;

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static int parse_action(const gantry_host_t *host, const gantry_conf_t *node, bool *block)
{
    gantry_str_t s;

    if (host->conf_string(node, &s) != GANTRY_OK)
        return host->conf_error(node, "keywords: `action` must be block or mask");
    if (str_is(s, "block") || str_is(s, "BLOCK"))
        *block = true;
    else if (str_is(s, "mask") || str_is(s, "MASK"))
        *block = false;
    else
        return host->conf_error(node, "keywords: `action` must be block or mask");
    return GANTRY_OK;
}

static int parse_match(const gantry_host_t *host, const gantry_conf_t *node, bool *whole)
{
    gantry_str_t s;

    if (host->conf_string(node, &s) != GANTRY_OK || !(str_is(s, "word") || str_is(s, "substring")))
        return host->conf_error(node, "keywords: `match` must be word or substring");
    *whole = str_is(s, "word");
    return GANTRY_OK;
}

static int parse_bool(const gantry_host_t *host, const gantry_conf_t *node, const char *what,
                      bool *out)
{
    if (host->conf_bool(node, out) != GANTRY_OK)
        return host->conf_error(node, "keywords: `%s` must be true or false", what);
    return GANTRY_OK;
}

static int set_text(const gantry_host_t *host, const gantry_conf_t *node, kw_word_t *w)
{
    gantry_str_t s;

    if (host->conf_string(node, &s) != GANTRY_OK)
        return host->conf_error(node, "keywords: a keyword must be a string");
    if (s.len == 0)
        return host->conf_error(node, "keywords: a keyword must not be empty");
    if (s.len > KW_MAX_LEN)
        return host->conf_error(node, "keywords: a keyword is longer than %d bytes", KW_MAX_LEN);
    w->text = s.ptr;
    w->len = s.len;
    return GANTRY_OK;
}

/* One entry: "word", or {keyword, action, case_sensitive, match, replacement}. */
static int parse_entry(const gantry_host_t *host, const gantry_conf_t *node, const kw_defaults_t *d,
                       kw_word_t *w)
{
    const gantry_conf_t *text = NULL, *repl = NULL;
    int rc = GANTRY_OK;

    w->block = d->block;
    w->case_sensitive = d->case_sensitive;
    w->whole_word = d->whole_word;
    w->repl = d->repl.ptr;
    w->repl_len = d->repl.len;
    if (host->conf_type(node) != GANTRY_CONF_MAP)
        return set_text(host, node, w);
    /* The core checks only the top-level keys; keys inside an entry are checked here. */
    for (size_t i = 0; i < host->conf_count(node); i++) {
        gantry_str_t key = host->conf_key_at(node, i);
        const gantry_conf_t *value = host->conf_at(node, i);

        if (str_is(key, "keyword"))
            text = value;
        else if (str_is(key, "action"))
            rc = parse_action(host, value, &w->block);
        else if (str_is(key, "case_sensitive"))
            rc = parse_bool(host, value, "case_sensitive", &w->case_sensitive);
        else if (str_is(key, "match"))
            rc = parse_match(host, value, &w->whole_word);
        else if (str_is(key, "replacement"))
            repl = value;
        else
            return host->conf_error(value,
                                    "keywords: unknown key '%.*s' in a keyword (expected keyword, "
                                    "action, case_sensitive, match, replacement)",
                                    (int)key.len, key.ptr);
        if (rc != GANTRY_OK)
            return rc;
    }
    if (text == NULL)
        return host->conf_error(node, "keywords: an entry needs a `keyword`");
    if ((rc = set_text(host, text, w)) != GANTRY_OK)
        return rc;
    if (repl != NULL) {
        gantry_str_t s;
        if (host->conf_string(repl, &s) != GANTRY_OK)
            return host->conf_error(repl, "keywords: `replacement` must be a string");
        if (w->block)
            return host->conf_error(repl, "keywords: `replacement` needs `action: mask`");
        w->repl = s.ptr;
        w->repl_len = s.len;
    }
    return GANTRY_OK;
}

static int parse_defaults(kw_instance_t *ki, const gantry_conf_t *conf, kw_defaults_t *d)
{
    const gantry_host_t *host = ki->host;
    const gantry_conf_t *n;
    int rc;

    *d = (kw_defaults_t){
        .block = true, .whole_word = true, .repl = GANTRY_STR_LIT(KW_DEFAULT_REPLACEMENT)};
    if ((n = host->conf_get(conf, "action")) != NULL &&
        (rc = parse_action(host, n, &d->block)) != GANTRY_OK)
        return rc;
    if ((n = host->conf_get(conf, "case_sensitive")) != NULL &&
        (rc = parse_bool(host, n, "case_sensitive", &d->case_sensitive)) != GANTRY_OK)
        return rc;
    if ((n = host->conf_get(conf, "match")) != NULL &&
        (rc = parse_match(host, n, &d->whole_word)) != GANTRY_OK)
        return rc;
    if ((n = host->conf_get(conf, "mask_format")) != NULL &&
        host->conf_string(n, &d->repl) != GANTRY_OK)
        return host->conf_error(n, "keywords: `mask_format` must be a string");
    ki->on_request = ki->on_response = true;
    if ((n = host->conf_get(conf, "check_request")) != NULL &&
        (rc = parse_bool(host, n, "check_request", &ki->on_request)) != GANTRY_OK)
        return rc;
    if ((n = host->conf_get(conf, "check_response")) != NULL &&
        (rc = parse_bool(host, n, "check_response", &ki->on_response)) != GANTRY_OK)
        return rc;
    return GANTRY_OK;
}

static int parse_keywords(kw_instance_t *ki, const gantry_conf_t *conf)
{
    const gantry_host_t *host = ki->host;
    const gantry_conf_t *list = host->conf_get(conf, "keywords");
    kw_defaults_t d;
    size_t n;
    int rc;

    if ((rc = parse_defaults(ki, conf, &d)) != GANTRY_OK)
        return rc;
    if (list == NULL)
        return host->conf_error(conf, "keywords: `keywords` is required");
    if (host->conf_type(list) != GANTRY_CONF_SEQ || (n = host->conf_count(list)) == 0)
        return host->conf_error(list, "keywords: `keywords` must be a non-empty list");
    if (n > KW_MAX_WORDS)
        return host->conf_error(list, "keywords: more than %d keywords", KW_MAX_WORDS);
    ki->set.words = host->mem_calloc(n, sizeof(*ki->set.words));
    if (ki->set.words == NULL)
        return GANTRY_ENOMEM;
    ki->set.nwords = n;
    for (size_t i = 0; i < n; i++) {
        if ((rc = parse_entry(host, host->conf_at(list, i), &d, &ki->set.words[i])) != GANTRY_OK)
            return rc;
    }
    return kw_set_build(&ki->set, &ki->mem) == 0 ? GANTRY_OK : GANTRY_ENOMEM;
}

static void kw_destroy(void *state)
{
    kw_instance_t *ki = state;

    if (ki == NULL)
        return;
    kw_set_free(&ki->set, &ki->mem);
    ki->host->mem_free(ki->set.words);
    ki->host->mem_free(ki);
}

static int kw_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    kw_instance_t *ki = host->mem_calloc(1, sizeof(*ki));
    int rc;

    if (ki == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
        return GANTRY_ENOMEM;
    }
    ki->host = host;
    ki->self = self;
    ki->name = host->instance_name(self);
    if (ki->name == NULL)
        ki->name = "keywords";
    ki->mem = (kw_mem_t){host->mem_realloc, host->mem_free};
    if ((rc = parse_keywords(ki, conf)) != GANTRY_OK) {
        if (rc == GANTRY_ENOMEM)
            host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
        kw_destroy(ki);
        return rc;
    }
    *state = ki;
    return GANTRY_OK;
}

static const gantry_conf_field_t kw_fields[] = {
    {"keywords", GANTRY_CONF_SEQ, GANTRY_CONF_REQUIRED,
     "the deny list: strings, or {keyword, action: block|mask, case_sensitive, match: "
     "word|substring, replacement}"},
    {"action", GANTRY_CONF_STRING, 0, "default action of the keywords: block (default) or mask"},
    {"match", GANTRY_CONF_STRING, 0,
     "default matching: word (whole words, the default) or substring"},
    {"case_sensitive", GANTRY_CONF_BOOL, 0, "default case sensitivity (default false)"},
    {"mask_format", GANTRY_CONF_STRING, 0,
     "what a masked keyword becomes unless it has its own replacement (default \"[REDACTED]\")"},
    {"check_request", GANTRY_CONF_BOOL, 0, "look at prompts (default true)"},
    {"check_response", GANTRY_CONF_BOOL, 0,
     "look at completions, streamed ones included (default true)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t kw_ops = {
    .size = sizeof(gantry_ops_t),
    .create = kw_create,
    .destroy = kw_destroy,
    .check_request = kw_check_request,
    .check_chunk = kw_check_chunk,
    .check_response = kw_check_response,
};

static const gantry_plugin_desc_t kw_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_GUARDRAIL,
    .name = "keywords",
    .version = "0.1.0",
    .summary = "blocks or masks the words of a deny list in prompts and completions",
    .flags = 0,
    .config_fields = kw_fields,
    .deployment_fields = NULL,
    .ops = &kw_ops,
};

GANTRY_PLUGIN(&kw_desc)
