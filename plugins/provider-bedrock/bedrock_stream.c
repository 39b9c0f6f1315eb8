/*
 * The bedrock provider: one event-stream message of a streamed answer.  The core has already
 * checked the message's CRCs and split its headers: `event` is ":event-type" (":exception-type"
 * for exceptions), `message_type` is ":message-type", `data` the JSON payload.
 *
 * ConverseStream sends messageStart, contentBlockStart/Delta/Stop, messageStop and metadata
 * events.  InvokeModelWithResponseStream sends "chunk" events whose payload is {"bytes": base64}
 * of the model family's own stream event; Nova's are ConverseStream events wrapped in an object.
 */
#include "bedrock.h"

static int block_index(const gantry_host_t *h, const gantry_json_t *ev)
{
    double d;
    if (!br_get_num(h, ev, "contentBlockIndex", &d) || !(d >= 0 && d < 1e6))
        return -1;
    return (int)d;
}

gantry_action_t br_converse_event(br_ctx_t *c, gantry_str_t name, const gantry_json_t *ev)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;

    if (br_str_eq(name, "messageStart"))
        return br_emit_role(c);
    if (br_str_eq(name, "contentBlockStart")) {
        const gantry_json_t *tu = h->json_get(h->json_get(ev, "start"), "toolUse");
        if (h->json_type(tu) == GANTRY_JSON_OBJECT)
            return br_emit_tool_start(c, block_index(h, ev), br_get_str(h, tu, "toolUseId"),
                                      br_get_str(h, tu, "name"));
        return GANTRY_CONTINUE;
    }
    if (br_str_eq(name, "contentBlockDelta")) {
        const gantry_json_t *d = h->json_get(ev, "delta");
        const gantry_json_t *tu = h->json_get(d, "toolUse");
        const gantry_json_t *rc = h->json_get(d, "reasoningContent");
        gantry_str_t text = br_get_str(h, d, "text");
        if (text.ptr != NULL)
            return br_emit_text(c, "content", text);
        if (h->json_type(tu) == GANTRY_JSON_OBJECT)
            return br_emit_tool_args(c, block_index(h, ev), br_get_str(h, tu, "input"));
        if (h->json_type(rc) == GANTRY_JSON_OBJECT) {
            gantry_str_t t = br_get_str(h, rc, "text");
            if (t.ptr != NULL)
                return br_emit_text(c, "reasoning_content", t);
            return br_emit_thinking_block(c, br_get_str(h, rc, "signature"),
                                          br_get_str(h, rc, "redactedContent"));
        }
        return GANTRY_CONTINUE;
    }
    if (br_str_eq(name, "messageStop"))
        return br_emit_finish(c, br_finish_reason(br_get_str(h, ev, "stopReason")));
    if (br_str_eq(name, "metadata")) {
        br_usage_read(c, h->json_get(ev, "usage"));
        /* metadata is the last event; a stream without messageStop still ends cleanly. */
        if (!rs->finish_sent) {
            gantry_action_t act = br_emit_finish(c, "stop");
            if (act != GANTRY_CONTINUE)
                return act;
        }
        return br_emit_end(c);
    }
    return GANTRY_CONTINUE; /* contentBlockStop, and event types added later */
}

/* Nova's InvokeModel stream: {"<converse event name>": {...}}, the last chunk with metrics. */
static gantry_action_t nova_chunk(br_ctx_t *c, gantry_json_t *root)
{
    const gantry_host_t *h = c->host;
    bool last = h->json_get(root, "amazon-bedrock-invocationMetrics") != NULL;
    if (last)
        br_metrics_read(c, root);
    for (const gantry_json_t *m = h->json_first(root); m != NULL && !c->rs->ended;
         m = h->json_next(m)) {
        gantry_str_t key = h->json_key(m);
        if (h->json_type(m) != GANTRY_JSON_OBJECT)
            continue;
        gantry_action_t act = br_converse_event(c, key, m);
        if (act != GANTRY_CONTINUE)
            return act;
    }
    if (last && !c->rs->ended) {
        gantry_action_t act = br_emit_finish(c, "stop");
        return act != GANTRY_CONTINUE ? act : br_emit_end(c);
    }
    return GANTRY_CONTINUE;
}

/* An InvokeModelWithResponseStream "chunk": {"bytes": base64 of the family's event}. */
static gantry_action_t invoke_chunk(br_ctx_t *c, gantry_str_t data)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *outer = h->json_parse(c->req, data);
    gantry_str_t b64 = br_get_str(h, outer, "bytes"), raw;
    if (b64.ptr == NULL || br_b64_decode(c->req, h, b64, &raw) != 0)
        return h->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                           "the upstream sent a stream chunk without valid base64 bytes");
    gantry_json_t *ev = h->json_parse(c->req, raw);
    if (h->json_type(ev) != GANTRY_JSON_OBJECT)
        return h->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                           "the upstream sent a stream chunk that is not a JSON object");
    switch (c->rs->family) {
    case BR_FAM_ANTHROPIC:
        return br_anthropic_event(c, ev);
    case BR_FAM_NOVA:
        return nova_chunk(c, ev);
    default:
        return br_prompt_family_chunk(c, ev);
    }
}

gantry_action_t bedrock_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                    const gantry_frame_t *frame)
{
    const bedrock_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    bedrock_req_t *rs = br_req_state(inst, req);
    if (rs == NULL)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                              "out of memory");
    br_ctx_t c = {.host = host,
                  .req = req,
                  .inst = inst,
                  .dep = deployment,
                  .rs = rs,
                  .family = rs->family,
                  .model_id = rs->model};
    if (rs->ended)
        return GANTRY_CONTINUE;

    gantry_str_t mt = GANTRY_HAS(frame, message_type) ? frame->message_type : GANTRY_STR_NULL;
    if (br_str_eq(mt, "exception"))
        return br_fail_exception(&c, frame->event, frame->data);
    if (br_str_eq(mt, "error"))
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream stream ended with an error message");
    if (mt.len > 0 && !br_str_eq(mt, "event"))
        return GANTRY_CONTINUE;

    if (rs->api == BR_API_INVOKE) {
        if (!br_str_eq(frame->event, "chunk"))
            return GANTRY_CONTINUE;
        return invoke_chunk(&c, frame->data);
    }
    gantry_json_t *ev = host->json_parse(req, frame->data);
    if (host->json_type(ev) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream sent a stream event that is not a JSON object");
    return br_converse_event(&c, frame->event, ev);
}
