/*
 * cache: what a cache key covers, the request's `cache` controls (LiteLLM's names), and the
 * entries the cache plugins keep.
 *
 * The key is a SHA-256 over: the endpoint, the namespace, the scope (the caller's team, else its
 * key id, unless scope: shared), the model group, and the canonical body with its keys sorted at
 * every depth, minus the fields that do not change the answer.  The API key itself is never part
 * of it.  A streamed and a non-streamed request with the same content have the same key.
 *
 * An entry is an envelope, {"gantry_cache":1,"created_ms":N,"response":<canonical response>}, so
 * that s-maxage can judge its age whatever the backend; the response text inside is kept
 * byte-for-byte, so a hit can be relayed as it was stored.
 */
#include "cache.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gov.h"
#include "log.h"
#include "req.h"
#include "srv.h"

#define ENVELOPE_HEAD "{\"gantry_cache\":1,\"created_ms\":"
#define ENVELOPE_BODY ",\"response\":"
#define MAX_TTL_S (366 * 86400)
#define MAX_NAMESPACE 256

/* Body fields that do not change the answer: they stay out of the key. */
static const char *const ignored[] = {
    "stream",      "stream_options", "user",     "metadata",           "cache",
    "guardrails",  "fallbacks",      "num_retries", "tags",            "request_timeout",
    "session_id",  "enable_history", "litellm_session_id", "litellm_trace_id", "model",
    NULL,
};

/* ---- hashing ---- */

typedef struct hasher {
    EVP_MD_CTX *ctx;
    bool ok;
    size_t n;
    unsigned char buf[4096]; /* EVP_DigestUpdate per byte would be slow: batch */
} hasher_t;

static void flush(hasher_t *h)
{
    if (h->ok && h->n > 0 && EVP_DigestUpdate(h->ctx, h->buf, h->n) != 1)
        h->ok = false;
    h->n = 0;
}

static void put(hasher_t *h, const void *p, size_t n)
{
    if (n >= sizeof h->buf) {
        flush(h);
        if (h->ok && EVP_DigestUpdate(h->ctx, p, n) != 1)
            h->ok = false;
        return;
    }
    if (h->n + n > sizeof h->buf)
        flush(h);
    memcpy(h->buf + h->n, p, n);
    h->n += n;
}

static void putz(hasher_t *h, const char *s)
{
    put(h, s, strlen(s));
}

/* name=<length>:<bytes>\n, so no value can run into the next field. */
static void put_field(hasher_t *h, const char *name, const char *v, size_t len)
{
    char head[64];
    int n = snprintf(head, sizeof head, "%s=%zu:", name, len);
    put(h, head, (size_t)n);
    put(h, v, len);
    put(h, "\n", 1);
}

static void put_string(hasher_t *h, const char *s)
{
    put(h, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(h, e, 2);
        } else if (c < 0x20) {
            char e[8];
            int n = snprintf(e, sizeof e, "\\u%04x", c);
            put(h, e, (size_t)n);
        } else {
            put(h, p, 1);
        }
    }
    put(h, "\"", 1);
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/*
 * A canonical JSON text of v: object members sorted by key at every depth, numbers printed the
 * same way whatever their spelling (1, 1.0 and 1e0 are one value).  `top` skips the ignored
 * fields of the body itself.
 */
