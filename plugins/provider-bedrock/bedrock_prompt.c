/*
 * The bedrock provider: Bedrock Prompt Management.  A model id that is a prompt ARN
 * (arn:aws:bedrock:<region>:<account>:prompt/<id>[:<version>]) names a stored template.  It is
 * fetched with bedrock-agent's GetPrompt through host->http_call() (prepare() PAUSEs meanwhile),
 * kept in the worker's cache for five minutes, rendered here with the request's promptVariables
 * ({"name": {"text": "value"}}), and sent with Converse to the model of the default variant, the
 * variant's inference configuration under the request's own values.
 */
#include <stdio.h>

#include "bedrock.h"

#define PROMPT_TIMEOUT_MS 10000
#define PROMPT_MAX_BYTES (1u << 20)

typedef struct fetch {
    bedrock_req_t *rs;
    char *key;
} fetch_t;

static char *cache_key(br_ctx_t *c)
{
    const bedrock_deployment_t *dep = c->dep;
    size_t len = strlen(dep->agent_endpoint) + 1 + dep->model.id.len;
    char *k = c->host->alloc(c->req, len + 1);
    if (k != NULL)
        snprintf(k, len + 1, "%s|%.*s", dep->agent_endpoint, (int)dep->model.id.len,
                 dep->model.id.ptr);
    return k;
}

static bool usable(const gantry_host_t *h, const gantry_json_t *root)
{
    return h->json_type(h->json_get(root, "variants")) == GANTRY_JSON_ARRAY &&
           h->json_count(h->json_get(root, "variants")) > 0;
}

static void fetched(gantry_req_t *req, void *arg, const gantry_http_result_t *res)
{
    fetch_t *f = arg;
    bedrock_req_t *rs = f->rs;
    const gantry_host_t *h = rs->inst->host;
    br_ctx_t c = {.host = h, .req = req, .inst = rs->inst, .dep = rs->dep, .rs = rs};
    gantry_json_t *root = res->status == 200 ? h->json_parse(req, res->body) : NULL;
    if (res->status == 200 && usable(h, root)) {
        rs->prompt_root = root;
        rs->prompt_for = rs->dep;
        bedrock_pcache_put(bedrock_pcache(rs->inst), f->key, res->body, h->now_us());
    } else {
        rs->prompt_failed = true;
        rs->prompt_status = res->status == 200 ? 502 : res->status;
        gantry_str_t why = res->status == 0     ? br_clean_text(&c, res->error, 200)
                           : res->status == 200 ? GANTRY_STR_LIT("the GetPrompt answer has no "
                                                                 "variants")
                                                : br_error_message(&c, res->body);
        rs->prompt_error = h->strdup(req, why.ptr != NULL ? why.ptr : "", why.len);
    }
    h->resume(req, GANTRY_CONTINUE);
}

static gantry_action_t report_failure(br_ctx_t *c)
{
    bedrock_req_t *rs = c->rs;
    int st = rs->prompt_status;
    const char *why = rs->prompt_error != NULL ? rs->prompt_error : "";
    /* A retry of the request fetches again. */
    rs->prompt_failed = false;
    gantry_error_class_t cls = st == 0                  ? GANTRY_ERR_CONNECT
                               : st == 404              ? GANTRY_ERR_NOT_FOUND
                               : st == 401 || st == 403 ? GANTRY_ERR_AUTH
                               : st == 429              ? GANTRY_ERR_RATE_LIMIT
                               : st == 400              ? GANTRY_ERR_BAD_REQUEST
                                                        : GANTRY_ERR_SERVER;
    int status = st == 0 ? 502 : (st >= 400 && st <= 599 ? st : 502);
    return c->host->req_fail(c->req, status, cls,
                             cls == GANTRY_ERR_NOT_FOUND ? "not_found_error" : "api_error", NULL,
                             "could not load the managed prompt %.*s: %s",
                             (int)c->dep->model.id.len, c->dep->model.id.ptr, why);
}

