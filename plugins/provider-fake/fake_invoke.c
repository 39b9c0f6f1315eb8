/*
 * The fake provider: invoke(), which answers in place of an upstream.  It reads the prompt, answers
 * an error when the prompt asks for one, and otherwise produces a complete response after the
 * configured latency, or hands over to fake_stream.c for streamed requests.
 */
#include <string.h>

#include "fake.h"

static const char id_prefix[] = "chatcmpl-";

static bool str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* The class and OpenAI error type of an error the prompt asked for. */
static gantry_error_class_t error_class(int status, gantry_str_t code, const char **type)
{
    *type = "invalid_request_error";
    if (str_eq(code, "context_length_exceeded"))
        return GANTRY_ERR_CONTEXT_WINDOW;
    if (str_eq(code, "content_filter") || str_eq(code, "content_policy_violation"))
        return GANTRY_ERR_CONTENT_POLICY;
    switch (status) {
    case 401:
    case 403:
        *type = "authentication_error";
        return GANTRY_ERR_AUTH;
    case 404:
        *type = "not_found_error";
        return GANTRY_ERR_NOT_FOUND;
    case 408:
    case 504:
        *type = "timeout_error";
        return GANTRY_ERR_TIMEOUT;
    case 429:
        *type = "rate_limit_error";
        return GANTRY_ERR_RATE_LIMIT;
    default:
        if (status >= 500) {
            *type = "api_error";
            return GANTRY_ERR_SERVER;
        }
        return GANTRY_ERR_BAD_REQUEST;
    }
}

/* Answer the error "__fake_error__ <status> [<code>]" asked for, at once (see README.md). */
static gantry_action_t fail_on_request(const gantry_host_t *host, gantry_req_t *req,
                                       const fake_prompt_t *prompt)
{
    const char *type;
    gantry_error_class_t cls = error_class(prompt->error_status, prompt->error_code, &type);
    /* req_fail() wants a NUL-terminated code; the view into the request body may not be one. */
    const char *code = NULL;
    if (prompt->error_code.len > 0) {
        code = host->strdup(req, prompt->error_code.ptr, prompt->error_code.len);
        if (code == NULL)
            return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                                  "request memory exhausted");
    }
    return host->req_fail(req, prompt->error_status, cls, type, code,
                          "fake error %d requested by the prompt", prompt->error_status);
}

/* Install the complete response; RESPOND, or FAIL when it could not be built. */
static gantry_action_t deliver(fake_run_t *run)
{
    const gantry_host_t *host = run->host;
    gantry_json_t *root = fake_reply_completion(run);
    int rc = root != NULL ? host->resp_set_take(run->req, root) : GANTRY_ENOMEM;
    if (rc != GANTRY_OK)
        return host->req_fail(run->req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not build the fake response: %s", host->strerror(rc));
    return GANTRY_RESPOND;
}

static void on_latency(gantry_req_t *req, void *arg)
{
    fake_run_t *run = arg;
    run->host->resume(req, deliver(run));
}

/* The per-request state, in the arena; NULL when the arena is exhausted. */
static fake_run_t *new_run(const fake_instance_t *inst, gantry_req_t *req,
                           const fake_deployment_t *dep, const fake_prompt_t *prompt)
{
    const gantry_host_t *host = inst->host;
    fake_run_t *run = host->alloc(req, sizeof(*run));
    gantry_str_t req_id = host->req_id(req);
    size_t n = sizeof(id_prefix) - 1;
    char *id = host->alloc(req, n + req_id.len + 1);
    if (run == NULL || id == NULL)
        return NULL;
    memcpy(id, id_prefix, n);
    if (req_id.len > 0)
        memcpy(id + n, req_id.ptr, req_id.len);
    id[n + req_id.len] = '\0';

    *run = (fake_run_t){
        .host = host,
        .dep = dep,
        .req = req,
        .id = {id, n + req_id.len},
        .created = host->unix_ms() / 1000,
        .prompt_tokens = prompt->prompt_tokens,
        .total = dep->tokens,
        .truncated = false,
    };
    if (prompt->max_tokens >= 0 && (uint64_t)prompt->max_tokens < dep->tokens) {
        run->total = (uint32_t)prompt->max_tokens;
        run->truncated = true;
    }
    fake_words_init(&run->words, dep, prompt->hash);
    return run;
}

gantry_action_t fake_invoke(gantry_req_t *req, void *state, void *deployment)
{
    const fake_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const fake_deployment_t *dep = deployment;
    fake_prompt_t prompt;

    if (GANTRY_HOST_HAS(host, req_endpoint) && host->req_endpoint(req) == GANTRY_EP_EMBEDDINGS)
        return fake_embed(inst, req, dep);
    fake_read_prompt(host, req, &prompt);
    if (prompt.error_status != 0)
        return fail_on_request(host, req, &prompt);

    fake_run_t *run = new_run(inst, req, dep, &prompt);
    if (run == NULL)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "request memory exhausted");
    if (host->req_is_stream(req))
        return fake_stream_start(run);
    if (dep->latency_ms == 0)
        return deliver(run);

    int rc = host->timer_start(req, dep->latency_ms, on_latency, run);
    if (rc != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not start a timer: %s", host->strerror(rc));
    return GANTRY_PAUSE;
}
