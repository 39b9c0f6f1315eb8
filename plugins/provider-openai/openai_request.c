/*
 * The openai provider: building the upstream HTTP request for one attempt.  The canonical request
 * is already OpenAI-shaped, so the body is the canonical one written out again with the
 * deployment's model, without the fields only the gateway understands, and with the stream
 * settings the gateway needs.
 */
#include <string.h>

#include "openai.h"

/*
 * The top-level keys the builder treats specially.  The first ten steer the gateway (LiteLLM
 * names) and mean nothing upstream; OpenAI answers 400 to unknown fields, so they are not
 * forwarded.
 */
enum {
    KEY_MODEL = 10,
    KEY_STREAM = 11,
    KEY_STREAM_OPTIONS = 12,
    KEY_COUNT = 13,
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
    [KEY_MODEL] = GANTRY_STR_LIT("model"),
    [KEY_STREAM] = GANTRY_STR_LIT("stream"),
    [KEY_STREAM_OPTIONS] = GANTRY_STR_LIT("stream_options"),
};

/* Index of a special key, or -1. */
static int special_key(gantry_str_t key)
{
    for (int i = 0; i < KEY_COUNT; i++) {
        /* Length and first byte rule out almost every key before memcmp is called. */
        if (key.len == special_keys[i].len && key.ptr[0] == special_keys[i].ptr[0] &&
            memcmp(key.ptr, special_keys[i].ptr, key.len) == 0)
            return i;
    }
    return -1;
}

static bool is_key(gantry_str_t key, const char *lit, size_t len)
{
    return key.len == len && memcmp(key.ptr, lit, len) == 0;
}

/* Separator before every member but the first. */
static void member_sep(openai_wbuf_t *b, bool *first)
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
static int write_stream_options(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *opts)
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

        member_sep(b, &first);
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
        member_sep(b, &first);
        openai_wb_put(b, usage, sizeof(usage) - 1);
    }
    openai_wb_put(b, "}", 1);
    return GANTRY_OK;
}

/*
 * Write the upstream body straight from the canonical one, in one pass: its members in order,
 * without the gateway's fields, with the deployment's model in place of the client's, and with
 * the stream settings of this attempt.  The client's body itself is never touched: a retry or a
 * fallback to another deployment builds its request from it again.
 *
 * The result is what editing a copy with keyed removes and sets used to give, duplicate keys
 * included: only the first member with a special key is removed or replaced, and a member the
 * body lacks is added at the end (model, then stream, then stream_options).
 */
static int write_body(gantry_req_t *req, const openai_deployment_t *dep,
                      const gantry_json_t *canonical, bool stream, openai_wbuf_t *b)
{
    static const char stream_true[] = "\"stream\":true";
    static const char options_key[] = "\"stream_options\":";
    const gantry_host_t *host = b->host;
    unsigned seen = 0; /* bit i: the first member with special key i was dealt with */
    bool first = true;
    int rc;

    openai_wb_put(b, "{", 1);
    for (const gantry_json_t *m = host->json_first(canonical); m != NULL; m = host->json_next(m)) {
        gantry_str_t key = host->json_key(m);
        int k = special_key(key);

        if (k >= 0 && !(seen & (1u << k))) {
            seen |= 1u << k;
            if (k < KEY_MODEL)
                continue;
            /*
             * The core decides whether this attempt streams; OpenAI refuses stream_options
             * without stream, and a stray "stream": true would answer SSE to a caller expecting
             * one JSON body.
             */
            if (!stream && k != KEY_MODEL)
                continue;
            member_sep(b, &first);
            if (k == KEY_MODEL) {
                openai_wb_put(b, dep->model_member.ptr, dep->model_member.len);
            } else if (k == KEY_STREAM) {
                openai_wb_put(b, stream_true, sizeof(stream_true) - 1);
            } else {
                openai_wb_put(b, options_key, sizeof(options_key) - 1);
                if ((rc = write_stream_options(req, b, m)) != GANTRY_OK)
                    return rc;
            }
            continue;
        }
        member_sep(b, &first);
        openai_wb_string(b, key);
        openai_wb_put(b, ":", 1);
        if ((rc = openai_wb_value(req, b, m)) != GANTRY_OK)
            return rc;
    }
    if (!(seen & (1u << KEY_MODEL))) {
        member_sep(b, &first);
        openai_wb_put(b, dep->model_member.ptr, dep->model_member.len);
    }
    if (stream && !(seen & (1u << KEY_STREAM))) {
        member_sep(b, &first);
        openai_wb_put(b, stream_true, sizeof(stream_true) - 1);
    }
    if (stream && !(seen & (1u << KEY_STREAM_OPTIONS))) {
        member_sep(b, &first);
        openai_wb_put(b, options_key, sizeof(options_key) - 1);
        if ((rc = write_stream_options(req, b, NULL)) != GANTRY_OK)
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
    bool stream = host->req_is_stream(req);
    gantry_str_t text = GANTRY_STR_NULL;
    int rc;

    const gantry_json_t *canonical = host->req_body(req);
    if (host->json_type(canonical) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "the request has no JSON object body");

    char stack[BODY_STACK_BYTES];
    openai_wbuf_t b = {.host = host, .ptr = stack, .cap = sizeof(stack)};
    rc = write_body(req, dep, canonical, stream, &b);
    if (rc == GANTRY_OK) {
        /* The upstream request reads the body until the request ends: keep it in the arena. */
        char *copy = host->strdup(req, b.ptr, b.len);
        if (copy == NULL)
            rc = GANTRY_ENOMEM;
        text = (gantry_str_t){copy, b.len};
    }
    openai_wb_release(&b);
    if (rc != GANTRY_OK)
        goto fail;

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