static void put_json(hasher_t *h, const cJSON *v, bool top)
{
    char num[40];
    switch (v->type & 0xff) {
    case cJSON_NULL:
    case cJSON_Invalid:
        putz(h, "null");
        return;
    case cJSON_False:
        putz(h, "false");
        return;
    case cJSON_True:
        putz(h, "true");
        return;
    case cJSON_Number:
        if (!isfinite(v->valuedouble)) {
            putz(h, "null");
            return;
        }
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        putz(h, num);
        return;
    case cJSON_String:
        put_string(h, v->valuestring ? v->valuestring : "");
        return;
    case cJSON_Raw:
        putz(h, v->valuestring ? v->valuestring : "null");
        return;
    case cJSON_Array:
        put(h, "[", 1);
        for (const cJSON *c = v->child; c != NULL; c = c->next) {
            put_json(h, c, false);
            if (c->next != NULL)
                put(h, ",", 1);
        }
        put(h, "]", 1);
        return;
    default:
        break;
    }
    size_t n = 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next)
        n++;
    const cJSON **kids = n > 0 ? malloc(n * sizeof *kids) : NULL;
    if (n > 0 && kids == NULL) {
        h->ok = false;
        return;
    }
    size_t k = 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next) {
        bool skip = c->string == NULL;
        for (const char *const *p = ignored; top && !skip && *p; p++)
            skip = strcmp(*p, c->string) == 0;
        if (!skip)
            kids[k++] = c;
    }
    if (k > 1)
        qsort(kids, k, sizeof *kids, by_key);
    put(h, "{", 1);
    for (size_t i = 0; i < k; i++) {
        put_string(h, kids[i]->string);
        put(h, ":", 1);
        put_json(h, kids[i], false);
        if (i + 1 < k)
            put(h, ",", 1);
    }
    put(h, "}", 1);
    free(kids);
}

static const char *endpoint_name(gantry_endpoint_t ep)
{
    switch (ep) {
    case GANTRY_EP_EMBEDDINGS:
        return "embeddings";
    case GANTRY_EP_COMPLETIONS:
        return "completions";
    default:
        return "chat";
    }
}

static bool compute_key(req_t *r, const char *ns, size_t ns_len)
{
    hasher_t *h = malloc(sizeof *h);
    if (h == NULL)
        return false;
    h->ctx = EVP_MD_CTX_new();
    h->ok = h->ctx != NULL && EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1;
    h->n = 0;
    putz(h, "gantry-cache/1\n");
    const char *ep = endpoint_name(r->endpoint);
    put_field(h, "endpoint", ep, strlen(ep));
    put_field(h, "namespace", ns ? ns : "", ns ? ns_len : 0);
    const cfg_cache_t *cc = &r->gen->cfg->cache;
    const gantry_principal_t *p = r->has_principal ? &r->principal : NULL;
    if (cc->shared)
        put_field(h, "scope", "shared", 6);
    else if (p != NULL && p->team_id.len > 0)
        put_field(h, "team", p->team_id.ptr, p->team_id.len);
    else if (p != NULL)
        put_field(h, "key", p->id.ptr ? p->id.ptr : "", p->id.len);
    else
        put_field(h, "scope", "anonymous", 9);
    put_field(h, "model", r->group->name, strlen(r->group->name));
    put_json(h, r->body, true);
    flush(h);
    unsigned char md[32];
    unsigned int mdlen = 0;
    bool ok = h->ok && EVP_DigestFinal_ex(h->ctx, md, &mdlen) == 1 && mdlen == sizeof md;
    EVP_MD_CTX_free(h->ctx);
    free(h);
    if (!ok)
        return false;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        r->cache_key[2 * i] = hex[md[i] >> 4];
        r->cache_key[2 * i + 1] = hex[md[i] & 15];
    }
    r->cache_key[64] = '\0';
    return true;
}

/* ---- controls ---- */

typedef struct controls {
    bool no_cache, no_store, use_cache;
    int64_t ttl_s;      /* 0: the cache's default */
    int64_t max_age_ms; /* -1: any age */
    const char *ns;
    size_t ns_len;
} controls_t;

static bool bad(req_t *r, const char *param, const char *msg)
{
    req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "invalid_value", param,
                  msg);
    return false;
}

static bool read_bool(req_t *r, const cJSON *c, const char *key, const char *param, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsBool(v)) {
        char msg[160];
        snprintf(msg, sizeof msg, "Invalid '%s': expected true or false.", param);
        return bad(r, param, msg);
    }
    *out = cJSON_IsTrue(v);
    return true;
}

/* A number of seconds within [min, max]; false after answering 400. */
static bool read_seconds(req_t *r, const cJSON *c, const char *key, const char *param, double min,
                         bool *given, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    *given = false;
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > MAX_TTL_S) {
        char msg[200];
        snprintf(msg, sizeof msg, "Invalid '%s': expected a number of seconds from %g to %d.",
                 param, min, MAX_TTL_S);
        return bad(r, param, msg);
    }
    *given = true;
    *out = v->valuedouble;
    return true;
}

