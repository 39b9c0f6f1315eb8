/*
 * keywords guardrail: checks of whole requests and non-streamed responses, and what blocking and
 * masking do to the request.
 */
#include "kw_int.h"

#include <string.h>

static void req_cleanup(void *arg)
{
    kw_req_t *rs = arg;
    const kw_mem_t *mem = &rs->ki->mem;

    for (kw_choice_t *c = rs->choices; c != NULL; c = c->next)
        kw_carry_free(mem, &c->carry);
    kw_buf_free(mem, &rs->out);
}

kw_req_t *kw_req_state(gantry_req_t *req, const kw_instance_t *ki)
{
    const gantry_host_t *host = ki->host;
    kw_req_t *rs = host->req_data(req, ki->self);

    if (rs != NULL)
        return rs;
    rs = host->alloc(req, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    memset(rs, 0, sizeof(*rs));
    rs->ki = ki;
    /* The stream buffers are instance memory: they are given back when the request ends. */
    if (host->on_cleanup(req, req_cleanup, rs) != GANTRY_OK)
        return NULL;
    host->req_set_data(req, ki->self, rs);
    return rs;
}

void kw_note(gantry_req_t *req, const kw_instance_t *ki)
{
    kw_req_t *rs = kw_req_state(req, ki);

    /* Once per request: masking every chunk of a stream must not repeat the name each time. */
    if (rs != NULL && rs->noted)
        return;
    ki->host->req_note_guardrail(req, ki->name);
    if (rs != NULL)
        rs->noted = true;
}

gantry_action_t kw_fail(gantry_req_t *req, const kw_instance_t *ki, kw_verdict_t v, size_t word,
                        bool request)
{
    const gantry_host_t *host = ki->host;
    const char *what = request ? "request" : "response";

    if (v == KW_BLOCKED) {
        const kw_word_t *w = &ki->set.words[word];

        kw_note(req, ki);
        /* The client wrote a keyword of its request and may see it named; a completion's is not
         * repeated, since keeping it from the client is what the guardrail is for. */
        if (request)
            return host->req_fail(req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation",
                                  "keyword_detected",
                                  "guardrail '%s' blocked the request: it contains the keyword "
                                  "'%.*s'",
                                  ki->name, (int)w->len, w->text);
        return host->req_fail(
            req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation", "keyword_detected",
            "guardrail '%s' blocked the response: it contains a denied keyword", ki->name);
    }
    /* Not a verdict: the core fails closed, or open when the guardrail is configured so. */
    host->log(ki->self, req, GANTRY_LOG_ERROR, "out of memory checking the %s", what);
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "server_error", NULL,
                          "guardrail '%s' could not check the %s", ki->name, what);
}

/* Check one JSON string: block, or replace its value with the masked text. */
static kw_verdict_t check_string(gantry_req_t *req, const kw_instance_t *ki, gantry_json_t *node,
                                 size_t *blocked)
{
    const gantry_host_t *host = ki->host;
    gantry_str_t s;
    kw_buf_t out = {NULL, 0, 0};
    kw_verdict_t v;

    if (host->json_type(node) != GANTRY_JSON_STRING)
        return KW_CLEAN;
    s = host->json_string(node);
    if (s.len == 0)
        return KW_CLEAN;
    v = kw_check_text(&ki->set, &ki->mem, s.ptr, s.len, &out, blocked);
    if (v == KW_MASKED &&
        host->json_set_string(node, (gantry_str_t){out.ptr, out.len}) != GANTRY_OK)
        v = KW_NOMEM;
    (void)req;
    kw_buf_free(&ki->mem, &out);
    return v;
}

/* Folds one verdict into the running one; true when the walk must stop. */
static bool settle(kw_verdict_t v, kw_verdict_t *acc)
{
    if (v == KW_MASKED && *acc == KW_CLEAN)
        *acc = KW_MASKED;
    else if (v == KW_BLOCKED || v == KW_NOMEM)
        *acc = v;
    return v == KW_BLOCKED || v == KW_NOMEM;
}

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* A message's `content`: a string, or an array of parts of which the "text" ones are checked. */
static bool check_content(gantry_req_t *req, const kw_instance_t *ki, gantry_json_t *content,
                          kw_verdict_t *acc, size_t *blocked)
{
    const gantry_host_t *host = ki->host;

    if (host->json_type(content) == GANTRY_JSON_STRING)
        return settle(check_string(req, ki, content, blocked), acc);
    if (host->json_type(content) != GANTRY_JSON_ARRAY)
        return false;
    for (gantry_json_t *part = host->json_first(content); part != NULL;
         part = host->json_next(part)) {
        if (host->json_type(part) != GANTRY_JSON_OBJECT ||
            !str_is(host->json_string(host->json_get(part, "type")), "text"))
            continue;
        if (settle(check_string(req, ki, host->json_get(part, "text"), blocked), acc))
            return true;
    }
    return false;
}

