/*
 * The bedrock provider: Anthropic models through InvokeModel (bedrock/invoke/anthropic.*).  The
 * body is Anthropic's Messages API with "anthropic_version": "bedrock-2023-05-31" and without
 * "model" or "stream" (the URL says both); answers are Messages API responses, and stream chunks
 * carry Messages API stream events, base64-encoded, in event-stream "chunk" messages.
 */
#include <stdio.h>

#include "bedrock.h"

/* Anthropic requires max_tokens; LiteLLM's default when the client gives none. */
#define DEFAULT_MAX_TOKENS 4096

typedef struct amsg {
    br_ctx_t *c;
    const gantry_host_t *h;
    gantry_json_t *messages;
    gantry_json_t *cur;
    const char *cur_role;
} amsg_t;

static gantry_json_t *turn(amsg_t *a, const char *role)
{
    if (a->cur != NULL && strcmp(a->cur_role, role) == 0)
        return a->cur;
    gantry_json_t *m = br_push_obj(a->c, a->messages);
    br_set_cstr(a->c, m, "role", role);
    a->cur = br_arr(a->c, m, "content");
    a->cur_role = role;
    return a->cur;
}

/* Copy a part's (or message's) cache_control onto the block made for it. */
static void cache_mark(amsg_t *a, gantry_json_t *block, const gantry_json_t *from)
{
    const gantry_json_t *cc = a->h->json_get(from, "cache_control");
    if (a->h->json_type(cc) == GANTRY_JSON_OBJECT && block != NULL)
        br_copy(a->c, block, "cache_control", cc);
}

/* The last block of a list, for a message-level cache_control. */
static gantry_json_t *last_block(const gantry_host_t *h, gantry_json_t *arr)
{
    gantry_json_t *last = NULL;
    for (gantry_json_t *b = h->json_first(arr); b != NULL; b = h->json_next(b))
        last = b;
    return last;
}

static gantry_json_t *text_block(amsg_t *a, gantry_json_t *arr, gantry_str_t text)
{
    gantry_json_t *b = br_push_obj(a->c, arr);
    br_set_cstr(a->c, b, "type", "text");
    br_set_str(a->c, b, "text", text);
    return b;
}

static gantry_json_t *base64_block(amsg_t *a, gantry_json_t *arr, const char *type,
                                   gantry_str_t mime, gantry_str_t data)
{
    gantry_json_t *b = br_push_obj(a->c, arr);
    br_set_cstr(a->c, b, "type", type);
    gantry_json_t *src = br_obj(a->c, b, "source");
    br_set_cstr(a->c, src, "type", "base64");
    br_set_str(a->c, src, "media_type", mime);
    br_set_str(a->c, src, "data", data);
    return b;
}

static int media_part(amsg_t *a, gantry_json_t *arr, const gantry_json_t *part, gantry_str_t url,
                      const char *where, gantry_json_t **made)
{
    br_ctx_t *c = a->c;
    gantry_str_t mime, data;
    *made = NULL;
    if (!br_data_url(url, &mime, &data)) {
        if (br_has_prefix(url, "http://") || br_has_prefix(url, "https://"))
            return br_unsupported(c, where, "Bedrock does not fetch URLs; send a base64 data: URL");
        br_bad_request(c, "%s: expected a base64 data: URL", where);
        return -1;
    }
    (void)part;
    if (br_image_format(mime) != NULL) {
        *made = base64_block(a, arr, "image", mime, data);
        return 0;
    }
    if (br_str_ieq(mime, "application/pdf")) {
        *made = base64_block(a, arr, "document", GANTRY_STR_LIT("application/pdf"), data);
        return 0;
    }
    if (br_str_ieq(mime, "text/plain")) {
        /* Plain text documents go as text sources, not base64. */
        gantry_str_t text;
        if (br_b64_decode(c->req, c->host, data, &text) != 0) {
            br_bad_request(c, "%s: the data: URL is not valid base64", where);
            return -1;
        }
        gantry_json_t *b = br_push_obj(c, arr);
        br_set_cstr(c, b, "type", "document");
        gantry_json_t *src = br_obj(c, b, "source");
        br_set_cstr(c, src, "type", "text");
        br_set_cstr(c, src, "media_type", "text/plain");
        br_set_str(c, src, "data", text);
        *made = b;
        return 0;
    }
    br_bad_request(c,
                   "%s: Anthropic models take png, jpeg, gif, webp, pdf and plain text, not %.*s",
                   where, (int)(mime.len > 60 ? 60 : mime.len), mime.ptr);
    return -1;
}

