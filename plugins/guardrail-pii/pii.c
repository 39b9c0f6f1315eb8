/*
 * pii guardrail: checks of whole requests and non-streamed responses, and what blocking and
 * masking do to the request.
 */
#include "pii_int.h"

#include <string.h>

static void req_cleanup(void *arg)
{
    pii_req_t *rs = arg;
    const pii_mem_t *mem = &rs->pi->mem;

    for (pii_choice_t *c = rs->choices; c != NULL; c = c->next)
        pii_carry_free(mem, &c->carry);
    pii_buf_free(mem, &rs->out);
}

pii_req_t *pii_req_state(gantry_req_t *req, const pii_instance_t *pi)
{
    const gantry_host_t *host = pi->host;
    pii_req_t *rs = host->req_data(req, pi->self);

    if (rs != NULL)
        return rs;
    rs = host->alloc(req, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    memset(rs, 0, sizeof(*rs));
    rs->pi = pi;
    /* The stream buffers are instance memory: they are given back when the request ends. */
    if (host->on_cleanup(req, req_cleanup, rs) != GANTRY_OK)
        return NULL;
    host->req_set_data(req, pi->self, rs);
    return rs;
}

void pii_note(gantry_req_t *req, const pii_instance_t *pi)
{
    pii_req_t *rs = pii_req_state(req, pi);

    /* Once per request: masking every chunk of a stream must not repeat the name each time. */
    if (rs != NULL && rs->noted)
        return;
    pi->host->req_note_guardrail(req, pi->name);
    if (rs != NULL)
        rs->noted = true;
}

gantry_action_t pii_fail(gantry_req_t *req, const pii_instance_t *pi, pii_verdict_t v,
                         pii_entity_t entity, const char *what)
{
    const gantry_host_t *host = pi->host;

    if (v == PII_BLOCKED) {
        pii_note(req, pi);
        return host->req_fail(req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation", "pii_detected",
                              "guardrail '%s' blocked the %s: it contains %s", pi->name, what,
                              pii_entity_name(entity));
    }
    /* Not a verdict: the core fails closed, or open when the guardrail is configured so. */
    host->log(pi->self, req, GANTRY_LOG_ERROR, "out of memory checking the %s", what);
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "server_error", NULL,
                          "guardrail '%s' could not check the %s", pi->name, what);
}

/* Check one JSON string: block, or replace its value with the masked text. */
static pii_verdict_t check_string(gantry_req_t *req, const pii_instance_t *pi, gantry_json_t *node,
                                  pii_entity_t *blocked)
{
    const gantry_host_t *host = pi->host;
    gantry_str_t s;
    pii_buf_t out = {NULL, 0, 0};
    pii_verdict_t v;

    if (host->json_type(node) != GANTRY_JSON_STRING)
        return PII_CLEAN;
    s = host->json_string(node);
    if (s.len == 0)
        return PII_CLEAN;
    v = pii_check_text(&pi->rules, &pi->mem, s.ptr, s.len, &out, blocked);
    if (v == PII_MASKED &&
        host->json_set_string(node, (gantry_str_t){out.ptr, out.len}) != GANTRY_OK)
        v = PII_NOMEM;
    (void)req;
    pii_buf_free(&pi->mem, &out);
    return v;
}

/* Folds one verdict into the running one; true when the walk must stop. */
static bool settle(pii_verdict_t v, pii_verdict_t *acc)
{
    if (v == PII_MASKED && *acc == PII_CLEAN)
        *acc = PII_MASKED;
    else if (v == PII_BLOCKED || v == PII_NOMEM)
        *acc = v;
    return v == PII_BLOCKED || v == PII_NOMEM;
}

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* A message's `content`: a string, or an array of parts of which the "text" ones are checked. */
static bool check_content(gantry_req_t *req, const pii_instance_t *pi, gantry_json_t *content,
                          pii_verdict_t *acc, pii_entity_t *blocked)
{
    const gantry_host_t *host = pi->host;

    if (host->json_type(content) == GANTRY_JSON_STRING)
        return settle(check_string(req, pi, content, blocked), acc);
    if (host->json_type(content) != GANTRY_JSON_ARRAY)
        return false;
    for (gantry_json_t *part = host->json_first(content); part != NULL;
         part = host->json_next(part)) {
        if (host->json_type(part) != GANTRY_JSON_OBJECT ||
            !str_is(host->json_string(host->json_get(part, "type")), "text"))
            continue;
        if (settle(check_string(req, pi, host->json_get(part, "text"), blocked), acc))
            return true;
    }
    return false;
}

