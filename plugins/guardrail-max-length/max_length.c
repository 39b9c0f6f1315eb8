/*
 * max_length guardrail: the size of prompts (characters, estimated tokens, messages) and of
 * completions (characters, streamed ones cut when they go over).
 */
#include "ml_int.h"

#include <string.h>

int64_t ml_chars(const char *s, size_t len)
{
    int64_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int64_t string_chars(const gantry_host_t *host, gantry_json_t *node)
{
    gantry_str_t s = host->json_string(node);
    return s.ptr != NULL ? ml_chars(s.ptr, s.len) : 0;
}

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* A message's content (a string or "text" parts) and its tool calls' arguments. */
static int64_t message_chars(const gantry_host_t *host, gantry_json_t *msg)
{
    gantry_json_t *content = host->json_get(msg, "content"), *calls;
    int64_t n = 0;

    if (host->json_type(content) == GANTRY_JSON_STRING) {
        n += string_chars(host, content);
    } else if (host->json_type(content) == GANTRY_JSON_ARRAY) {
        for (gantry_json_t *p = host->json_first(content); p != NULL; p = host->json_next(p)) {
            if (host->json_type(p) == GANTRY_JSON_OBJECT &&
                str_is(host->json_string(host->json_get(p, "type")), "text"))
                n += string_chars(host, host->json_get(p, "text"));
        }
    }
    calls = host->json_get(msg, "tool_calls");
    if (host->json_type(calls) == GANTRY_JSON_ARRAY) {
        for (gantry_json_t *c = host->json_first(calls); c != NULL; c = host->json_next(c)) {
            gantry_json_t *fn = host->json_get(c, "function");
            if (host->json_type(fn) == GANTRY_JSON_OBJECT)
                n += string_chars(host, host->json_get(fn, "arguments"));
        }
    }
    return n;
}

/* "prompt" of /v1/completions, "input" of /v1/embeddings: a string or strings. */
static int64_t strings_chars(const gantry_host_t *host, gantry_json_t *node)
{
    int64_t n = 0;

    if (host->json_type(node) == GANTRY_JSON_STRING)
        return string_chars(host, node);
    if (host->json_type(node) != GANTRY_JSON_ARRAY)
        return 0;
    for (gantry_json_t *it = host->json_first(node); it != NULL; it = host->json_next(it))
        n += string_chars(host, it);
    return n;
}

/* A verdict: the guardrail acted, and the request (or the stream) ends with this error. */
#define ML_BLOCK(req, ml, fmt, ...)                                                             \
    ((ml)->host->req_note_guardrail((req), (ml)->name),                                         \
     (ml)->host->req_fail((req), 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation",              \
                          "max_length_exceeded", "guardrail '%s' blocked the " fmt, (ml)->name, \
                          __VA_ARGS__))

gantry_action_t ml_check_request(gantry_req_t *req, void *state, void *worker_state)
{
    const ml_instance_t *ml = state;
    const gantry_host_t *host = ml->host;
    gantry_json_t *body = host->req_body(req), *messages;
    int64_t chars = 0, count = 0, tokens;

    (void)worker_state;
    if (host->json_type(body) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;
    messages = host->json_get(body, "messages");
    if (host->json_type(messages) == GANTRY_JSON_ARRAY) {
        for (gantry_json_t *m = host->json_first(messages); m != NULL; m = host->json_next(m)) {
            count++;
            if (host->json_type(m) == GANTRY_JSON_OBJECT)
                chars += message_chars(host, m);
        }
    }
    /* A /v1/completions body carries its prompt twice (as a message and as "prompt"): the
     * messages count when there are any. */
    if (count == 0)
        chars += strings_chars(host, host->json_get(body, "prompt"));
    chars += strings_chars(host, host->json_get(body, "input"));
    tokens = (chars + ML_CHARS_PER_TOKEN - 1) / ML_CHARS_PER_TOKEN;
    if (ml->max_messages > 0 && count > ml->max_messages)
        return ML_BLOCK(req, ml, "request: it has %lld messages, more than max_messages (%lld)",
                        (long long)count, (long long)ml->max_messages);
    if (ml->max_input_chars > 0 && chars > ml->max_input_chars)
        return ML_BLOCK(req, ml,
                        "request: the prompt has %lld characters, more than max_input_chars "
                        "(%lld)",
                        (long long)chars, (long long)ml->max_input_chars);
    if (ml->max_input_tokens > 0 && tokens > ml->max_input_tokens)
        return ML_BLOCK(req, ml,
                        "request: the prompt has about %lld tokens (characters / 4), more than "
                        "max_input_tokens (%lld)",
                        (long long)tokens, (long long)ml->max_input_tokens);
    return GANTRY_CONTINUE;
}

gantry_action_t ml_check_response(gantry_req_t *req, void *state, void *worker_state)
{
    const ml_instance_t *ml = state;
    const gantry_host_t *host = ml->host;
    gantry_json_t *resp, *choices;

    (void)worker_state;
    /* A streamed completion was counted chunk by chunk (and cut) as it went out. */
    if (ml->max_output_chars <= 0 || host->req_is_stream(req))
        return GANTRY_CONTINUE;
    resp = host->resp_body(req);
    choices = host->json_get(resp, "choices");
    if (host->json_type(choices) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE;
    for (gantry_json_t *c = host->json_first(choices); c != NULL; c = host->json_next(c)) {
        gantry_json_t *msg = host->json_get(c, "message");
        int64_t chars;

        if (host->json_type(msg) != GANTRY_JSON_OBJECT)
            continue;
        chars = message_chars(host, msg);
        if (chars > ml->max_output_chars)
            return ML_BLOCK(req, ml,
                            "response: the completion has %lld characters, more than "
                            "max_output_chars (%lld)",
                            (long long)chars, (long long)ml->max_output_chars);
    }
    return GANTRY_CONTINUE;
}

static ml_choice_t *choice_state(gantry_req_t *req, const ml_instance_t *ml, int64_t index)
{
    const gantry_host_t *host = ml->host;
    ml_choice_t *head = host->req_data(req, ml->self), *c;

    for (c = head; c != NULL; c = c->next) {
        if (c->index == index)
            return c;
    }
    c = host->alloc(req, sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = (ml_choice_t){.next = head, .index = index};
    host->req_set_data(req, ml->self, c);
    return c;
}

gantry_action_t ml_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk)
{
    const ml_instance_t *ml = state;
    const gantry_host_t *host = ml->host;
    gantry_json_t *choices;
    int64_t position = 0;

    (void)worker_state;
    if (ml->max_output_chars <= 0)
        return GANTRY_CONTINUE;
    choices = host->json_get(chunk, "choices");
    if (host->json_type(choices) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE;
    for (gantry_json_t *c = host->json_first(choices); c != NULL;
         c = host->json_next(c), position++) {
        gantry_json_t *delta = host->json_get(c, "delta"), *index_node;
        int64_t chars, index = position;
        ml_choice_t *cs;
        double d;

        if (host->json_type(delta) != GANTRY_JSON_OBJECT)
            continue;
        chars = message_chars(host, delta);
        if (chars == 0)
            continue;
        /* With n > 1 the choices of a stream interleave: each index is its own completion. */
        index_node = host->json_get(c, "index");
        if (host->json_type(index_node) == GANTRY_JSON_NUMBER &&
            host->json_number(index_node, &d) == GANTRY_OK && d >= 0 && d < 1e9)
            index = (int64_t)d;
        cs = choice_state(req, ml, index);
        if (cs == NULL)
            return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "server_error", NULL,
                                  "guardrail '%s' could not check the response", ml->name);
        cs->chars += chars;
        /* The chunk that goes over is not sent: the client gets at most the limit, then the
         * error event that ends the stream. */
        if (cs->chars > ml->max_output_chars)
            return ML_BLOCK(req, ml,
                            "response: the completion has %lld characters, more than "
                            "max_output_chars (%lld)",
                            (long long)cs->chars, (long long)ml->max_output_chars);
    }
    return GANTRY_CONTINUE;
}