static int content_parts(amsg_t *a, gantry_json_t *arr, const gantry_json_t *content, size_t mi,
                         bool assistant)
{
    br_ctx_t *c = a->c;
    const gantry_host_t *h = a->h;
    if (h->json_type(content) == GANTRY_JSON_STRING) {
        if (h->json_string(content).len > 0)
            text_block(a, arr, h->json_string(content));
        return 0;
    }
    if (h->json_type(content) != GANTRY_JSON_ARRAY)
        return 0;
    size_t pi = 0;
    for (const gantry_json_t *p = h->json_first(content); p != NULL; p = h->json_next(p), pi++) {
        char where[64];
        snprintf(where, sizeof(where), "messages[%zu].content[%zu]", mi, pi);
        gantry_str_t type = br_get_str(h, p, "type");
        gantry_json_t *made = NULL;
        if (br_str_eq(type, "text") || (assistant && br_str_eq(type, "refusal"))) {
            gantry_str_t t = br_get_str(h, p, br_str_eq(type, "text") ? "text" : "refusal");
            if (t.len > 0)
                made = text_block(a, arr, t);
        } else if (!assistant && br_str_eq(type, "image_url")) {
            const gantry_json_t *iu = h->json_get(p, "image_url");
            gantry_str_t url = h->json_type(iu) == GANTRY_JSON_STRING ? h->json_string(iu)
                                                                      : br_get_str(h, iu, "url");
            if (media_part(a, arr, p, url, where, &made) != 0)
                return -1;
        } else if (!assistant && br_str_eq(type, "file")) {
            gantry_str_t fd = br_get_str(h, h->json_get(p, "file"), "file_data");
            if (fd.ptr == NULL) {
                if (br_unsupported(c, where, "only file_data (base64 data: URLs)") != 0)
                    return -1;
                continue;
            }
            if (media_part(a, arr, p, fd, where, &made) != 0)
                return -1;
        } else {
            if (br_unsupported(c, where, "unsupported content part type") != 0)
                return -1;
            continue;
        }
        cache_mark(a, made, p);
    }
    return 0;
}

static int assistant_message(amsg_t *a, const gantry_json_t *m, size_t mi)
{
    br_ctx_t *c = a->c;
    const gantry_host_t *h = a->h;
    gantry_json_t *arr = turn(a, "assistant");
    size_t before = h->json_count(arr);
    const gantry_json_t *tb = h->json_get(m, "thinking_blocks");
    for (const gantry_json_t *b = h->json_first(tb); b != NULL; b = h->json_next(b)) {
        gantry_str_t type = br_get_str(h, b, "type");
        if (br_str_eq(type, "thinking") || br_str_eq(type, "redacted_thinking"))
            br_copy(c, arr, NULL, b); /* Anthropic's own shape: sent back unchanged */
    }
    if (content_parts(a, arr, h->json_get(m, "content"), mi, true) != 0)
        return -1;
    size_t ti = 0;
    for (const gantry_json_t *tc = h->json_first(h->json_get(m, "tool_calls")); tc != NULL;
         tc = h->json_next(tc), ti++) {
        const gantry_json_t *fn = h->json_get(tc, "function");
        gantry_str_t id = br_get_str(h, tc, "id"), name = br_get_str(h, fn, "name");
        gantry_str_t args = br_get_str(h, fn, "arguments");
        if (id.len == 0 || name.len == 0) {
            br_bad_request(c, "messages[%zu].tool_calls[%zu] needs an id and a function name", mi,
                           ti);
            return -1;
        }
        bool blank = true;
        for (size_t k = 0; k < args.len && blank; k++)
            blank = args.ptr[k] == ' ' || args.ptr[k] == '\n' || args.ptr[k] == '\t';
        gantry_json_t *input =
            blank ? h->json_new(c->req, GANTRY_JSON_OBJECT) : h->json_parse(c->req, args);
        if (h->json_type(input) != GANTRY_JSON_OBJECT) {
            br_bad_request(c,
                           "messages[%zu].tool_calls[%zu].function.arguments must be a JSON object",
                           mi, ti);
            return -1;
        }
        gantry_json_t *b = br_push_obj(c, arr);
        br_set_cstr(c, b, "type", "tool_use");
        br_set_str(c, b, "id", id);
        br_set_str(c, b, "name", name);
        if (b == NULL || h->json_attach(c->req, b, "input", input) != 0)
            c->oom = true;
    }
    if (h->json_count(arr) > before)
        cache_mark(a, last_block(h, arr), m);
    return 0;
}

