/*
 * brk_resp: the canonical response and stream chunks written back as Bedrock's Converse response
 * and ConverseStream events, and gateway errors in Bedrock's terms (x-amzn-errortype names,
 * event-stream exception messages).  The canonical input was produced by a provider from upstream
 * bytes, so nothing about its shape is trusted.
 */
#include <stdio.h>
#include <string.h>

#include <gantry/plugin.h>

#include "brk.h"
#include "evs.h"

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str_of(const cJSON *v)
{
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A token count: a finite non-negative number in range, else 0. */
static int64_t count(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9e15)
        return 0;
    return (int64_t)v->valuedouble;
}

/* ---- usage and stop reasons ---- */

void brk_usage_read(const cJSON *usage, brk_usage_t *u)
{
    memset(u, 0, sizeof *u);
    int64_t prompt = count(get(usage, "prompt_tokens"));
    u->output = count(get(usage, "completion_tokens"));
    const cJSON *cr = get(usage, "cache_read_input_tokens");
    const cJSON *cw = get(usage, "cache_creation_input_tokens");
    u->cache_read =
        cr ? count(cr) : count(get(get(usage, "prompt_tokens_details"), "cached_tokens"));
    u->cache_write = count(cw);
    u->has_cache = u->cache_read > 0 || u->cache_write > 0;
    /* The canonical prompt count includes cache reads and writes; Bedrock's inputTokens does not.
     */
    int64_t rest = prompt - u->cache_read - u->cache_write;
    u->input = rest > 0 ? rest : 0;
    u->total = u->input + u->cache_read + u->cache_write + u->output;
}

const char *brk_stop_reason(const char *finish_reason)
{
    if (finish_reason == NULL)
        return "end_turn";
    if (strcmp(finish_reason, "length") == 0)
        return "max_tokens";
    if (strcmp(finish_reason, "tool_calls") == 0 || strcmp(finish_reason, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish_reason, "content_filter") == 0)
        return "content_filtered";
    return "end_turn";
}

static bool add_usage(cJSON *parent, const brk_usage_t *u, unsigned flags)
{
    cJSON *o = cJSON_AddObjectToObject(parent, "usage");
    bool ok = o != NULL && cJSON_AddNumberToObject(o, "inputTokens", (double)u->input) &&
              cJSON_AddNumberToObject(o, "outputTokens", (double)u->output) &&
              cJSON_AddNumberToObject(o, "totalTokens", (double)u->total);
    if (ok && u->has_cache) {
        bool nova = flags & BRK_NOVA;
        ok =
            cJSON_AddNumberToObject(o, nova ? "cacheReadInputTokenCount" : "cacheReadInputTokens",
                                    (double)u->cache_read) &&
            cJSON_AddNumberToObject(o, nova ? "cacheWriteInputTokenCount" : "cacheWriteInputTokens",
                                    (double)u->cache_write);
    }
    return ok;
}

/* ---- Converse response ---- */

/* A {"reasoningContent": ...} block appended to content; its inner object, or NULL. */
static cJSON *add_reasoning_block(cJSON *content)
{
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || !cJSON_AddItemToArray(content, b)) {
        cJSON_Delete(b);
        return NULL;
    }
    return cJSON_AddObjectToObject(b, "reasoningContent");
}

