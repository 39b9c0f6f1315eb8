/*
 * The Amazon Bedrock guardrail: streamed completions (post_call), checked in windows.
 *
 * Each choice's delta.content is collected; once stream_window characters have come (and at the
 * chunk carrying the choice's finish_reason) they are sent to ApplyGuardrail with source OUTPUT,
 * preceded by the last characters of the previous window, so that a phrase cut in two by a
 * window's edge is still seen whole.  The text keeps flowing to the client meanwhile: the verdict
 * is deferred without GANTRY_VERDICT_HOLD, and only the end of the stream waits for it.  A block
 * ends the stream with an error event; text that was already sent stays sent, and anonymized text
 * cannot be masked once it has gone out (see README.md).
 *
 * One window per choice is checked at a time: text that arrives meanwhile waits for the next one,
 * which starts as soon as the answer for the current one is in.  The window doubles after every
 * BG_WINDOW_DOUBLING checks of a response, so even a very long completion needs few checks.
 */
#include "bedrock_guardrail.h"

size_t bg_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

size_t bg_utf8_tail(const char *s, size_t len, size_t chars)
{
    size_t i = len, n = 0;
    while (i > 0 && n < chars) {
        i--;
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return i;
}

size_t bg_window_size(size_t window, unsigned n)
{
    unsigned shift = n / BG_WINDOW_DOUBLING;
    return window << (shift > 10 ? 10 : shift);
}

static size_t overlap_chars(const bg_instance_t *bg)
{
    size_t quarter = bg->stream_window / 4;
    return quarter < BG_WINDOW_OVERLAP ? quarter : BG_WINDOW_OVERLAP;
}

bg_req_t *bg_req_state(const bg_instance_t *bg, gantry_req_t *req)
{
    const gantry_host_t *h = bg->host;
    bg_req_t *rs = h->req_data(req, bg->self);
    if (rs != NULL)
        return rs;
    rs = h->alloc(req, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    memset(rs, 0, sizeof(*rs));
    h->req_set_data(req, bg->self, rs);
    return rs;
}

static void free_choice(void *arg)
{
    bg_choice_t *c = arg;
    c->bg->host->mem_free(c->buf);
    c->buf = NULL;
}

static bg_choice_t *choice_find(const bg_instance_t *bg, gantry_req_t *req, bg_req_t *rs,
                                int64_t index)
{
    const gantry_host_t *h = bg->host;
    for (bg_choice_t *c = rs->choices; c != NULL; c = c->next) {
        if (c->index == index)
            return c;
    }
    bg_choice_t *c = h->alloc(req, sizeof(*c));
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof(*c));
    c->bg = bg;
    c->index = index;
    /* The buffer is instance memory, so that a long stream does not pile up arena blocks. */
    if (h->on_cleanup(req, free_choice, c) != GANTRY_OK)
        return NULL;
    c->next = rs->choices;
    rs->choices = c;
    return c;
}

static bool append(const bg_instance_t *bg, bg_choice_t *c, gantry_str_t text)
{
    if (text.len > c->cap - c->len) {
        size_t need = c->len + text.len, cap = c->cap ? c->cap : 256;
        while (cap < need) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        char *buf = bg->host->mem_realloc(c->buf, cap);
        if (buf == NULL)
            return false;
        c->buf = buf;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, text.ptr, text.len);
    c->len += text.len;
    c->pending_chars += bg_utf8_chars(text.ptr, text.len);
    return true;
}

static bool due(const bg_instance_t *bg, const bg_req_t *rs, const bg_choice_t *c)
{
    if (c->in_flight || c->pending_chars == 0)
        return false;
    return c->finished || c->pending_chars >= bg_window_size(bg->stream_window, rs->windows);
}

/* Send the choice's waiting text (after its overlap): CONTINUE, or FAIL after req_fail. */
static gantry_action_t start_window(const bg_instance_t *bg, gantry_req_t *req, bg_req_t *rs,
                                    bg_choice_t *c)
{
    const gantry_host_t *h = bg->host;
    bg_job_t *job = h->alloc(req, sizeof(*job));
    if (job == NULL)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, "out of memory");
    memset(job, 0, sizeof(*job));
    job->bg = bg;
    job->req = req;
    job->kind = BG_JOB_WINDOW;
    job->ticket = -1;
    job->choice = c;
    gantry_str_t text = {c->buf, c->len};
    if (bg_build_body(h, req, "OUTPUT", &text, 1, &job->body) != GANTRY_OK)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");
    /* The body holds a copy: keep only the end of this window, as the next one's context. */
    size_t keep_from = bg_utf8_tail(c->buf, c->len, overlap_chars(bg));
    memmove(c->buf, c->buf + keep_from, c->len - keep_from);
    c->len -= keep_from;
    c->overlap = c->len;
    c->pending_chars = 0;
    rs->windows++;

    c->in_flight = true;
    if (bg_start_soon(job) == GANTRY_FAIL) {
        c->in_flight = false;
        return GANTRY_FAIL;
    }
    job->ticket = h->verdict_defer(req, bg->self, 0);
    if (job->ticket < 0) {
        /* No more verdicts can be awaited: the rest of the stream cannot be checked. */
        job->abandoned = true;
        c->in_flight = false;
        rs->gave_up = true;
        return bg_service_fail(job, 500, GANTRY_ERR_SERVER,
                               "no more checks of this stream can be awaited after %u windows "
                               "(%s); a larger stream_window needs fewer",
                               rs->windows - 1, h->strerror(job->ticket));
    }
    return GANTRY_CONTINUE;
}