static int tool_message(amsg_t *a, const gantry_json_t *m, size_t mi)
{
    br_ctx_t *c = a->c;
    const gantry_host_t *h = a->h;
    gantry_str_t id = br_get_str(h, m, "tool_call_id");
    if (id.len == 0) {
        br_bad_request(c, "messages[%zu]: a tool message needs tool_call_id", mi);
        return -1;
    }
    gantry_json_t *arr = turn(a, "user");
    gantry_json_t *b = br_push_obj(c, arr);
    br_set_cstr(c, b, "type", "tool_result");
    br_set_str(c, b, "tool_use_id", id);
    const gantry_json_t *mc = h->json_get(m, "content");
    if (h->json_type(mc) == GANTRY_JSON_ARRAY) {
        gantry_json_t *content = br_arr(c, b, "content");
        if (content_parts(a, content, mc, mi, false) != 0)
            return -1;
    } else {
        br_set_str(c, b, "content", h->json_string(mc));
    }
    bool is_error = false;
    if (br_str_eq(br_get_str(h, m, "status"), "error") ||
        (h->json_bool(h->json_get(m, "is_error"), &is_error) == GANTRY_OK && is_error))
        br_set_bool(c, b, "is_error", true);
    cache_mark(a, b, m);
    return 0;
}

