/*
 * anth_resp: the canonical response and stream chunks -> Anthropic Messages.  The canonical side
 * comes from a provider plugin that read it off the network, so every field is type-checked and
 * anything unexpected is skipped rather than trusted.
 */
#include <stdio.h>
#include <string.h>

#include "anth.h"

#define get cJSON_GetObjectItemCaseSensitive

const char *anth_error_type(int status, int cls)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        break;
    }
    /* Statuses Anthropic does not use: say what kind of failure it was. */
    if (cls == 4) /* GANTRY_ERR_RATE_LIMIT */
        return "rate_limit_error";
    if (cls == 2) /* GANTRY_ERR_AUTH */
        return "authentication_error";
    if (cls == 3) /* GANTRY_ERR_NOT_FOUND */
        return "not_found_error";
    return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
}

const char *anth_stop_reason(const char *fr)
{
    if (fr == NULL)
        return NULL;
    if (strcmp(fr, "length") == 0)
        return "max_tokens";
    if (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0)
        return "tool_use";
    if (strcmp(fr, "content_filter") == 0)
        return "refusal";
    return "end_turn";
}

/* A token count from the network: a number in a sane range, else 0. */
static int64_t count(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 1e15)
        return 0;
    return (int64_t)v->valuedouble;
}

typedef struct usage {
    int64_t input, output, cache_read, cache_creation;
} usage_t;

/* Canonical usage: prompt_tokens includes cache reads and writes; Anthropic's input_tokens does
 * not. */
static usage_t usage_of(const cJSON *u)
{
    usage_t x = {0};
    const cJSON *cr = get(u, "cache_read_input_tokens");
    x.cache_read =
        cr != NULL ? count(cr) : count(get(get(u, "prompt_tokens_details"), "cached_tokens"));
    x.cache_creation = count(get(u, "cache_creation_input_tokens"));
    x.input = count(get(u, "prompt_tokens")) - x.cache_read - x.cache_creation;
    if (x.input < 0)
        x.input = 0;
    x.output = count(get(u, "completion_tokens"));
    return x;
}

static bool put_usage(cJSON *o, const usage_t *u, bool with_input)
{
    cJSON *j = cJSON_AddObjectToObject(o, "usage");
    if (j == NULL)
        return false;
    bool ok = true;
    if (with_input)
        ok = cJSON_AddNumberToObject(j, "input_tokens", (double)u->input) != NULL;
    return ok && cJSON_AddNumberToObject(j, "output_tokens", (double)u->output) != NULL &&
           cJSON_AddNumberToObject(j, "cache_creation_input_tokens", (double)u->cache_creation) !=
               NULL &&
           cJSON_AddNumberToObject(j, "cache_read_input_tokens", (double)u->cache_read) != NULL;
}

/* cJSON_ArrayForEach over v when it is an array, else over nothing. */
static const cJSON *array_or_null(const cJSON *v)
{
    return cJSON_IsArray(v) ? v : NULL;
}

