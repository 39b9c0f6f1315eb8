/*
 * The anthropic provider: Messages API server-sent events -> canonical chat.completion.chunk
 * objects.
 *
 *   message_start        role chunk; the id, the model and the input token counts are kept
 *   content_block_start  tool_use: the call's index, id and name (arguments ""); text and
 *                        thinking: their initial text when there is any; redacted_thinking:
 *                        its data in thinking_blocks
 *   content_block_delta  text_delta -> content, input_json_delta -> argument fragment,
 *                        thinking_delta -> reasoning_content, signature_delta -> thinking_blocks
 *   message_delta        the finish_reason chunk, then the usage chunk (choices: [])
 *   message_stop         the end of the stream
 *   error                the request fails with the mapped error
 *   ping, content_block_stop and unknown events carry nothing for the client.
 *
 * Tool calls are numbered by their order among the answer's tool blocks (Anthropic's block
 * index also counts text and thinking blocks).  In JSON mode the forced tool's argument fragments
 * are the answer's text and go out as content.  The state lives in the request arena
 * (host->req_data()), made fresh by prepare() for every attempt.
 */
#include "anthropic.h"

/* Far more blocks than any answer has; a larger index is garbage from the network. */
#define MAX_BLOCKS 4096

typedef struct frame_ctx {
    const anth_instance_t *inst;
    const anth_deployment_t *dep;
    gantry_req_t *req;
    anth_req_t *rs;
    const gantry_json_t *root;
} frame_ctx_t;

static gantry_action_t fail_internal(frame_ctx_t *f, int rc)
{
    const gantry_host_t *host = f->inst->host;
    return host->req_fail(f->req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                          "could not forward a stream chunk: %s", host->strerror(rc));
}

static gantry_action_t fail_malformed(frame_ctx_t *f, const char *what)
{
    return f->inst->host->req_fail(f->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                                   "the upstream sent a malformed stream event: %s", what);
}

/* A chunk with one choice whose delta is returned in *delta; finish NULL means null. */
static gantry_json_t *chunk_new(frame_ctx_t *f, anth_jb_t *jb, const char *finish,
                                gantry_json_t **delta)
{
    const gantry_host_t *host = f->inst->host;
    anth_req_t *rs = f->rs;
    gantry_json_t *root = anth_j_new(jb, GANTRY_JSON_OBJECT);
    anth_j_str(jb, root, "id", rs->id.len > 0 ? rs->id : host->req_id(f->req));
    anth_j_cstr(jb, root, "object", "chat.completion.chunk");
    anth_j_num(jb, root, "created", (double)rs->created);
    anth_j_str(jb, root, "model", rs->model.len > 0 ? rs->model : f->dep->model);
    gantry_json_t *choices = anth_j_arr(jb, root, "choices");
    if (delta != NULL) {
        gantry_json_t *choice = anth_j_obj(jb, choices, NULL);
        anth_j_num(jb, choice, "index", 0);
        *delta = anth_j_obj(jb, choice, "delta");
        if (finish != NULL)
            anth_j_cstr(jb, choice, "finish_reason", finish);
        else
            anth_j_null(jb, choice, "finish_reason");
    }
    return root;
}

static gantry_action_t emit(frame_ctx_t *f, anth_jb_t *jb, gantry_json_t *root)
{
    const gantry_host_t *host = f->inst->host;
    if (jb->failed) {
        host->json_release(f->req, root);
        return fail_internal(f, GANTRY_ENOMEM);
    }
    int rc = host->stream_chunk_take(f->req, root);
    return rc == GANTRY_OK ? GANTRY_CONTINUE : fail_internal(f, rc);
}

/* The role chunk, once, before anything else (also when message_start never came). */
static gantry_action_t ensure_started(frame_ctx_t *f)
{
    if (f->rs->started)
        return GANTRY_CONTINUE;
    f->rs->started = true;
    anth_jb_t jb = {.host = f->inst->host, .req = f->req};
    gantry_json_t *delta;
    gantry_json_t *root = chunk_new(f, &jb, NULL, &delta);
    anth_j_cstr(&jb, delta, "role", "assistant");
    anth_j_cstr(&jb, delta, "content", "");
    return emit(f, &jb, root);
}