gantry_action_t br_prompt_load(br_ctx_t *c, const aws_creds_t *creds)
{
    const gantry_host_t *h = c->host;
    const bedrock_deployment_t *dep = c->dep;
    bedrock_req_t *rs = c->rs;
    if (rs->prompt_root != NULL && rs->prompt_for == dep)
        return GANTRY_CONTINUE;
    if (rs->prompt_failed)
        return report_failure(c);

    char *key = cache_key(c);
    if (key == NULL)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "out of memory");
    gantry_str_t cached = bedrock_pcache_get(bedrock_pcache(c->inst), key, h->now_us());
    if (cached.len > 0) {
        gantry_json_t *root = h->json_parse(c->req, cached);
        if (usable(h, root)) {
            rs->prompt_root = root;
            rs->prompt_for = dep;
            return GANTRY_CONTINUE;
        }
    }

    /* GET {agent}/prompts/{id}[?promptVersion={version}] */
    const br_model_t *m = &dep->model;
    size_t len = strlen(dep->agent_endpoint) + 9 + m->prompt_id.len + 15 + m->prompt_version.len;
    char *url = h->alloc(c->req, len + 1);
    fetch_t *f = h->alloc(c->req, sizeof(*f));
    br_signed_t *sig = h->alloc(c->req, sizeof(*sig));
    if (url == NULL || f == NULL || sig == NULL)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "out of memory");
    if (m->prompt_version.len > 0)
        snprintf(url, len + 1, "%s/prompts/%.*s?promptVersion=%.*s", dep->agent_endpoint,
                 (int)m->prompt_id.len, m->prompt_id.ptr, (int)m->prompt_version.len,
                 m->prompt_version.ptr);
    else
        snprintf(url, len + 1, "%s/prompts/%.*s", dep->agent_endpoint, (int)m->prompt_id.len,
                 m->prompt_id.ptr);

    br_header_t hdrs[1] = {{GANTRY_STR_LIT("Accept"), GANTRY_STR_LIT("application/json")}};
    br_header_t sent[6];
    int n;
    if (dep->bearer != NULL) {
        sent[0] = hdrs[0];
        sent[1] =
            (br_header_t){GANTRY_STR_LIT("Authorization"), {dep->bearer, strlen(dep->bearer)}};
        n = 2;
    } else {
        n = br_sign(dep, creds, "GET", url, hdrs, 1, GANTRY_STR_LIT(""), "bedrock",
                    (time_t)(h->unix_ms() / 1000), sig, sent);
        if (n < 0)
            return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                               "could not sign the GetPrompt request");
    }
    gantry_http_header_t hh[6];
    for (int i = 0; i < n; i++)
        hh[i] = (gantry_http_header_t){sent[i].name, sent[i].value};
    gantry_http_call_t call = {
        .size = sizeof(call),
        .method = "GET",
        .url = {url, strlen(url)},
        .headers = hh,
        .nheaders = (size_t)n,
        .timeout_ms = PROMPT_TIMEOUT_MS,
        .max_response_bytes = PROMPT_MAX_BYTES,
    };
    f->rs = rs;
    f->key = key;
    int rc = h->http_call(c->req, &call, fetched, f);
    memset(sig, 0, sizeof(*sig)); /* copied by http_call */
    if (rc != GANTRY_OK)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not start the GetPrompt call: %s", h->strerror(rc));
    return GANTRY_PAUSE;
}

const gantry_json_t *br_prompt_variant(br_ctx_t *c, gantry_str_t *model_id)
{
    const gantry_host_t *h = c->host;
    const gantry_json_t *root = c->rs->prompt_root;
    gantry_str_t def = br_get_str(h, root, "defaultVariant");
    const gantry_json_t *variants = h->json_get(root, "variants");
    const gantry_json_t *v = NULL;
    for (const gantry_json_t *x = h->json_first(variants); x != NULL; x = h->json_next(x)) {
        gantry_str_t name = br_get_str(h, x, "name");
        if (def.len > 0 && name.len == def.len && memcmp(name.ptr, def.ptr, def.len) == 0) {
            v = x;
            break;
        }
    }
    if (v == NULL)
        v = h->json_first(variants);
    *model_id = br_get_str(h, v, "modelId");
    gantry_str_t type = br_get_str(h, v, "templateType");
    if (model_id->len == 0) {
        br_bad_request(c, "the managed prompt's variant names no modelId");
        return NULL;
    }
    if (!br_str_eq(type, "TEXT") && !br_str_eq(type, "CHAT")) {
        br_bad_request(c, "the managed prompt's template type is not TEXT or CHAT");
        return NULL;
    }
    return v;
}

