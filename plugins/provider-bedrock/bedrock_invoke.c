/*
 * The bedrock provider: the InvokeModel families that take one prompt string - Amazon Titan Text,
 * Meta Llama and Mistral.  The conversation is rendered with the family's chat template; tools,
 * images and structured output have no place in such a prompt and are refused (or dropped with
 * drop_params).  Their answers and stream chunks each have their own small shape.
 */
#include <stdio.h>

#include "bedrock.h"

/* A growing text in the arena. */
typedef struct tbuf {
    br_ctx_t *c;
    char *p;
    size_t len, cap;
} tbuf_t;

static void put(tbuf_t *b, const char *s, size_t n)
{
    if (b->c->oom || n == 0)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *np = b->c->host->alloc(b->c->req, cap);
        if (np == NULL) {
            b->c->oom = true;
            return;
        }
        if (b->len > 0)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(tbuf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void puts_str(tbuf_t *b, gantry_str_t s)
{
    put(b, s.ptr, s.len);
}

/* The text of a message: a string, or its text parts joined by newlines. */
static int message_text(br_ctx_t *c, const gantry_json_t *m, size_t mi, tbuf_t *out)
{
    const gantry_host_t *h = c->host;
    const gantry_json_t *content = h->json_get(m, "content");
    if (h->json_type(content) == GANTRY_JSON_STRING) {
        puts_str(out, h->json_string(content));
        return 0;
    }
    bool first = true;
    size_t pi = 0;
    for (const gantry_json_t *p = h->json_first(content); p != NULL; p = h->json_next(p), pi++) {
        if (!br_str_eq(br_get_str(h, p, "type"), "text")) {
            char what[64];
            snprintf(what, sizeof(what), "messages[%zu].content[%zu]", mi, pi);
            if (br_unsupported(c, what, "this model's prompt takes text only") != 0)
                return -1;
            continue;
        }
        if (!first)
            puts_(out, "\n");
        puts_str(out, br_get_str(h, p, "text"));
        first = false;
    }
    return 0;
}

typedef struct turn {
    int role; /* 0 system, 1 user, 2 assistant */
    size_t start, len;
} turn_t;

/* Every message's text into one buffer, with its role; tool turns are refused or dropped. */
static int collect(br_ctx_t *c, const gantry_json_t *msgs, tbuf_t *text, turn_t **turns,
                   size_t *nturns)
{
    const gantry_host_t *h = c->host;
    size_t n = h->json_count(msgs);
    *turns = h->alloc(c->req, (n + 1) * sizeof(**turns));
    *nturns = 0;
    if (*turns == NULL) {
        c->oom = true;
        return 0;
    }
    size_t mi = 0;
    for (const gantry_json_t *m = h->json_first(msgs); m != NULL; m = h->json_next(m), mi++) {
        gantry_str_t role = br_get_str(h, m, "role");
        int r;
        if (br_str_eq(role, "system") || br_str_eq(role, "developer"))
            r = 0;
        else if (br_str_eq(role, "user"))
            r = 1;
        else if (br_str_eq(role, "assistant"))
            r = 2;
        else {
            char what[48];
            snprintf(what, sizeof(what), "messages[%zu] (role %.*s)", mi,
                     (int)(role.len > 16 ? 16 : role.len), role.ptr != NULL ? role.ptr : "");
            if (br_unsupported(c, what, "tool turns need a model with tool use (converse/)") != 0)
                return -1;
            continue;
        }
        if (r == 2 && h->json_count(h->json_get(m, "tool_calls")) > 0 &&
            br_unsupported(c, "tool_calls", "this model's prompt has no tool calls") != 0)
            return -1;
        size_t start = text->len;
        if (message_text(c, m, mi, text) != 0)
            return -1;
        (*turns)[(*nturns)++] = (turn_t){r, start, text->len - start};
    }
    return 0;
}

static gantry_str_t seg(const tbuf_t *t, const turn_t *tu)
{
    return (gantry_str_t){t->p != NULL ? t->p + tu->start : "", tu->len};
}

/* Titan: "User: ...\nBot: ..." lines, ending with "Bot:" for the model to continue. */
static void titan_prompt(const tbuf_t *t, const turn_t *tu, size_t n, tbuf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (tu[i].role == 0) {
            puts_str(out, seg(t, &tu[i]));
            puts_(out, "\n\n");
        }
    }
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (tu[i].role == 0)
            continue;
        if (any)
            puts_(out, "\n");
        puts_(out, tu[i].role == 1 ? "User: " : "Bot: ");
        puts_str(out, seg(t, &tu[i]));
        any = true;
    }
    if (n == 0 || tu[n - 1].role != 2)
        puts_(out, any ? "\nBot:" : "Bot:");
}

