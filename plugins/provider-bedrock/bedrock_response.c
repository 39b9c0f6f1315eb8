/*
 * The bedrock provider: canonical answers.  parse_response() dispatches a 2xx body to the parser
 * of the API that was called; this file also holds the Converse (and Nova) answer parser and the
 * helpers that build chat.completion objects and stream chunks for every family.
 */
#include "bedrock.h"

int64_t br_int(const gantry_host_t *h, const gantry_json_t *obj, const char *key, bool *found)
{
    double d;
    *found = false;
    if (h->json_number(h->json_get(obj, key), &d) != GANTRY_OK || !(d >= 0 && d < 1e15))
        return 0;
    *found = true;
    return (int64_t)d;
}

const char *br_finish_reason(gantry_str_t stop)
{
    static const struct {
        const char *from, *to;
    } map[] = {
        {"end_turn", "stop"},
        {"stop_sequence", "stop"},
        {"stop", "stop"},
        {"FINISH", "stop"},
        {"STOP_CRITERIA_MET", "stop"},
        {"max_tokens", "length"},
        {"length", "length"},
        {"LENGTH", "length"},
        {"model_context_window_exceeded", "length"},
        {"tool_use", "tool_calls"},
        {"tool_calls", "tool_calls"},
        {"guardrail_intervened", "content_filter"},
        {"content_filtered", "content_filter"},
        {"CONTENT_FILTERED", "content_filter"},
        {"refusal", "content_filter"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (br_str_eq(stop, map[i].from))
            return map[i].to;
    }
    return "stop";
}

void br_usage_fill(br_ctx_t *c, gantry_json_t *usage, int64_t in, int64_t out, int64_t cache_read,
                   int64_t cache_write, bool have_cache)
{
    br_set_num(c, usage, "prompt_tokens", (double)in);
    br_set_num(c, usage, "completion_tokens", (double)out);
    br_set_num(c, usage, "total_tokens", (double)(in + out));
    br_set_num(c, br_obj(c, usage, "prompt_tokens_details"), "cached_tokens", (double)cache_read);
    if (have_cache) {
        br_set_num(c, usage, "cache_read_input_tokens", (double)cache_read);
        br_set_num(c, usage, "cache_creation_input_tokens", (double)cache_write);
    }
}

void br_usage_read(br_ctx_t *c, const gantry_json_t *u)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;
    bool f1, f2, f3, f4;
    if (h->json_type(u) != GANTRY_JSON_OBJECT)
        return;
    int64_t in = br_int(h, u, "inputTokens", &f1);
    int64_t out = br_int(h, u, "outputTokens", &f2);
    if (f1 || f2) {
        rs->in_tok = in;
        rs->out_tok = out;
        rs->have_usage = true;
    }
    /* Converse says ...InputTokens, Nova's InvokeModel ...InputTokenCount. */
    int64_t cr = br_int(h, u, "cacheReadInputTokens", &f3);
    if (!f3)
        cr = br_int(h, u, "cacheReadInputTokenCount", &f3);
    int64_t cw = br_int(h, u, "cacheWriteInputTokens", &f4);
    if (!f4)
        cw = br_int(h, u, "cacheWriteInputTokenCount", &f4);
    if (f3 || f4) {
        rs->cache_read = cr;
        rs->cache_write = cw;
        rs->have_cache = true;
    }
}

void br_metrics_read(br_ctx_t *c, const gantry_json_t *root)
{
    const gantry_host_t *h = c->host;
    const gantry_json_t *m = h->json_get(root, "amazon-bedrock-invocationMetrics");
    bool f1, f2;
    if (h->json_type(m) != GANTRY_JSON_OBJECT)
        return;
    int64_t in = br_int(h, m, "inputTokenCount", &f1);
    int64_t out = br_int(h, m, "outputTokenCount", &f2);
    if (f1 || f2) {
        c->rs->in_tok = in;
        c->rs->out_tok = out;
        c->rs->have_usage = true;
    }
}