/* {{name}} replaced by promptVariables.name.text; -1 (after req_fail) for a missing variable. */
static int render(br_ctx_t *c, gantry_str_t tpl, const gantry_json_t *vars, gantry_str_t *out)
{
    const gantry_host_t *h = c->host;
    size_t cap = tpl.len + 1, len = 0;
    char *buf = h->alloc(c->req, cap);
    if (buf == NULL) {
        c->oom = true;
        return 0;
    }
#define PUT(p, n)                              \
    do {                                       \
        size_t n_ = (n);                       \
        if (len + n_ + 1 > cap) {              \
            size_t ncap = (len + n_ + 1) * 2;  \
            char *nb = h->alloc(c->req, ncap); \
            if (nb == NULL) {                  \
                c->oom = true;                 \
                return 0;                      \
            }                                  \
            memcpy(nb, buf, len);              \
            buf = nb;                          \
            cap = ncap;                        \
        }                                      \
        memcpy(buf + len, (p), n_);            \
        len += n_;                             \
    } while (0)
    size_t i = 0;
    while (i < tpl.len) {
        const char *open = NULL;
        for (size_t k = i; k + 1 < tpl.len; k++) {
            if (tpl.ptr[k] == '{' && tpl.ptr[k + 1] == '{') {
                open = tpl.ptr + k;
                break;
            }
        }
        const char *close = NULL;
        if (open != NULL) {
            for (const char *q = open + 2; q + 1 < tpl.ptr + tpl.len; q++) {
                if (q[0] == '}' && q[1] == '}') {
                    close = q;
                    break;
                }
            }
        }
        if (open == NULL || close == NULL) {
            PUT(tpl.ptr + i, tpl.len - i);
            break;
        }
        PUT(tpl.ptr + i, (size_t)(open - (tpl.ptr + i)));
        gantry_str_t name = {open + 2, (size_t)(close - open - 2)};
        while (name.len > 0 && name.ptr[0] == ' ') {
            name.ptr++;
            name.len--;
        }
        while (name.len > 0 && name.ptr[name.len - 1] == ' ')
            name.len--;
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)(name.len < 127 ? name.len : 127), name.ptr);
        const gantry_json_t *var = h->json_get(vars, key);
        gantry_str_t value = h->json_type(var) == GANTRY_JSON_STRING ? h->json_string(var)
                                                                     : br_get_str(h, var, "text");
        if (value.ptr == NULL || name.len >= 127) {
            br_bad_request(c, "promptVariables has no text for the managed prompt's variable '%s'",
                           key);
            return -1;
        }
        PUT(value.ptr, value.len);
        i = (size_t)(close + 2 - tpl.ptr);
    }
#undef PUT
    buf[len] = '\0';
    *out = (gantry_str_t){buf, len};
    return 0;
}

/* A canonical message {"role", "content": [{"type":"text","text"}...]} from Converse blocks. */
static int chat_message(br_ctx_t *c, gantry_json_t *msgs, const char *role,
                        const gantry_json_t *blocks, const gantry_json_t *vars)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *m = br_push_obj(c, msgs);
    br_set_cstr(c, m, "role", role);
    gantry_json_t *parts = br_arr(c, m, "content");
    gantry_json_t *last = NULL;
    for (const gantry_json_t *b = h->json_first(blocks); b != NULL; b = h->json_next(b)) {
        gantry_str_t text = br_get_str(h, b, "text"), r;
        if (text.ptr != NULL) {
            if (render(c, text, vars, &r) != 0)
                return -1;
            last = br_push_obj(c, parts);
            br_set_cstr(c, last, "type", "text");
            br_set_str(c, last, "text", r);
        } else if (h->json_get(b, "cachePoint") != NULL && last != NULL) {
            br_set_cstr(c, br_obj(c, last, "cache_control"), "type", "ephemeral");
        }
    }
    return 0;
}

int br_prompt_render(br_ctx_t *c, const gantry_json_t *variant, const gantry_json_t *body,
                     gantry_json_t **out)
{
    const gantry_host_t *h = c->host;
    const gantry_json_t *vars = h->json_get(body, "promptVariables");
    const gantry_json_t *tc = h->json_get(variant, "templateConfiguration");
    gantry_json_t *copy = h->json_dup(c->req, body);
    gantry_json_t *msgs = h->json_new(c->req, GANTRY_JSON_ARRAY);
    if (copy == NULL || msgs == NULL)
        return br_fail_oom(c);

    if (br_str_eq(br_get_str(h, variant, "templateType"), "TEXT")) {
        gantry_str_t r;
        if (render(c, br_get_str(h, h->json_get(tc, "text"), "text"), vars, &r) != 0)
            return -1;
        gantry_json_t *m = br_push_obj(c, msgs);
        br_set_cstr(c, m, "role", "user");
        br_set_str(c, m, "content", r);
    } else {
        const gantry_json_t *chat = h->json_get(tc, "chat");
        for (const gantry_json_t *s = h->json_first(h->json_get(chat, "system")); s != NULL;
             s = h->json_next(s)) {
            gantry_str_t text = br_get_str(h, s, "text"), r;
            if (text.ptr == NULL)
                continue;
            if (render(c, text, vars, &r) != 0)
                return -1;
            gantry_json_t *m = br_push_obj(c, msgs);
            br_set_cstr(c, m, "role", "system");
            br_set_str(c, m, "content", r);
        }
        for (const gantry_json_t *m = h->json_first(h->json_get(chat, "messages")); m != NULL;
             m = h->json_next(m)) {
            gantry_str_t role = br_get_str(h, m, "role");
            if (chat_message(c, msgs, br_str_eq(role, "assistant") ? "assistant" : "user",
                             h->json_get(m, "content"), vars) != 0)
                return -1;
        }
    }
    /* The client's own messages follow the template's. */
    for (const gantry_json_t *m = h->json_first(h->json_get(body, "messages")); m != NULL;
         m = h->json_next(m))
        br_copy(c, msgs, NULL, m);
    h->json_remove(copy, "messages");
    if (h->json_attach(c->req, copy, "messages", msgs) != GANTRY_OK)
        c->oom = true;
    if (c->oom)
        return br_fail_oom(c);
    *out = copy;
    return 0;
}
