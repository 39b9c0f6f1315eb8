/*
 * The gemini provider: streamGenerateContent?alt=sse events -> canonical chunks.
 *
 * Every SSE event is a whole GenerateContentResponse holding the next piece of each candidate:
 * text, thoughts, or whole function calls (Gemini never splits a call's arguments).  Each piece
 * becomes one chunk per candidate.  The event that carries a candidate's finishReason also
 * carries the final usageMetadata; once every candidate seen has finished, the usage chunk is
 * emitted and the stream is ended here, because the core calls nothing at the end of an SSE
 * stream and would otherwise report it incomplete (there is no [DONE] sentinel in Gemini's SSE).
 */
#include <string.h>

#include "gemini.h"

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static gantry_str_t trim(gantry_str_t s)
{
    while (s.len > 0 && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

static gantry_action_t oom(const gantry_host_t *host, gantry_req_t *req)
{
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                          "out of memory translating the upstream stream");
}

static gantry_action_t emit(const gantry_host_t *host, gantry_req_t *req, gantry_json_t *chunk)
{
    int rc = host->stream_chunk_take(req, chunk);
    if (rc != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not forward a stream chunk: %s", host->strerror(rc));
    return GANTRY_CONTINUE;
}

/* One candidate's piece of an event as a chunk; nothing when it carries nothing new. */
static gantry_action_t candidate_chunk(const gemini_instance_t *inst,
                                       const gemini_deployment_t *dep, gantry_req_t *req,
                                       gemini_stream_t *st, const gantry_json_t *root,
                                       const gantry_json_t *cand, int idx)
{
    const gantry_host_t *host = inst->host;
    gantry_str_t response_id = host->json_string(host->json_get(root, "responseId"));
    gantry_json_t *chunk = host->json_new(req, GANTRY_JSON_OBJECT);
    if (chunk == NULL ||
        !gemini_put_header(host, req, dep, root, chunk, "chat.completion.chunk", st->created))
        return oom(host, req);
    gantry_json_t *choices = host->json_set(chunk, "choices", GANTRY_JSON_ARRAY);
    gantry_json_t *choice = host->json_append(choices, GANTRY_JSON_OBJECT);
    gantry_json_t *index = host->json_set(choice, "index", GANTRY_JSON_NUMBER);
    gantry_json_t *delta = host->json_set(choice, "delta", GANTRY_JSON_OBJECT);
    if (index == NULL || delta == NULL || host->json_set_number(index, idx) != GANTRY_OK)
        return oom(host, req);
    bool role = !st->role_sent[idx];
    if (role) {
        gantry_json_t *r = host->json_set(delta, "role", GANTRY_JSON_STRING);
        if (r == NULL || host->json_set_string(r, GANTRY_STR_LIT("assistant")) != GANTRY_OK)
            return oom(host, req);
    }
    int calls = gemini_translate_parts(host, req, cand, delta, response_id, &st->n_calls,
                                       &st->tool_calls[idx], true);
    if (calls < 0)
        return oom(host, req);
    const char *fr = gemini_finish_reason(host, cand, st->tool_calls[idx] > 0);
    bool logprobs = host->json_get(cand, "logprobsResult") != NULL;
    if (!role && fr == NULL && !logprobs && host->json_count(delta) == 0) {
        host->json_release(req, chunk);
        return GANTRY_CONTINUE; /* an empty piece (e.g. "" text) */
    }
    gantry_json_t *f =
        host->json_set(choice, "finish_reason", fr != NULL ? GANTRY_JSON_STRING : GANTRY_JSON_NULL);
    if (f == NULL ||
        (fr != NULL && host->json_set_string(f, (gantry_str_t){fr, strlen(fr)}) != GANTRY_OK))
        return oom(host, req);
    if (!gemini_put_logprobs(host, req, cand, choice))
        return oom(host, req);
    st->role_sent[idx] = true;
    if (fr != NULL)
        st->finished[idx] = true;
    return emit(host, req, chunk);
}

static bool all_finished(const gemini_stream_t *st)
{
    if (st->seen == 0)
        return false;
    for (int i = 0; i < st->seen; i++) {
        if (!st->finished[i])
            return false;
    }
    return true;
}

/* The usage chunk (choices: []) and the end of the stream. */
static gantry_action_t finish(const gemini_instance_t *inst, const gemini_deployment_t *dep,
                              gantry_req_t *req, gemini_stream_t *st, const gantry_json_t *root)
{
    const gantry_host_t *host = inst->host;
    if (st->usage.present) {
        gantry_json_t *chunk = host->json_new(req, GANTRY_JSON_OBJECT);
        if (chunk == NULL ||
            !gemini_put_header(host, req, dep, root, chunk, "chat.completion.chunk", st->created) ||
            host->json_set(chunk, "choices", GANTRY_JSON_ARRAY) == NULL ||
            !gemini_put_usage(host, chunk, &st->usage))
            return oom(host, req);
        if (emit(host, req, chunk) != GANTRY_CONTINUE)
            return GANTRY_FAIL;
    }
    host->stream_end(req);
    return GANTRY_CONTINUE;
}

static gantry_action_t handle_event(const gemini_instance_t *inst, const gemini_deployment_t *dep,
                                    gantry_req_t *req, gemini_stream_t *st, gantry_json_t *root,
                                    gantry_str_t data)
{
    const gantry_host_t *host = inst->host;
    if (host->json_type(host->json_get(root, "error")) == GANTRY_JSON_OBJECT)
        return gemini_fail_with_error(inst, dep, req, root, data);

    const gantry_json_t *meta = host->json_get(root, "usageMetadata");
    if (meta != NULL)
        gemini_read_usage(host, meta, &st->usage);

    const gantry_json_t *cands = host->json_get(root, "candidates");
    if (host->json_count(cands) == 0 || host->json_type(cands) != GANTRY_JSON_ARRAY) {
        const gantry_json_t *fb = host->json_get(root, "promptFeedback");
        if (host->json_string(host->json_get(fb, "blockReason")).len > 0)
            return gemini_fail_blocked(inst, req, fb);
        return GANTRY_CONTINUE; /* usage or feedback only */
    }

    int position = 0;
    for (const gantry_json_t *cand = host->json_first(cands); cand != NULL;
         cand = host->json_next(cand), position++) {
        double d = position;
        if (host->json_number(host->json_get(cand, "index"), &d) != GANTRY_OK)
            d = position;
        if (!(d >= 0 && d < GEMINI_MAX_CANDIDATES))
            return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                                  "the upstream sent a stream event for an unexpected candidate");
        int idx = (int)d;
        if (idx + 1 > st->seen)
            st->seen = idx + 1;
        if (st->finished[idx])
            continue;
        if (candidate_chunk(inst, dep, req, st, root, cand, idx) != GANTRY_CONTINUE)
            return GANTRY_FAIL;
    }
    return all_finished(st) ? finish(inst, dep, req, st, root) : GANTRY_CONTINUE;
}

gantry_action_t gemini_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                   const gantry_frame_t *frame)
{
    const gemini_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    gemini_stream_t *st = host->req_data(req, inst->self);
    gantry_str_t data = trim(frame->data);

    if (st == NULL)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "stream state missing (prepare() did not run)");
    /* Comment-only events (keep-alives) reach us with no data and carry nothing. */
    if (data.len == 0)
        return GANTRY_CONTINUE;
    if (st->created == 0)
        st->created = host->unix_ms() / 1000;
    gantry_json_t *root = host->json_parse(req, data);
    if (host->json_type(root) != GANTRY_JSON_OBJECT) {
        host->json_release(req, root);
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream sent a malformed stream event (not a JSON object)");
    }
    gantry_action_t act = handle_event(inst, deployment, req, st, root, data);
    /* Each event is a whole document; keeping them all would grow with the stream. */
    host->json_release(req, root);
    return act;
}
