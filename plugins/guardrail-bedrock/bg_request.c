/*
 * The Amazon Bedrock guardrail: prompts (source INPUT).
 *
 * What is sent: the text of every system, developer and user message of the conversation, one
 * content block per string (a string content, or each "text" part of an array), in order - not
 * only the latest turn, since a client can put anything in the history it sends and every turn of
 * it reaches the model.  Assistant and tool messages are not sent: the guardrail is asked about
 * what people wrote.  For /v1/embeddings the input strings are sent.
 *
 * pre_call PAUSEs the request until the verdict: a block fails it, anonymized text (when
 * mask_request_content is on) replaces the original before the upstream call.  during_call lets
 * the upstream call start at once and defers the verdict with GANTRY_VERDICT_HOLD: nothing of the
 * answer reaches the client before it, and a block cancels the call.  A during_call verdict
 * cannot mask: the request is already upstream when it comes.
 */
#include "bedrock_guardrail.h"

int bg_nodes_push(const gantry_host_t *h, gantry_req_t *req, bg_nodes_t *l, gantry_json_t *node)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        gantry_json_t **v = h->alloc(req, cap * sizeof(*v));
        if (v == NULL)
            return GANTRY_ENOMEM;
        if (l->n > 0)
            memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = node;
    return GANTRY_OK;
}

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* A non-empty string node (Bedrock refuses empty text blocks, and they hold nothing to check). */
static int push_text(const gantry_host_t *h, gantry_req_t *req, bg_nodes_t *out, gantry_json_t *n)
{
    if (h->json_type(n) != GANTRY_JSON_STRING || h->json_string(n).len == 0)
        return GANTRY_OK;
    return bg_nodes_push(h, req, out, n);
}

static int content_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t *content,
                         bg_nodes_t *out)
{
    if (h->json_type(content) == GANTRY_JSON_STRING)
        return push_text(h, req, out, content);
    if (h->json_type(content) != GANTRY_JSON_ARRAY)
        return GANTRY_OK;
    for (gantry_json_t *part = h->json_first(content); part != NULL; part = h->json_next(part)) {
        if (h->json_type(part) != GANTRY_JSON_OBJECT)
            continue;
        gantry_json_t *type = h->json_get(part, "type");
        if (h->json_type(type) != GANTRY_JSON_STRING || !str_is(h->json_string(type), "text"))
            continue;
        int rc = push_text(h, req, out, h->json_get(part, "text"));
        if (rc != GANTRY_OK)
            return rc;
    }
    return GANTRY_OK;
}

int bg_request_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t *body,
                     gantry_endpoint_t ep, bg_nodes_t *out)
{
    if (h->json_type(body) != GANTRY_JSON_OBJECT)
        return GANTRY_OK;
    if (ep == GANTRY_EP_EMBEDDINGS) {
        /* A string, or a list of strings; token arrays are not text. */
        gantry_json_t *input = h->json_get(body, "input");
        if (h->json_type(input) == GANTRY_JSON_STRING)
            return push_text(h, req, out, input);
        if (h->json_type(input) != GANTRY_JSON_ARRAY)
            return GANTRY_OK;
        for (gantry_json_t *it = h->json_first(input); it != NULL; it = h->json_next(it)) {
            int rc = push_text(h, req, out, it);
            if (rc != GANTRY_OK)
                return rc;
        }
        return GANTRY_OK;
    }
    gantry_json_t *messages = h->json_get(body, "messages");
    if (h->json_type(messages) != GANTRY_JSON_ARRAY)
        return GANTRY_OK;
    for (gantry_json_t *m = h->json_first(messages); m != NULL; m = h->json_next(m)) {
        if (h->json_type(m) != GANTRY_JSON_OBJECT)
            continue;
        gantry_json_t *role = h->json_get(m, "role");
        gantry_str_t r =
            h->json_type(role) == GANTRY_JSON_STRING ? h->json_string(role) : GANTRY_STR_NULL;
        if (!str_is(r, "system") && !str_is(r, "developer") && !str_is(r, "user"))
            continue;
        int rc = content_texts(h, req, h->json_get(m, "content"), out);
        if (rc != GANTRY_OK)
            return rc;
    }
    return GANTRY_OK;
}

/*
 * /v1/completions keeps the client's "prompt" beside the user message made of it, for providers
 * with a native completions API: a masked prompt must be masked there too.  Called before the
 * message text is replaced, while `before` still shows the original.
 */