static int messages(amsg_t *a, const gantry_json_t *msgs, gantry_json_t *out)
{
    br_ctx_t *c = a->c;
    const gantry_host_t *h = a->h;
    gantry_json_t *sys = NULL;
    if (h->json_type(msgs) != GANTRY_JSON_ARRAY) {
        br_bad_request(c, "messages must be an array");
        return -1;
    }
    a->messages = br_arr(c, out, "messages");
    size_t mi = 0;
    for (const gantry_json_t *m = h->json_first(msgs); m != NULL; m = h->json_next(m), mi++) {
        gantry_str_t role = br_get_str(h, m, "role");
        int rc = 0;
        if (br_str_eq(role, "system") || br_str_eq(role, "developer")) {
            if (sys == NULL)
                sys = h->json_new(c->req, GANTRY_JSON_ARRAY);
            size_t before = h->json_count(sys);
            rc = content_parts(a, sys, h->json_get(m, "content"), mi, true);
            if (h->json_count(sys) > before)
                cache_mark(a, last_block(h, sys), m);
        } else if (br_str_eq(role, "user")) {
            gantry_json_t *arr = turn(a, "user");
            size_t before = h->json_count(arr);
            rc = content_parts(a, arr, h->json_get(m, "content"), mi, false);
            if (rc == 0 && h->json_count(arr) > before)
                cache_mark(a, last_block(h, arr), m);
        } else if (br_str_eq(role, "assistant")) {
            rc = assistant_message(a, m, mi);
        } else if (br_str_eq(role, "tool")) {
            rc = tool_message(a, m, mi);
        } else {
            br_bad_request(c, "messages[%zu]: unsupported role", mi);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    if (sys != NULL && h->json_count(sys) > 0 && h->json_attach(c->req, out, "system", sys) != 0)
        c->oom = true;
    for (const gantry_json_t *m = h->json_first(a->messages); m != NULL; m = h->json_next(m)) {
        if (h->json_count(h->json_get(m, "content")) == 0) {
            br_bad_request(c, "messages: a turn has no content");
            return -1;
        }
    }
    if (h->json_count(a->messages) == 0) {
        br_bad_request(c, "messages: there is no user or assistant message with content");
        return -1;
    }
    return 0;
}

static int tools(amsg_t *a, const gantry_json_t *body, gantry_json_t *out)
{
    br_ctx_t *c = a->c;
    const gantry_host_t *h = a->h;
    const gantry_json_t *list = h->json_get(body, "tools");
    const gantry_json_t *choice = h->json_get(body, "tool_choice");
    const gantry_json_t *rf = h->json_get(body, "response_format");
    gantry_str_t rf_type = br_get_str(h, rf, "type");
    bool json_tool = br_str_eq(rf_type, "json_schema") || br_str_eq(rf_type, "json_object");
    gantry_json_t *tl = NULL, *tc = NULL;
    bool par;
    if (rf_type.len > 0 && !json_tool && !br_str_eq(rf_type, "text")) {
        br_bad_request(c, "response_format.type must be text, json_object or json_schema");
        return -1;
    }
    size_t ti = 0;
    for (const gantry_json_t *t = h->json_first(list); t != NULL; t = h->json_next(t), ti++) {
        if (!br_str_eq(br_get_str(h, t, "type"), "function")) {
            char what[48];
            snprintf(what, sizeof(what), "tools[%zu].type", ti);
            if (br_unsupported(c, what, "only function tools") != 0)
                return -1;
            continue;
        }
        const gantry_json_t *fn = h->json_get(t, "function");
        gantry_str_t name = br_get_str(h, fn, "name");
        if (name.len == 0) {
            br_bad_request(c, "tools[%zu].function.name is required", ti);
            return -1;
        }
        if (tl == NULL)
            tl = br_arr(c, out, "tools");
        gantry_json_t *tool = br_push_obj(c, tl);
        br_set_str(c, tool, "name", name);
        gantry_str_t desc = br_get_str(h, fn, "description");
        if (desc.len > 0)
            br_set_str(c, tool, "description", desc);
        const gantry_json_t *params = h->json_get(fn, "parameters");
        if (h->json_type(params) == GANTRY_JSON_OBJECT) {
            br_copy(c, tool, "input_schema", params);
        } else {
            gantry_json_t *s = br_obj(c, tool, "input_schema");
            br_set_cstr(c, s, "type", "object");
            br_obj(c, s, "properties");
        }
        cache_mark(a, tool, t);
    }
    bool client_tools = tl != NULL;
    if (json_tool) {
        const gantry_json_t *js = h->json_get(rf, "json_schema");
        const gantry_json_t *schema = h->json_get(js, "schema");
        if (tl == NULL)
            tl = br_arr(c, out, "tools");
        gantry_json_t *tool = br_push_obj(c, tl);
        br_set_cstr(c, tool, "name", "json_tool_call");
        gantry_str_t desc = br_get_str(h, js, "description");
        if (desc.len > 0)
            br_set_str(c, tool, "description", desc);
        if (h->json_type(schema) == GANTRY_JSON_OBJECT)
            br_copy(c, tool, "input_schema", schema);
        else
            br_set_cstr(c, br_obj(c, tool, "input_schema"), "type", "object");
        c->rs->json_mode = true;
        if (!client_tools) {
            tc = br_obj(c, out, "tool_choice");
            br_set_cstr(c, tc, "type", "tool");
            br_set_cstr(c, tc, "name", "json_tool_call");
            return 0;
        }
    }
    if (tl == NULL)
        return 0;
    gantry_str_t cs = h->json_string(choice);
    if (br_str_eq(cs, "auto") || br_str_eq(cs, "required") || br_str_eq(cs, "none")) {
        tc = br_obj(c, out, "tool_choice");
        br_set_cstr(c, tc, "type", br_str_eq(cs, "required") ? "any" : cs.ptr);
    } else if (h->json_type(choice) == GANTRY_JSON_OBJECT) {
        gantry_str_t name = br_get_str(h, h->json_get(choice, "function"), "name");
        if (name.len == 0) {
            br_bad_request(c, "tool_choice.function.name is required");
            return -1;
        }
        tc = br_obj(c, out, "tool_choice");
        br_set_cstr(c, tc, "type", "tool");
        br_set_str(c, tc, "name", name);
    } else if (br_present(h, body, "tool_choice")) {
        br_bad_request(c, "tool_choice must be auto, none, required or a function");
        return -1;
    }
    /* Anthropic does have the switch Converse lacks. */
    if (h->json_bool(h->json_get(body, "parallel_tool_calls"), &par) == GANTRY_OK && !par) {
        if (tc == NULL) {
            tc = br_obj(c, out, "tool_choice");
            br_set_cstr(c, tc, "type", "auto");
        }
        if (!br_str_eq(br_get_str(h, tc, "type"), "none"))
            br_set_bool(c, tc, "disable_parallel_tool_use", true);
    }
    return 0;
}

int br_anthropic_body(br_ctx_t *c, const gantry_json_t *body, gantry_json_t **out_root)
{
    const gantry_host_t *h = c->host;
    amsg_t a = {.c = c, .h = h};
    double d;
    if (br_check_common_params(c, body) != 0)
        return -1;
    gantry_json_t *out = h->json_new(c->req, GANTRY_JSON_OBJECT);
    if (out == NULL)
        return br_fail_oom(c);
    br_set_cstr(c, out, "anthropic_version", "bedrock-2023-05-31");
    br_set_num(c, out, "max_tokens", br_max_tokens(h, body, &d) ? d : DEFAULT_MAX_TOKENS);
    if (messages(&a, h->json_get(body, "messages"), out) != 0)
        return -1;
    if (br_get_num(h, body, "temperature", &d))
        br_set_num(c, out, "temperature", d);
    if (br_get_num(h, body, "top_p", &d))
        br_set_num(c, out, "top_p", d);
    if (br_get_num(h, body, "top_k", &d))
        br_set_num(c, out, "top_k", d);
    const gantry_json_t *stop = h->json_get(body, "stop");
    if (h->json_type(stop) == GANTRY_JSON_STRING) {
        br_push_str(c, br_arr(c, out, "stop_sequences"), h->json_string(stop));
    } else if (h->json_type(stop) == GANTRY_JSON_ARRAY && h->json_count(stop) > 0) {
        gantry_json_t *arr = br_arr(c, out, "stop_sequences");
        for (const gantry_json_t *s = h->json_first(stop); s != NULL; s = h->json_next(s))
            br_push_str(c, arr, h->json_string(s));
    }
    if (tools(&a, body, out) != 0)
        return -1;
    const gantry_json_t *thinking = h->json_get(body, "thinking");
    gantry_str_t effort = br_get_str(h, body, "reasoning_effort");
    if (h->json_type(thinking) == GANTRY_JSON_OBJECT) {
        br_copy(c, out, "thinking", thinking);
    } else if (effort.len > 0) {
        int budget = br_effort_budget(effort);
        if (budget < 0) {
            br_bad_request(c, "reasoning_effort must be none, minimal, low, medium or high");
            return -1;
        }
        if (budget > 0) {
            gantry_json_t *t = br_obj(c, out, "thinking");
            br_set_cstr(c, t, "type", "enabled");
            br_set_num(c, t, "budget_tokens", budget);
        }
    }
    if (c->oom)
        return br_fail_oom(c);
    *out_root = out;
    return 0;
}

/* ---- answers ---- */

gantry_action_t br_anthropic_response(br_ctx_t *c, gantry_json_t *root)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *message, *choice;
    gantry_json_t *resp = br_completion_new(c, &message, &choice);
    const gantry_json_t *content = h->json_get(root, "content");
    if (h->json_type(content) != GANTRY_JSON_ARRAY)
        return h->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                           "the upstream answer has no content list");
    gantry_json_t *calls = NULL, *blocks = NULL;
    bool json_answer = false;
    for (const gantry_json_t *b = h->json_first(content); b != NULL; b = h->json_next(b)) {
        gantry_str_t type = br_get_str(h, b, "type");
        if (br_str_eq(type, "text")) {
            if (!json_answer)
                br_append_member(c, message, "content", br_get_str(h, b, "text"));
        } else if (br_str_eq(type, "tool_use")) {
            gantry_str_t name = br_get_str(h, b, "name");
            gantry_str_t args = GANTRY_STR_LIT("{}");
            const gantry_json_t *input = h->json_get(b, "input");
            if (input != NULL && h->json_write(c->req, input, &args) != GANTRY_OK)
                c->oom = true;
            if (c->rs->json_mode && br_str_eq(name, "json_tool_call")) {
                br_set_str(c, message, "content", args);
                json_answer = true;
                continue;
            }
            if (calls == NULL)
                calls = br_arr(c, message, "tool_calls");
            gantry_json_t *tc = br_push_obj(c, calls);
            br_set_str(c, tc, "id", br_get_str(h, b, "id"));
            br_set_cstr(c, tc, "type", "function");
            gantry_json_t *fn = br_obj(c, tc, "function");
            br_set_str(c, fn, "name", name);
            br_set_str(c, fn, "arguments", args);
        } else if (br_str_eq(type, "thinking") || br_str_eq(type, "redacted_thinking")) {
            if (blocks == NULL)
                blocks = br_arr(c, message, "thinking_blocks");
            br_copy(c, blocks, NULL, b);
            gantry_str_t t = br_get_str(h, b, "thinking");
            if (t.ptr != NULL)
                br_append_member(c, message, "reasoning_content", t);
        }
    }
    if (h->json_get(message, "content") == NULL)
        br_set_null(c, message, "content");
    gantry_str_t stop = br_get_str(h, root, "stop_reason");
    const char *finish = br_finish_reason(stop);
    if (json_answer && calls == NULL && strcmp(finish, "tool_calls") == 0)
        finish = "stop";
    br_set_cstr(c, choice, "finish_reason", finish);

    gantry_str_t model = br_get_str(h, root, "model");
    if (model.len > 0)
        br_set_str(c, resp, "model", model);
    const gantry_json_t *u = h->json_get(root, "usage");
    bool f1, f2, f3, f4;
    int64_t in = br_int(h, u, "input_tokens", &f1), out = br_int(h, u, "output_tokens", &f2);
    int64_t cw = br_int(h, u, "cache_creation_input_tokens", &f3);
    int64_t cr = br_int(h, u, "cache_read_input_tokens", &f4);
    br_usage_fill(c, br_obj(c, resp, "usage"), in + cr + cw, out, cr, cw, f3 || f4);
    if (c->oom) {
        br_fail_oom(c);
        return GANTRY_FAIL;
    }
    if (h->resp_set_take(c->req, resp) != GANTRY_OK)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not keep the response");
    return GANTRY_CONTINUE;
}