gantry_action_t bg_window_done(bg_job_t *job)
{
    const bg_instance_t *bg = job->bg;
    bg_choice_t *c = job->choice;
    bg_req_t *rs = bg_req_state(bg, job->req);
    c->in_flight = false;
    if (rs == NULL || rs->blocked || rs->gave_up || !due(bg, rs, c))
        return GANTRY_CONTINUE;
    return start_window(bg, job->req, rs, c);
}

gantry_action_t bg_window_verdict(bg_job_t *job, const bg_verdict_t *v)
{
    const bg_instance_t *bg = job->bg;
    bg_req_t *rs = bg_req_state(bg, job->req);
    switch (bg_outcome(v)) {
    case BG_PASS:
        return GANTRY_CONTINUE;
    case BG_BLOCK:
        break;
    case BG_MASK:
        if (!bg->mask_response)
            break;
        /* The text went out before the verdict: there is nothing left to mask. */
        bg->host->log(bg->self, job->req, GANTRY_LOG_WARN,
                      "the guardrail anonymized streamed text (%s) that was already sent",
                      v->summary);
        bg_note(bg, job->req);
        return GANTRY_CONTINUE;
    }
    if (rs != NULL)
        rs->blocked = true;
    return bg_block(job, v, "Response", bg_outcome(v) == BG_MASK);
}

static int64_t choice_index(const gantry_host_t *h, const gantry_json_t *choice, int64_t position)
{
    gantry_json_t *n = h->json_get(choice, "index");
    double d;
    if (h->json_type(n) == GANTRY_JSON_NUMBER && h->json_number(n, &d) == GANTRY_OK && d >= 0 &&
        d < 1e9)
        return (int64_t)d;
    return position;
}

gantry_action_t bg_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk)
{
    const bg_instance_t *bg = state;
    const gantry_host_t *h = bg->host;
    (void)worker_state;
    if (!(h->guard_modes(bg->self) & GANTRY_GUARD_POST_CALL))
        return GANTRY_CONTINUE;
    gantry_json_t *choices = h->json_get(chunk, "choices");
    if (h->json_type(choices) != GANTRY_JSON_ARRAY || h->json_count(choices) == 0)
        return GANTRY_CONTINUE;
    bg_req_t *rs = bg_req_state(bg, req);
    bg_job_t ctx = {.bg = bg, .req = req, .kind = BG_JOB_WINDOW, .ticket = -1};
    if (rs == NULL)
        return bg_service_fail(&ctx, 500, GANTRY_ERR_INTERNAL, "out of memory");
    if (rs->blocked || rs->gave_up)
        return GANTRY_CONTINUE;
    int64_t position = 0;
    for (gantry_json_t *ch = h->json_first(choices); ch != NULL;
         ch = h->json_next(ch), position++) {
        if (h->json_type(ch) != GANTRY_JSON_OBJECT)
            continue;
        gantry_json_t *delta = h->json_get(ch, "delta");
        gantry_json_t *content = h->json_get(delta, "content");
        gantry_str_t text =
            h->json_type(content) == GANTRY_JSON_STRING ? h->json_string(content) : GANTRY_STR_NULL;
        bool finished = h->json_type(h->json_get(ch, "finish_reason")) == GANTRY_JSON_STRING;
        if (text.len == 0 && !finished)
            continue;
        bg_choice_t *c = choice_find(bg, req, rs, choice_index(h, ch, position));
        if (c == NULL)
            return bg_service_fail(&ctx, 500, GANTRY_ERR_INTERNAL, "out of memory");
        if (c->finished)
            continue; /* nothing belongs to a choice after its finish_reason */
        if (text.len > 0 && !append(bg, c, text))
            return bg_service_fail(&ctx, 500, GANTRY_ERR_INTERNAL, "out of memory");
        c->finished = finished;
        if (due(bg, rs, c) && start_window(bg, req, rs, c) == GANTRY_FAIL)
            return GANTRY_FAIL;
    }
    return GANTRY_CONTINUE;
}