static bool read_controls(req_t *r, const cJSON *c, controls_t *out)
{
    *out = (controls_t){.max_age_ms = -1};
    if (c == NULL || cJSON_IsNull(c))
        return true;
    if (!cJSON_IsObject(c))
        return bad(r, "cache",
                   "Invalid 'cache': expected an object of cache controls (no-cache, no-store, "
                   "ttl, s-maxage, namespace, use-cache).");
    bool given;
    double secs;
    if (!read_bool(r, c, "no-cache", "cache.no-cache", &out->no_cache) ||
        !read_bool(r, c, "no-store", "cache.no-store", &out->no_store) ||
        !read_bool(r, c, "use-cache", "cache.use-cache", &out->use_cache))
        return false;
    if (!read_seconds(r, c, "ttl", "cache.ttl", 1, &given, &secs))
        return false;
    if (given)
        out->ttl_s = (int64_t)ceil(secs);
    if (!read_seconds(r, c, "s-maxage", "cache.s-maxage", 0, &given, &secs))
        return false;
    if (given)
        out->max_age_ms = (int64_t)(secs * 1000.0);
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(c, "namespace");
    if (ns != NULL && !cJSON_IsNull(ns)) {
        size_t len = cJSON_IsString(ns) ? strlen(ns->valuestring) : 0;
        if (len == 0 || len > MAX_NAMESPACE)
            return bad(r, "cache.namespace",
                       "Invalid 'cache.namespace': expected a string of 1 to 256 bytes.");
        out->ns = ns->valuestring;
        out->ns_len = len;
    }
    return true;
}

/* A key's allowed_cache_controls (LiteLLM): the controls its requests may use; absent or empty:
 * all of them. */
static bool controls_allowed(req_t *r, const cJSON *c)
{
    const gov_rec_t *key = r->gov != NULL ? r->gov->ent[GOV_KEY] : NULL;
    const cJSON *allowed = key != NULL ? key->allowed_cache_controls : NULL;
    if (!cJSON_IsObject(c) || cJSON_GetArraySize(allowed) == 0)
        return true;
    const cJSON *it;
    cJSON_ArrayForEach(it, c)
    {
        bool ok = false;
        const cJSON *a;
        cJSON_ArrayForEach(a, allowed)
        {
            ok = ok || (cJSON_IsString(a) && strcmp(a->valuestring, it->string) == 0);
        }
        if (!ok) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "This key may not use the cache control '%.60s' (allowed_cache_controls).",
                     it->string);
            req_set_error(r, 403, GANTRY_ERR_AUTH, "permission_error", "cache_control_not_allowed",
                          "cache", msg);
            return false;
        }
    }
    return true;
}

bool cache_begin(req_t *r)
{
    r->cache_lookup = r->cache_store = r->cacheable = false;
    r->cache_max_age_ms = -1;
    /* The controls are the gateway's: they never reach a provider, cache or not. */
    cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(r->body, "cache");
    if (r->gen->nkind[GANTRY_KIND_CACHE] == 0) {
        cJSON_Delete(c);
        return true;
    }
    controls_t ctl;
    if (!controls_allowed(r, c) || !read_controls(r, c, &ctl)) {
        cJSON_Delete(c);
        return false;
    }
    const cfg_cache_t *cc = &r->gen->cfg->cache;
    gantry_endpoint_t ep = r->endpoint != 0 ? r->endpoint : GANTRY_EP_CHAT;
    /* LiteLLM's default_off: only a request that says use-cache uses the cache at all. */
    bool on = (cc->endpoints & (1u << ep)) != 0 && (!cc->default_off || ctl.use_cache);
    const char *ns = ctl.ns != NULL ? ctl.ns : cc->namespace_;
    size_t ns_len = ctl.ns != NULL ? ctl.ns_len : ns != NULL ? strlen(ns) : 0;
    if (on && !compute_key(r, ns, ns_len)) {
        log_msg(LOG_WARN, r->id, "cache key not computed (out of memory): the cache is skipped");
        on = false;
    }
    cJSON_Delete(c);
    r->cache_lookup = on && !ctl.no_cache;
    r->cache_store = on && !ctl.no_store;
    r->cacheable = on;
    r->cache_ttl_s = (uint32_t)ctl.ttl_s;
    r->cache_max_age_ms = ctl.max_age_ms;
    return true;
}