/* One Messages API stream event, decoded from an InvokeModelWithResponseStream chunk. */
gantry_action_t br_anthropic_event(br_ctx_t *c, gantry_json_t *ev)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;
    gantry_str_t type = br_get_str(h, ev, "type");
    bool found;
    double idx_d = -1;
    int idx = br_get_num(h, ev, "index", &idx_d) && idx_d >= 0 && idx_d < 1e6 ? (int)idx_d : -1;

    if (br_str_eq(type, "message_start")) {
        const gantry_json_t *msg = h->json_get(ev, "message");
        const gantry_json_t *u = h->json_get(msg, "usage");
        rs->in_tok = br_int(h, u, "input_tokens", &found);
        rs->have_usage = rs->have_usage || found;
        int64_t cw = br_int(h, u, "cache_creation_input_tokens", &found);
        bool f2;
        int64_t cr = br_int(h, u, "cache_read_input_tokens", &f2);
        if (found || f2) {
            rs->have_cache = true;
            rs->cache_write = cw;
            rs->cache_read = cr;
        }
        gantry_str_t model = br_get_str(h, msg, "model");
        if (model.len > 0) {
            char *m = h->strdup(c->req, model.ptr, model.len);
            if (m != NULL)
                rs->model = (gantry_str_t){m, model.len};
        }
        return br_emit_role(c);
    }
    if (br_str_eq(type, "content_block_start")) {
        const gantry_json_t *cb = h->json_get(ev, "content_block");
        gantry_str_t bt = br_get_str(h, cb, "type");
        if (br_str_eq(bt, "tool_use"))
            return br_emit_tool_start(c, idx, br_get_str(h, cb, "id"), br_get_str(h, cb, "name"));
        if (br_str_eq(bt, "redacted_thinking"))
            return br_emit_thinking_block(c, GANTRY_STR_NULL, br_get_str(h, cb, "data"));
        if (br_str_eq(bt, "text")) {
            gantry_str_t t = br_get_str(h, cb, "text");
            return t.len > 0 ? br_emit_text(c, "content", t) : GANTRY_CONTINUE;
        }
        return GANTRY_CONTINUE;
    }
    if (br_str_eq(type, "content_block_delta")) {
        const gantry_json_t *d = h->json_get(ev, "delta");
        gantry_str_t dt = br_get_str(h, d, "type");
        if (br_str_eq(dt, "text_delta"))
            return br_emit_text(c, "content", br_get_str(h, d, "text"));
        if (br_str_eq(dt, "input_json_delta"))
            return br_emit_tool_args(c, idx, br_get_str(h, d, "partial_json"));
        if (br_str_eq(dt, "thinking_delta"))
            return br_emit_text(c, "reasoning_content", br_get_str(h, d, "thinking"));
        if (br_str_eq(dt, "signature_delta"))
            return br_emit_thinking_block(c, br_get_str(h, d, "signature"), GANTRY_STR_NULL);
        return GANTRY_CONTINUE;
    }
    if (br_str_eq(type, "message_delta")) {
        const gantry_json_t *u = h->json_get(ev, "usage");
        int64_t out = br_int(h, u, "output_tokens", &found);
        if (found) {
            rs->out_tok = out;
            rs->have_usage = true;
        }
        gantry_str_t stop = br_get_str(h, h->json_get(ev, "delta"), "stop_reason");
        if (stop.len > 0)
            return br_emit_finish(c, br_finish_reason(stop));
        return GANTRY_CONTINUE;
    }
    if (br_str_eq(type, "message_stop")) {
        if (!rs->have_usage)
            br_metrics_read(c, ev);
        if (!rs->finish_sent) {
            gantry_action_t act = br_emit_finish(c, "stop");
            if (act != GANTRY_CONTINUE)
                return act;
        }
        return br_emit_end(c);
    }
    if (br_str_eq(type, "error")) {
        const gantry_json_t *e = h->json_get(ev, "error");
        gantry_str_t et = br_get_str(h, e, "type");
        gantry_str_t msg = GANTRY_STR_NULL;
        if (h->json_write(c->req, e, &msg) != GANTRY_OK)
            msg = GANTRY_STR_NULL;
        return br_fail_exception(c, et.len > 0 ? et : GANTRY_STR_LIT("api_error"), msg);
    }
    return GANTRY_CONTINUE; /* ping, content_block_stop, and whatever Anthropic adds */
}
