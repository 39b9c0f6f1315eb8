/*
 * The openai provider: building the upstream HTTP request for one attempt.  The canonical request
 * is already OpenAI-shaped, so the body is the canonical one written out again with the
 * deployment's model, without the fields only the gateway understands, without the canonical
 * extensions an OpenAI-style upstream would refuse, and with the stream settings the gateway needs.
 * Embeddings requests go through the same writer; native text completions are built by
 * openai_completions.c.
 */
#include <string.h>

#include "openai.h"

/*
 * The top-level keys the builder treats specially.  The first ten steer the gateway (LiteLLM
 * names) and mean nothing upstream; OpenAI answers 400 to unknown fields, so they are not
 * forwarded.  The next ones are canonical extensions or text-completion parameters that are
 * dropped (or refused) depending on the deployment and the endpoint, see body_plan_t.
 */
enum {
    KEY_GATEWAY_END = 10,
    KEY_PROMPT = 10,   /* the original prompt of a /v1/completions request */
    KEY_THINKING = 11, /* Anthropic-style extended thinking */
    KEY_TOP_K = 12,
    KEY_ECHO = 13, /* text completion parameters, when a completion goes out as a chat */
    KEY_SUFFIX = 14,
    KEY_BEST_OF = 15,
    KEY_LOGPROBS = 16,
    KEY_MODEL = 17,
    KEY_STREAM = 18,
    KEY_STREAM_OPTIONS = 19,
    KEY_MESSAGES = 20, /* written by write_messages() */
    KEY_TOOLS = 21,    /* its elements lose cache_control */
    KEY_COUNT = 22,
};

static const gantry_str_t special_keys[KEY_COUNT] = {
    GANTRY_STR_LIT("fallbacks"),
    GANTRY_STR_LIT("guardrails"),
    GANTRY_STR_LIT("cache"),
    GANTRY_STR_LIT("num_retries"),
    GANTRY_STR_LIT("metadata"),
    GANTRY_STR_LIT("mock_response"),
    GANTRY_STR_LIT("tags"),
    GANTRY_STR_LIT("session_id"),
    GANTRY_STR_LIT("enable_history"),
    GANTRY_STR_LIT("context_window_fallback_dict"),
    [KEY_PROMPT] = GANTRY_STR_LIT("prompt"),
    [KEY_THINKING] = GANTRY_STR_LIT("thinking"),
    [KEY_TOP_K] = GANTRY_STR_LIT("top_k"),
    [KEY_ECHO] = GANTRY_STR_LIT("echo"),
    [KEY_SUFFIX] = GANTRY_STR_LIT("suffix"),
    [KEY_BEST_OF] = GANTRY_STR_LIT("best_of"),
    [KEY_LOGPROBS] = GANTRY_STR_LIT("logprobs"),
    [KEY_MODEL] = GANTRY_STR_LIT("model"),
    [KEY_STREAM] = GANTRY_STR_LIT("stream"),
    [KEY_STREAM_OPTIONS] = GANTRY_STR_LIT("stream_options"),
    [KEY_MESSAGES] = GANTRY_STR_LIT("messages"),
    [KEY_TOOLS] = GANTRY_STR_LIT("tools"),
};

#define BIT(k) (1u << (k))
#define GATEWAY_KEYS (BIT(KEY_GATEWAY_END) - 1u)

/*
 * What one body is written with, decided once per attempt so that the walk itself only tests bits.
 *   skip     keys whose first member is left out
 *   refuse   keys among `skip` that the upstream cannot honour: a meaningful value fails the
 *            request with a 400 naming it, unless drop_params (asked only when one turns up)
 *   chat     the body is a chat request: messages and tools get the per-message rules
 */
typedef struct body_plan {
    uint32_t skip;
    uint32_t refuse;
    bool stream;
    bool chat;
    bool strip_cache_control;
    bool logprobs_to_chat; /* an integer logprobs (text completion) becomes true + top_logprobs */
    /* Filled in while writing. */
    int drop;             /* drop_params: -1 until a refusable parameter makes it matter */
    int64_t top_logprobs; /* from an integer logprobs when the body has no top_logprobs; or -1 */
    const char *refused;  /* the parameter that was refused */
} body_plan_t;