/* tool_calls[*].function.arguments: JSON text that tools receive, personal data included. */
static bool check_tool_calls(gantry_req_t *req, const pii_instance_t *pi, gantry_json_t *msg,
                             pii_verdict_t *acc, pii_entity_t *blocked)
{
    const gantry_host_t *host = pi->host;
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
        if (settle(check_string(req, pi, host->json_get(fn, "arguments"), blocked), acc))
            return true;
    }
    return false;
}

/* A string or an array of strings ("prompt" of /v1/completions, "input" of /v1/embeddings). */
static bool check_strings(gantry_req_t *req, const pii_instance_t *pi, gantry_json_t *node,
                          pii_verdict_t *acc, pii_entity_t *blocked)
{
    const gantry_host_t *host = pi->host;

    if (host->json_type(node) == GANTRY_JSON_STRING)
        return settle(check_string(req, pi, node, blocked), acc);
    if (host->json_type(node) != GANTRY_JSON_ARRAY)
        return false;
    for (gantry_json_t *it = host->json_first(node); it != NULL; it = host->json_next(it)) {
        if (settle(check_string(req, pi, it, blocked), acc))
            return true;
    }
    return false;
}

gantry_action_t pii_check_request(gantry_req_t *req, void *state, void *worker_state)
{
    const pii_instance_t *pi = state;
    const gantry_host_t *host = pi->host;
    gantry_json_t *body, *messages;
    pii_verdict_t acc = PII_CLEAN;
    pii_entity_t blocked = PII_NENTITIES;
    bool stop = false;

    (void)worker_state;
    if (!pi->on_request || pi->rules.enabled == 0)
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
            stop = check_content(req, pi, host->json_get(msg, "content"), &acc, &blocked) ||
                   check_tool_calls(req, pi, msg, &acc, &blocked);
        }
    }
    if (!stop)
        stop = check_strings(req, pi, host->json_get(body, "prompt"), &acc, &blocked);
    if (!stop)
        check_strings(req, pi, host->json_get(body, "input"), &acc, &blocked);
    if (acc == PII_BLOCKED || acc == PII_NOMEM)
        return pii_fail(req, pi, acc, blocked, "request");
    if (acc == PII_MASKED)
        pii_note(req, pi);
    return GANTRY_CONTINUE;
}

gantry_action_t pii_check_response(gantry_req_t *req, void *state, void *worker_state)
{
    const pii_instance_t *pi = state;
    const gantry_host_t *host = pi->host;
    gantry_json_t *resp, *choices;
    pii_verdict_t acc = PII_CLEAN;
    pii_entity_t blocked = PII_NENTITIES;

    (void)worker_state;
    if (!pi->on_response || pi->rules.enabled == 0)
        return GANTRY_CONTINUE;
    /* A streamed completion was checked chunk by chunk as it went out (pii_stream.c). */
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
        if (check_content(req, pi, host->json_get(message, "content"), &acc, &blocked) ||
            check_tool_calls(req, pi, message, &acc, &blocked))
            break;
    }
    if (acc == PII_BLOCKED || acc == PII_NOMEM)
        return pii_fail(req, pi, acc, blocked, "response");
    if (acc == PII_MASKED)
        pii_note(req, pi);
    return GANTRY_CONTINUE;
}