static bool reasoning_blocks(const cJSON *msg, cJSON *content)
{
    const cJSON *blocks = get(msg, "thinking_blocks"), *b;
    bool any = false;
    cJSON_ArrayForEach(b, blocks)
    {
        const char *type = str_of(get(b, "type"));
        const char *text = str_of(get(b, "thinking")), *sig = str_of(get(b, "signature"));
        const char *data = str_of(get(b, "data"));
        if (type != NULL && strcmp(type, "thinking") == 0 && text != NULL) {
            cJSON *rc = add_reasoning_block(content);
            cJSON *rt = rc ? cJSON_AddObjectToObject(rc, "reasoningText") : NULL;
            if (rt == NULL || !cJSON_AddStringToObject(rt, "text", text) ||
                (sig && !cJSON_AddStringToObject(rt, "signature", sig)))
                return false;
            any = true;
        } else if (type != NULL && strcmp(type, "redacted_thinking") == 0 && data != NULL) {
            cJSON *rc = add_reasoning_block(content);
            if (rc == NULL || !cJSON_AddStringToObject(rc, "redactedContent", data))
                return false;
            any = true;
        }
    }
    const char *rtext = str_of(get(msg, "reasoning_content"));
    if (!any && rtext != NULL && rtext[0] != '\0') {
        cJSON *rc = add_reasoning_block(content);
        cJSON *rt = rc ? cJSON_AddObjectToObject(rc, "reasoningText") : NULL;
        if (rt == NULL || !cJSON_AddStringToObject(rt, "text", rtext))
            return false;
    }
    return true;
}

static bool add_text_block(cJSON *content, const char *text)
{
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || !cJSON_AddItemToArray(content, b)) {
        cJSON_Delete(b);
        return false;
    }
    return cJSON_AddStringToObject(b, "text", text) != NULL;
}

static bool text_blocks(const cJSON *msg, cJSON *content)
{
    const cJSON *c = get(msg, "content"), *p;
    if (cJSON_IsString(c))
        return c->valuestring[0] == '\0' || add_text_block(content, c->valuestring);
    cJSON_ArrayForEach(p, (cJSON_IsArray(c) ? c : NULL))
    {
        const char *t = str_of(get(p, "text"));
        if (t != NULL && !add_text_block(content, t))
            return false;
    }
    return true;
}

/* Tool arguments are JSON text; Bedrock's toolUse.input is the document itself. */
static cJSON *tool_input(const char *args)
{
    cJSON *j = args && args[0] ? cJSON_Parse(args) : cJSON_CreateObject();
    return j != NULL ? j : cJSON_CreateString(args);
}

static bool tool_blocks(const cJSON *msg, cJSON *content)
{
    const cJSON *tc;
    cJSON_ArrayForEach(tc, get(msg, "tool_calls"))
    {
        const cJSON *fn = get(tc, "function");
        const char *id = str_of(get(tc, "id")), *name = str_of(get(fn, "name"));
        cJSON *b = cJSON_CreateObject();
        if (b == NULL || !cJSON_AddItemToArray(content, b)) {
            cJSON_Delete(b);
            return false;
        }
        cJSON *tu = cJSON_AddObjectToObject(b, "toolUse");
        cJSON *input = tool_input(str_of(get(fn, "arguments")));
        if (tu == NULL || !cJSON_AddStringToObject(tu, "toolUseId", id ? id : "") ||
            !cJSON_AddStringToObject(tu, "name", name ? name : "") || input == NULL ||
            !cJSON_AddItemToObject(tu, "input", input)) {
            cJSON_Delete(input);
            return false;
        }
    }
    return true;
}