/*
 * The special keys by length, each entry one more than the key's index (0 ends a row), so that a
 * key is compared with at most four of them.  Every body member goes through here, so the common
 * ones (messages, temperature, max_tokens) must be ruled out in a few instructions.
 */
#define K(k) ((uint8_t)((k) + 1))
static const uint8_t keys_by_len[29][4] = {
    [4] = {K(6) /* tags */, K(KEY_ECHO)},
    [5] = {K(2) /* cache */, K(KEY_TOP_K), K(KEY_MODEL), K(KEY_TOOLS)},
    [6] = {K(KEY_PROMPT), K(KEY_SUFFIX), K(KEY_STREAM)},
    [7] = {K(KEY_BEST_OF)},
    [8] = {K(4) /* metadata */, K(KEY_THINKING), K(KEY_LOGPROBS), K(KEY_MESSAGES)},
    [9] = {K(0) /* fallbacks */},
    [10] = {K(1) /* guardrails */, K(7) /* session_id */},
    [11] = {K(3) /* num_retries */},
    [13] = {K(5) /* mock_response */},
    [14] = {K(8) /* enable_history */, K(KEY_STREAM_OPTIONS)},
    [28] = {K(9) /* context_window_fallback_dict */},
};
#undef K

/* Index of a special key, or -1. */
static int special_key(gantry_str_t key)
{
    if (key.len >= sizeof(keys_by_len) / sizeof(keys_by_len[0]))
        return -1;
    const uint8_t *row = keys_by_len[key.len];
    for (int i = 0; i < 4 && row[i] != 0; i++) {
        const gantry_str_t *s = &special_keys[row[i] - 1];
        /* The row already matched the length; the first byte rules out most of the rest. */
        if (s->ptr[0] == key.ptr[0] && memcmp(s->ptr, key.ptr, key.len) == 0)
            return row[i] - 1;
    }
    return -1;
}

static bool is_key(gantry_str_t key, const char *lit, size_t len)
{
    return key.len == len && memcmp(key.ptr, lit, len) == 0;
}

void openai_member_sep(openai_wbuf_t *b, bool *first)
{
    if (!*first)
        openai_wb_put(b, ",", 1);
    *first = false;
}

/*
 * The value of stream_options for a streaming attempt.  The core needs the final usage chunk for
 * accounting even when the client did not ask for it; it drops that chunk again before the client
 * sees it.  The client's other stream_options are kept, and a value that is not an object is
 * replaced.
 */
int openai_write_stream_options(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *opts)
{
    static const char usage[] = "\"include_usage\":true";
    const gantry_host_t *host = b->host;
    bool first = true, replaced = false;
    int rc;

    if (host->json_type(opts) != GANTRY_JSON_OBJECT) {
        openai_wb_put(b, "{", 1);
        openai_wb_put(b, usage, sizeof(usage) - 1);
        openai_wb_put(b, "}", 1);
        return GANTRY_OK;
    }
    openai_wb_put(b, "{", 1);
    for (const gantry_json_t *m = host->json_first(opts); m != NULL; m = host->json_next(m)) {
        gantry_str_t key = host->json_key(m);

        openai_member_sep(b, &first);
        /* Only the first include_usage is replaced in place, as a keyed set would do. */
        if (!replaced && is_key(key, "include_usage", 13)) {
            openai_wb_put(b, usage, sizeof(usage) - 1);
            replaced = true;
            continue;
        }
        openai_wb_string(b, key);
        openai_wb_put(b, ":", 1);
        if ((rc = openai_wb_value(req, b, m)) != GANTRY_OK)
            return rc;
    }
    if (!replaced) {
        openai_member_sep(b, &first);
        openai_wb_put(b, usage, sizeof(usage) - 1);
    }
    openai_wb_put(b, "}", 1);
    return GANTRY_OK;
}