static int mask_prompt(const bg_instance_t *bg, gantry_req_t *req, gantry_str_t before,
                       gantry_str_t after)
{
    const gantry_host_t *h = bg->host;
    if (h->req_endpoint(req) != GANTRY_EP_COMPLETIONS)
        return GANTRY_OK;
    gantry_json_t *prompt = h->json_get(h->req_body(req), "prompt");
    if (h->json_type(prompt) != GANTRY_JSON_STRING)
        return GANTRY_OK;
    gantry_str_t p = h->json_string(prompt);
    if (p.len != before.len || (p.len > 0 && memcmp(p.ptr, before.ptr, p.len) != 0))
        return GANTRY_OK;
    char *copy = h->strdup(req, after.ptr, after.len);
    if (copy == NULL)
        return GANTRY_ENOMEM;
    return h->json_set_string(prompt, (gantry_str_t){copy, after.len});
}

gantry_action_t bg_request_verdict(bg_job_t *job, const bg_verdict_t *v)
{
    const bg_instance_t *bg = job->bg;
    const gantry_host_t *h = bg->host;
    switch (bg_outcome(v)) {
    case BG_PASS:
        return GANTRY_CONTINUE;
    case BG_BLOCK:
        return bg_block(job, v, "Request", false);
    case BG_MASK:
        break;
    }
    if (job->kind == BG_JOB_DURING) {
        if (!bg->mask_request)
            return bg_block(job, v, "Request", true);
        /* The request went upstream as it was: nothing can be masked any more.  Said at load. */
        h->log(bg->self, job->req, GANTRY_LOG_WARN,
               "during_call: the guardrail anonymized the request (%s), but it was already sent",
               v->summary);
        bg_note(bg, job->req);
        return GANTRY_CONTINUE;
    }
    if (!bg->mask_request)
        return bg_block(job, v, "Request", true);
    for (size_t i = 0; v->noutputs == job->ntargets && i < job->ntargets; i++) {
        gantry_str_t out = bg_output_text(h, v, i);
        if (out.ptr != NULL &&
            mask_prompt(bg, job->req, h->json_string(job->targets[i]), out) != GANTRY_OK)
            return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");
    }
    int rc = bg_apply_outputs(bg, job->req, v, job->targets, job->ntargets);
    if (rc == -1)
        return bg_service_fail(job, 502, GANTRY_ERR_SERVER,
                               "the masked text does not line up with the text sent (%zu "
                               "blocks sent, %zu returned)",
                               job->ntargets, v->noutputs);
    if (rc < 0)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");
    bg_note(bg, job->req);
    return GANTRY_CONTINUE;
}

gantry_action_t bg_check_request(gantry_req_t *req, void *state, void *worker_state)
{
    const bg_instance_t *bg = state;
    const gantry_host_t *h = bg->host;
    (void)worker_state;
    unsigned modes = h->guard_modes(bg->self);
    bg_job_kind_t kind;
    if (modes & GANTRY_GUARD_PRE_CALL)
        kind = BG_JOB_PRE; /* with both modes, the stronger one */
    else if (modes & GANTRY_GUARD_DURING_CALL)
        kind = BG_JOB_DURING;
    else
        return GANTRY_CONTINUE;

    bg_job_t *job = h->alloc(req, sizeof(*job));
    if (job == NULL)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, "out of memory");
    memset(job, 0, sizeof(*job));
    job->bg = bg;
    job->req = req;
    job->kind = kind;
    job->ticket = -1;

    bg_nodes_t texts = {0};
    if (bg_request_texts(h, req, h->req_body(req), h->req_endpoint(req), &texts) != GANTRY_OK)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");
    if (texts.n == 0)
        return GANTRY_CONTINUE; /* nothing a guardrail could object to */
    job->targets = texts.v;
    job->ntargets = texts.n;
    gantry_str_t *views = bg_target_texts(h, req, texts.v, texts.n);
    if (views == NULL || bg_build_body(h, req, "INPUT", views, texts.n, &job->body) != GANTRY_OK)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");

    gantry_action_t act = bg_start(job);
    if (act != GANTRY_PAUSE || kind == BG_JOB_PRE)
        return act;
    /* during_call: the call is under way (its answer cannot come before this returns); the
     * request goes upstream meanwhile and the response waits for the verdict. */
    job->ticket = h->verdict_defer(req, bg->self, GANTRY_VERDICT_HOLD);
    if (job->ticket < 0) {
        job->abandoned = true;
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "could not defer the verdict: %s",
                               h->strerror(job->ticket));
    }
    return GANTRY_CONTINUE;
}