/* Llama 3's chat template: header-delimited turns, then an open assistant header. */
static void llama_prompt(const tbuf_t *t, const turn_t *tu, size_t n, tbuf_t *out)
{
    static const char *const roles[] = {"system", "user", "assistant"};
    puts_(out, "<|begin_of_text|>");
    for (size_t i = 0; i < n; i++) {
        puts_(out, "<|start_header_id|>");
        puts_(out, roles[tu[i].role]);
        puts_(out, "<|end_header_id|>\n\n");
        puts_str(out, seg(t, &tu[i]));
        puts_(out, "<|eot_id|>");
    }
    puts_(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Mistral's instruction template; the system text opens the first instruction. */
static void mistral_prompt(const tbuf_t *t, const turn_t *tu, size_t n, tbuf_t *out)
{
    bool sys_done = false;
    puts_(out, "<s>");
    for (size_t i = 0; i < n; i++) {
        if (tu[i].role == 0)
            continue;
        if (tu[i].role == 1) {
            puts_(out, "[INST] ");
            if (!sys_done) {
                for (size_t k = 0; k < n; k++) {
                    if (tu[k].role == 0) {
                        puts_str(out, seg(t, &tu[k]));
                        puts_(out, "\n\n");
                    }
                }
                sys_done = true;
            }
            puts_str(out, seg(t, &tu[i]));
            puts_(out, " [/INST]");
        } else {
            puts_(out, " ");
            puts_str(out, seg(t, &tu[i]));
            puts_(out, "</s>");
        }
    }
}

static int refuse_extras(br_ctx_t *c, const gantry_json_t *body)
{
    const gantry_host_t *h = c->host;
    gantry_str_t rf = br_get_str(h, h->json_get(body, "response_format"), "type");
    if (h->json_count(h->json_get(body, "tools")) > 0 &&
        br_unsupported(c, "tools", "use the Converse API (bedrock/converse/...) for tool use") != 0)
        return -1;
    if (rf.len > 0 && !br_str_eq(rf, "text") && br_unsupported(c, "response_format", NULL) != 0)
        return -1;
    if (br_present(h, body, "thinking") && br_unsupported(c, "thinking", NULL) != 0)
        return -1;
    gantry_str_t effort = br_get_str(h, body, "reasoning_effort");
    if (effort.len > 0 && !br_str_eq(effort, "none") &&
        br_unsupported(c, "reasoning_effort", NULL) != 0)
        return -1;
    return 0;
}

static void stop_list(br_ctx_t *c, const gantry_json_t *body, gantry_json_t *obj, const char *key)
{
    const gantry_host_t *h = c->host;
    const gantry_json_t *stop = h->json_get(body, "stop");
    if (h->json_type(stop) == GANTRY_JSON_STRING) {
        br_push_str(c, br_arr(c, obj, key), h->json_string(stop));
    } else if (h->json_type(stop) == GANTRY_JSON_ARRAY && h->json_count(stop) > 0) {
        gantry_json_t *arr = br_arr(c, obj, key);
        for (const gantry_json_t *s = h->json_first(stop); s != NULL; s = h->json_next(s))
            br_push_str(c, arr, h->json_string(s));
    }
}

int br_prompt_family_body(br_ctx_t *c, const gantry_json_t *body, gantry_json_t **out_root)
{
    const gantry_host_t *h = c->host;
    tbuf_t text = {.c = c}, prompt = {.c = c};
    turn_t *turns;
    size_t n;
    double d;
    if (br_check_common_params(c, body) != 0 || refuse_extras(c, body) != 0)
        return -1;
    const gantry_json_t *msgs = h->json_get(body, "messages");
    if (h->json_type(msgs) != GANTRY_JSON_ARRAY) {
        br_bad_request(c, "messages must be an array");
        return -1;
    }
    if (collect(c, msgs, &text, &turns, &n) != 0)
        return -1;
    gantry_json_t *out = h->json_new(c->req, GANTRY_JSON_OBJECT);
    if (out == NULL || c->oom)
        return br_fail_oom(c);
    bool has_stop = br_present(h, body, "stop");
    bool has_top_k = br_present(h, body, "top_k");

    switch (c->family) {
    case BR_FAM_TITAN_TEXT: {
        titan_prompt(&text, turns, n, &prompt);
        br_set_str(c, out, "inputText", (gantry_str_t){prompt.p ? prompt.p : "", prompt.len});
        gantry_json_t *cfg = NULL;
#define CFG() (cfg != NULL ? cfg : (cfg = br_obj(c, out, "textGenerationConfig")))
        if (br_max_tokens(h, body, &d))
            br_set_num(c, CFG(), "maxTokenCount", d);
        if (br_get_num(h, body, "temperature", &d))
            br_set_num(c, CFG(), "temperature", d);
        if (br_get_num(h, body, "top_p", &d))
            br_set_num(c, CFG(), "topP", d);
        if (has_stop)
            stop_list(c, body, CFG(), "stopSequences");
#undef CFG
        if (has_top_k && br_unsupported(c, "top_k", NULL) != 0)
            return -1;
        break;
    }
    case BR_FAM_LLAMA:
        llama_prompt(&text, turns, n, &prompt);
        br_set_str(c, out, "prompt", (gantry_str_t){prompt.p ? prompt.p : "", prompt.len});
        if (br_max_tokens(h, body, &d))
            br_set_num(c, out, "max_gen_len", d);
        if (br_get_num(h, body, "temperature", &d))
            br_set_num(c, out, "temperature", d);
        if (br_get_num(h, body, "top_p", &d))
            br_set_num(c, out, "top_p", d);
        if (has_stop && br_unsupported(c, "stop", NULL) != 0)
            return -1;
        if (has_top_k && br_unsupported(c, "top_k", NULL) != 0)
            return -1;
        break;
    case BR_FAM_MISTRAL:
        mistral_prompt(&text, turns, n, &prompt);
        br_set_str(c, out, "prompt", (gantry_str_t){prompt.p ? prompt.p : "", prompt.len});
        if (br_max_tokens(h, body, &d))
            br_set_num(c, out, "max_tokens", d);
        if (br_get_num(h, body, "temperature", &d))
            br_set_num(c, out, "temperature", d);
        if (br_get_num(h, body, "top_p", &d))
            br_set_num(c, out, "top_p", d);
        if (br_get_num(h, body, "top_k", &d))
            br_set_num(c, out, "top_k", d);
        if (has_stop)
            stop_list(c, body, out, "stop");
        break;
    default:
        br_bad_request(c, "no native body for this model family");
        return -1;
    }
    /* Mistral answers carry no token counts: keep an estimate of the prompt's. */
    c->rs->est_in = (int64_t)((prompt.len + 3) / 4);
    if (c->oom)
        return br_fail_oom(c);
    *out_root = out;
    return 0;
}

/* ---- answers ---- */

static gantry_action_t finish_response(br_ctx_t *c, gantry_str_t text, gantry_str_t stop,
                                       int64_t in, int64_t out)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *message, *choice;
    gantry_json_t *resp = br_completion_new(c, &message, &choice);
    br_set_str(c, message, "content", text);
    br_set_cstr(c, choice, "finish_reason", br_finish_reason(stop));
    br_usage_fill(c, br_obj(c, resp, "usage"), in, out, 0, 0, false);
    if (c->oom) {
        br_fail_oom(c);
        return GANTRY_FAIL;
    }
    if (h->resp_set_take(c->req, resp) != GANTRY_OK)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not keep the response");
    return GANTRY_CONTINUE;
}

static gantry_action_t malformed(br_ctx_t *c)
{
    return c->host->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                             "the upstream answer does not have the model family's shape");
}