/* id, object, created, model: the members every answer and chunk starts with. */
static gantry_json_t *skeleton(br_ctx_t *c, const char *object)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;
    gantry_json_t *root = h->json_new(c->req, GANTRY_JSON_OBJECT);
    if (root == NULL) {
        c->oom = true;
        return NULL;
    }
    br_set_cstr(c, root, "id", rs->chunk_id != NULL ? rs->chunk_id : "chatcmpl-bedrock");
    br_set_cstr(c, root, "object", object);
    br_set_num(c, root, "created", (double)rs->created);
    br_set_str(c, root, "model", rs->model);
    return root;
}

gantry_json_t *br_completion_new(br_ctx_t *c, gantry_json_t **message, gantry_json_t **choice)
{
    gantry_json_t *root = skeleton(c, "chat.completion");
    gantry_json_t *ch = br_push_obj(c, br_arr(c, root, "choices"));
    br_set_num(c, ch, "index", 0);
    gantry_json_t *msg = br_obj(c, ch, "message");
    br_set_cstr(c, msg, "role", "assistant");
    *message = msg;
    *choice = ch;
    return root;
}

gantry_json_t *br_chunk_new(br_ctx_t *c, gantry_json_t **delta, gantry_json_t **choice)
{
    gantry_json_t *root = skeleton(c, "chat.completion.chunk");
    gantry_json_t *ch = br_push_obj(c, br_arr(c, root, "choices"));
    br_set_num(c, ch, "index", 0);
    *delta = br_obj(c, ch, "delta");
    br_set_null(c, ch, "finish_reason");
    if (choice != NULL)
        *choice = ch;
    /* The first chunk of a stream carries the role, whatever else it carries. */
    if (!c->rs->role_sent) {
        br_set_cstr(c, *delta, "role", "assistant");
        c->rs->role_sent = true;
    }
    return root;
}

gantry_action_t br_emit(br_ctx_t *c, gantry_json_t *chunk)
{
    const gantry_host_t *h = c->host;
    if (c->oom || chunk == NULL)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "out of memory building a stream chunk");
    int rc = h->stream_chunk_take(c->req, chunk);
    if (rc != GANTRY_OK)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not forward a stream chunk: %s", h->strerror(rc));
    return GANTRY_CONTINUE;
}

gantry_action_t br_emit_role(br_ctx_t *c)
{
    gantry_json_t *delta;
    if (c->rs->role_sent)
        return GANTRY_CONTINUE;
    return br_emit(c, br_chunk_new(c, &delta, NULL));
}

gantry_action_t br_emit_text(br_ctx_t *c, const char *field, gantry_str_t text)
{
    gantry_json_t *delta;
    if (text.len == 0)
        return GANTRY_CONTINUE;
    gantry_json_t *chunk = br_chunk_new(c, &delta, NULL);
    br_set_str(c, delta, field, text);
    return br_emit(c, chunk);
}

static int map_find(bedrock_req_t *rs, int block, int *tool)
{
    for (int i = 0; i < rs->nmap; i++) {
        if (rs->map[i].block == block) {
            *tool = rs->map[i].tool;
            return 0;
        }
    }
    return -1;
}

gantry_action_t br_emit_tool_start(br_ctx_t *c, int block, gantry_str_t id, gantry_str_t name)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;
    gantry_json_t *delta;
    int tool;
    if (block < 0 || map_find(rs, block, &tool) == 0 || rs->nmap >= BR_MAX_TOOL_BLOCKS)
        return h->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                           "the upstream stream started a tool call with a missing or repeated "
                           "block index");
    /* Structured output (json mode): the forced tool's input is the answer's text. */
    if (rs->json_mode && br_str_eq(name, "json_tool_call")) {
        rs->map[rs->nmap].block = block;
        rs->map[rs->nmap++].tool = -1;
        return br_emit_role(c);
    }
    tool = rs->ntools++;
    rs->map[rs->nmap].block = block;
    rs->map[rs->nmap++].tool = tool;
    gantry_json_t *chunk = br_chunk_new(c, &delta, NULL);
    gantry_json_t *tc = br_push_obj(c, br_arr(c, delta, "tool_calls"));
    br_set_num(c, tc, "index", tool);
    br_set_str(c, tc, "id", id);
    br_set_cstr(c, tc, "type", "function");
    gantry_json_t *fn = br_obj(c, tc, "function");
    br_set_str(c, fn, "name", name);
    br_set_cstr(c, fn, "arguments", "");
    return br_emit(c, chunk);
}

