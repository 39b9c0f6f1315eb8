/*
 * The anthropic provider: a Messages API answer -> the canonical chat.completion.
 *
 *   text blocks         -> message.content, joined
 *   tool_use blocks     -> message.tool_calls (arguments: the input as compact JSON text)
 *   thinking blocks     -> message.reasoning_content, and thinking_blocks with their signatures
 *                          (clients send those back on the next turn)
 *   redacted_thinking   -> thinking_blocks
 * In JSON mode the input of the forced ANTH_JSON_TOOL call is the answer: it becomes the content
 * and the finish reason is "stop".  Block types this plugin does not know are skipped.
 */
#include "anthropic.h"

typedef struct parts {
    size_t text_len, thinking_len;
    size_t n_tools;            /* tool calls for the client (the JSON tool excluded) */
    const gantry_json_t *json; /* input of the JSON-mode tool call, when there is one */
    size_t n_thinking_blocks;
} parts_t;

static bool is_json_tool(const gantry_host_t *host, const gantry_json_t *block, bool json_mode)
{
    return json_mode && anth_j_is(host, host->json_get(block, "name"), ANTH_JSON_TOOL);
}

static void survey(const gantry_host_t *host, const gantry_json_t *content, bool json_mode,
                   parts_t *p)
{
    for (const gantry_json_t *blk = host->json_first(content); blk != NULL;
         blk = host->json_next(blk)) {
        const gantry_json_t *type = host->json_get(blk, "type");
        if (anth_j_is(host, type, "text")) {
            p->text_len += host->json_string(host->json_get(blk, "text")).len;
        } else if (anth_j_is(host, type, "tool_use")) {
            if (is_json_tool(host, blk, json_mode))
                p->json = host->json_get(blk, "input");
            else
                p->n_tools++;
        } else if (anth_j_is(host, type, "thinking")) {
            p->thinking_len += host->json_string(host->json_get(blk, "thinking")).len;
            p->n_thinking_blocks++;
        } else if (anth_j_is(host, type, "redacted_thinking")) {
            p->n_thinking_blocks++;
        }
    }
}

/* The strings of every block of `type` under `field`, joined, in the arena. */
static gantry_str_t join(const gantry_host_t *host, gantry_req_t *req, const gantry_json_t *content,
                         const char *type, const char *field, size_t total)
{
    char *buf = host->alloc(req, total + 1);
    size_t o = 0;
    if (buf == NULL)
        return GANTRY_STR_NULL;
    for (const gantry_json_t *blk = host->json_first(content); blk != NULL;
         blk = host->json_next(blk)) {
        if (!anth_j_is(host, host->json_get(blk, "type"), type))
            continue;
        gantry_str_t s = host->json_string(host->json_get(blk, field));
        if (s.len == 0)
            continue;
        if (s.len > total - o)
            s.len = total - o; /* cannot happen: survey() counted the same strings */
        memcpy(buf + o, s.ptr, s.len);
        o += s.len;
    }
    buf[o] = '\0';
    return (gantry_str_t){buf, o};
}

static void tool_calls(anth_jb_t *jb, gantry_json_t *msg, const gantry_json_t *content,
                       bool json_mode)
{
    const gantry_host_t *host = jb->host;
    gantry_json_t *calls = anth_j_arr(jb, msg, "tool_calls");
    for (const gantry_json_t *blk = host->json_first(content); blk != NULL;
         blk = host->json_next(blk)) {
        if (!anth_j_is(host, host->json_get(blk, "type"), "tool_use") ||
            is_json_tool(host, blk, json_mode))
            continue;
        gantry_json_t *call = anth_j_obj(jb, calls, NULL);
        anth_j_str(jb, call, "id", host->json_string(host->json_get(blk, "id")));
        anth_j_cstr(jb, call, "type", "function");
        gantry_json_t *fn = anth_j_obj(jb, call, "function");
        anth_j_str(jb, fn, "name", host->json_string(host->json_get(blk, "name")));
        const gantry_json_t *input = host->json_get(blk, "input");
        gantry_str_t args = GANTRY_STR_LIT("{}");
        if (host->json_type(input) != GANTRY_JSON_INVALID &&
            host->json_write(jb->req, input, &args) != GANTRY_OK)
            jb->failed = true;
        anth_j_str(jb, fn, "arguments", args);
    }
}