static const char *str_or(const cJSON *v, const char *dflt)
{
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* The first choice (Anthropic has exactly one), or NULL. */
static const cJSON *first_choice(const cJSON *canon)
{
    const cJSON *choices = get(canon, "choices");
    const cJSON *c = cJSON_IsArray(choices) ? choices->child : NULL;
    return cJSON_IsObject(c) ? c : NULL;
}

/* ---- a whole message ---- */

static bool add_block(cJSON *content, cJSON *b)
{
    if (b == NULL || !cJSON_AddItemToArray(content, b)) {
        cJSON_Delete(b);
        return false;
    }
    return true;
}

static cJSON *thinking_obj(const char *text, const char *sig)
{
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || cJSON_AddStringToObject(b, "type", "thinking") == NULL ||
        cJSON_AddStringToObject(b, "thinking", text) == NULL ||
        cJSON_AddStringToObject(b, "signature", sig) == NULL) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

static bool add_thinking(cJSON *content, const cJSON *msg)
{
    const cJSON *blocks = get(msg, "thinking_blocks"), *tb;
    bool any = false;
    cJSON_ArrayForEach(tb, array_or_null(blocks))
    {
        const cJSON *t = get(tb, "type");
        if (!cJSON_IsString(t))
            continue;
        cJSON *b = NULL;
        if (strcmp(t->valuestring, "thinking") == 0) {
            b = thinking_obj(str_or(get(tb, "thinking"), ""), str_or(get(tb, "signature"), ""));
        } else if (strcmp(t->valuestring, "redacted_thinking") == 0 &&
                   cJSON_IsString(get(tb, "data"))) {
            b = cJSON_CreateObject();
            if (b != NULL &&
                (cJSON_AddStringToObject(b, "type", "redacted_thinking") == NULL ||
                 cJSON_AddStringToObject(b, "data", get(tb, "data")->valuestring) == NULL)) {
                cJSON_Delete(b);
                b = NULL;
            }
        } else {
            continue;
        }
        if (!add_block(content, b))
            return false;
        any = true;
    }
    const cJSON *rc = get(msg, "reasoning_content");
    /* Reasoning without blocks (providers other than Anthropic's): a thinking block without a
     * signature, so clients that show thinking still see it. */
    if (!any && cJSON_IsString(rc) && rc->valuestring[0] != '\0')
        return add_block(content, thinking_obj(rc->valuestring, ""));
    return true;
}

static cJSON *text_obj(const char *text)
{
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || cJSON_AddStringToObject(b, "type", "text") == NULL ||
        cJSON_AddStringToObject(b, "text", text) == NULL) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

static bool add_text(cJSON *content, const cJSON *msg)
{
    const cJSON *c = get(msg, "content");
    if (cJSON_IsString(c))
        return c->valuestring[0] == '\0' || add_block(content, text_obj(c->valuestring));
    /* Some providers answer with an array of text parts: each becomes a text block. */
    const cJSON *p;
    cJSON_ArrayForEach(p, array_or_null(c))
    {
        const cJSON *t = get(p, "text");
        if (cJSON_IsString(t) && t->valuestring[0] != '\0' &&
            !add_block(content, text_obj(t->valuestring)))
            return false;
    }
    return true;
}

/* Tool arguments as an object: Anthropic's input is always one, so invalid JSON gives {}. */
static cJSON *input_of(const cJSON *args)
{
    cJSON *in = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        in = cJSON_CreateObject();
    }
    return in;
}

static cJSON *tool_use_obj(const char *id, const char *name, cJSON *input)
{
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || input == NULL || cJSON_AddStringToObject(b, "type", "tool_use") == NULL ||
        cJSON_AddStringToObject(b, "id", id) == NULL ||
        cJSON_AddStringToObject(b, "name", name) == NULL) {
        cJSON_Delete(b);
        cJSON_Delete(input);
        return NULL;
    }
    if (!cJSON_AddItemToObject(b, "input", input)) {
        cJSON_Delete(input);
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

static bool add_tools(cJSON *content, const cJSON *msg, const char *msg_id)
{
    const cJSON *calls = get(msg, "tool_calls"), *tc;
    int n = 0;
    cJSON_ArrayForEach(tc, array_or_null(calls))
    {
        const cJSON *fn = get(tc, "function");
        char gen[160];
        snprintf(gen, sizeof gen, "toolu_%.100s_%d", msg_id, n++);
        const char *id = str_or(get(tc, "id"), gen);
        if (!add_block(content, tool_use_obj(id[0] ? id : gen, str_or(get(fn, "name"), ""),
                                             input_of(get(fn, "arguments")))))
            return false;
    }
    return true;
}

cJSON *anth_from_canonical_response(const cJSON *canon, const char *id, const char *model)
{
    const cJSON *choice = first_choice(canon);
    const cJSON *msg = get(choice, "message");
    if (id == NULL)
        id = str_or(get(canon, "id"), "msg_gantry");
    if (model == NULL)
        model = str_or(get(canon, "model"), "");
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "id", id) == NULL ||
        cJSON_AddStringToObject(o, "type", "message") == NULL ||
        cJSON_AddStringToObject(o, "role", "assistant") == NULL ||
        cJSON_AddStringToObject(o, "model", model) == NULL)
        goto fail;
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    if (content == NULL || !add_thinking(content, msg) || !add_text(content, msg) ||
        !add_tools(content, msg, id))
        goto fail;
    const cJSON *seq = get(choice, "stop_sequence");
    const char *stop = anth_stop_reason(str_or(get(choice, "finish_reason"), "stop"));
    if (cJSON_IsString(seq))
        stop = "stop_sequence";
    if (cJSON_AddStringToObject(o, "stop_reason", stop) == NULL ||
        (cJSON_IsString(seq) ? cJSON_AddStringToObject(o, "stop_sequence", seq->valuestring)
                             : cJSON_AddNullToObject(o, "stop_sequence")) == NULL)
        goto fail;
    usage_t u = usage_of(get(canon, "usage"));
    if (!put_usage(o, &u, true))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* ---- streams ---- */