/* An object without its members named `drop` (every one of them), or any other value as it is. */
static int write_without(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *node,
                         const char *drop, size_t drop_len)
{
    const gantry_host_t *host = b->host;
    bool first = true;
    int rc;

    if (host->json_type(node) != GANTRY_JSON_OBJECT)
        return openai_wb_value(req, b, node);
    openai_wb_put(b, "{", 1);
    for (const gantry_json_t *m = host->json_first(node); m != NULL; m = host->json_next(m)) {
        gantry_str_t key = host->json_key(m);
        if (is_key(key, drop, drop_len))
            continue;
        openai_member_sep(b, &first);
        openai_wb_string(b, key);
        openai_wb_put(b, ":", 1);
        if ((rc = openai_wb_value(req, b, m)) != GANTRY_OK)
            return rc;
    }
    openai_wb_put(b, "}", 1);
    return GANTRY_OK;
}

/* An array whose object elements lose their cache_control members. */
static int write_array_without_cache_control(gantry_req_t *req, openai_wbuf_t *b,
                                             const gantry_json_t *node)
{
    const gantry_host_t *host = b->host;
    bool first = true;
    int rc;

    if (host->json_type(node) != GANTRY_JSON_ARRAY)
        return openai_wb_value(req, b, node);
    openai_wb_put(b, "[", 1);
    for (const gantry_json_t *e = host->json_first(node); e != NULL; e = host->json_next(e)) {
        openai_member_sep(b, &first);
        if ((rc = write_without(req, b, e, "cache_control", 13)) != GANTRY_OK)
            return rc;
    }
    openai_wb_put(b, "]", 1);
    return GANTRY_OK;
}

/*
 * One message.  Assistant messages may carry the canonical reasoning_content and thinking_blocks,
 * which only Anthropic-style upstreams take back (OpenAI refuses unknown message fields, DeepSeek
 * refuses reasoning_content in input messages): they are never forwarded.  cache_control markers
 * (on the message, or on its content parts) go unless the deployment forwards them.
 */
static int write_message(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *msg,
                         bool strip_cache_control)
{
    const gantry_host_t *host = b->host;
    bool first = true;
    int rc;

    if (host->json_type(msg) != GANTRY_JSON_OBJECT)
        return openai_wb_value(req, b, msg);
    openai_wb_put(b, "{", 1);
    for (const gantry_json_t *m = host->json_first(msg); m != NULL; m = host->json_next(m)) {
        gantry_str_t key = host->json_key(m);
        bool parts = false;

        switch (key.len) {
        case 7:
            parts = strip_cache_control && is_key(key, "content", 7);
            break;
        case 13:
            if (strip_cache_control && is_key(key, "cache_control", 13))
                continue;
            break;
        case 15:
            if (is_key(key, "thinking_blocks", 15))
                continue;
            break;
        case 17:
            if (is_key(key, "reasoning_content", 17))
                continue;
            break;
        default:
            break;
        }
        openai_member_sep(b, &first);
        openai_wb_string(b, key);
        openai_wb_put(b, ":", 1);
        rc = parts ? write_array_without_cache_control(req, b, m) : openai_wb_value(req, b, m);
        if (rc != GANTRY_OK)
            return rc;
    }
    openai_wb_put(b, "}", 1);
    return GANTRY_OK;
}

static int write_messages(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *node,
                          bool strip_cache_control)
{
    const gantry_host_t *host = b->host;
    bool first = true;
    int rc;

    if (host->json_type(node) != GANTRY_JSON_ARRAY)
        return openai_wb_value(req, b, node);
    openai_wb_put(b, "[", 1);
    for (const gantry_json_t *e = host->json_first(node); e != NULL; e = host->json_next(e)) {
        openai_member_sep(b, &first);
        if ((rc = write_message(req, b, e, strip_cache_control)) != GANTRY_OK)
            return rc;
    }
    openai_wb_put(b, "]", 1);
    return GANTRY_OK;
}

