/*
 * The anthropic provider: building the upstream Messages request for one attempt.  This file
 * holds prepare() and the scalar parameters (max_tokens, sampling, stop, user, thinking, the
 * parameters Anthropic lacks); messages and tools have files of their own.
 *
 * The body is built as a new document from the canonical request, which is never changed, so a
 * retry or a fallback to another deployment starts from the client's request again.
 */
#include <stdio.h>

#include "anthropic.h"

/* LiteLLM's reasoning_effort budgets for Anthropic. */
#define BUDGET_LOW 1024
#define BUDGET_MEDIUM 2048
#define BUDGET_HIGH 4096
#define MAX_TOKENS_LIMIT 10000000

gantry_action_t anth_bad_request(anth_build_t *b, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return b->jb.host->req_fail(b->jb.req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                NULL, "%s", msg);
}

static bool is_null(const gantry_host_t *host, const gantry_json_t *node)
{
    gantry_json_type_t t = host->json_type(node);
    return t == GANTRY_JSON_INVALID || t == GANTRY_JSON_NULL;
}

/* What value of an unsupported parameter still asks for nothing. */
typedef enum harmless {
    HARMLESS_NULL,  /* only null */
    HARMLESS_ONE,   /* null or 1 (n) */
    HARMLESS_FALSE, /* null or false (logprobs) */
} harmless_t;

static const struct {
    const char *name;
    harmless_t harmless;
} unsupported[] = {
    {"n", HARMLESS_ONE},
    {"seed", HARMLESS_NULL},
    {"logit_bias", HARMLESS_NULL},
    {"presence_penalty", HARMLESS_NULL},
    {"frequency_penalty", HARMLESS_NULL},
    {"logprobs", HARMLESS_FALSE},
    {"top_logprobs", HARMLESS_NULL},
};

/*
 * OpenAI parameters the Messages API has no counterpart for.  A value that asks for nothing is
 * accepted; anything else is refused with a 400 naming the parameter, or dropped when the
 * deployment or litellm_settings set drop_params.
 */
static gantry_action_t check_unsupported(anth_build_t *b)
{
    const gantry_host_t *host = b->jb.host;
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        const gantry_json_t *v = host->json_get(b->in, unsupported[i].name);
        int64_t n;
        bool flag;
        if (is_null(host, v) || b->drop_params)
            continue;
        if (unsupported[i].harmless == HARMLESS_ONE && anth_j_int(host, v, 1, 1, &n))
            continue;
        if (unsupported[i].harmless == HARMLESS_FALSE && host->json_bool(v, &flag) == GANTRY_OK &&
            !flag)
            continue;
        if (GANTRY_HOST_HAS(host, req_fail_param))
            return host->req_fail_param(b->jb.req, 400, GANTRY_ERR_BAD_REQUEST,
                                        "invalid_request_error", "unsupported_parameter",
                                        unsupported[i].name,
                                        "anthropic does not support the parameter '%s'; remove "
                                        "it, or set drop_params: true to drop unsupported "
                                        "parameters",
                                        unsupported[i].name);
        return host->req_fail(b->jb.req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                              "unsupported_parameter",
                              "anthropic does not support the parameter '%s'; remove it, or set "
                              "drop_params: true to drop unsupported parameters",
                              unsupported[i].name);
    }
    return GANTRY_CONTINUE;
}

/* A number parameter copied as is (temperature, top_p, top_k); null means absent. */
static gantry_action_t copy_number(anth_build_t *b, const char *name)
{
    const gantry_host_t *host = b->jb.host;
    const gantry_json_t *v = host->json_get(b->in, name);
    double d;
    if (is_null(host, v))
        return GANTRY_CONTINUE;
    if (host->json_type(v) != GANTRY_JSON_NUMBER || host->json_number(v, &d) != GANTRY_OK)
        return anth_bad_request(b, "%s must be a number", name);
    anth_j_num(&b->jb, b->out, name, d);
    return GANTRY_CONTINUE;
}