/* A chunk whose delta has one string member (content, reasoning_content). */
static gantry_action_t emit_text(frame_ctx_t *f, const char *key, gantry_str_t text)
{
    gantry_action_t act = ensure_started(f);
    if (act != GANTRY_CONTINUE || text.len == 0)
        return act;
    anth_jb_t jb = {.host = f->inst->host, .req = f->req};
    gantry_json_t *delta;
    gantry_json_t *root = chunk_new(f, &jb, NULL, &delta);
    anth_j_str(&jb, delta, key, text);
    return emit(f, &jb, root);
}

/* delta.thinking_blocks: [{"type":"thinking","thinking":"","signature"}] or a redacted block. */
static gantry_action_t emit_thinking_block(frame_ctx_t *f, bool redacted, gantry_str_t value)
{
    gantry_action_t act = ensure_started(f);
    if (act != GANTRY_CONTINUE)
        return act;
    anth_jb_t jb = {.host = f->inst->host, .req = f->req};
    gantry_json_t *delta;
    gantry_json_t *root = chunk_new(f, &jb, NULL, &delta);
    gantry_json_t *block = anth_j_obj(&jb, anth_j_arr(&jb, delta, "thinking_blocks"), NULL);
    if (redacted) {
        anth_j_cstr(&jb, block, "type", "redacted_thinking");
        anth_j_str(&jb, block, "data", value);
    } else {
        anth_j_cstr(&jb, block, "type", "thinking");
        anth_j_cstr(&jb, block, "thinking", "");
        anth_j_str(&jb, block, "signature", value);
    }
    return emit(f, &jb, root);
}

/* delta.tool_calls with one entry: the start (id and name) or an argument fragment. */
static gantry_action_t emit_tool(frame_ctx_t *f, uint32_t index, gantry_str_t id, gantry_str_t name,
                                 gantry_str_t args, bool start)
{
    gantry_action_t act = ensure_started(f);
    if (act != GANTRY_CONTINUE)
        return act;
    anth_jb_t jb = {.host = f->inst->host, .req = f->req};
    gantry_json_t *delta;
    gantry_json_t *root = chunk_new(f, &jb, NULL, &delta);
    gantry_json_t *call = anth_j_obj(&jb, anth_j_arr(&jb, delta, "tool_calls"), NULL);
    anth_j_num(&jb, call, "index", index);
    if (start) {
        anth_j_str(&jb, call, "id", id);
        anth_j_cstr(&jb, call, "type", "function");
    }
    gantry_json_t *fn = anth_j_obj(&jb, call, "function");
    if (start)
        anth_j_str(&jb, fn, "name", name);
    anth_j_str(&jb, fn, "arguments", args);
    return emit(f, &jb, root);
}

/* The block entry of an index; made (and the table grown) when `create`. */
static anth_block_t *block_at(frame_ctx_t *f, int64_t index, bool create)
{
    anth_req_t *rs = f->rs;
    if (index < 0 || index >= MAX_BLOCKS)
        return NULL;
    if ((size_t)index >= rs->cap_blocks) {
        if (!create)
            return NULL;
        size_t cap = rs->cap_blocks > 0 ? rs->cap_blocks : 8;
        while (cap <= (size_t)index)
            cap *= 2;
        /* The arena has no realloc: copy into a larger table; the old one goes with the request. */
        anth_block_t *blocks = f->inst->host->alloc(f->req, cap * sizeof(*blocks));
        if (blocks == NULL)
            return NULL;
        memset(blocks, 0, cap * sizeof(*blocks));
        if (rs->cap_blocks > 0)
            memcpy(blocks, rs->blocks, rs->cap_blocks * sizeof(*blocks));
        rs->blocks = blocks;
        rs->cap_blocks = cap;
    }
    return &rs->blocks[index];
}

static gantry_str_t arena_copy(frame_ctx_t *f, gantry_str_t s)
{
    char *p = s.len > 0 ? f->inst->host->strdup(f->req, s.ptr, s.len) : NULL;
    return p != NULL ? (gantry_str_t){p, s.len} : GANTRY_STR_NULL;
}

static gantry_action_t on_message_start(frame_ctx_t *f)
{
    const gantry_host_t *host = f->inst->host;
    const gantry_json_t *msg = host->json_get(f->root, "message");
    f->rs->id = arena_copy(f, host->json_string(host->json_get(msg, "id")));
    f->rs->model = arena_copy(f, host->json_string(host->json_get(msg, "model")));
    anth_usage_read(host, host->json_get(msg, "usage"), &f->rs->usage);
    return ensure_started(f);
}