/* Whether a refusable parameter asks for something (a null or a default value asks nothing). */
static bool is_meaningful(const gantry_host_t *host, int k, const gantry_json_t *v)
{
    double d;
    bool flag;

    switch (host->json_type(v)) {
    case GANTRY_JSON_NULL:
    case GANTRY_JSON_INVALID:
        return false;
    case GANTRY_JSON_BOOL:
        return k != KEY_ECHO || (host->json_bool(v, &flag) == GANTRY_OK && flag);
    case GANTRY_JSON_STRING:
        return k != KEY_SUFFIX || host->json_string(v).len > 0;
    case GANTRY_JSON_NUMBER:
        return k != KEY_BEST_OF || (host->json_number(v, &d) == GANTRY_OK && d > 1);
    default:
        return true;
    }
}

/* A small non-negative integer from a JSON number, or -1. */
static int64_t small_int(const gantry_host_t *host, const gantry_json_t *v)
{
    double d;
    if (host->json_number(v, &d) != GANTRY_OK || !(d >= 0 && d <= 1e6) || d != (double)(int64_t)d)
        return -1;
    return (int64_t)d;
}

/* Append a non-negative integer. */
static void write_uint(openai_wbuf_t *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    openai_wb_put(b, tmp + i, sizeof(tmp) - i);
}

/*
 * Deal with the first member of a special key (below KEY_MESSAGES): leave it out, refuse it,
 * replace it or convert it.  Returns 1 when done, 0 when it is to be written as it is, or a
 * negative status (GANTRY_EUNSUPPORTED with plan->refused set for a refused parameter).
 */
static int write_special(gantry_req_t *req, const openai_deployment_t *dep,
                         const gantry_json_t *canonical, body_plan_t *plan, int k,
                         const gantry_json_t *m, openai_wbuf_t *b, bool *first)
{
    static const char stream_true[] = "\"stream\":true";
    static const char options_key[] = "\"stream_options\":";
    const gantry_host_t *host = b->host;

    if (plan->skip & BIT(k)) {
        if ((plan->refuse & BIT(k)) && is_meaningful(host, k, m)) {
            if (plan->drop < 0)
                plan->drop = openai_drop_params(host, req);
            if (!plan->drop) {
                plan->refused = special_keys[k].ptr;
                return GANTRY_EUNSUPPORTED;
            }
        }
        return 1;
    }
    if (k == KEY_LOGPROBS) {
        /* The text completion API takes logprobs as a count; chat wants a flag and top_logprobs. */
        int64_t n = plan->logprobs_to_chat ? small_int(host, m) : -1;
        if (n < 0)
            return 0;
        openai_member_sep(b, first);
        openai_wb_put(b, "\"logprobs\":true", 15);
        if (n > 0 && host->json_get(canonical, "top_logprobs") == NULL)
            plan->top_logprobs = n;
        return 1;
    }
    if (k < KEY_MODEL)
        return 0;
    /*
     * The core decides whether this attempt streams; OpenAI refuses stream_options without
     * stream, and a stray "stream": true would answer SSE to a caller expecting one JSON body.
     */
    if (!plan->stream && k != KEY_MODEL)
        return 1;
    openai_member_sep(b, first);
    if (k == KEY_MODEL) {
        openai_wb_put(b, dep->model_member.ptr, dep->model_member.len);
    } else if (k == KEY_STREAM) {
        openai_wb_put(b, stream_true, sizeof(stream_true) - 1);
    } else {
        openai_wb_put(b, options_key, sizeof(options_key) - 1);
        return openai_write_stream_options(req, b, m) == GANTRY_OK ? 1 : GANTRY_ENOMEM;
    }
    return 1;
}

