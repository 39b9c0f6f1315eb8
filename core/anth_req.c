/*
 * anth_req: an Anthropic Messages request body -> the canonical (OpenAI chat) request.  Everything
 * is checked before it is used, because every byte comes from a client; a request we cannot
 * represent faithfully is refused with a 400 that names the field, never guessed at.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anth.h"

#define get cJSON_GetObjectItemCaseSensitive

/* Longest field path we name in a message ("messages.12.content.3.content.1"). */
#define WHERE_MAX 128

__attribute__((format(printf, 3, 4))) static int bad(anth_err_t *e, const char *param,
                                                     const char *fmt, ...)
{
    e->status = 400;
    e->type = "invalid_request_error";
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(anth_err_t *e)
{
    e->status = 500;
    e->type = "api_error";
    e->param = NULL;
    snprintf(e->message, sizeof e->message, "out of memory translating the request");
    return -1;
}

static bool is_type(const cJSON *o, const char *type)
{
    const cJSON *t = get(o, "type");
    return cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *t = get(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* Adds item to obj under key; false (item freed) when either is missing. */
static bool put(cJSON *obj, const char *key, cJSON *item)
{
    if (obj == NULL || item == NULL || !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool push(cJSON *arr, cJSON *item)
{
    if (arr == NULL || item == NULL || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool put_str(cJSON *obj, const char *key, const char *s)
{
    return put(obj, key, cJSON_CreateString(s));
}

/*
 * Copies src's cache_control to dst.  1 when there was one, 0 when not, -1 when it is not an
 * object (*e filled) or memory ran out.
 */
static int copy_cache_control(cJSON *dst, const cJSON *src, const char *where, anth_err_t *e)
{
    const cJSON *cc = get(src, "cache_control");
    if (cc == NULL || cJSON_IsNull(cc))
        return 0;
    if (!cJSON_IsObject(cc) || !cJSON_IsString(get(cc, "type")))
        return bad(e, "messages", "%s.cache_control: expected an object with a string 'type'.",
                   where);
    return put(dst, "cache_control", cJSON_Duplicate(cc, true)) ? 1 : oom(e);
}

/* "data:<media type>;base64,<data>", as canonical image and file parts carry inline bytes. */
static cJSON *data_url(const char *media_type, const char *data)
{
    size_t mlen = strlen(media_type), dlen = strlen(data);
    char *s = malloc(mlen + dlen + 14);
    if (s == NULL)
        return NULL;
    memcpy(s, "data:", 5);
    memcpy(s + 5, media_type, mlen);
    memcpy(s + 5 + mlen, ";base64,", 8);
    memcpy(s + 13 + mlen, data, dlen + 1);
    cJSON *v = cJSON_CreateString(s);
    free(s);
    return v;
}

/* A new part object {"type": type}. */
static cJSON *new_part(const char *type)
{
    cJSON *p = cJSON_CreateObject();
    if (p != NULL && !put_str(p, "type", type)) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

static int add_text_part(cJSON *parts, const char *text, const cJSON *block, const char *where,
                         anth_err_t *e)
{
    cJSON *p = new_part("text");
    if (p == NULL || !put_str(p, "text", text)) {
        cJSON_Delete(p);
        return oom(e);
    }
    if (block != NULL && copy_cache_control(p, block, where, e) < 0) {
        cJSON_Delete(p);
        return -1;
    }
    return push(parts, p) ? 0 : oom(e);
}

/* {"type":"text","text"} -> a text part. */
static int text_block(const cJSON *b, const char *where, cJSON *parts, anth_err_t *e)
{
    const cJSON *text = get(b, "text");
    if (!cJSON_IsString(text))
        return bad(e, "messages", "%s.text: Field required (a string).", where);
    return add_text_part(parts, text->valuestring, b, where, e);
}

/* An image block -> {"type":"image_url","image_url":{"url"}}. */
static int image_block(const cJSON *b, const char *where, cJSON *parts, anth_err_t *e)
{
    const cJSON *src = get(b, "source");
    if (!cJSON_IsObject(src))
        return bad(e, "messages", "%s.source: Field required (an object).", where);
    cJSON *url;
    if (is_type(src, "base64")) {
        const cJSON *mt = get(src, "media_type"), *data = get(src, "data");
        if (!cJSON_IsString(mt) || !cJSON_IsString(data))
            return bad(e, "messages",
                       "%s.source: a base64 source needs string 'media_type' and 'data'.", where);
        if (strncmp(mt->valuestring, "image/", 6) != 0)
            return bad(e, "messages", "%s.source.media_type: '%.40s' is not an image type.", where,
                       mt->valuestring);
        url = data_url(mt->valuestring, data->valuestring);
    } else if (is_type(src, "url")) {
        const cJSON *u = get(src, "url");
        if (!cJSON_IsString(u) || u->valuestring[0] == '\0')
            return bad(e, "messages", "%s.source.url: Field required (a string).", where);
        url = cJSON_CreateString(u->valuestring);
    } else {
        return bad(e, "messages",
                   "%s.source.type: only 'base64' and 'url' image sources are supported.", where);
    }
    cJSON *p = new_part("image_url");
    cJSON *iu = cJSON_CreateObject();
    if (!put(iu, "url", url) || !put(p, "image_url", iu)) {
        cJSON_Delete(p);
        return oom(e);
    }
    if (copy_cache_control(p, b, where, e) < 0) {
        cJSON_Delete(p);
        return -1;
    }
    return push(parts, p) ? 0 : oom(e);
}

static int user_block(const cJSON *b, const char *where, cJSON *parts, anth_err_t *e);

/*
 * A document block: a base64 PDF becomes a file part; plain-text and content sources become text
 * parts (the model sees the same words).  URL and Files-API sources have no canonical form.
 */
static int document_block(const cJSON *b, const char *where, cJSON *parts, anth_err_t *e)
{
    const cJSON *src = get(b, "source");
    if (!cJSON_IsObject(src))
        return bad(e, "messages", "%s.source: Field required (an object).", where);
    if (is_type(src, "base64")) {
        const cJSON *mt = get(src, "media_type"), *data = get(src, "data");
        if (!cJSON_IsString(mt) || !cJSON_IsString(data))
            return bad(e, "messages",
                       "%s.source: a base64 source needs string 'media_type' and 'data'.", where);
        cJSON *p = new_part("file");
        cJSON *f = cJSON_CreateObject();
        if (!put(f, "file_data", data_url(mt->valuestring, data->valuestring))) {
            cJSON_Delete(f);
            cJSON_Delete(p);
            return oom(e);
        }
        const cJSON *title = get(b, "title");
        if (cJSON_IsString(title) && !put_str(f, "filename", title->valuestring)) {
            cJSON_Delete(f);
            cJSON_Delete(p);
            return oom(e);
        }
        if (!put(p, "file", f)) {
            cJSON_Delete(p);
            return oom(e);
        }
        if (copy_cache_control(p, b, where, e) < 0) {
            cJSON_Delete(p);
            return -1;
        }
        return push(parts, p) ? 0 : oom(e);
    }
    if (is_type(src, "text")) {
        const cJSON *data = get(src, "data");
        if (!cJSON_IsString(data))
            return bad(e, "messages", "%s.source.data: Field required (a string).", where);
        return add_text_part(parts, data->valuestring, b, where, e);
    }
    if (is_type(src, "content")) {
        const cJSON *c = get(src, "content");
        if (cJSON_IsString(c))
            return add_text_part(parts, c->valuestring, b, where, e);
        if (!cJSON_IsArray(c))
            return bad(e, "messages", "%s.source.content: expected a string or an array.", where);
        const cJSON *inner;
        int k = 0;
        cJSON_ArrayForEach(inner, c)
        {
            char w[WHERE_MAX];
            snprintf(w, sizeof w, "%.80s.source.content.%d", where, k++);
            if (!is_type(inner, "text") && !is_type(inner, "image"))
                return bad(e, "messages", "%s: only text and image blocks may appear here.", w);
            if (user_block(inner, w, parts, e) != 0)
                return -1;
        }
        return 0;
    }
    return bad(e, "messages",
               "%s.source.type: only 'base64', 'text' and 'content' document sources are "
               "supported.",
               where);
}

/* A content block of a user message (or of a tool result) other than tool_result. */
static int user_block(const cJSON *b, const char *where, cJSON *parts, anth_err_t *e)
{
    const char *t = type_of(b);
    if (!cJSON_IsObject(b) || t == NULL)
        return bad(e, "messages", "%s: expected an object with a string 'type'.", where);
    if (strcmp(t, "text") == 0)
        return text_block(b, where, parts, e);
    if (strcmp(t, "image") == 0)
        return image_block(b, where, parts, e);
    if (strcmp(t, "document") == 0)
        return document_block(b, where, parts, e);
    return bad(e, "messages", "%s.type: content blocks of type '%.40s' are not supported here.",
               where, t);
}

/* True when parts is one text part without cache_control, which reads best as a plain string. */
static bool plain_text(const cJSON *parts)
{
    const cJSON *p = parts ? parts->child : NULL;
    return p != NULL && p->next == NULL && is_type(p, "text") && get(p, "cache_control") == NULL;
}

/* parts, or its single plain text as a string (parts is consumed either way). */
static cJSON *simplify(cJSON *parts)
{
    if (!plain_text(parts))
        return parts;
    cJSON *s = cJSON_CreateString(get(parts->child, "text")->valuestring);
    cJSON_Delete(parts);
    return s;
}

/* A tool_result block -> {"role":"tool","tool_call_id","content"} appended to msgs. */
static int tool_result(const cJSON *b, const char *where, cJSON *msgs, anth_err_t *e)
{
    const cJSON *id = get(b, "tool_use_id");
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0')
        return bad(e, "messages", "%s.tool_use_id: Field required (a string).", where);
    const cJSON *c = get(b, "content");
    cJSON *content;
    if (c == NULL || cJSON_IsNull(c)) {
        content = cJSON_CreateString("");
    } else if (cJSON_IsString(c)) {
        content = cJSON_CreateString(c->valuestring);
    } else if (cJSON_IsArray(c)) {
        cJSON *parts = cJSON_CreateArray();
        if (parts == NULL)
            return oom(e);
        const cJSON *inner;
        int k = 0;
        cJSON_ArrayForEach(inner, c)
        {
            char w[WHERE_MAX];
            snprintf(w, sizeof w, "%.80s.content.%d", where, k++);
            if (user_block(inner, w, parts, e) != 0) {
                cJSON_Delete(parts);
                return -1;
            }
        }
        content = cJSON_GetArraySize(parts) == 0 ? (cJSON_Delete(parts), cJSON_CreateString(""))
                                                 : simplify(parts);
    } else {
        return bad(e, "messages", "%s.content: expected a string or an array of blocks.", where);
    }
    /*
     * is_error has no canonical field: the content (the tool's own error text) is kept as it is;
     * the model reads the failure from it.
     */
    cJSON *m = cJSON_CreateObject();
    if (!put_str(m, "role", "tool") || !put_str(m, "tool_call_id", id->valuestring) ||
        !put(m, "content", content)) {
        cJSON_Delete(m);
        return oom(e);
    }
    if (copy_cache_control(m, b, where, e) < 0) {
        cJSON_Delete(m);
        return -1;
    }
    return push(msgs, m) ? 0 : oom(e);
}

/* A user message with block content: tool results first (as tool messages), then the rest. */
static int user_message(const cJSON *content, int mi, cJSON *msgs, anth_err_t *e)
{
    cJSON *parts = cJSON_CreateArray();
    if (parts == NULL)
        return oom(e);
    const cJSON *b;
    int k = 0;
    cJSON_ArrayForEach(b, content)
    {
        char w[WHERE_MAX];
        snprintf(w, sizeof w, "messages.%d.content.%d", mi, k++);
        /*
         * Tool messages must directly follow the assistant's tool calls in the canonical shape,
         * so results go out before the message's other parts whatever their order here.
         */
        int rc =
            is_type(b, "tool_result") ? tool_result(b, w, msgs, e) : user_block(b, w, parts, e);
        if (rc != 0) {
            cJSON_Delete(parts);
            return -1;
        }
    }
    if (cJSON_GetArraySize(parts) == 0) {
        cJSON_Delete(parts);
        return 0;
    }
    cJSON *m = cJSON_CreateObject();
    if (!put_str(m, "role", "user") || !put(m, "content", parts)) {
        cJSON_Delete(m);
        return oom(e);
    }
    return push(msgs, m) ? 0 : oom(e);
}

/* A tool_use block -> a canonical tool call (arguments: the input as compact JSON text). */
static int tool_use(const cJSON *b, const char *where, cJSON *calls, anth_err_t *e)
{
    const cJSON *id = get(b, "id"), *name = get(b, "name"), *input = get(b, "input");
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0')
        return bad(e, "messages", "%s.id: Field required (a string).", where);
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
        return bad(e, "messages", "%s.name: Field required (a string).", where);
    if (input != NULL && !cJSON_IsObject(input))
        return bad(e, "messages", "%s.input: expected an object.", where);
    char *args = input ? cJSON_PrintUnformatted(input) : NULL;
    cJSON *tc = cJSON_CreateObject();
    cJSON *fn = cJSON_CreateObject();
    bool ok = (input == NULL || args != NULL) && put_str(tc, "id", id->valuestring) &&
              put_str(tc, "type", "function") && put_str(fn, "name", name->valuestring) &&
              put_str(fn, "arguments", args ? args : "{}");
    cJSON_free(args);
    if (!ok || !put(tc, "function", fn)) {
        if (!ok)
            cJSON_Delete(fn);
        cJSON_Delete(tc);
        return oom(e);
    }
    return push(calls, tc) ? 0 : oom(e);
}

/* thinking / redacted_thinking -> a canonical thinking_blocks entry, kept for the round trip. */
static int thinking_block(const cJSON *b, const char *where, cJSON *blocks, anth_err_t *e)
{
    cJSON *tb;
    if (is_type(b, "thinking")) {
        const cJSON *th = get(b, "thinking"), *sig = get(b, "signature");
        if (!cJSON_IsString(th))
            return bad(e, "messages", "%s.thinking: Field required (a string).", where);
        if (sig != NULL && !cJSON_IsString(sig))
            return bad(e, "messages", "%s.signature: expected a string.", where);
        tb = new_part("thinking");
        if (!put_str(tb, "thinking", th->valuestring) ||
            (sig != NULL && !put_str(tb, "signature", sig->valuestring))) {
            cJSON_Delete(tb);
            return oom(e);
        }
    } else {
        const cJSON *data = get(b, "data");
        if (!cJSON_IsString(data))
            return bad(e, "messages", "%s.data: Field required (a string).", where);
        tb = new_part("redacted_thinking");
        if (!put_str(tb, "data", data->valuestring)) {
            cJSON_Delete(tb);
            return oom(e);
        }
    }
    return push(blocks, tb) ? 0 : oom(e);
}

/* The thinking text of all thinking blocks, one after the other (reasoning_content). */
static cJSON *reasoning_of(const cJSON *blocks)
{
    size_t n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, blocks)
    {
        const cJSON *th = get(b, "thinking");
        if (cJSON_IsString(th))
            n += strlen(th->valuestring);
    }
    if (n == 0)
        return NULL;
    char *s = malloc(n + 1), *at = s;
    if (s == NULL)
        return NULL;
    cJSON_ArrayForEach(b, blocks)
    {
        const cJSON *th = get(b, "thinking");
        if (cJSON_IsString(th)) {
            size_t l = strlen(th->valuestring);
            memcpy(at, th->valuestring, l);
            at += l;
        }
    }
    *at = '\0';
    cJSON *v = cJSON_CreateString(s);
    free(s);
    return v;
}

/* An assistant message with block content: text, tool calls and thinking, in canonical fields. */
static int assistant_message(const cJSON *content, int mi, cJSON *msgs, anth_err_t *e)
{
    cJSON *m = cJSON_CreateObject();
    cJSON *parts = cJSON_CreateArray(), *calls = cJSON_CreateArray();
    cJSON *blocks = cJSON_CreateArray();
    if (m == NULL || parts == NULL || calls == NULL || blocks == NULL)
        goto nomem;
    const cJSON *b;
    int k = 0;
    const cJSON *cc_block = NULL;
    char cc_where[WHERE_MAX] = "";
    cJSON_ArrayForEach(b, content)
    {
        char w[WHERE_MAX];
        snprintf(w, sizeof w, "messages.%d.content.%d", mi, k++);
        const char *t = type_of(b);
        int rc;
        if (!cJSON_IsObject(b) || t == NULL)
            rc = bad(e, "messages", "%s: expected an object with a string 'type'.", w);
        else if (strcmp(t, "text") == 0)
            rc = text_block(b, w, parts, e);
        else if (strcmp(t, "tool_use") == 0)
            rc = tool_use(b, w, calls, e);
        else if (strcmp(t, "thinking") == 0 || strcmp(t, "redacted_thinking") == 0)
            rc = thinking_block(b, w, blocks, e);
        else
            rc = bad(e, "messages",
                     "%s.type: assistant messages cannot carry '%.40s' blocks here (text, "
                     "tool_use, thinking and redacted_thinking are supported).",
                     w, t);
        if (rc != 0)
            goto fail;
        /* A breakpoint on a tool call has no part to sit on: the message carries it. */
        if (strcmp(t, "tool_use") == 0 && get(b, "cache_control") != NULL) {
            cc_block = b;
            snprintf(cc_where, sizeof cc_where, "%s", w);
        }
    }
    bool has_calls = cJSON_GetArraySize(calls) > 0;
    cJSON *c;
    if (cJSON_GetArraySize(parts) > 0) {
        c = simplify(parts);
    } else {
        cJSON_Delete(parts);
        c = has_calls ? cJSON_CreateNull() : cJSON_CreateString("");
    }
    parts = NULL;
    if (!put_str(m, "role", "assistant") || !put(m, "content", c))
        goto nomem;
    if (cJSON_GetArraySize(blocks) > 0) {
        cJSON *rc = reasoning_of(blocks);
        if (rc != NULL && !put(m, "reasoning_content", rc))
            goto nomem;
        if (!put(m, "thinking_blocks", blocks)) {
            blocks = NULL;
            goto nomem;
        }
    } else {
        cJSON_Delete(blocks);
    }
    blocks = NULL;
    if (has_calls) {
        if (!put(m, "tool_calls", calls)) {
            calls = NULL;
            goto nomem;
        }
    } else {
        cJSON_Delete(calls);
    }
    calls = NULL;
    if (cc_block != NULL && copy_cache_control(m, cc_block, cc_where, e) < 0)
        goto fail;
    return push(msgs, m) ? 0 : oom(e);
nomem:
    oom(e);
fail:
    cJSON_Delete(m);
    cJSON_Delete(parts);
    cJSON_Delete(calls);
    cJSON_Delete(blocks);
    return -1;
}

static int convert_messages(const cJSON *list, cJSON *msgs, anth_err_t *e)
{
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, list)
    {
        const cJSON *role = get(m, "role"), *content = get(m, "content");
        if (!cJSON_IsObject(m))
            return bad(e, "messages", "messages.%d: expected an object.", i);
        if (!cJSON_IsString(role) ||
            (strcmp(role->valuestring, "user") != 0 && strcmp(role->valuestring, "assistant") != 0))
            return bad(e, "messages",
                       "messages.%d.role: Input should be 'user' or 'assistant' (the system "
                       "prompt goes in the top-level 'system' field).",
                       i);
        bool user = role->valuestring[0] == 'u';
        if (cJSON_IsString(content)) {
            cJSON *o = cJSON_CreateObject();
            if (!put_str(o, "role", role->valuestring) ||
                !put_str(o, "content", content->valuestring) || !push(msgs, o))
                return oom(e);
        } else if (cJSON_IsArray(content)) {
            if (cJSON_GetArraySize(content) == 0 && user)
                return bad(e, "messages", "messages.%d: all messages must have non-empty content.",
                           i);
            int rc =
                user ? user_message(content, i, msgs, e) : assistant_message(content, i, msgs, e);
            if (rc != 0)
                return -1;
        } else {
            return bad(e, "messages",
                       "messages.%d.content: Field required (a string or an array of blocks).", i);
        }
        i++;
    }
    return 0;
}

/* system: a string or text blocks -> a leading system message. */
static int convert_system(const cJSON *sys, cJSON *msgs, anth_err_t *e)
{
    if (sys == NULL || cJSON_IsNull(sys))
        return 0;
    cJSON *content;
    if (cJSON_IsString(sys)) {
        if (sys->valuestring[0] == '\0')
            return 0;
        content = cJSON_CreateString(sys->valuestring);
    } else if (cJSON_IsArray(sys)) {
        cJSON *parts = cJSON_CreateArray();
        if (parts == NULL)
            return oom(e);
        const cJSON *b;
        int k = 0;
        cJSON_ArrayForEach(b, sys)
        {
            char w[WHERE_MAX];
            snprintf(w, sizeof w, "system.%d", k++);
            if (!is_type(b, "text")) {
                cJSON_Delete(parts);
                return bad(e, "system", "%s.type: system blocks must be of type 'text'.", w);
            }
            if (text_block(b, w, parts, e) != 0) {
                cJSON_Delete(parts);
                e->param = "system";
                return -1;
            }
        }
        if (cJSON_GetArraySize(parts) == 0) {
            cJSON_Delete(parts);
            return 0;
        }
        content = simplify(parts);
    } else {
        return bad(e, "system", "system: expected a string or an array of text blocks.");
    }
    cJSON *m = cJSON_CreateObject();
    if (!put_str(m, "role", "system") || !put(m, "content", content) || !push(msgs, m))
        return oom(e);
    return 0;
}

/* tools: custom (client) tools -> function tools.  Server tools run at Anthropic: refused. */
static int convert_tools(const cJSON *tools, cJSON *out, anth_err_t *e)
{
    const cJSON *t;
    int k = 0;
    cJSON_ArrayForEach(t, tools)
    {
        const char *type = type_of(t);
        const cJSON *name = get(t, "name"), *desc = get(t, "description");
        const cJSON *schema = get(t, "input_schema");
        if (!cJSON_IsObject(t))
            return bad(e, "tools", "tools.%d: expected an object.", k);
        if (type != NULL && strcmp(type, "custom") != 0)
            return bad(e, "tools",
                       "tools.%d.type: '%.60s' is a server tool, which this gateway does not "
                       "support; only client tools (name, description, input_schema) are.",
                       k, type);
        if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
            return bad(e, "tools", "tools.%d.name: Field required (a string).", k);
        if (!cJSON_IsObject(schema))
            return bad(e, "tools", "tools.%d.input_schema: Field required (an object).", k);
        if (desc != NULL && !cJSON_IsString(desc))
            return bad(e, "tools", "tools.%d.description: expected a string.", k);
        cJSON *o = new_part("function");
        cJSON *fn = cJSON_CreateObject();
        bool ok = put_str(fn, "name", name->valuestring) &&
                  (desc == NULL || put_str(fn, "description", desc->valuestring)) &&
                  put(fn, "parameters", cJSON_Duplicate(schema, true));
        if (!ok || !put(o, "function", fn)) {
            if (!ok)
                cJSON_Delete(fn);
            cJSON_Delete(o);
            return oom(e);
        }
        char w[WHERE_MAX];
        snprintf(w, sizeof w, "tools.%d", k);
        if (copy_cache_control(o, t, w, e) < 0) {
            cJSON_Delete(o);
            e->param = "tools";
            return -1;
        }
        if (!push(out, o))
            return oom(e);
        k++;
    }
    return 0;
}

/* tool_choice -> tool_choice (+ parallel_tool_calls false for disable_parallel_tool_use). */
static int convert_tool_choice(const cJSON *tc, bool have_tools, cJSON *out, anth_err_t *e)
{
    if (tc == NULL || cJSON_IsNull(tc))
        return 0;
    const char *type = type_of(tc);
    if (!cJSON_IsObject(tc) || type == NULL)
        return bad(e, "tool_choice", "tool_choice: expected an object with a string 'type'.");
    const cJSON *dp = get(tc, "disable_parallel_tool_use");
    if (dp != NULL && !cJSON_IsBool(dp))
        return bad(e, "tool_choice", "tool_choice.disable_parallel_tool_use: expected a boolean.");
    cJSON *v;
    if (strcmp(type, "auto") == 0) {
        v = cJSON_CreateString("auto");
    } else if (strcmp(type, "any") == 0) {
        v = cJSON_CreateString("required");
    } else if (strcmp(type, "none") == 0) {
        v = cJSON_CreateString("none");
    } else if (strcmp(type, "tool") == 0) {
        const cJSON *name = get(tc, "name");
        if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
            return bad(e, "tool_choice", "tool_choice.name: Field required (a string).");
        v = new_part("function");
        cJSON *fn = cJSON_CreateObject();
        if (!put_str(fn, "name", name->valuestring) || !put(v, "function", fn)) {
            cJSON_Delete(v);
            return oom(e);
        }
    } else {
        return bad(e, "tool_choice",
                   "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'.");
    }
    /* Without tools the canonical request must not name a choice (OpenAI refuses it). */
    if (!have_tools) {
        cJSON_Delete(v);
        return 0;
    }
    if (!put(out, "tool_choice", v))
        return oom(e);
    if (cJSON_IsTrue(dp) && !put(out, "parallel_tool_calls", cJSON_CreateFalse()))
        return oom(e);
    return 0;
}

/* A JSON number that is a whole number in a safe range. */
static bool is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble <= 9e15 && v->valuedouble >= -9e15 &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

static int copy_number(const cJSON *body, const char *key, cJSON *out, anth_err_t *e)
{
    const cJSON *v = get(body, key);
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return bad(e, key, "%s: Input should be a valid number.", key);
    return put(out, key, cJSON_CreateNumber(v->valuedouble)) ? 0 : oom(e);
}

static int check_top(const cJSON *body, anth_err_t *e)
{
    const cJSON *model = get(body, "model");
    if (model == NULL || cJSON_IsNull(model)) {
        if (get(body, "anthropic_version") == NULL)
            return bad(e, "model", "model: Field required.");
    } else if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
        return bad(e, "model", "model: Input should be a non-empty string.");
    }
    const cJSON *mt = get(body, "max_tokens");
    if (mt == NULL || cJSON_IsNull(mt))
        return bad(e, "max_tokens", "max_tokens: Field required.");
    if (!is_int(mt))
        return bad(e, "max_tokens", "max_tokens: Input should be a valid integer.");
    if (mt->valuedouble < 1)
        return bad(e, "max_tokens", "max_tokens: Input should be greater than or equal to 1.");
    const cJSON *msgs = get(body, "messages");
    if (msgs == NULL)
        return bad(e, "messages", "messages: Field required.");
    if (!cJSON_IsArray(msgs))
        return bad(e, "messages", "messages: Input should be a valid list.");
    if (cJSON_GetArraySize(msgs) == 0)
        return bad(e, "messages", "messages: at least one message is required.");
    const cJSON *tk = get(body, "top_k");
    if (tk != NULL && !cJSON_IsNull(tk) && (!is_int(tk) || tk->valuedouble < 0))
        return bad(e, "top_k", "top_k: Input should be a non-negative integer.");
    const cJSON *st = get(body, "stream");
    if (st != NULL && !cJSON_IsNull(st) && !cJSON_IsBool(st))
        return bad(e, "stream", "stream: Input should be a valid boolean.");
    const cJSON *ss = get(body, "stop_sequences"), *s;
    if (ss != NULL && !cJSON_IsNull(ss)) {
        if (!cJSON_IsArray(ss))
            return bad(e, "stop_sequences", "stop_sequences: Input should be a valid list.");
        cJSON_ArrayForEach(s, ss)
        {
            if (!cJSON_IsString(s))
                return bad(e, "stop_sequences",
                           "stop_sequences: every entry should be a valid string.");
        }
    }
    const cJSON *md = get(body, "metadata");
    if (md != NULL && !cJSON_IsNull(md)) {
        const cJSON *uid = get(md, "user_id");
        if (!cJSON_IsObject(md) || (uid != NULL && !cJSON_IsNull(uid) && !cJSON_IsString(uid)))
            return bad(e, "metadata", "metadata: expected an object whose 'user_id' is a string.");
    }
    const cJSON *th = get(body, "thinking");
    if (th != NULL && !cJSON_IsNull(th)) {
        const char *t = type_of(th);
        if (!cJSON_IsObject(th) || t == NULL)
            return bad(e, "thinking", "thinking: expected an object with a string 'type'.");
        if (strcmp(t, "enabled") == 0) {
            const cJSON *bt = get(th, "budget_tokens");
            if (!is_int(bt) || bt->valuedouble < 1)
                return bad(e, "thinking",
                           "thinking.budget_tokens: Field required (a positive integer).");
        } else if (strcmp(t, "disabled") != 0) {
            return bad(e, "thinking", "thinking.type: Input should be 'enabled' or 'disabled'.");
        }
    }
    const cJSON *tools = get(body, "tools");
    if (tools != NULL && !cJSON_IsNull(tools) && !cJSON_IsArray(tools))
        return bad(e, "tools", "tools: Input should be a valid list.");
    return 0;
}

int anth_to_canonical(const cJSON *body, cJSON **out, anth_err_t *e)
{
    *out = NULL;
    if (!cJSON_IsObject(body))
        return bad(e, NULL, "The request body must be a JSON object.");
    if (check_top(body, e) != 0)
        return -1;
    cJSON *c = cJSON_CreateObject();
    if (c == NULL)
        return oom(e);
    const cJSON *model = get(body, "model");
    if (cJSON_IsString(model) && !put_str(c, "model", model->valuestring))
        goto nomem;
    cJSON *msgs = cJSON_AddArrayToObject(c, "messages");
    if (msgs == NULL)
        goto nomem;
    if (convert_system(get(body, "system"), msgs, e) != 0 ||
        convert_messages(get(body, "messages"), msgs, e) != 0)
        goto fail;
    if (!put(c, "max_tokens", cJSON_CreateNumber(get(body, "max_tokens")->valuedouble)))
        goto nomem;
    if (copy_number(body, "temperature", c, e) != 0 || copy_number(body, "top_p", c, e) != 0 ||
        copy_number(body, "top_k", c, e) != 0)
        goto fail;
    const cJSON *ss = get(body, "stop_sequences");
    if (cJSON_GetArraySize(ss) > 0 && !put(c, "stop", cJSON_Duplicate(ss, true)))
        goto nomem;
    if (cJSON_IsTrue(get(body, "stream")) && !put(c, "stream", cJSON_CreateTrue()))
        goto nomem;
    const cJSON *tools = get(body, "tools");
    bool have_tools = cJSON_GetArraySize(tools) > 0;
    if (have_tools) {
        cJSON *ct = cJSON_AddArrayToObject(c, "tools");
        if (ct == NULL)
            goto nomem;
        if (convert_tools(tools, ct, e) != 0)
            goto fail;
    }
    if (convert_tool_choice(get(body, "tool_choice"), have_tools, c, e) != 0)
        goto fail;
    const cJSON *th = get(body, "thinking");
    if (is_type(th, "enabled") && !put(c, "thinking", cJSON_Duplicate(th, true)))
        goto nomem;
    const cJSON *uid = get(get(body, "metadata"), "user_id");
    if (cJSON_IsString(uid) && !put_str(c, "user", uid->valuestring))
        goto nomem;
    *out = c;
    return 0;
nomem:
    oom(e);
fail:
    cJSON_Delete(c);
    return -1;
}

int anth_parse(const char *text, size_t len, cJSON **out, anth_err_t *e)
{
    *out = NULL;
    if (text == NULL || len == 0)
        return bad(e, NULL, "The request body is empty; send a JSON Messages request.");
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (root == NULL)
        return bad(e, NULL, "The request body is not valid JSON.");
    int rc = anth_to_canonical(root, out, e);
    cJSON_Delete(root);
    return rc;
}

/* ---- count_tokens ---- */

/* Characters of text the model reads in v (images and documents count as a fixed cost). */
static int64_t chars_of(const cJSON *v, int depth, int64_t *fixed)
{
    if (depth > 64)
        return 0; /* a pathological nesting is not worth counting, and must not blow the stack */
    if (cJSON_IsString(v))
        return (int64_t)strlen(v->valuestring);
    if (cJSON_IsNumber(v) || cJSON_IsBool(v))
        return 4;
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 0;
    if (is_type(v, "image") || (is_type(v, "document") && !is_type(get(v, "source"), "text"))) {
        /* Anthropic bills an image by its pixels (about 1600 tokens at the usual sizes); the
         * bytes here are base64 and say nothing useful about that. */
        *fixed += 1600;
        return 0;
    }
    int64_t n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        const char *k = c->string;
        /* Structure the model never reads as text. */
        if (k != NULL &&
            (strcmp(k, "type") == 0 || strcmp(k, "cache_control") == 0 ||
             strcmp(k, "signature") == 0 || strcmp(k, "id") == 0 || strcmp(k, "tool_use_id") == 0 ||
             strcmp(k, "role") == 0 || strcmp(k, "data") == 0))
            continue;
        if (k != NULL && cJSON_IsObject(v) && depth > 2)
            n += (int64_t)strlen(k); /* property names of schemas and tool inputs are read */
        n += chars_of(c, depth + 1, fixed);
    }
    return n;
}

int64_t anth_count_tokens(const cJSON *body)
{
    if (!cJSON_IsObject(body))
        return 0;
    int64_t fixed = 0, chars = 0;
    const cJSON *msgs = get(body, "messages");
    chars += chars_of(get(body, "system"), 1, &fixed);
    chars += chars_of(msgs, 1, &fixed);
    chars += chars_of(get(body, "tools"), 1, &fixed);
    /* Every message has a few tokens of framing; tools add their own preamble. */
    fixed += 3 * (int64_t)cJSON_GetArraySize(msgs);
    if (cJSON_GetArraySize(get(body, "tools")) > 0)
        fixed += 300;
    return (chars + 3) / 4 + fixed + (chars > 0 || fixed > 0 ? 1 : 0);
}