gantry_action_t br_prompt_family_response(br_ctx_t *c, gantry_json_t *root)
{
    const gantry_host_t *h = c->host;
    bool f;
    switch (c->family) {
    case BR_FAM_TITAN_TEXT: {
        const gantry_json_t *r = h->json_first(h->json_get(root, "results"));
        gantry_str_t text = br_get_str(h, r, "outputText");
        if (text.ptr == NULL)
            return malformed(c);
        return finish_response(c, text, br_get_str(h, r, "completionReason"),
                               br_int(h, root, "inputTextTokenCount", &f),
                               br_int(h, r, "tokenCount", &f));
    }
    case BR_FAM_LLAMA: {
        gantry_str_t text = br_get_str(h, root, "generation");
        if (text.ptr == NULL)
            return malformed(c);
        return finish_response(c, text, br_get_str(h, root, "stop_reason"),
                               br_int(h, root, "prompt_token_count", &f),
                               br_int(h, root, "generation_token_count", &f));
    }
    case BR_FAM_MISTRAL: {
        const gantry_json_t *o = h->json_first(h->json_get(root, "outputs"));
        gantry_str_t text = br_get_str(h, o, "text");
        if (text.ptr == NULL)
            return malformed(c);
        return finish_response(c, text, br_get_str(h, o, "stop_reason"), c->rs->est_in,
                               (int64_t)((text.len + 3) / 4));
    }
    default:
        return malformed(c);
    }
}