/* stop (a string or a list of strings) -> stop_sequences. */
static gantry_action_t build_stop(anth_build_t *b)
{
    const gantry_host_t *host = b->jb.host;
    const gantry_json_t *stop = host->json_get(b->in, "stop");
    if (is_null(host, stop))
        return GANTRY_CONTINUE;
    if (host->json_type(stop) == GANTRY_JSON_STRING) {
        gantry_json_t *seq = anth_j_arr(&b->jb, b->out, "stop_sequences");
        anth_j_str(&b->jb, seq, NULL, host->json_string(stop));
        return GANTRY_CONTINUE;
    }
    if (host->json_type(stop) != GANTRY_JSON_ARRAY)
        return anth_bad_request(b, "stop must be a string or an array of strings");
    if (host->json_count(stop) == 0)
        return GANTRY_CONTINUE;
    gantry_json_t *seq = anth_j_arr(&b->jb, b->out, "stop_sequences");
    for (const gantry_json_t *s = host->json_first(stop); s != NULL; s = host->json_next(s)) {
        if (host->json_type(s) != GANTRY_JSON_STRING)
            return anth_bad_request(b, "stop must be a string or an array of strings");
        anth_j_str(&b->jb, seq, NULL, host->json_string(s));
    }
    return GANTRY_CONTINUE;
}

/*
 * thinking is passed through; otherwise reasoning_effort becomes a thinking budget.  Returns the
 * budget in *budget (0 when thinking stays off) so that max_tokens can leave room for it.
 */
static gantry_action_t build_thinking(anth_build_t *b, int64_t *budget)
{
    const gantry_host_t *host = b->jb.host;
    const gantry_json_t *thinking = host->json_get(b->in, "thinking");
    *budget = 0;
    if (!is_null(host, thinking)) {
        if (host->json_type(thinking) != GANTRY_JSON_OBJECT)
            return anth_bad_request(b, "thinking must be an object, e.g. "
                                       "{\"type\":\"enabled\",\"budget_tokens\":2048}");
        anth_j_copy(&b->jb, b->out, "thinking", thinking);
        if (anth_j_is(host, host->json_get(thinking, "type"), "enabled"))
            anth_j_int(host, host->json_get(thinking, "budget_tokens"), 0, MAX_TOKENS_LIMIT,
                       budget);
        return GANTRY_CONTINUE;
    }

    const gantry_json_t *effort = host->json_get(b->in, "reasoning_effort");
    if (is_null(host, effort))
        return GANTRY_CONTINUE;
    gantry_str_t e = host->json_string(effort);
    if (anth_str_eq(e, "none"))
        return GANTRY_CONTINUE;
    if (anth_str_eq(e, "minimal") || anth_str_eq(e, "low"))
        *budget = BUDGET_LOW; /* Anthropic's smallest budget is 1024 tokens */
    else if (anth_str_eq(e, "medium"))
        *budget = BUDGET_MEDIUM;
    else if (anth_str_eq(e, "high"))
        *budget = BUDGET_HIGH;
    else
        return anth_bad_request(b, "reasoning_effort must be one of none, minimal, low, medium, "
                                   "high");
    gantry_json_t *t = anth_j_obj(&b->jb, b->out, "thinking");
    anth_j_cstr(&b->jb, t, "type", "enabled");
    anth_j_num(&b->jb, t, "budget_tokens", (double)*budget);
    return GANTRY_CONTINUE;
}

/*
 * max_completion_tokens (the newer name, which wins), max_tokens, or the deployment's default:
 * Anthropic requires the field.  When the client named no limit and thinking is on, the budget
 * is added to the default, because Anthropic counts thinking inside max_tokens and refuses a
 * budget that does not leave room for an answer.
 */
static gantry_action_t build_max_tokens(anth_build_t *b, int64_t budget)
{
    const gantry_host_t *host = b->jb.host;
    const char *name = "max_completion_tokens";
    const gantry_json_t *v = host->json_get(b->in, name);
    if (is_null(host, v)) {
        name = "max_tokens";
        v = host->json_get(b->in, name);
    }
    int64_t n = b->dep->default_max_tokens;
    if (!is_null(host, v)) {
        if (!anth_j_int(host, v, 1, MAX_TOKENS_LIMIT, &n))
            return anth_bad_request(b, "%s must be a positive integer", name);
    } else if (budget > 0 && budget >= n) {
        n += budget;
    }
    anth_j_num(&b->jb, b->out, "max_tokens", (double)n);
    return GANTRY_CONTINUE;
}