/* tool_calls[*].function.arguments: JSON text that tools receive. */
static bool check_tool_calls(gantry_req_t *req, const kw_instance_t *ki, gantry_json_t *msg,
                             kw_verdict_t *acc, size_t *blocked)
{
    const gantry_host_t *host = ki->host;
    gantry_json_t *calls = host->json_get(msg, "tool_calls");

    if (host->json_type(calls) != GANTRY_JSON_ARRAY)
        return false;
    for (gantry_json_t *call = host->json_first(calls); call != NULL;
         call = host->json_next(call)) {
        gantry_json_t *fn;

        if (host->json_type(call) != GANTRY_JSON_OBJECT)
            continue;
        fn = host->json_get(call, "function");
        if (host->json_type(fn) != GANTRY_JSON_OBJECT)
            continue;
        if (settle(check_string(req, ki, host->json_get(fn, "arguments"), blocked), acc))
            return true;
    }
    return false;
}

/* A string or an array of strings ("prompt" of /v1/completions, "input" of /v1/embeddings). */
static bool check_strings(gantry_req_t *req, const kw_instance_t *ki, gantry_json_t *node,
                          kw_verdict_t *acc, size_t *blocked)
{
    const gantry_host_t *host = ki->host;

    if (host->json_type(node) == GANTRY_JSON_STRING)
        return settle(check_string(req, ki, node, blocked), acc);
    if (host->json_type(node) != GANTRY_JSON_ARRAY)
        return false;
    for (gantry_json_t *it = host->json_first(node); it != NULL; it = host->json_next(it)) {
        if (settle(check_string(req, ki, it, blocked), acc))
            return true;
    }
    return false;
}

gantry_action_t kw_check_request(gantry_req_t *req, void *state, void *worker_state)
{
    const kw_instance_t *ki = state;
    const gantry_host_t *host = ki->host;
    gantry_json_t *body, *messages;
    kw_verdict_t acc = KW_CLEAN;
    size_t blocked = 0;
    bool stop = false;

    (void)worker_state;
    if (!ki->on_request)
        return GANTRY_CONTINUE;
    body = host->req_body(req);
    if (host->json_type(body) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;
    messages = host->json_get(body, "messages");
    if (host->json_type(messages) == GANTRY_JSON_ARRAY) {
        /* Every role: system, developer and tool messages reach the model too. */
        for (gantry_json_t *msg = host->json_first(messages); msg != NULL && !stop;
             msg = host->json_next(msg)) {
            if (host->json_type(msg) != GANTRY_JSON_OBJECT)
                continue;
            stop = check_content(req, ki, host->json_get(msg, "content"), &acc, &blocked) ||
                   check_tool_calls(req, ki, msg, &acc, &blocked);
        }
    }
    if (!stop)
        stop = check_strings(req, ki, host->json_get(body, "prompt"), &acc, &blocked);
    if (!stop)
        check_strings(req, ki, host->json_get(body, "input"), &acc, &blocked);
    if (acc == KW_BLOCKED || acc == KW_NOMEM)
        return kw_fail(req, ki, acc, blocked, true);
    if (acc == KW_MASKED)
        kw_note(req, ki);
    return GANTRY_CONTINUE;
}

gantry_action_t kw_check_response(gantry_req_t *req, void *state, void *worker_state)
{
    const kw_instance_t *ki = state;
    const gantry_host_t *host = ki->host;
    gantry_json_t *resp, *choices;
    kw_verdict_t acc = KW_CLEAN;
    size_t blocked = 0;

    (void)worker_state;
    if (!ki->on_response)
        return GANTRY_CONTINUE;
    /* A streamed completion was checked chunk by chunk as it went out (kw_stream.c). */
    if (host->req_is_stream(req))
        return GANTRY_CONTINUE;
    resp = host->resp_body(req);
    if (host->json_type(resp) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;
    choices = host->json_get(resp, "choices");
    if (host->json_type(choices) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE;
    for (gantry_json_t *choice = host->json_first(choices); choice != NULL;
         choice = host->json_next(choice)) {
        gantry_json_t *message;

        if (host->json_type(choice) != GANTRY_JSON_OBJECT)
            continue;
        message = host->json_get(choice, "message");
        if (host->json_type(message) != GANTRY_JSON_OBJECT)
            continue;
        if (check_content(req, ki, host->json_get(message, "content"), &acc, &blocked) ||
            check_tool_calls(req, ki, message, &acc, &blocked))
            break;
    }
    if (acc == KW_BLOCKED || acc == KW_NOMEM)
        return kw_fail(req, ki, acc, blocked, false);
    if (acc == KW_MASKED)
        kw_note(req, ki);
    return GANTRY_CONTINUE;
}