gantry_action_t br_prompt_family_chunk(br_ctx_t *c, gantry_json_t *root)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;
    gantry_str_t text = GANTRY_STR_NULL, stop = GANTRY_STR_NULL;
    bool f1, f2;
    switch (c->family) {
    case BR_FAM_TITAN_TEXT: {
        text = br_get_str(h, root, "outputText");
        stop = br_get_str(h, root, "completionReason");
        int64_t in = br_int(h, root, "inputTextTokenCount", &f1);
        int64_t out = br_int(h, root, "totalOutputTextTokenCount", &f2);
        if (f1 || f2) {
            rs->in_tok = in;
            rs->out_tok = out;
            rs->have_usage = true;
        }
        break;
    }
    case BR_FAM_LLAMA: {
        text = br_get_str(h, root, "generation");
        stop = br_get_str(h, root, "stop_reason");
        int64_t in = br_int(h, root, "prompt_token_count", &f1);
        int64_t out = br_int(h, root, "generation_token_count", &f2);
        if (f1)
            rs->in_tok = in;
        if (f2)
            rs->out_tok = out;
        rs->have_usage = rs->have_usage || f1 || f2;
        break;
    }
    case BR_FAM_MISTRAL: {
        const gantry_json_t *o = h->json_first(h->json_get(root, "outputs"));
        text = br_get_str(h, o, "text");
        stop = br_get_str(h, o, "stop_reason");
        break;
    }
    default:
        return malformed(c);
    }
    gantry_action_t act = text.len > 0 ? br_emit_text(c, "content", text) : br_emit_role(c);
    if (act != GANTRY_CONTINUE)
        return act;
    bool last = h->json_get(root, "amazon-bedrock-invocationMetrics") != NULL;
    br_metrics_read(c, root);
    if (stop.len > 0 && (act = br_emit_finish(c, br_finish_reason(stop))) != GANTRY_CONTINUE)
        return act;
    if (!last && stop.len == 0)
        return GANTRY_CONTINUE;
    /* The last chunk: the finish reason, then the usage, then the end. */
    if ((act = br_emit_finish(c, "stop")) != GANTRY_CONTINUE)
        return act;
    return br_emit_end(c);
}
