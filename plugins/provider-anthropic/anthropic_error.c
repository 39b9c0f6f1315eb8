/*
 * The anthropic provider: describing upstream errors.
 *
 * Anthropic answers {"type":"error","error":{"type","message"},"request_id"}; the error type
 * names the class more precisely than the status (overloaded_error is a 529 the core would
 * otherwise only know as "some 5xx").  Proxies in front of the API may answer HTML or plain text,
 * which becomes a short excerpt.  Text from the upstream reaches clients and logs, so it is cut
 * short, made valid single-line UTF-8 and scrubbed of the API key.
 */
#include <stdio.h>

#include "anthropic.h"

#define MESSAGE_CAP 1000 /* bytes kept of an upstream error message */
#define EXCERPT_CAP 200  /* bytes kept of a body that is not an Anthropic error */
#define FIELD_CAP 100    /* bytes kept of the error type */

/* Anthropic's error types, the status each comes with, and the class it means. */
static const struct {
    const char *type;
    int status;
    gantry_error_class_t class_;
} error_types[] = {
    {"invalid_request_error", 400, GANTRY_ERR_BAD_REQUEST},
    {"authentication_error", 401, GANTRY_ERR_AUTH},
    {"billing_error", 402, GANTRY_ERR_AUTH},
    {"permission_error", 403, GANTRY_ERR_AUTH},
    {"not_found_error", 404, GANTRY_ERR_NOT_FOUND},
    {"request_too_large", 413, GANTRY_ERR_BAD_REQUEST},
    {"rate_limit_error", 429, GANTRY_ERR_RATE_LIMIT},
    {"api_error", 500, GANTRY_ERR_SERVER},
    {"timeout_error", 504, GANTRY_ERR_TIMEOUT},
    {"overloaded_error", 529, GANTRY_ERR_SERVER},
};

/* The error type a status implies when the body names none (a proxy's answer). */
static const char *type_for_status(int status)
{
    for (size_t i = 0; i < sizeof(error_types) / sizeof(error_types[0]); i++) {
        if (error_types[i].status == status)
            return error_types[i].type;
    }
    if (status >= 500)
        return "api_error";
    return "invalid_request_error";
}

static gantry_error_class_t class_for_status(int status)
{
    switch (status) {
    case 401:
    case 402:
    case 403:
        return GANTRY_ERR_AUTH;
    case 404:
        return GANTRY_ERR_NOT_FOUND;
    case 408:
    case 504:
        return GANTRY_ERR_TIMEOUT;
    case 429:
        return GANTRY_ERR_RATE_LIMIT;
    default:
        return status >= 500 ? GANTRY_ERR_SERVER : GANTRY_ERR_BAD_REQUEST;
    }
}

/* Anthropic's wordings for a prompt that does not fit the model. */
static bool is_context_window(gantry_str_t message)
{
    return anth_contains(message, "prompt is too long") ||
           anth_contains(message, "exceed context limit") ||
           anth_contains(message, "context window") || anth_contains(message, "context length");
}

/* "Output blocked by content filtering policy" and its relatives. */
static bool is_content_policy(gantry_str_t message)
{
    return anth_contains(message, "content filtering policy") ||
           anth_contains(message, "content policy");
}

/*
 * Fill err from an error body; `root` is the parsed body or NULL, `raw` the body as received.
 * With `status_from_type` (an error inside a 2xx answer or a stream) the error type decides the
 * status; otherwise the upstream's status stays.
 */
static void describe(const anth_instance_t *inst, const anth_deployment_t *dep, gantry_req_t *req,
                     const gantry_json_t *root, gantry_str_t raw, gantry_error_t *err,
                     bool status_from_type)
{
    const gantry_host_t *host = inst->host;
    gantry_str_t message = GANTRY_STR_NULL, type = GANTRY_STR_NULL;
    size_t cap = MESSAGE_CAP;

    if (host->json_type(root) == GANTRY_JSON_OBJECT) {
        const gantry_json_t *e = host->json_get(root, "error");
        if (host->json_type(e) == GANTRY_JSON_OBJECT) {
            message = host->json_string(host->json_get(e, "message"));
            type = host->json_string(host->json_get(e, "type"));
        } else if (host->json_type(e) == GANTRY_JSON_STRING) {
            message = host->json_string(e);
        } else {
            message = host->json_string(host->json_get(root, "message"));
        }
    }
    if (message.ptr == NULL) {
        message = raw;
        cap = EXCERPT_CAP;
    }

    bool known = false;
    for (size_t i = 0; i < sizeof(error_types) / sizeof(error_types[0]); i++) {
        if (anth_str_eq(type, error_types[i].type)) {
            err->class_ = error_types[i].class_;
            if (status_from_type)
                err->status = error_types[i].status;
            known = true;
            break;
        }
    }
    if (!known)
        err->class_ = class_for_status(err->status);

    err->message = anth_clean_text(host, req, message, cap, dep->api_key);
    err->type = anth_clean_text(host, req, type, FIELD_CAP, GANTRY_STR_NULL);
    if (err->type.len == 0) {
        const char *t = type_for_status(err->status);
        err->type = (gantry_str_t){t, strlen(t)};
    }
    err->code = GANTRY_STR_NULL;
    if (err->message.len == 0) {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "the upstream answered HTTP %d", err->status);
        char *copy = (n > 0 && (size_t)n < sizeof(buf)) ? host->strdup(req, buf, (size_t)n) : NULL;
        err->message = copy != NULL ? (gantry_str_t){copy, (size_t)n}
                                    : GANTRY_STR_LIT("the upstream answered with an error");
    }

    /* The wording alone is trusted only on a bad request: 413 and 429 speak of sizes too. */
    if (err->class_ == GANTRY_ERR_BAD_REQUEST && err->status == 400) {
        if (is_context_window(err->message)) {
            err->class_ = GANTRY_ERR_CONTEXT_WINDOW;
            err->type = GANTRY_STR_LIT("invalid_request_error");
            err->code = GANTRY_STR_LIT("context_length_exceeded");
        } else if (is_content_policy(err->message)) {
            err->class_ = GANTRY_ERR_CONTENT_POLICY;
            err->code = GANTRY_STR_LIT("content_policy_violation");
        }
    }
}

void anth_map_error(gantry_req_t *req, void *state, void *deployment, int status, gantry_str_t body,
                    gantry_error_t *err)
{
    const anth_instance_t *inst = state;
    /* The client is given the status the upstream answered with, 529 included. */
    err->status = status;
    describe(inst, deployment, req, inst->host->json_parse(req, body), body, err, false);
}

gantry_action_t anth_fail_with_error(const anth_instance_t *inst, const anth_deployment_t *dep,
                                     gantry_req_t *req, const gantry_json_t *root, gantry_str_t raw)
{
    gantry_error_t err = {
        .size = sizeof(err),
        .status = 502,
        .class_ = GANTRY_ERR_SERVER,
        .retry_after_ms = -1,
    };
    describe(inst, dep, req, root, raw, &err, true);
    return inst->host->req_fail(req, err.status, err.class_, err.type.len > 0 ? err.type.ptr : NULL,
                                err.code.len > 0 ? err.code.ptr : NULL, "%.*s",
                                (int)err.message.len, err.message.ptr);
}