void anth_stream_init(anth_stream_t *s, const char *id, const char *model)
{
    memset(s, 0, sizeof *s);
    s->id = id ? id : "msg_gantry";
    s->model = model ? model : "";
    s->open_tool = -1;
    s->max_tool = -1;
}

/* Sends ev (taking it) through the callback. */
static int send(cJSON *ev, anth_emit_fn emit, void *ctx)
{
    if (ev == NULL)
        return -1;
    int rc = emit(ctx, ev);
    cJSON_Delete(ev);
    return rc;
}

static cJSON *event(const char *type)
{
    cJSON *ev = cJSON_CreateObject();
    if (ev != NULL && cJSON_AddStringToObject(ev, "type", type) == NULL) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

static usage_t stream_usage(const anth_stream_t *s)
{
    return (usage_t){s->input_tokens, s->output_tokens, s->cache_read, s->cache_creation};
}

static int message_start(anth_stream_t *s, anth_emit_fn emit, void *ctx)
{
    s->started = true;
    cJSON *ev = event("message_start");
    cJSON *m = cJSON_AddObjectToObject(ev, "message");
    usage_t u = stream_usage(s);
    u.output = 0;
    if (m == NULL || cJSON_AddStringToObject(m, "id", s->id) == NULL ||
        cJSON_AddStringToObject(m, "type", "message") == NULL ||
        cJSON_AddStringToObject(m, "role", "assistant") == NULL ||
        cJSON_AddStringToObject(m, "model", s->model) == NULL ||
        cJSON_AddArrayToObject(m, "content") == NULL ||
        cJSON_AddNullToObject(m, "stop_reason") == NULL ||
        cJSON_AddNullToObject(m, "stop_sequence") == NULL || !put_usage(m, &u, true)) {
        cJSON_Delete(ev);
        return -1;
    }
    int rc = send(ev, emit, ctx);
    /* Anthropic sends a ping right after message_start; some clients expect the rhythm. */
    return rc != 0 ? rc : send(event("ping"), emit, ctx);
}

static int close_block(anth_stream_t *s, anth_emit_fn emit, void *ctx)
{
    if (s->open == ANTH_BLK_NONE)
        return 0;
    s->open = ANTH_BLK_NONE;
    s->open_tool = -1;
    cJSON *ev = event("content_block_stop");
    if (ev != NULL && cJSON_AddNumberToObject(ev, "index", s->next_index - 1) == NULL) {
        cJSON_Delete(ev);
        ev = NULL;
    }
    return send(ev, emit, ctx);
}

/* content_block_start with block (taken); the new block is the open one. */
static int open_block(anth_stream_t *s, enum anth_block kind, cJSON *block, anth_emit_fn emit,
                      void *ctx)
{
    int rc = close_block(s, emit, ctx);
    if (rc != 0) {
        cJSON_Delete(block);
        return rc;
    }
    cJSON *ev = event("content_block_start");
    if (ev == NULL || block == NULL ||
        cJSON_AddNumberToObject(ev, "index", s->next_index) == NULL ||
        !cJSON_AddItemToObject(ev, "content_block", block)) {
        if (ev == NULL || get(ev, "content_block") != block)
            cJSON_Delete(block);
        cJSON_Delete(ev);
        return -1;
    }
    s->next_index++;
    s->open = kind;
    s->thinking_signed = false;
    return send(ev, emit, ctx);
}

/* content_block_delta of the open block: {"type": dtype, key: value}. */
static int block_delta(anth_stream_t *s, const char *dtype, const char *key, const char *value,
                       anth_emit_fn emit, void *ctx)
{
    cJSON *ev = event("content_block_delta");
    cJSON *d = cJSON_CreateObject();
    if (ev == NULL || d == NULL ||
        cJSON_AddNumberToObject(ev, "index", s->next_index - 1) == NULL ||
        cJSON_AddStringToObject(d, "type", dtype) == NULL ||
        cJSON_AddStringToObject(d, key, value) == NULL) {
        cJSON_Delete(d);
        cJSON_Delete(ev);
        return -1;
    }
    if (!cJSON_AddItemToObject(ev, "delta", d)) {
        cJSON_Delete(d);
        cJSON_Delete(ev);
        return -1;
    }
    return send(ev, emit, ctx);
}

/* Opens a thinking block unless one is open and can still take text. */
static int want_thinking(anth_stream_t *s, anth_emit_fn emit, void *ctx)
{
    if (s->open == ANTH_BLK_THINKING && !s->thinking_signed)
        return 0;
    return open_block(s, ANTH_BLK_THINKING, thinking_obj("", ""), emit, ctx);
}

static int thinking_text(anth_stream_t *s, const char *text, anth_emit_fn emit, void *ctx)
{
    int rc = want_thinking(s, emit, ctx);
    return rc != 0 ? rc : block_delta(s, "thinking_delta", "thinking", text, emit, ctx);
}

static int thinking_blocks(anth_stream_t *s, const cJSON *blocks, bool had_text, anth_emit_fn emit,
                           void *ctx)
{
    const cJSON *tb;
    int rc = 0;
    cJSON_ArrayForEach(tb, array_or_null(blocks))
    {
        const cJSON *t = get(tb, "type");
        if (!cJSON_IsString(t))
            continue;
        if (strcmp(t->valuestring, "redacted_thinking") == 0) {
            const cJSON *data = get(tb, "data");
            if (!cJSON_IsString(data))
                continue;
            cJSON *b = cJSON_CreateObject();
            if (b != NULL && (cJSON_AddStringToObject(b, "type", "redacted_thinking") == NULL ||
                              cJSON_AddStringToObject(b, "data", data->valuestring) == NULL)) {
                cJSON_Delete(b);
                b = NULL;
            }
            if ((rc = open_block(s, ANTH_BLK_THINKING, b, emit, ctx)) != 0 ||
                (rc = close_block(s, emit, ctx)) != 0)
                return rc;
            continue;
        }
        if (strcmp(t->valuestring, "thinking") != 0)
            continue;
        /* The text normally comes as reasoning_content; a block's own text is used only when
         * the chunk has none, so it is never shown twice. */
        const cJSON *th = get(tb, "thinking");
        if (!had_text && cJSON_IsString(th) && th->valuestring[0] != '\0' &&
            (rc = thinking_text(s, th->valuestring, emit, ctx)) != 0)
            return rc;
        const cJSON *sig = get(tb, "signature");
        if (cJSON_IsString(sig) && sig->valuestring[0] != '\0') {
            if ((rc = want_thinking(s, emit, ctx)) != 0 ||
                (rc = block_delta(s, "signature_delta", "signature", sig->valuestring, emit,
                                  ctx)) != 0)
                return rc;
            s->thinking_signed = true;
        }
    }
    return 0;
}

static int tool_calls(anth_stream_t *s, const cJSON *calls, anth_emit_fn emit, void *ctx)
{
    const cJSON *tc;
    int rc;
    cJSON_ArrayForEach(tc, array_or_null(calls))
    {
        const cJSON *ix = get(tc, "index"), *fn = get(tc, "function");
        int idx = cJSON_IsNumber(ix) && ix->valuedouble >= 0 && ix->valuedouble < 1e6
                      ? (int)ix->valuedouble
                      : (s->open == ANTH_BLK_TOOL ? s->open_tool : s->max_tool + 1);
        if (!(s->open == ANTH_BLK_TOOL && idx == s->open_tool)) {
            if (idx <= s->max_tool) {
                /* A fragment of a call whose block is closed: Anthropic blocks cannot reopen,
                 * and providers stream calls one after the other, so this is dropped. */
                continue;
            }
            char gen[160];
            snprintf(gen, sizeof gen, "toolu_%.100s_%d", s->id, s->tool_serial++);
            const char *id = str_or(get(tc, "id"), gen);
            cJSON *b =
                tool_use_obj(id[0] ? id : gen, str_or(get(fn, "name"), ""), cJSON_CreateObject());
            if ((rc = open_block(s, ANTH_BLK_TOOL, b, emit, ctx)) != 0)
                return rc;
            s->open_tool = idx;
            s->max_tool = idx;
        }
        const cJSON *args = get(fn, "arguments");
        if (cJSON_IsString(args) && args->valuestring[0] != '\0' &&
            (rc = block_delta(s, "input_json_delta", "partial_json", args->valuestring, emit,
                              ctx)) != 0)
            return rc;
    }
    return 0;
}

static int message_delta(anth_stream_t *s, anth_emit_fn emit, void *ctx)
{
    s->delta_sent = true;
    cJSON *ev = event("message_delta");
    cJSON *d = cJSON_AddObjectToObject(ev, "delta");
    usage_t u = stream_usage(s);
    const char *stop = s->stop_reason ? s->stop_reason : "end_turn";
    if (d == NULL || cJSON_AddStringToObject(d, "stop_reason", stop) == NULL ||
        (s->stop_sequence ? cJSON_AddStringToObject(d, "stop_sequence", s->stop_sequence)
                          : cJSON_AddNullToObject(d, "stop_sequence")) == NULL ||
        !put_usage(ev, &u, true)) {
        cJSON_Delete(ev);
        return -1;
    }
    return send(ev, emit, ctx);
}

int anth_stream_chunk(anth_stream_t *s, const cJSON *chunk, anth_emit_fn emit, void *ctx)
{
    if (s->stopped || s->delta_sent)
        return 0;
    int rc;
    const cJSON *usage = get(chunk, "usage");
    bool got_usage = cJSON_IsObject(usage);
    if (got_usage) {
        usage_t u = usage_of(usage);
        s->input_tokens = u.input;
        s->output_tokens = u.output;
        s->cache_read = u.cache_read;
        s->cache_creation = u.cache_creation;
        s->have_usage = true;
    }
    if (!s->started && (rc = message_start(s, emit, ctx)) != 0)
        return rc;
    const cJSON *choice = first_choice(chunk);
    const cJSON *delta = get(choice, "delta");
    if (cJSON_IsObject(delta)) {
        const cJSON *rc_text = get(delta, "reasoning_content");
        bool had_text = cJSON_IsString(rc_text) && rc_text->valuestring[0] != '\0';
        if (had_text && (rc = thinking_text(s, rc_text->valuestring, emit, ctx)) != 0)
            return rc;
        if ((rc = thinking_blocks(s, get(delta, "thinking_blocks"), had_text, emit, ctx)) != 0)
            return rc;
        const cJSON *text = get(delta, "content");
        if (cJSON_IsString(text) && text->valuestring[0] != '\0') {
            if (s->open != ANTH_BLK_TEXT &&
                (rc = open_block(s, ANTH_BLK_TEXT, text_obj(""), emit, ctx)) != 0)
                return rc;
            if ((rc = block_delta(s, "text_delta", "text", text->valuestring, emit, ctx)) != 0)
                return rc;
        }
        if ((rc = tool_calls(s, get(delta, "tool_calls"), emit, ctx)) != 0)
            return rc;
    }
    const cJSON *fr = get(choice, "finish_reason");
    if (cJSON_IsString(fr)) {
        if ((rc = close_block(s, emit, ctx)) != 0)
            return rc;
        s->stop_reason = anth_stop_reason(fr->valuestring);
        const cJSON *seq = get(choice, "stop_sequence");
        if (cJSON_IsString(seq)) {
            s->stop_reason = "stop_sequence";
            snprintf(s->stop_seq_buf, sizeof s->stop_seq_buf, "%s", seq->valuestring);
            s->stop_sequence = s->stop_seq_buf;
        }
    }
    /* The usage that follows the finish (or comes with it) is the final count. */
    if (got_usage && s->stop_reason != NULL)
        return message_delta(s, emit, ctx);
    return 0;
}

int anth_stream_finish(anth_stream_t *s, anth_emit_fn emit, void *ctx)
{
    if (s->stopped)
        return 0;
    int rc;
    if (!s->started && (rc = message_start(s, emit, ctx)) != 0)
        return rc;
    if ((rc = close_block(s, emit, ctx)) != 0)
        return rc;
    if (!s->delta_sent && (rc = message_delta(s, emit, ctx)) != 0)
        return rc;
    s->stopped = true;
    return send(event("message_stop"), emit, ctx);
}