static void thinking_blocks(anth_jb_t *jb, gantry_json_t *msg, const gantry_json_t *content)
{
    const gantry_host_t *host = jb->host;
    gantry_json_t *list = anth_j_arr(jb, msg, "thinking_blocks");
    for (const gantry_json_t *blk = host->json_first(content); blk != NULL;
         blk = host->json_next(blk)) {
        const gantry_json_t *type = host->json_get(blk, "type");
        if (anth_j_is(host, type, "thinking")) {
            gantry_json_t *t = anth_j_obj(jb, list, NULL);
            anth_j_cstr(jb, t, "type", "thinking");
            anth_j_str(jb, t, "thinking", host->json_string(host->json_get(blk, "thinking")));
            const gantry_json_t *sig = host->json_get(blk, "signature");
            if (host->json_type(sig) == GANTRY_JSON_STRING)
                anth_j_str(jb, t, "signature", host->json_string(sig));
        } else if (anth_j_is(host, type, "redacted_thinking")) {
            gantry_json_t *t = anth_j_obj(jb, list, NULL);
            anth_j_cstr(jb, t, "type", "redacted_thinking");
            anth_j_str(jb, t, "data", host->json_string(host->json_get(blk, "data")));
        }
    }
}

static void build_message(anth_jb_t *jb, gantry_json_t *msg, const gantry_json_t *content,
                          const parts_t *p, bool json_mode)
{
    const gantry_host_t *host = jb->host;
    anth_j_cstr(jb, msg, "role", "assistant");
    if (p->json != NULL) {
        gantry_str_t text;
        if (host->json_write(jb->req, p->json, &text) != GANTRY_OK)
            jb->failed = true;
        else
            anth_j_str(jb, msg, "content", text);
    } else if (p->text_len > 0 || p->n_tools == 0) {
        /* An answer has a string, even an empty one, unless it is nothing but tool calls. */
        gantry_str_t text = join(host, jb->req, content, "text", "text", p->text_len);
        if (text.ptr == NULL)
            jb->failed = true;
        anth_j_str(jb, msg, "content", text);
    } else {
        anth_j_null(jb, msg, "content");
    }
    if (p->n_tools > 0)
        tool_calls(jb, msg, content, json_mode);
    if (p->n_thinking_blocks > 0) {
        gantry_str_t r = join(host, jb->req, content, "thinking", "thinking", p->thinking_len);
        if (r.ptr == NULL)
            jb->failed = true;
        anth_j_str(jb, msg, "reasoning_content", r);
        thinking_blocks(jb, msg, content);
    }
}

gantry_action_t anth_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                    gantry_str_t body)
{
    const anth_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const anth_deployment_t *dep = deployment;
    const anth_req_t *rs = host->req_data(req, inst->self);
    bool json_mode = rs != NULL && rs->json_mode;
    (void)status;

    gantry_json_t *root = host->json_parse(req, body);
    if (host->json_type(root) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream returned a malformed response (not a JSON object)");
    if (anth_j_is(host, host->json_get(root, "type"), "error") ||
        (host->json_type(host->json_get(root, "error")) == GANTRY_JSON_OBJECT &&
         host->json_get(root, "content") == NULL))
        return anth_fail_with_error(inst, dep, req, root, body);

    const gantry_json_t *content = host->json_get(root, "content");
    if (host->json_type(content) != GANTRY_JSON_ARRAY)
        content = NULL; /* treated as an empty answer */
    parts_t p = {0};
    survey(host, content, json_mode, &p);

    anth_jb_t jb = {.host = host, .req = req};
    gantry_json_t *out = anth_j_new(&jb, GANTRY_JSON_OBJECT);
    gantry_str_t id = host->json_string(host->json_get(root, "id"));
    gantry_str_t model = host->json_string(host->json_get(root, "model"));
    anth_j_str(&jb, out, "id", id.len > 0 ? id : host->req_id(req));
    anth_j_cstr(&jb, out, "object", "chat.completion");
    anth_j_num(&jb, out, "created", (double)(host->unix_ms() / 1000));
    anth_j_str(&jb, out, "model", model.len > 0 ? model : dep->model);

    gantry_json_t *choice = anth_j_obj(&jb, anth_j_arr(&jb, out, "choices"), NULL);
    anth_j_num(&jb, choice, "index", 0);
    build_message(&jb, anth_j_obj(&jb, choice, "message"), content, &p, json_mode);
    gantry_str_t stop = host->json_string(host->json_get(root, "stop_reason"));
    /* JSON mode answers "stop" only when the forced tool is all there is to it. */
    anth_j_cstr(&jb, choice, "finish_reason",
                anth_finish_reason(stop, json_mode && p.json != NULL && p.n_tools == 0));
    gantry_str_t seq = host->json_string(host->json_get(root, "stop_sequence"));
    if (seq.ptr != NULL) /* canonical extension: which stop sequence ended it */
        anth_j_str(&jb, choice, "stop_sequence", seq);

    anth_usage_t usage = {0};
    anth_usage_read(host, host->json_get(root, "usage"), &usage);
    anth_usage_write(&jb, out, "usage", &usage);

    int rc = jb.failed ? GANTRY_ENOMEM : host->resp_set_take(req, out);
    host->json_release(req, root);
    if (rc != GANTRY_OK) {
        host->json_release(req, out);
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not build the response: %s", host->strerror(rc));
    }
    return GANTRY_CONTINUE;
}