static gantry_action_t on_block_start(frame_ctx_t *f)
{
    const gantry_host_t *host = f->inst->host;
    int64_t index;
    if (!anth_j_int(host, host->json_get(f->root, "index"), 0, MAX_BLOCKS - 1, &index))
        return fail_malformed(f, "content_block_start without a valid index");
    anth_block_t *blk = block_at(f, index, true);
    if (blk == NULL)
        return fail_internal(f, GANTRY_ENOMEM);

    const gantry_json_t *cb = host->json_get(f->root, "content_block");
    const gantry_json_t *type = host->json_get(cb, "type");
    if (anth_j_is(host, type, "text")) {
        blk->kind = ANTH_BLOCK_TEXT;
        return emit_text(f, "content", host->json_string(host->json_get(cb, "text")));
    }
    if (anth_j_is(host, type, "tool_use")) {
        gantry_str_t name = host->json_string(host->json_get(cb, "name"));
        if (f->rs->json_mode && anth_str_eq(name, ANTH_JSON_TOOL)) {
            blk->kind = ANTH_BLOCK_JSON_TOOL;
            f->rs->json_tool_seen = true;
            return ensure_started(f);
        }
        blk->kind = ANTH_BLOCK_TOOL;
        blk->tool_index = f->rs->n_tools++;
        return emit_tool(f, blk->tool_index, host->json_string(host->json_get(cb, "id")), name,
                         GANTRY_STR_LIT(""), true);
    }
    if (anth_j_is(host, type, "thinking")) {
        blk->kind = ANTH_BLOCK_THINKING;
        gantry_action_t act =
            emit_text(f, "reasoning_content", host->json_string(host->json_get(cb, "thinking")));
        gantry_str_t sig = host->json_string(host->json_get(cb, "signature"));
        if (act == GANTRY_CONTINUE && sig.len > 0)
            act = emit_thinking_block(f, false, sig);
        return act;
    }
    if (anth_j_is(host, type, "redacted_thinking")) {
        blk->kind = ANTH_BLOCK_OTHER;
        return emit_thinking_block(f, true, host->json_string(host->json_get(cb, "data")));
    }
    blk->kind = ANTH_BLOCK_OTHER;
    return GANTRY_CONTINUE;
}

static gantry_action_t on_block_delta(frame_ctx_t *f)
{
    const gantry_host_t *host = f->inst->host;
    int64_t index = -1;
    anth_j_int(host, host->json_get(f->root, "index"), 0, MAX_BLOCKS - 1, &index);
    const anth_block_t *blk = block_at(f, index, false);
    const gantry_json_t *delta = host->json_get(f->root, "delta");
    const gantry_json_t *type = host->json_get(delta, "type");

    if (anth_j_is(host, type, "text_delta"))
        return emit_text(f, "content", host->json_string(host->json_get(delta, "text")));
    if (anth_j_is(host, type, "thinking_delta"))
        return emit_text(f, "reasoning_content",
                         host->json_string(host->json_get(delta, "thinking")));
    if (anth_j_is(host, type, "signature_delta")) {
        gantry_str_t sig = host->json_string(host->json_get(delta, "signature"));
        return sig.len > 0 ? emit_thinking_block(f, false, sig) : GANTRY_CONTINUE;
    }
    if (anth_j_is(host, type, "input_json_delta")) {
        gantry_str_t part = host->json_string(host->json_get(delta, "partial_json"));
        if (part.len == 0 || blk == NULL)
            return GANTRY_CONTINUE;
        if (blk->kind == ANTH_BLOCK_JSON_TOOL)
            return emit_text(f, "content", part);
        if (blk->kind == ANTH_BLOCK_TOOL)
            return emit_tool(f, blk->tool_index, GANTRY_STR_NULL, GANTRY_STR_NULL, part, false);
    }
    /* citations_delta and kinds newer than this plugin carry nothing the client can use. */
    return GANTRY_CONTINUE;
}

static gantry_action_t emit_usage(frame_ctx_t *f)
{
    anth_jb_t jb = {.host = f->inst->host, .req = f->req};
    gantry_json_t *root = chunk_new(f, &jb, NULL, NULL);
    anth_usage_write(&jb, root, "usage", &f->rs->usage);
    return emit(f, &jb, root);
}

