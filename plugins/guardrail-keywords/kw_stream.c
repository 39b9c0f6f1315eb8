/*
 * keywords guardrail: streamed completions, one canonical chunk at a time.
 *
 * Each choice's text goes through a carry window (kw_carry_feed): the tail that could be the
 * start of a keyword is held back and released with the next chunk, masked if it turned out to
 * be one, so a keyword split across chunks is still found (and a blocking one never reaches the
 * client).  A chunk's delta.content is replaced by what can be released; the chunk carrying
 * finish_reason releases the rest.
 */
#include "kw_int.h"

#include <string.h>

static kw_choice_t *choice_state(gantry_req_t *req, const kw_instance_t *ki, kw_req_t *rs,
                                 int64_t index)
{
    kw_choice_t *c;

    for (c = rs->choices; c != NULL; c = c->next) {
        if (c->index == index)
            return c;
    }
    c = ki->host->alloc(req, sizeof(*c));
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof(*c));
    c->index = index;
    c->next = rs->choices;
    rs->choices = c;
    return c;
}

/* Put `text` in the choice's delta.content, creating it when the chunk had none. */
static bool set_content(const gantry_host_t *host, gantry_json_t *choice, gantry_json_t *content,
                        gantry_str_t text)
{
    gantry_json_t *delta;

    if (content == NULL) {
        if (text.len == 0)
            return true;
        delta = host->json_get(choice, "delta");
        if (host->json_type(delta) != GANTRY_JSON_OBJECT)
            delta = host->json_set(choice, "delta", GANTRY_JSON_OBJECT);
        content = delta != NULL ? host->json_set(delta, "content", GANTRY_JSON_STRING) : NULL;
        if (content == NULL)
            return false;
    }
    return host->json_set_string(content, text) == GANTRY_OK;
}

static int64_t choice_index(const gantry_host_t *host, gantry_json_t *choice, int64_t position)
{
    gantry_json_t *node = host->json_get(choice, "index");
    double d;

    /* With n > 1 the choices of a stream interleave: each index has its own text. */
    if (host->json_type(node) == GANTRY_JSON_NUMBER && host->json_number(node, &d) == GANTRY_OK &&
        d >= 0 && d < 1e9)
        return (int64_t)d;
    return position;
}

gantry_action_t kw_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk)
{
    const kw_instance_t *ki = state;
    const gantry_host_t *host = ki->host;
    gantry_json_t *choices, *choice;
    kw_req_t *rs;
    bool masked = false;
    int64_t position = 0;

    (void)worker_state;
    if (!ki->on_response)
        return GANTRY_CONTINUE;
    if (host->json_type(chunk) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;
    choices = host->json_get(chunk, "choices");
    if (host->json_type(choices) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE;
    rs = kw_req_state(req, ki);
    if (rs == NULL)
        return kw_fail(req, ki, KW_NOMEM, 0, false);
    for (choice = host->json_first(choices); choice != NULL;
         choice = host->json_next(choice), position++) {
        gantry_json_t *delta, *content = NULL;
        gantry_str_t text = GANTRY_STR_NULL;
        size_t blocked = 0;
        kw_choice_t *cs;
        kw_verdict_t v;
        bool finished;

        if (host->json_type(choice) != GANTRY_JSON_OBJECT)
            continue;
        delta = host->json_get(choice, "delta");
        if (host->json_type(delta) == GANTRY_JSON_OBJECT) {
            content = host->json_get(delta, "content");
            if (host->json_type(content) == GANTRY_JSON_STRING)
                text = host->json_string(content);
            else
                content = NULL;
        }
        finished = host->json_type(host->json_get(choice, "finish_reason")) == GANTRY_JSON_STRING;
        if (text.len == 0 && !finished)
            continue;
        cs = choice_state(req, ki, rs, choice_index(host, choice, position));
        if (cs == NULL)
            return kw_fail(req, ki, KW_NOMEM, 0, false);
        if (cs->done && text.len == 0)
            continue;
        v = kw_carry_feed(&ki->set, &ki->mem, &cs->carry, text.ptr, text.len, finished, &rs->out,
                          &blocked);
        if (v == KW_BLOCKED || v == KW_NOMEM)
            return kw_fail(req, ki, v, blocked, false);
        cs->done = finished;
        masked |= v == KW_MASKED;
        /* Leave the chunk untouched when nothing was held or masked: the core then relays the
         * upstream's own bytes. */
        if (content != NULL && rs->out.len == text.len &&
            (text.len == 0 || memcmp(rs->out.ptr, text.ptr, text.len) == 0))
            continue;
        if (!set_content(host, choice, content, (gantry_str_t){rs->out.ptr, rs->out.len}))
            return kw_fail(req, ki, KW_NOMEM, 0, false);
    }
    if (masked)
        kw_note(req, ki);
    return GANTRY_CONTINUE;
}