gantry_action_t br_emit_tool_args(br_ctx_t *c, int block, gantry_str_t args)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *delta;
    int tool;
    if (map_find(c->rs, block, &tool) != 0)
        return h->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                           "the upstream stream sent tool input for a block that never started");
    if (args.len == 0)
        return GANTRY_CONTINUE;
    if (tool < 0)
        return br_emit_text(c, "content", args);
    gantry_json_t *chunk = br_chunk_new(c, &delta, NULL);
    gantry_json_t *tc = br_push_obj(c, br_arr(c, delta, "tool_calls"));
    br_set_num(c, tc, "index", tool);
    br_set_str(c, br_obj(c, tc, "function"), "arguments", args);
    return br_emit(c, chunk);
}

gantry_action_t br_emit_thinking_block(br_ctx_t *c, gantry_str_t signature, gantry_str_t redacted)
{
    gantry_json_t *delta;
    if (signature.len == 0 && redacted.len == 0)
        return GANTRY_CONTINUE;
    gantry_json_t *chunk = br_chunk_new(c, &delta, NULL);
    gantry_json_t *b = br_push_obj(c, br_arr(c, delta, "thinking_blocks"));
    if (redacted.len > 0) {
        br_set_cstr(c, b, "type", "redacted_thinking");
        br_set_str(c, b, "data", redacted);
    } else {
        br_set_cstr(c, b, "type", "thinking");
        br_set_cstr(c, b, "thinking", "");
        br_set_str(c, b, "signature", signature);
    }
    return br_emit(c, chunk);
}

gantry_action_t br_emit_finish(br_ctx_t *c, const char *finish)
{
    gantry_json_t *delta, *choice;
    bedrock_req_t *rs = c->rs;
    if (rs->finish_sent)
        return GANTRY_CONTINUE;
    if (rs->json_mode && strcmp(finish, "tool_calls") == 0 && rs->ntools == 0)
        finish = "stop";
    rs->finish_sent = true;
    gantry_json_t *chunk = br_chunk_new(c, &delta, &choice);
    br_set_cstr(c, choice, "finish_reason", finish);
    return br_emit(c, chunk);
}

gantry_action_t br_emit_end(br_ctx_t *c)
{
    bedrock_req_t *rs = c->rs;
    if (rs->ended)
        return GANTRY_CONTINUE;
    if (rs->have_usage) {
        gantry_json_t *chunk = skeleton(c, "chat.completion.chunk");
        br_arr(c, chunk, "choices");
        br_usage_fill(c, br_obj(c, chunk, "usage"), rs->in_tok + rs->cache_read + rs->cache_write,
                      rs->out_tok, rs->cache_read, rs->cache_write, rs->have_cache);
        gantry_action_t act = br_emit(c, chunk);
        if (act != GANTRY_CONTINUE)
            return act;
    }
    rs->ended = true;
    c->host->stream_end(c->req);
    return GANTRY_CONTINUE;
}

void br_append_member(br_ctx_t *c, gantry_json_t *obj, const char *key, gantry_str_t t)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *node = h->json_get(obj, key);
    if (h->json_type(node) != GANTRY_JSON_STRING) {
        br_set_str(c, obj, key, t);
        return;
    }
    gantry_str_t prev = h->json_string(node);
    char *joined = h->alloc(c->req, prev.len + t.len + 1);
    if (joined == NULL) {
        c->oom = true;
        return;
    }
    memcpy(joined, prev.ptr, prev.len);
    memcpy(joined + prev.len, t.ptr, t.len);
    if (h->json_set_string(node, (gantry_str_t){joined, prev.len + t.len}) != GANTRY_OK)
        c->oom = true;
}