cJSON *brk_converse_response(const cJSON *canon, int64_t latency_ms, unsigned flags)
{
    const cJSON *choice = cJSON_GetArrayItem(get(canon, "choices"), 0);
    const cJSON *msg = get(choice, "message");
    cJSON *root = cJSON_CreateObject();
    cJSON *out = cJSON_AddObjectToObject(root, "output");
    cJSON *m = out ? cJSON_AddObjectToObject(out, "message") : NULL;
    cJSON *content = NULL;
    if (m == NULL || !cJSON_AddStringToObject(m, "role", "assistant") ||
        (content = cJSON_AddArrayToObject(m, "content")) == NULL)
        goto fail;
    if (!reasoning_blocks(msg, content) || !text_blocks(msg, content) || !tool_blocks(msg, content))
        goto fail;
    if (cJSON_GetArraySize(content) == 0 && !add_text_block(content, ""))
        goto fail;
    /* Agents run tools when stopReason says tool_use: a provider that called tools but said
     * "stop" (or nothing) must not hide them. */
    const char *finish = str_of(get(choice, "finish_reason"));
    if ((finish == NULL || strcmp(finish, "stop") == 0) &&
        cJSON_GetArraySize(get(msg, "tool_calls")) > 0)
        finish = "tool_calls";
    brk_usage_t u;
    brk_usage_read(get(canon, "usage"), &u);
    if (!cJSON_AddStringToObject(root, "stopReason", brk_stop_reason(finish)) ||
        !add_usage(root, &u, flags))
        goto fail;
    if (latency_ms >= 0) {
        cJSON *mt = cJSON_AddObjectToObject(root, "metrics");
        if (mt == NULL || !cJSON_AddNumberToObject(mt, "latencyMs", (double)latency_ms))
            goto fail;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

/* ---- ConverseStream ---- */

void brk_stream_init(brk_stream_t *s, unsigned flags)
{
    memset(s, 0, sizeof *s);
    s->flags = flags;
    s->open_tool = -1;
    for (int i = 0; i < BRK_MAX_TOOLS; i++)
        s->tool_block[i] = -1;
}

/* Build {key: value...} payloads and hand them over; each returns 0, -1 or the callback's code. */
static int emit_payload(brk_emit_fn emit, void *ctx, const char *type, cJSON *payload)
{
    int rc = payload != NULL ? emit(ctx, type, payload) : -1;
    cJSON_Delete(payload);
    return rc;
}

static int emit_index_only(brk_stream_t *s, const char *type, int index, brk_emit_fn emit,
                           void *ctx)
{
    (void)s;
    cJSON *p = cJSON_CreateObject();
    if (p != NULL && !cJSON_AddNumberToObject(p, "contentBlockIndex", index)) {
        cJSON_Delete(p);
        p = NULL;
    }
    return emit_payload(emit, ctx, type, p);
}

static int ensure_started(brk_stream_t *s, brk_emit_fn emit, void *ctx)
{
    if (s->started)
        return 0;
    s->started = true;
    cJSON *p = cJSON_CreateObject();
    if (p != NULL && !cJSON_AddStringToObject(p, "role", "assistant")) {
        cJSON_Delete(p);
        p = NULL;
    }
    return emit_payload(emit, ctx, "messageStart", p);
}

static int close_block(brk_stream_t *s, brk_emit_fn emit, void *ctx)
{
    if (s->open == BRK_BLK_NONE)
        return 0;
    s->open = BRK_BLK_NONE;
    s->open_tool = -1;
    return emit_index_only(s, "contentBlockStop", s->open_index, emit, ctx);
}

/* Make a text or reasoning block the open one (closing another); its index. */
static int open_block(brk_stream_t *s, enum brk_block kind, brk_emit_fn emit, void *ctx, int *rc)
{
    *rc = 0;
    if (s->open == kind)
        return s->open_index;
    *rc = close_block(s, emit, ctx);
    s->open = kind;
    s->open_index = s->next_index++;
    return s->open_index;
}

/* contentBlockDelta {"delta": {key: value}} or {"delta": {outer: {key: value}}}. */
static int emit_delta(int index, const char *outer, const char *key, const char *value,
                      brk_emit_fn emit, void *ctx)
{
    cJSON *p = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(p, "delta");
    cJSON *in = outer && d ? cJSON_AddObjectToObject(d, outer) : d;
    if (in == NULL || !cJSON_AddStringToObject(in, key, value) ||
        !cJSON_AddNumberToObject(p, "contentBlockIndex", index)) {
        cJSON_Delete(p);
        p = NULL;
    }
    return emit_payload(emit, ctx, "contentBlockDelta", p);
}

static int reasoning_delta(brk_stream_t *s, const char *key, const char *value, brk_emit_fn emit,
                           void *ctx)
{
    int rc;
    int idx = open_block(s, BRK_BLK_REASONING, emit, ctx, &rc);
    return rc ? rc : emit_delta(idx, "reasoningContent", key, value, emit, ctx);
}

static int thinking_deltas(brk_stream_t *s, const cJSON *delta, bool had_text, brk_emit_fn emit,
                           void *ctx)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, get(delta, "thinking_blocks"))
    {
        const char *type = str_of(get(b, "type"));
        const char *text = str_of(get(b, "thinking")), *sig = str_of(get(b, "signature"));
        const char *data = str_of(get(b, "data"));
        int rc = 0;
        if (type != NULL && strcmp(type, "redacted_thinking") == 0 && data != NULL) {
            rc = reasoning_delta(s, "redactedContent", data, emit, ctx);
        } else {
            /* The text normally came as reasoning_content in the same delta; never twice. */
            if (!had_text && text != NULL && text[0] != '\0')
                rc = reasoning_delta(s, "text", text, emit, ctx);
            if (rc == 0 && sig != NULL && sig[0] != '\0')
                rc = reasoning_delta(s, "signature", sig, emit, ctx);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int start_tool(brk_stream_t *s, int idx, const char *id, const char *name, brk_emit_fn emit,
                      void *ctx)
{
    int rc = close_block(s, emit, ctx);
    if (rc != 0)
        return rc;
    char gen[48];
    if (id == NULL || id[0] == '\0') {
        snprintf(gen, sizeof gen, "tooluse_gantry_%d", ++s->tool_serial);
        id = gen;
    }
    s->open = BRK_BLK_TOOL;
    s->saw_tool = true;
    s->open_tool = idx;
    s->open_index = s->next_index++;
    if (idx >= 0 && idx < BRK_MAX_TOOLS)
        s->tool_block[idx] = s->open_index;
    cJSON *p = cJSON_CreateObject();
    cJSON *st = cJSON_AddObjectToObject(p, "start");
    cJSON *tu = st ? cJSON_AddObjectToObject(st, "toolUse") : NULL;
    if (tu == NULL || !cJSON_AddStringToObject(tu, "toolUseId", id) ||
        !cJSON_AddStringToObject(tu, "name", name ? name : "") ||
        !cJSON_AddNumberToObject(p, "contentBlockIndex", s->open_index)) {
        cJSON_Delete(p);
        p = NULL;
    }
    return emit_payload(emit, ctx, "contentBlockStart", p);
}

static int tool_deltas(brk_stream_t *s, const cJSON *delta, brk_emit_fn emit, void *ctx)
{
    const cJSON *tc;
    cJSON_ArrayForEach(tc, get(delta, "tool_calls"))
    {
        const cJSON *fn = get(tc, "function"), *ix = get(tc, "index");
        int idx = cJSON_IsNumber(ix) && ix->valuedouble >= 0 && ix->valuedouble < BRK_MAX_TOOLS
                      ? (int)ix->valuedouble
                      : 0;
        const char *id = str_of(get(tc, "id")), *name = str_of(get(fn, "name"));
        const char *args = str_of(get(fn, "arguments"));
        bool is_open = s->open == BRK_BLK_TOOL && s->open_tool == idx;
        int rc = 0, block;
        if (!is_open && (id != NULL || name != NULL || s->tool_block[idx] < 0)) {
            /* A new call (or a fragment of one never announced): a new block. */
            rc = start_tool(s, idx, id, name, emit, ctx);
            block = s->open_index;
        } else {
            /* A fragment of the open call, or of an earlier one (interleaved): its own index. */
            block = is_open ? s->open_index : s->tool_block[idx];
        }
        if (rc == 0 && args != NULL && args[0] != '\0')
            rc = emit_delta(block, "toolUse", "input", args, emit, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int emit_stop(brk_stream_t *s, brk_emit_fn emit, void *ctx)
{
    int rc = close_block(s, emit, ctx);
    if (rc != 0)
        return rc;
    s->stopped = true;
    cJSON *p = cJSON_CreateObject();
    if (p != NULL && !cJSON_AddStringToObject(p, "stopReason", s->stop_reason)) {
        cJSON_Delete(p);
        p = NULL;
    }
    return emit_payload(emit, ctx, "messageStop", p);
}

int brk_stream_chunk(brk_stream_t *s, const cJSON *chunk, brk_emit_fn emit, void *ctx)
{
    if (s->finished)
        return 0;
    const cJSON *usage = get(chunk, "usage");
    if (cJSON_IsObject(usage)) {
        brk_usage_read(usage, &s->usage);
        s->have_usage = true;
    }
    /* Only the first choice: Bedrock has one output message. */
    const cJSON *choice = NULL, *c;
    cJSON_ArrayForEach(c, get(chunk, "choices"))
    {
        const cJSON *ix = get(c, "index");
        if (!cJSON_IsNumber(ix) || ix->valuedouble == 0) {
            choice = c;
            break;
        }
    }
    if (choice == NULL || s->stopped)
        return 0;
    int rc = ensure_started(s, emit, ctx);
    const cJSON *delta = get(choice, "delta");
    const char *rtext = str_of(get(delta, "reasoning_content"));
    bool had_text = rtext != NULL && rtext[0] != '\0';
    if (rc == 0 && had_text)
        rc = reasoning_delta(s, "text", rtext, emit, ctx);
    if (rc == 0)
        rc = thinking_deltas(s, delta, had_text, emit, ctx);
    const char *text = str_of(get(delta, "content"));
    if (rc == 0 && text != NULL && text[0] != '\0') {
        int idx = open_block(s, BRK_BLK_TEXT, emit, ctx, &rc);
        if (rc == 0)
            rc = emit_delta(idx, NULL, "text", text, emit, ctx);
    }
    if (rc == 0)
        rc = tool_deltas(s, delta, emit, ctx);
    const char *finish = str_of(get(choice, "finish_reason"));
    if (rc == 0 && finish != NULL) {
        s->stop_reason =
            brk_stop_reason(s->saw_tool && strcmp(finish, "stop") == 0 ? "tool_calls" : finish);
        rc = emit_stop(s, emit, ctx);
    }
    return rc;
}

int brk_stream_finish(brk_stream_t *s, int64_t latency_ms, brk_emit_fn emit, void *ctx)
{
    if (s->finished)
        return 0;
    int rc = ensure_started(s, emit, ctx);
    if (rc == 0 && !s->stopped) {
        if (s->stop_reason == NULL)
            s->stop_reason = s->saw_tool ? "tool_use" : "end_turn";
        rc = emit_stop(s, emit, ctx);
    }
    s->finished = true;
    if (rc != 0)
        return rc;
    cJSON *p = cJSON_CreateObject();
    cJSON *mt = NULL;
    if (p == NULL || !add_usage(p, &s->usage, s->flags) ||
        (mt = cJSON_AddObjectToObject(p, "metrics")) == NULL ||
        !cJSON_AddNumberToObject(mt, "latencyMs", (double)(latency_ms > 0 ? latency_ms : 0))) {
        cJSON_Delete(p);
        p = NULL;
    }
    return emit_payload(emit, ctx, "metadata", p);
}

/* ---- errors ---- */

void brk_error_map(int status, int cls, bool upstream, bool invoke, brk_errmap_t *m)
{
    switch (cls) {
    case GANTRY_ERR_AUTH:
        if (status == 401 && !upstream) {
            /* What Bedrock answers for a key it does not know (HTTP 403). */
            *m = (brk_errmap_t){403, "UnrecognizedClientException", "validationException"};
        } else {
            *m = (brk_errmap_t){403, "AccessDeniedException", "validationException"};
        }
        return;
    case GANTRY_ERR_NOT_FOUND:
        *m = (brk_errmap_t){404, "ResourceNotFoundException", "validationException"};
        return;
    case GANTRY_ERR_RATE_LIMIT:
        *m = (brk_errmap_t){429, "ThrottlingException", "throttlingException"};
        return;
    case GANTRY_ERR_BUDGET:
        *m = (brk_errmap_t){400, "ServiceQuotaExceededException", "throttlingException"};
        return;
    case GANTRY_ERR_TIMEOUT:
        *m = (brk_errmap_t){408, "ModelTimeoutException",
                            invoke ? "modelTimeoutException" : "modelStreamErrorException"};
        return;
    case GANTRY_ERR_SERVER:
        if (status == 503)
            *m = (brk_errmap_t){503, "ServiceUnavailableException", "serviceUnavailableException"};
        else
            *m = (brk_errmap_t){424, "ModelErrorException", "modelStreamErrorException"};
        return;
    case GANTRY_ERR_CONNECT:
        *m = (brk_errmap_t){503, "ServiceUnavailableException", "serviceUnavailableException"};
        return;
    case GANTRY_ERR_BAD_REQUEST:
    case GANTRY_ERR_CONTEXT_WINDOW:
    case GANTRY_ERR_CONTENT_POLICY:
    case GANTRY_ERR_GUARDRAIL:
        if (status == 403) /* a policy's refusal */
            *m = (brk_errmap_t){403, "AccessDeniedException", "validationException"};
        else
            *m = (brk_errmap_t){status >= 400 && status < 500 ? status : 400, "ValidationException",
                                "validationException"};
        return;
    default:
        *m = (brk_errmap_t){500, "InternalServerException", "internalServerException"};
        return;
    }
}

int brk_error_json(buf_t *out, const char *msg, size_t len)
{
    char *m = cJSON_malloc(len + 1);
    if (m == NULL)
        return -1;
    memcpy(m, msg ? msg : "", msg ? len : 0);
    m[msg ? len : 0] = '\0';
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o != NULL && cJSON_AddStringToObject(o, "message", m) != NULL)
        s = cJSON_PrintUnformatted(o);
    cJSON_free(m);
    cJSON_Delete(o);
    int rc = s ? buf_appendz(out, s) : -1;
    cJSON_free(s);
    return rc;
}

int brk_evs_event(buf_t *out, const char *event_type, const cJSON *payload)
{
    char *s = cJSON_PrintUnformatted(payload);
    if (s == NULL)
        return -1;
    evs_kv_t h[] = {
        {":event-type", event_type, strlen(event_type)},
        {":content-type", "application/json", 16},
        {":message-type", "event", 5},
    };
    int rc = evs_encode(out, h, 3, s, strlen(s));
    cJSON_free(s);
    return rc;
}

int brk_evs_exception(buf_t *out, const char *exception_type, const char *msg, size_t len,
                      int status)
{
    buf_t body = {0};
    int rc = brk_error_json(&body, msg, len);
    if (rc == 0 && status > 0 && strcmp(exception_type, "modelStreamErrorException") == 0) {
        /* {"message":...} -> {"message":...,"originalStatusCode":N} */
        char tail[48];
        int n = snprintf(tail, sizeof tail, ",\"originalStatusCode\":%d}", status);
        body.len--;
        rc = buf_append(&body, tail, (size_t)n);
    }
    if (rc == 0) {
        evs_kv_t h[] = {
            {":exception-type", exception_type, strlen(exception_type)},
            {":content-type", "application/json", 16},
            {":message-type", "exception", 9},
        };
        rc = evs_encode(out, h, 3, body.ptr, body.len);
    }
    buf_free(&body);
    return rc;
}

int brk_b64_append(buf_t *out, const void *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = p;
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < n)
            v |= b[i + 2];
        q[0] = tab[(v >> 18) & 63];
        q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        if (buf_append(out, q, 4) != 0)
            return -1;
    }
    return 0;
}
