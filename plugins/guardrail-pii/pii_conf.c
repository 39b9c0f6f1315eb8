/*
 * pii guardrail: configuration, instance lifecycle, and the plugin descriptor.
 */
#include "pii_int.h"

#include <string.h>

#define PII_DEFAULT_FORMAT "[{ENTITY}]"
#define PII_MAX_REPLACEMENT 4096

static bool str_ieq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);

    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s.ptr[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

/* entities: {name: mask|block|off, ...}; every entity not named is masked. */
static int parse_entities(pii_instance_t *pi, const gantry_conf_t *map)
{
    const gantry_host_t *host = pi->host;

    pi->rules.enabled = PII_ALL;
    pi->rules.block = 0;
    if (map == NULL)
        return GANTRY_OK;
    if (host->conf_type(map) != GANTRY_CONF_MAP)
        return host->conf_error(map, "pii: `entities` must be a map of entity: mask|block|off");
    for (size_t i = 0; i < host->conf_count(map); i++) {
        gantry_str_t key = host->conf_key_at(map, i), action;
        const gantry_conf_t *value = host->conf_at(map, i);
        uint32_t bits = pii_entity_lookup(key.ptr, key.len);

        if (bits == 0)
            return host->conf_error(
                value,
                "pii: unknown entity '%.*s' (email, phone, credit_card, iban, aws_access_key, "
                "aws_secret_key, ipv4, ipv6, private_key, github_token, slack_token, openai_key, "
                "google_api_key, jwt, stripe_key)",
                (int)key.len, key.ptr);
        if (host->conf_string(value, &action) != GANTRY_OK)
            return host->conf_error(value, "pii: the action of '%.*s' must be a string",
                                    (int)key.len, key.ptr);
        if (str_ieq(action, "mask")) {
            pi->rules.enabled |= bits;
            pi->rules.block &= ~bits;
        } else if (str_ieq(action, "block")) {
            pi->rules.enabled |= bits;
            pi->rules.block |= bits;
        } else if (str_ieq(action, "off")) {
            pi->rules.enabled &= ~bits;
            pi->rules.block &= ~bits;
        } else {
            return host->conf_error(value, "pii: the action of '%.*s' must be mask, block or off",
                                    (int)key.len, key.ptr);
        }
    }
    return GANTRY_OK;
}

/* The replacement of one entity: mask_format with {ENTITY} and {entity} filled in. */
static char *render(const gantry_host_t *host, gantry_str_t fmt, pii_entity_t e, size_t *len)
{
    const char *label = pii_entity_label(e), *name = pii_entity_name(e);
    size_t n = 0, cap = fmt.len + 1;
    char *out;

    /* Every placeholder grows the text by less than the longest label. */
    for (size_t i = 0; i + 8 <= fmt.len; i++) {
        if (fmt.ptr[i] == '{')
            cap += 16;
    }
    out = host->mem_alloc(cap);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < fmt.len;) {
        const char *sub = NULL;

        if (fmt.len - i >= 8 && memcmp(fmt.ptr + i, "{ENTITY}", 8) == 0)
            sub = label;
        else if (fmt.len - i >= 8 && memcmp(fmt.ptr + i, "{entity}", 8) == 0)
            sub = name;
        if (sub != NULL) {
            size_t k = strlen(sub);
            memcpy(out + n, sub, k);
            n += k;
            i += 8;
        } else {
            out[n++] = fmt.ptr[i++];
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static int parse_format(pii_instance_t *pi, const gantry_conf_t *node)
{
    const gantry_host_t *host = pi->host;
    gantry_str_t fmt = GANTRY_STR_LIT(PII_DEFAULT_FORMAT);

    if (node != NULL && host->conf_string(node, &fmt) != GANTRY_OK)
        return host->conf_error(node, "pii: `mask_format` must be a string");
    if (fmt.len > PII_MAX_REPLACEMENT)
        return host->conf_error(node, "pii: `mask_format` is longer than %d bytes",
                                PII_MAX_REPLACEMENT);
    for (unsigned e = 0; e < PII_NENTITIES; e++) {
        pi->repl_owned[e] = render(host, fmt, (pii_entity_t)e, &pi->rules.repl_len[e]);
        if (pi->repl_owned[e] == NULL)
            return GANTRY_ENOMEM;
        pi->rules.repl[e] = pi->repl_owned[e];
    }
    return GANTRY_OK;
}

static int parse_bool(const gantry_host_t *host, const gantry_conf_t *node, const char *what,
                      bool *out)
{
    *out = true;
    if (node != NULL && host->conf_bool(node, out) != GANTRY_OK)
        return host->conf_error(node, "pii: `%s` must be true or false", what);
    return GANTRY_OK;
}

static void pii_destroy(void *state)
{
    pii_instance_t *pi = state;

    if (pi == NULL)
        return;
    for (unsigned e = 0; e < PII_NENTITIES; e++)
        pi->host->mem_free(pi->repl_owned[e]);
    pi->host->mem_free(pi);
}

static int pii_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                      void **state)
{
    pii_instance_t *pi = host->mem_calloc(1, sizeof(*pi));
    const gantry_conf_t *entities;
    int rc;

    if (pi == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
        return GANTRY_ENOMEM;
    }
    pi->host = host;
    pi->self = self;
    pi->name = host->instance_name(self);
    if (pi->name == NULL)
        pi->name = "pii";
    pi->mem = (pii_mem_t){host->mem_realloc, host->mem_free};
    entities = host->conf_get(conf, "entities");
    /* LiteLLM's Presidio guardrail calls it pii_entities_config; both spellings are read. */
    if (host->conf_get(conf, "pii_entities_config") != NULL) {
        if (entities != NULL) {
            rc = host->conf_error(host->conf_get(conf, "pii_entities_config"),
                                  "pii: set `entities` or `pii_entities_config`, not both");
            goto fail;
        }
        entities = host->conf_get(conf, "pii_entities_config");
    }
    if ((rc = parse_entities(pi, entities)) != GANTRY_OK ||
        (rc = parse_format(pi, host->conf_get(conf, "mask_format"))) != GANTRY_OK ||
        (rc = parse_bool(host, host->conf_get(conf, "check_request"), "check_request",
                         &pi->on_request)) != GANTRY_OK ||
        (rc = parse_bool(host, host->conf_get(conf, "check_response"), "check_response",
                         &pi->on_response)) != GANTRY_OK)
        goto fail;
    *state = pi;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
    pii_destroy(pi);
    return rc;
}

static const gantry_conf_field_t pii_fields[] = {
    {"entities", GANTRY_CONF_MAP, 0,
     "entity: mask|block|off for email, phone, credit_card, iban, aws_access_key, "
     "aws_secret_key, ipv4, ipv6, private_key, github_token, slack_token, openai_key, "
     "google_api_key, jwt, stripe_key (every entity not named is masked)"},
    {"pii_entities_config", GANTRY_CONF_MAP, 0, "the same as `entities` (LiteLLM's name)"},
    {"mask_format", GANTRY_CONF_STRING, 0,
     "replacement of a masked entity; {ENTITY} is its upper-case name (default \"[{ENTITY}]\")"},
    {"check_request", GANTRY_CONF_BOOL, 0, "look at prompts (default true)"},
    {"check_response", GANTRY_CONF_BOOL, 0,
     "look at completions, streamed ones included (default true)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t pii_ops = {
    .size = sizeof(gantry_ops_t),
    .create = pii_create,
    .destroy = pii_destroy,
    .check_request = pii_check_request,
    .check_chunk = pii_check_chunk,
    .check_response = pii_check_response,
};

static const gantry_plugin_desc_t pii_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_GUARDRAIL,
    .name = "pii",
    .version = "0.1.0",
    .summary = "masks or blocks personal data and secrets (e-mails, phones, cards, IBANs, keys, "
               "IPs, tokens) in prompts and completions",
    .flags = 0,
    .config_fields = pii_fields,
    .deployment_fields = NULL,
    .ops = &pii_ops,
};

GANTRY_PLUGIN(&pii_desc)