gantry_action_t br_converse_response(br_ctx_t *c, gantry_json_t *root)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;
    const gantry_json_t *content =
        h->json_get(h->json_get(h->json_get(root, "output"), "message"), "content");
    if (h->json_type(content) != GANTRY_JSON_ARRAY) {
        /* An error body behind a 2xx status (a proxy in front of Bedrock): report its message. */
        gantry_str_t raw = GANTRY_STR_NULL;
        if (h->json_type(h->json_get(root, "message")) == GANTRY_JSON_STRING &&
            h->json_write(c->req, root, &raw) == GANTRY_OK)
            return br_fail_exception(c, GANTRY_STR_LIT("internalServerException"), raw);
        return h->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                           "the upstream answer has no output.message.content");
    }
    gantry_json_t *message, *choice;
    gantry_json_t *resp = br_completion_new(c, &message, &choice);
    gantry_json_t *calls = NULL, *blocks = NULL;
    bool json_answer = false;
    for (const gantry_json_t *b = h->json_first(content); b != NULL; b = h->json_next(b)) {
        const gantry_json_t *tu = h->json_get(b, "toolUse");
        const gantry_json_t *rc = h->json_get(b, "reasoningContent");
        gantry_str_t text = br_get_str(h, b, "text");
        if (text.ptr != NULL) {
            if (!json_answer)
                br_append_member(c, message, "content", text);
        } else if (h->json_type(tu) == GANTRY_JSON_OBJECT) {
            gantry_str_t name = br_get_str(h, tu, "name");
            gantry_str_t args = GANTRY_STR_LIT("{}");
            const gantry_json_t *input = h->json_get(tu, "input");
            if (input != NULL && h->json_write(c->req, input, &args) != GANTRY_OK)
                c->oom = true;
            if (rs->json_mode && br_str_eq(name, "json_tool_call")) {
                br_set_str(c, message, "content", args);
                json_answer = true;
                continue;
            }
            if (calls == NULL)
                calls = br_arr(c, message, "tool_calls");
            gantry_json_t *tc = br_push_obj(c, calls);
            br_set_str(c, tc, "id", br_get_str(h, tu, "toolUseId"));
            br_set_cstr(c, tc, "type", "function");
            gantry_json_t *fn = br_obj(c, tc, "function");
            br_set_str(c, fn, "name", name);
            br_set_str(c, fn, "arguments", args);
        } else if (h->json_type(rc) == GANTRY_JSON_OBJECT) {
            const gantry_json_t *rt = h->json_get(rc, "reasoningText");
            gantry_str_t redacted = br_get_str(h, rc, "redactedContent");
            if (blocks == NULL)
                blocks = br_arr(c, message, "thinking_blocks");
            gantry_json_t *tb = br_push_obj(c, blocks);
            if (h->json_type(rt) == GANTRY_JSON_OBJECT) {
                gantry_str_t t = br_get_str(h, rt, "text");
                br_set_cstr(c, tb, "type", "thinking");
                br_set_str(c, tb, "thinking", t);
                gantry_str_t sig = br_get_str(h, rt, "signature");
                if (sig.ptr != NULL)
                    br_set_str(c, tb, "signature", sig);
                br_append_member(c, message, "reasoning_content", t);
            } else {
                br_set_cstr(c, tb, "type", "redacted_thinking");
                br_set_str(c, tb, "data", redacted);
            }
        }
    }
    if (h->json_get(message, "content") == NULL)
        br_set_null(c, message, "content");
    const char *finish = br_finish_reason(br_get_str(h, root, "stopReason"));
    if (json_answer && strcmp(finish, "tool_calls") == 0 && calls == NULL)
        finish = "stop";
    br_set_cstr(c, choice, "finish_reason", finish);

    br_usage_read(c, h->json_get(root, "usage"));
    br_usage_fill(c, br_obj(c, resp, "usage"), rs->in_tok + rs->cache_read + rs->cache_write,
                  rs->out_tok, rs->cache_read, rs->cache_write, rs->have_cache);
    if (c->oom) {
        br_fail_oom(c);
        return GANTRY_FAIL;
    }
    if (h->resp_set_take(c->req, resp) != GANTRY_OK)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not keep the response");
    return GANTRY_CONTINUE;
}

gantry_action_t bedrock_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                       gantry_str_t body)
{
    const bedrock_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    (void)status;
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
    gantry_json_t *root = host->json_parse(req, body);
    if (host->json_type(root) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream returned a malformed response (not a JSON object)");
    if (rs->embed)
        return br_embed_response(&c, root);
    if (rs->api == BR_API_CONVERSE)
        return br_converse_response(&c, root);
    switch (rs->family) {
    case BR_FAM_ANTHROPIC:
        return br_anthropic_response(&c, root);
    case BR_FAM_NOVA:
        return br_converse_response(&c, root);
    default:
        return br_prompt_family_response(&c, root);
    }
}
