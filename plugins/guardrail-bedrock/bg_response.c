/*
 * The Amazon Bedrock guardrail: non-streamed completions (source OUTPUT, post_call).
 *
 * The text of each choice's message (choices[].message.content, a string or "text" parts) is one
 * content block.  The request PAUSEs until the verdict: a block fails it, anonymized text (when
 * mask_response_content is on) replaces the original in host->resp_body().  Tool-call arguments
 * and reasoning text are not sent.  Streamed completions are checked chunk by chunk instead
 * (bg_stream.c).
 */
#include "bedrock_guardrail.h"

static int content_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t *content,
                         bg_nodes_t *out)
{
    if (h->json_type(content) == GANTRY_JSON_STRING) {
        if (h->json_string(content).len == 0)
            return GANTRY_OK;
        return bg_nodes_push(h, req, out, content);
    }
    if (h->json_type(content) != GANTRY_JSON_ARRAY)
        return GANTRY_OK;
    for (gantry_json_t *part = h->json_first(content); part != NULL; part = h->json_next(part)) {
        gantry_json_t *text = h->json_get(part, "text");
        gantry_str_t type = h->json_type(h->json_get(part, "type")) == GANTRY_JSON_STRING
                                ? h->json_string(h->json_get(part, "type"))
                                : GANTRY_STR_NULL;
        if (type.len != 4 || memcmp(type.ptr, "text", 4) != 0 ||
            h->json_type(text) != GANTRY_JSON_STRING || h->json_string(text).len == 0)
            continue;
        int rc = bg_nodes_push(h, req, out, text);
        if (rc != GANTRY_OK)
            return rc;
    }
    return GANTRY_OK;
}

int bg_response_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t *resp,
                      bg_nodes_t *out)
{
    gantry_json_t *choices = h->json_get(resp, "choices");
    if (h->json_type(choices) != GANTRY_JSON_ARRAY)
        return GANTRY_OK;
    for (gantry_json_t *c = h->json_first(choices); c != NULL; c = h->json_next(c)) {
        gantry_json_t *message = h->json_get(c, "message");
        if (h->json_type(message) != GANTRY_JSON_OBJECT)
            continue;
        int rc = content_texts(h, req, h->json_get(message, "content"), out);
        if (rc != GANTRY_OK)
            return rc;
    }
    return GANTRY_OK;
}

gantry_action_t bg_response_verdict(bg_job_t *job, const bg_verdict_t *v)
{
    const bg_instance_t *bg = job->bg;
    switch (bg_outcome(v)) {
    case BG_PASS:
        return GANTRY_CONTINUE;
    case BG_BLOCK:
        return bg_block(job, v, "Response", false);
    case BG_MASK:
        break;
    }
    if (!bg->mask_response)
        return bg_block(job, v, "Response", true);
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

gantry_action_t bg_check_response(gantry_req_t *req, void *state, void *worker_state)
{
    const bg_instance_t *bg = state;
    const gantry_host_t *h = bg->host;
    (void)worker_state;
    /* A streamed completion was checked window by window as it went out. */
    if (h->req_is_stream(req) || !(h->guard_modes(bg->self) & GANTRY_GUARD_POST_CALL))
        return GANTRY_CONTINUE;
    gantry_json_t *resp = h->resp_body(req);
    if (h->json_type(resp) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;

    bg_job_t *job = h->alloc(req, sizeof(*job));
    if (job == NULL)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, "out of memory");
    memset(job, 0, sizeof(*job));
    job->bg = bg;
    job->req = req;
    job->kind = BG_JOB_POST;
    job->ticket = -1;

    bg_nodes_t texts = {0};
    if (bg_response_texts(h, req, resp, &texts) != GANTRY_OK)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");
    if (texts.n == 0)
        return GANTRY_CONTINUE;
    job->targets = texts.v;
    job->ntargets = texts.n;
    gantry_str_t *views = bg_target_texts(h, req, texts.v, texts.n);
    if (views == NULL || bg_build_body(h, req, "OUTPUT", views, texts.n, &job->body) != GANTRY_OK)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");
    return bg_start(job);
}