/* ---- entries ---- */

bool cache_entry_parse(const char *value, size_t len, int64_t *created_ms, const char **raw,
                       size_t *raw_len)
{
    size_t hl = sizeof ENVELOPE_HEAD - 1, bl = sizeof ENVELOPE_BODY - 1;
    if (value == NULL || len < hl + bl + 3 || memcmp(value, ENVELOPE_HEAD, hl) != 0 ||
        value[len - 1] != '}')
        return false; /* not an entry of ours */
    size_t i = hl;
    int64_t created = 0;
    while (i < len && value[i] >= '0' && value[i] <= '9' && created < INT64_MAX / 10 - 10)
        created = created * 10 + (value[i++] - '0');
    if (i == hl || len - i < bl + 1 || memcmp(value + i, ENVELOPE_BODY, bl) != 0)
        return false;
    *created_ms = created;
    *raw = value + i + bl;
    *raw_len = len - (i + bl) - 1;
    return true;
}

int cache_take_hit(req_t *r, const char *value, size_t len)
{
    if (r->phase != PH_CACHE_LOOKUP || !r->cache_lookup || r->cache_hit)
        return GANTRY_ESTATE;
    int64_t created;
    const char *raw;
    size_t raw_len;
    if (!cache_entry_parse(value, len, &created, &raw, &raw_len))
        return GANTRY_EPARSE; /* not an entry of ours: a miss */
    if (r->cache_max_age_ms >= 0 && unix_ms() - created > r->cache_max_age_ms)
        return GANTRY_OK; /* older than the request accepts (s-maxage): not served */
    cJSON *resp = cJSON_ParseWithLength(raw, raw_len);
    if (!cJSON_IsObject(resp)) {
        cJSON_Delete(resp);
        return GANTRY_EPARSE;
    }
    char *copy = arena_strndup(&r->arena, raw, raw_len);
    if (copy == NULL) {
        cJSON_Delete(resp);
        return GANTRY_ENOMEM;
    }
    cJSON_Delete(r->resp);
    r->resp = resp;
    r->resp_raw = copy;
    r->resp_raw_len = raw_len;
    r->cache_hit = true;
    r->cache_store = false;
    return GANTRY_OK;
}

void cache_store_value(req_t *r, const cJSON *resp, const char *raw, size_t raw_len)
{
    size_t n = r->gen->nkind[GANTRY_KIND_CACHE];
    if (!r->cache_store || r->cache_hit || r->failed || n == 0)
        return;
    r->cache_store = false; /* one answer, one store */
    char *printed = NULL;
    if (raw == NULL) {
        printed = cJSON_PrintUnformatted(resp);
        if (printed == NULL)
            return;
        raw = printed;
        raw_len = strlen(printed);
    }
    char head[96];
    int hn = snprintf(head, sizeof head, ENVELOPE_HEAD "%lld" ENVELOPE_BODY, (long long)unix_ms());
    buf_t b = {0};
    if (buf_append(&b, head, (size_t)hn) == 0 && buf_append(&b, raw, raw_len) == 0 &&
        buf_append(&b, "}", 1) == 0) {
        gantry_str_t key = {r->cache_key, 64};
        gantry_str_t val = {b.ptr, b.len};
        for (size_t i = 0; i < n; i++) {
            inst_t *in = r->gen->by_kind[GANTRY_KIND_CACHE][i];
            in->ops->store(r, in->state, in->wstate[r->w->id], key, val, r->cache_ttl_s);
        }
    } else {
        log_msg(LOG_WARN, r->id, "response not cached: out of memory");
    }
    buf_free(&b);
    cJSON_free(printed);
}

void cache_response(req_t *r)
{
    if (r->cache_hit) {
        /* Nothing was asked of an upstream: no tokens to count or pay for. */
        r->prompt_tokens = r->completion_tokens = r->total_tokens = r->cached_tokens = 0;
        return;
    }
    if (r->cache_store && r->resp != NULL)
        cache_store_value(r, r->resp, r->resp_raw, r->resp_raw_len);
}