/* user -> metadata.user_id, the one metadata field Anthropic accepts. */
static void build_user(anth_build_t *b)
{
    const gantry_host_t *host = b->jb.host;
    gantry_str_t user = host->json_string(host->json_get(b->in, "user"));
    if (user.len == 0)
        return;
    gantry_json_t *meta = anth_j_obj(&b->jb, b->out, "metadata");
    anth_j_str(&b->jb, meta, "user_id", user);
}

static gantry_action_t build_body(anth_build_t *b, bool stream)
{
    gantry_action_t act;
    int64_t budget;

    anth_j_str(&b->jb, b->out, "model", b->dep->model);
    if ((act = check_unsupported(b)) != GANTRY_CONTINUE)
        return act;
    if ((act = anth_build_messages(b)) != GANTRY_CONTINUE)
        return act;
    if ((act = build_thinking(b, &budget)) != GANTRY_CONTINUE)
        return act;
    if ((act = build_max_tokens(b, budget)) != GANTRY_CONTINUE)
        return act;
    if ((act = copy_number(b, "temperature")) != GANTRY_CONTINUE)
        return act;
    if ((act = copy_number(b, "top_p")) != GANTRY_CONTINUE)
        return act;
    if ((act = copy_number(b, "top_k")) != GANTRY_CONTINUE)
        return act;
    if ((act = build_stop(b)) != GANTRY_CONTINUE)
        return act;
    build_user(b);
    if ((act = anth_build_tools(b)) != GANTRY_CONTINUE)
        return act;
    if (stream)
        anth_j_bool(&b->jb, b->out, "stream", true);
    return GANTRY_CONTINUE;
}

static int add_headers(const gantry_host_t *host, const anth_deployment_t *dep,
                       gantry_upstream_t *up)
{
    int rc = GANTRY_OK;
    for (size_t i = 0; rc == GANTRY_OK && i < dep->n_headers; i++)
        rc = host->up_add_header(up, dep->headers[i].name.ptr, dep->headers[i].value);
    return rc;
}

gantry_action_t anth_prepare(gantry_req_t *req, void *state, void *deployment,
                             gantry_upstream_t *up)
{
    const anth_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const anth_deployment_t *dep = deployment;
    bool stream = host->req_is_stream(req);
    int rc = GANTRY_ENOMEM;

    if (GANTRY_HOST_HAS(host, req_endpoint) && host->req_endpoint(req) == GANTRY_EP_EMBEDDINGS)
        return host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL,
                              "anthropic has no embeddings API");
    const gantry_json_t *canonical = host->req_body(req);
    if (host->json_type(canonical) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "the request has no JSON object body");

    /* A fresh state for every attempt: a retry must not inherit a half-read stream. */
    anth_req_t *rs = host->alloc(req, sizeof(*rs));
    if (rs == NULL)
        goto fail;
    memset(rs, 0, sizeof(*rs));
    host->req_set_data(req, inst->self, rs);

    anth_build_t b = {
        .jb = {.host = host, .req = req},
        .inst = inst,
        .dep = dep,
        .rs = rs,
        .in = canonical,
        /* ABI 1.1; an older core never drops, as 1.0 providers did not. */
        .drop_params = GANTRY_HOST_HAS(host, req_drop_params) && host->req_drop_params(req),
    };
    b.out = anth_j_new(&b.jb, GANTRY_JSON_OBJECT);
    gantry_action_t act = build_body(&b, stream);
    if (act != GANTRY_CONTINUE) {
        host->json_release(req, b.out);
        return act;
    }
    gantry_str_t text = GANTRY_STR_NULL;
    if (b.jb.failed || host->json_write(req, b.out, &text) != GANTRY_OK) {
        host->json_release(req, b.out);
        goto fail;
    }
    /* The written text lives in the arena; the tree is not needed any more. */
    host->json_release(req, b.out);

    if ((rc = host->up_set_url(up, dep->url)) != GANTRY_OK)
        goto fail;
    if ((rc = add_headers(host, dep, up)) != GANTRY_OK)
        goto fail;
    if ((rc = host->up_set_body(up, text)) != GANTRY_OK)
        goto fail;
    if (stream && (rc = host->up_set_framing(up, GANTRY_FRAMING_SSE)) != GANTRY_OK)
        goto fail;
    return GANTRY_CONTINUE;

fail:
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                          "could not build the upstream request: %s", host->strerror(rc));
}