/*
 * Write the upstream body straight from the canonical one, in one pass: its members in order,
 * without the gateway's fields and the ones the plan skips, with the deployment's model in place of
 * the client's, and with the stream settings of this attempt.  The client's body itself is never
 * touched: a retry or a fallback to another deployment builds its request from it again.
 *
 * The result is what editing a copy with keyed removes and sets used to give, duplicate keys
 * included: only the first member with a special key is removed or replaced, and a member the
 * body lacks is added at the end (model, then stream, then stream_options).  Inside messages and
 * tools every member the rules name is left out.
 *
 * Returns GANTRY_EUNSUPPORTED, with plan->refused set, for a parameter the plan refuses.
 */
static int write_body(gantry_req_t *req, const openai_deployment_t *dep,
                      const gantry_json_t *canonical, body_plan_t *plan, openai_wbuf_t *b)
{
    static const char stream_true[] = "\"stream\":true";
    static const char options_key[] = "\"stream_options\":";
    const gantry_host_t *host = b->host;
    uint32_t seen = 0; /* bit i: the first member with special key i was dealt with */
    bool first = true;
    int rc;

    openai_wb_put(b, "{", 1);
    for (const gantry_json_t *m = host->json_first(canonical); m != NULL; m = host->json_next(m)) {
        gantry_str_t key = host->json_key(m);
        int k = key.len > 0 ? special_key(key) : -1;

        if (k >= 0 && k < KEY_MESSAGES && !(seen & BIT(k))) {
            seen |= BIT(k);
            if ((rc = write_special(req, dep, canonical, plan, k, m, b, &first)) < 0)
                return rc;
            if (rc == 1)
                continue;
        }
        openai_member_sep(b, &first);
        openai_wb_string(b, key);
        openai_wb_put(b, ":", 1);
        /* Every messages or tools member, not only the first, follows the rules. */
        if (k == KEY_MESSAGES && plan->chat)
            rc = write_messages(req, b, m, plan->strip_cache_control);
        else if (k == KEY_TOOLS && plan->chat && plan->strip_cache_control)
            rc = write_array_without_cache_control(req, b, m);
        else
            rc = openai_wb_value(req, b, m);
        if (rc != GANTRY_OK)
            return rc;
    }
    if (plan->top_logprobs >= 0) {
        openai_member_sep(b, &first);
        openai_wb_put(b, "\"top_logprobs\":", 15);
        write_uint(b, (uint64_t)plan->top_logprobs);
    }
    if (!(seen & BIT(KEY_MODEL))) {
        openai_member_sep(b, &first);
        openai_wb_put(b, dep->model_member.ptr, dep->model_member.len);
    }
    if (plan->stream && !(seen & BIT(KEY_STREAM))) {
        openai_member_sep(b, &first);
        openai_wb_put(b, stream_true, sizeof(stream_true) - 1);
    }
    if (plan->stream && !(seen & BIT(KEY_STREAM_OPTIONS))) {
        openai_member_sep(b, &first);
        openai_wb_put(b, options_key, sizeof(options_key) - 1);
        if ((rc = openai_write_stream_options(req, b, NULL)) != GANTRY_OK)
            return rc;
    }
    openai_wb_put(b, "}", 1);
    return b->failed ? GANTRY_ENOMEM : GANTRY_OK;
}

/* The deployment's headers were put together once, by deployment_create(). */
static int add_headers(const gantry_host_t *host, const openai_deployment_t *dep,
                       gantry_upstream_t *up)
{
    int rc = GANTRY_OK;
    for (size_t i = 0; rc == GANTRY_OK && i < dep->n_headers; i++)
        rc = host->up_add_header(up, dep->headers[i].name.ptr, dep->headers[i].value);
    return rc;
}

gantry_action_t openai_unsupported(gantry_req_t *req, const openai_instance_t *inst,
                                   const openai_deployment_t *dep, const char *param)
{
    const gantry_host_t *host = inst->host;
    if (openai_drop_params(host, req))
        return GANTRY_CONTINUE;
    if (GANTRY_HOST_HAS(host, req_fail_param))
        return host->req_fail_param(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                    "unsupported_parameter", param,
                                    "%s does not support the parameter '%s' (model %s); set "
                                    "drop_params: true to drop it",
                                    dep->azure ? "azure" : "openai", param, dep->model.ptr);
    return host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                          "unsupported_parameter",
                          "%s does not support the parameter '%s' (model %s); set drop_params: "
                          "true to drop it",
                          dep->azure ? "azure" : "openai", param, dep->model.ptr);
}