static gantry_action_t emit_finish(frame_ctx_t *f, gantry_str_t stop_reason, gantry_str_t stop_seq)
{
    anth_req_t *rs = f->rs;
    gantry_action_t act = ensure_started(f);
    if (act != GANTRY_CONTINUE)
        return act;
    rs->finish_sent = true;
    bool json_answer = rs->json_mode && rs->json_tool_seen && rs->n_tools == 0;
    anth_jb_t jb = {.host = f->inst->host, .req = f->req};
    gantry_json_t *delta;
    gantry_json_t *root = chunk_new(f, &jb, anth_finish_reason(stop_reason, json_answer), &delta);
    if (stop_seq.ptr != NULL) /* canonical extension: which stop sequence ended it */
        anth_j_str(&jb, f->inst->host->json_first(f->inst->host->json_get(root, "choices")),
                   "stop_sequence", stop_seq);
    if ((act = emit(f, &jb, root)) != GANTRY_CONTINUE)
        return act;
    return emit_usage(f);
}

/* The final counts are cumulative and may repeat the input figures: merge them. */
static gantry_action_t on_message_delta(frame_ctx_t *f)
{
    const gantry_host_t *host = f->inst->host;
    anth_usage_read(host, host->json_get(f->root, "usage"), &f->rs->usage);
    if (f->rs->finish_sent)
        return GANTRY_CONTINUE;
    gantry_json_t *delta = host->json_get(f->root, "delta");
    gantry_str_t stop = host->json_string(host->json_get(delta, "stop_reason"));
    return emit_finish(f, stop, host->json_string(host->json_get(delta, "stop_sequence")));
}

static gantry_action_t on_message_stop(frame_ctx_t *f)
{
    if (!f->rs->finish_sent) {
        gantry_action_t act = emit_finish(f, GANTRY_STR_LIT("end_turn"), GANTRY_STR_NULL);
        if (act != GANTRY_CONTINUE)
            return act;
    }
    f->inst->host->stream_end(f->req);
    return GANTRY_CONTINUE;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The state of this attempt; prepare() made it, but a missing one must not crash the worker. */
static anth_req_t *state_of(const anth_instance_t *inst, gantry_req_t *req)
{
    const gantry_host_t *host = inst->host;
    anth_req_t *rs = host->req_data(req, inst->self);
    if (rs == NULL) {
        rs = host->alloc(req, sizeof(*rs));
        if (rs == NULL)
            return NULL;
        memset(rs, 0, sizeof(*rs));
        host->req_set_data(req, inst->self, rs);
    }
    return rs;
}

gantry_action_t anth_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                 const gantry_frame_t *frame)
{
    const anth_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    gantry_str_t data = frame->data;
    while (data.len > 0 && is_space(data.ptr[0])) {
        data.ptr++;
        data.len--;
    }
    bool error_event = anth_str_eq(frame->event, "error");
    /* Comment-only events (keep-alives) arrive without data. */
    if (data.len == 0 && !error_event)
        return GANTRY_CONTINUE;

    frame_ctx_t f = {.inst = inst, .dep = deployment, .req = req, .rs = state_of(inst, req)};
    if (f.rs == NULL)
        return fail_internal(&f, GANTRY_ENOMEM);
    if (f.rs->created == 0)
        f.rs->created = host->unix_ms() / 1000;

    gantry_json_t *root = data.len > 0 ? host->json_parse(req, data) : NULL;
    bool is_object = host->json_type(root) == GANTRY_JSON_OBJECT;
    gantry_str_t type = host->json_string(host->json_get(root, "type"));
    if (type.ptr == NULL)
        type = frame->event;
    if (error_event || anth_str_eq(type, "error"))
        return anth_fail_with_error(inst, f.dep, req, is_object ? root : NULL, data);
    if (!is_object)
        return fail_malformed(&f, "not a JSON object");

    f.root = root;
    gantry_action_t act = GANTRY_CONTINUE;
    if (anth_str_eq(type, "content_block_delta"))
        act = on_block_delta(&f);
    else if (anth_str_eq(type, "content_block_start"))
        act = on_block_start(&f);
    else if (anth_str_eq(type, "message_start"))
        act = on_message_start(&f);
    else if (anth_str_eq(type, "message_delta"))
        act = on_message_delta(&f);
    else if (anth_str_eq(type, "message_stop")) {
        /* Released first: after stream_end() the request may already be finished. */
        host->json_release(req, root);
        return on_message_stop(&f);
    }
    /* ping, content_block_stop and newer event types: nothing to forward. */
    host->json_release(req, root);
    return act;
}