gantry_action_t openai_send(gantry_req_t *req, const openai_instance_t *inst,
                            const openai_deployment_t *dep, gantry_upstream_t *up, gantry_str_t url,
                            openai_wbuf_t *b, int rc, bool stream)
{
    const gantry_host_t *host = inst->host;
    gantry_str_t text = GANTRY_STR_NULL;

    if (rc == GANTRY_OK) {
        /* The upstream request reads the body until the request ends: keep it in the arena. */
        char *copy = host->strdup(req, b->ptr, b->len);
        if (copy == NULL)
            rc = GANTRY_ENOMEM;
        text = (gantry_str_t){copy, b->len};
    }
    openai_wb_release(b);
    if (rc != GANTRY_OK)
        goto fail;

    if ((rc = host->up_set_url(up, url)) != GANTRY_OK)
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

/*
 * Bytes of the body written on the stack before moving to the heap: a typical chat request fits,
 * and then the only allocation is the arena copy the request keeps.
 */
#define BODY_STACK_BYTES 4096

gantry_action_t openai_prepare(gantry_req_t *req, void *state, void *deployment,
                               gantry_upstream_t *up)
{
    const openai_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const openai_deployment_t *dep = deployment;
    gantry_endpoint_t ep = openai_endpoint(host, req);
    bool stream = ep != GANTRY_EP_EMBEDDINGS && host->req_is_stream(req);
    gantry_str_t url = dep->url;
    int rc;

    const gantry_json_t *canonical = host->req_body(req);
    if (host->json_type(canonical) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "the request has no JSON object body");

    body_plan_t plan = {
        /* The original prompt of a text completion is a canonical extension, never chat. */
        .skip = GATEWAY_KEYS | BIT(KEY_PROMPT),
        .stream = stream,
        .chat = true,
        .strip_cache_control = !dep->forward_cache_control,
        .drop = -1,
        .top_logprobs = -1,
    };
    if (ep == GANTRY_EP_EMBEDDINGS) {
        plan.skip = GATEWAY_KEYS;
        plan.chat = false;
        url = dep->url_embeddings;
    } else if (dep->completion_api) {
        return openai_prepare_completion(req, inst, dep, canonical, up, stream);
    } else {
        /*
         * OpenAI's and Azure's own APIs refuse parameters they do not know.  thinking has no
         * place there (reasoning_effort is their knob) and goes silently; top_k is a sampling
         * choice the client made, so it is refused unless drop_params.
         */
        if (dep->strict) {
            plan.skip |= BIT(KEY_THINKING) | BIT(KEY_TOP_K);
            plan.refuse |= BIT(KEY_TOP_K);
        }
        /* A text completion sent as a chat: the completion-only parameters cannot follow. */
        if (ep == GANTRY_EP_COMPLETIONS) {
            plan.skip |= BIT(KEY_ECHO) | BIT(KEY_SUFFIX) | BIT(KEY_BEST_OF);
            plan.refuse |= BIT(KEY_ECHO) | BIT(KEY_SUFFIX) | BIT(KEY_BEST_OF);
            plan.logprobs_to_chat = true;
        }
    }

    char stack[BODY_STACK_BYTES];
    openai_wbuf_t b = {.host = host, .ptr = stack, .cap = sizeof(stack)};
    rc = write_body(req, dep, canonical, &plan, &b);
    if (rc == GANTRY_EUNSUPPORTED) {
        openai_wb_release(&b);
        return openai_unsupported(req, inst, dep, plan.refused);
    }
    return openai_send(req, inst, dep, up, url, &b, rc, stream);
}
