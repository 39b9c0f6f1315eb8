/*
 * brk_req: a Converse request (and the Converse-shaped InvokeModel body of Amazon Nova) translated
 * into the canonical request.  Everything comes from the network: every member's type is checked
 * before use, and a request that does not fit is refused with a message naming the member, in the
 * words Bedrock's own validation uses where that helps ("Value at 'messages.1.content' ...").
 *
 * Ownership: every node is attached to its parent as soon as it is created, so on any failure the
 * caller frees the one root and nothing leaks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brk.h"

typedef struct ctx {
    brk_err_t *err;
    unsigned flags;
    const cJSON *vars; /* promptVariables, or NULL */
} ctx_t;

static int bad(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->err->status = 400;
    vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(ctx_t *c)
{
    c->err->status = 500;
    snprintf(c->err->message, sizeof c->err->message, "out of memory translating the request");
    return -1;
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Attach item to parent (an array when key is NULL); takes item, freeing it on failure. */
static int add(ctx_t *c, cJSON *parent, const char *key, cJSON *item)
{
    bool ok = item != NULL && parent != NULL &&
              (key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item));
    if (!ok) {
        cJSON_Delete(item);
        return oom(c);
    }
    return 0;
}

static int add_str(ctx_t *c, cJSON *parent, const char *key, const char *s)
{
    return add(c, parent, key, cJSON_CreateString(s));
}

/* A new empty object (or array) attached to parent; NULL when out of memory. */
static cJSON *add_node(ctx_t *c, cJSON *parent, const char *key, bool array)
{
    cJSON *n = array ? cJSON_CreateArray() : cJSON_CreateObject();
    return add(c, parent, key, n) == 0 ? n : NULL;
}

/* The one member of a single-member object (a Bedrock union such as a content block). */
static const cJSON *only_member(const cJSON *o)
{
    return cJSON_IsObject(o) && o->child != NULL && o->child->next == NULL ? o->child : NULL;
}

static const char *kind_of(const cJSON *kv)
{
    return kv != NULL && kv->string != NULL ? kv->string : "";
}

/* ---- text and promptVariables ---- */

/* Text with {{name}} replaced by promptVariables.name.text; unknown names stay as written. */
static int add_text(ctx_t *c, cJSON *parent, const char *key, const char *text)
{
    if (c->vars == NULL || strstr(text, "{{") == NULL)
        return add_str(c, parent, key, text);
    buf_t b = {0};
    const char *p = text;
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (close == NULL) {
            if (buf_appendz(&b, p) != 0)
                goto fail;
            break;
        }
        char name[128];
        size_t n = (size_t)(close - open - 2);
        const cJSON *v = NULL;
        if (n > 0 && n < sizeof name) {
            memcpy(name, open + 2, n);
            name[n] = '\0';
            v = get(get(c->vars, name), "text");
        }
        if (buf_append(&b, p, (size_t)(open - p)) != 0)
            goto fail;
        if (cJSON_IsString(v) ? buf_appendz(&b, v->valuestring) != 0
                              : buf_append(&b, open, (size_t)(close + 2 - open)) != 0)
            goto fail;
        p = close + 2;
    }
    if (buf_append(&b, "", 1) != 0)
        goto fail;
    int rc = add_str(c, parent, key, b.ptr);
    buf_free(&b);
    return rc;
fail:
    buf_free(&b);
    return oom(c);
}

/* {"type":"text","text":...} appended to parts; the part, or NULL. */
static cJSON *add_text_part(ctx_t *c, cJSON *parts, const char *text)
{
    cJSON *p = add_node(c, parts, NULL, false);
    if (p == NULL || add_str(c, p, "type", "text") != 0 || add_text(c, p, "text", text) != 0)
        return NULL;
    return p;
}

/* ---- media ---- */

static bool is_b64(const char *s)
{
    for (; *s; s++) {
        char ch = *s;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '=' || ch == '-' ||
                  ch == '_' || ch == '\n' || ch == '\r';
        if (!ok)
            return false;
    }
    return true;
}

static int add_data_url(ctx_t *c, cJSON *parent, const char *key, const char *mime, const char *b64,
                        size_t b64_len)
{
    buf_t b = {0};
    int rc = -1;
    if (buf_appendz(&b, "data:") == 0 && buf_appendz(&b, mime) == 0 &&
        buf_appendz(&b, ";base64,") == 0 && buf_append(&b, b64, b64_len) == 0 &&
        buf_append(&b, "", 1) == 0)
        rc = add_str(c, parent, key, b.ptr);
    else
        oom(c);
    buf_free(&b);
    return rc;
}

/* The base64 text of a {"bytes": ...} source; NULL (with the error set) otherwise. */
static const char *source_bytes(ctx_t *c, const cJSON *src, const char *where)
{
    const cJSON *bytes = get(src, "bytes");
    if (cJSON_IsString(bytes) && bytes->valuestring[0] != '\0' && is_b64(bytes->valuestring))
        return bytes->valuestring;
    if (cJSON_IsString(bytes))
        bad(c, "Value at '%s.source.bytes' is not valid base64.", where);
    else if (get(src, "s3Location") != NULL)
        bad(c, "%s: S3 sources are not supported by this gateway; send the bytes inline.", where);
    else
        bad(c, "Value at '%s.source' must contain 'bytes' (base64).", where);
    return NULL;
}

/* {"type":"image_url","image_url":{"url":"data:image/<format>;base64,..."}} */
static cJSON *add_image_part(ctx_t *c, cJSON *parts, const cJSON *img, const char *where)
{
    static const char *const formats[] = {"png", "jpeg", "gif", "webp", NULL};
    const cJSON *fmt = get(img, "format");
    const char *const *f = formats;
    while (cJSON_IsString(fmt) && *f && strcmp(*f, fmt->valuestring) != 0)
        f++;
    if (!cJSON_IsString(fmt) || *f == NULL) {
        bad(c,
            "Value at '%s.format' failed to satisfy constraint: Member must satisfy enum value "
            "set: [png, jpeg, gif, webp]",
            where);
        return NULL;
    }
    const char *bytes = source_bytes(c, get(img, "source"), where);
    if (bytes == NULL)
        return NULL;
    char mime[32];
    snprintf(mime, sizeof mime, "image/%s", *f);
    cJSON *p = add_node(c, parts, NULL, false);
    cJSON *iu =
        p && add_str(c, p, "type", "image_url") == 0 ? add_node(c, p, "image_url", false) : NULL;
    if (iu == NULL || add_data_url(c, iu, "url", mime, bytes, strlen(bytes)) != 0)
        return NULL;
    return p;
}

static const char *doc_mime(const char *fmt)
{
    static const char *const map[][2] = {
        {"pdf", "application/pdf"},
        {"csv", "text/csv"},
        {"doc", "application/msword"},
        {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"xls", "application/vnd.ms-excel"},
        {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        {"html", "text/html"},
        {"txt", "text/plain"},
        {"md", "text/markdown"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i][0], fmt) == 0)
            return map[i][1];
    }
    return NULL;
}

/* {"type":"file","file":{"file_data":"data:<mime>;base64,...","filename"}} */
static cJSON *add_document_part(ctx_t *c, cJSON *parts, const cJSON *doc, const char *where)
{
    const cJSON *fmt = get(doc, "format"), *name = get(doc, "name");
    const char *mime = cJSON_IsString(fmt) ? doc_mime(fmt->valuestring) : NULL;
    if (mime == NULL) {
        bad(c,
            "Value at '%s.format' failed to satisfy constraint: Member must satisfy enum value "
            "set: [pdf, csv, doc, docx, xls, xlsx, html, txt, md]",
            where);
        return NULL;
    }
    if (name != NULL && !cJSON_IsString(name)) {
        bad(c, "Value at '%s.name' must be a string.", where);
        return NULL;
    }
    const cJSON *src = get(doc, "source");
    const cJSON *text = get(src, "text");
    buf_t enc = {0};
    const char *bytes;
    size_t nbytes;
    if (cJSON_IsString(text)) {
        /* A plain-text source: the canonical file part carries bytes, so encode it. */
        if (brk_b64_append(&enc, text->valuestring, strlen(text->valuestring)) != 0) {
            buf_free(&enc);
            oom(c);
            return NULL;
        }
        bytes = enc.ptr ? enc.ptr : "";
        nbytes = enc.len;
    } else {
        bytes = source_bytes(c, src, where);
        if (bytes == NULL)
            return NULL;
        nbytes = strlen(bytes);
    }
    cJSON *p = add_node(c, parts, NULL, false);
    cJSON *file = p && add_str(c, p, "type", "file") == 0 ? add_node(c, p, "file", false) : NULL;
    int rc = file ? add_data_url(c, file, "file_data", mime, bytes, nbytes) : -1;
    buf_free(&enc);
    if (rc != 0 || (cJSON_IsString(name) && add_str(c, file, "filename", name->valuestring) != 0))
        return NULL;
    return p;
}

/* ---- cache points ---- */

/* cachePoint -> cache_control on the block (part, message or tool) it follows. */
static int cache_mark(ctx_t *c, cJSON *target, const cJSON *cp, const char *where)
{
    if (target == NULL)
        return bad(c, "%s: a cachePoint must follow the block it marks.", where);
    const cJSON *type = get(cp, "type");
    if (type != NULL && (!cJSON_IsString(type) || strcmp(type->valuestring, "default") != 0))
        return bad(c,
                   "Value at '%s.cachePoint.type' failed to satisfy constraint: Member must "
                   "satisfy enum value set: [default]",
                   where);
    cJSON_DeleteItemFromObjectCaseSensitive(target, "cache_control");
    cJSON *cc = add_node(c, target, "cache_control", false);
    if (cc == NULL || add_str(c, cc, "type", "ephemeral") != 0)
        return -1;
    const cJSON *ttl = get(cp, "ttl");
    return cJSON_IsString(ttl) ? add_str(c, cc, "ttl", ttl->valuestring) : 0;
}

/* A message's parts -> content: one plain text part becomes a string (what every upstream
 * takes); no parts becomes `empty` (a new string "" or null), or stays an error for the caller. */
static int simplify(ctx_t *c, cJSON *msg)
{
    cJSON *parts = cJSON_GetObjectItemCaseSensitive(msg, "content");
    cJSON *only = cJSON_GetArraySize(parts) == 1 ? parts->child : NULL;
    const cJSON *type = get(only, "type");
    if (only == NULL || get(only, "cache_control") != NULL || !cJSON_IsString(type) ||
        strcmp(type->valuestring, "text") != 0)
        return 0;
    cJSON *s = cJSON_DetachItemFromObjectCaseSensitive(only, "text");
    if (s == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(msg, "content", s)) {
        cJSON_Delete(s);
        return oom(c);
    }
    return 0;
}

/* {"role": role, "content": []} appended to msgs; the message, or NULL. */
static cJSON *add_message(ctx_t *c, cJSON *msgs, const char *role)
{
    cJSON *m = add_node(c, msgs, NULL, false);
    if (m == NULL || add_str(c, m, "role", role) != 0 || add_node(c, m, "content", true) == NULL)
        return NULL;
    return m;
}

/* ---- tool results ---- */

static cJSON *add_tool_result(ctx_t *c, cJSON *msgs, const cJSON *tr, const char *where)
{
    const cJSON *id = get(tr, "toolUseId"), *content = get(tr, "content");
    const cJSON *status = get(tr, "status");
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0') {
        bad(c,
            "Value at '%s.toolResult.toolUseId' failed to satisfy constraint: Member must not be "
            "null",
            where);
        return NULL;
    }
    if (!cJSON_IsArray(content)) {
        bad(c, "Value at '%s.toolResult.content' must be an array of blocks.", where);
        return NULL;
    }
    if (status != NULL &&
        (!cJSON_IsString(status) || (strcmp(status->valuestring, "success") != 0 &&
                                     strcmp(status->valuestring, "error") != 0))) {
        bad(c,
            "Value at '%s.toolResult.status' failed to satisfy constraint: Member must satisfy "
            "enum value set: [success, error]",
            where);
        return NULL;
    }
    /* The canonical (OpenAI) tool message has no error flag: status is not carried. */
    cJSON *m = add_message(c, msgs, "tool");
    if (m == NULL || add_str(c, m, "tool_call_id", id->valuestring) != 0)
        return NULL;
    cJSON *parts = cJSON_GetObjectItemCaseSensitive(m, "content");
    const cJSON *blk;
    int k = 0;
    char sub[112];
    cJSON_ArrayForEach(blk, content)
    {
        snprintf(sub, sizeof sub, "%s.toolResult.content.%d", where, ++k);
        const cJSON *kv = only_member(blk);
        const char *t = kind_of(kv);
        cJSON *part;
        if (strcmp(t, "text") == 0 && cJSON_IsString(kv)) {
            part = add_text_part(c, parts, kv->valuestring);
        } else if (strcmp(t, "json") == 0) {
            char *s = cJSON_PrintUnformatted(kv);
            part = s ? add_text_part(c, parts, s) : NULL;
            if (s == NULL)
                oom(c);
            cJSON_free(s);
        } else if (strcmp(t, "image") == 0) {
            part = add_image_part(c, parts, kv, sub);
        } else if (strcmp(t, "document") == 0) {
            part = add_document_part(c, parts, kv, sub);
        } else {
            bad(c, "Value at '%s' must be one of text, json, image or document.", sub);
            return NULL;
        }
        if (part == NULL)
            return NULL;
    }
    if (cJSON_GetArraySize(parts) == 0) {
        cJSON *s = cJSON_CreateString("");
        if (s == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(m, "content", s)) {
            cJSON_Delete(s);
            oom(c);
            return NULL;
        }
        return m;
    }
    return simplify(c, m) == 0 ? m : NULL;
}

/* ---- messages ---- */

/*
 * A user turn: its toolResult blocks become tool messages, which must directly follow the
 * assistant's tool calls, so they go first (pass 1); the other blocks form one user message after
 * them (pass 2).  A cachePoint marks whatever block precedes it, in whichever pass that block is.
 */
static int user_message(ctx_t *c, const cJSON *content, const char *where, cJSON *msgs)
{
    cJSON *prev = NULL;
    bool prev_is_tool = false, any_tool = false;
    const cJSON *blk;
    int k = 0;
    char sub[64];
    cJSON_ArrayForEach(blk, content)
    {
        snprintf(sub, sizeof sub, "%s.content.%d", where, ++k);
        const cJSON *kv = only_member(blk);
        const char *t = kind_of(kv);
        if (strcmp(t, "toolResult") == 0) {
            prev = add_tool_result(c, msgs, kv, sub);
            if (prev == NULL)
                return -1;
            prev_is_tool = any_tool = true;
        } else if (strcmp(t, "cachePoint") == 0) {
            if (prev_is_tool && cache_mark(c, prev, kv, sub) != 0)
                return -1;
            if (k == 1)
                return bad(c, "%s: a cachePoint must follow the block it marks.", sub);
        } else {
            prev_is_tool = false;
        }
    }
    cJSON *m = add_message(c, msgs, "user");
    if (m == NULL)
        return -1;
    cJSON *parts = cJSON_GetObjectItemCaseSensitive(m, "content");
    cJSON *last = NULL;
    k = 0;
    cJSON_ArrayForEach(blk, content)
    {
        snprintf(sub, sizeof sub, "%s.content.%d", where, ++k);
        const cJSON *kv = only_member(blk);
        const char *t = kind_of(kv);
        const cJSON *gt = get(get(kv, "text"), "text");
        cJSON *part;
        if (strcmp(t, "text") == 0 && cJSON_IsString(kv)) {
            part = add_text_part(c, parts, kv->valuestring);
        } else if (strcmp(t, "image") == 0) {
            part = add_image_part(c, parts, kv, sub);
        } else if (strcmp(t, "document") == 0) {
            part = add_document_part(c, parts, kv, sub);
        } else if (strcmp(t, "guardContent") == 0 && cJSON_IsString(gt)) {
            part = add_text_part(c, parts, gt->valuestring);
        } else if (strcmp(t, "toolResult") == 0) {
            last = NULL; /* a cachePoint after it was handled in pass 1 */
            continue;
        } else if (strcmp(t, "cachePoint") == 0) {
            if (last != NULL && cache_mark(c, last, kv, sub) != 0)
                return -1;
            continue;
        } else if (strcmp(t, "reasoningContent") == 0) {
            continue; /* only meaningful on assistant turns */
        } else {
            return bad(c,
                       "Value at '%s' is not a supported content block (text, image, document, "
                       "toolResult, cachePoint, guardContent).",
                       sub);
        }
        if (part == NULL)
            return -1;
        last = part;
    }
    if (cJSON_GetArraySize(parts) > 0)
        return simplify(c, m);
    cJSON_DeleteItemFromArray(msgs, cJSON_GetArraySize(msgs) - 1);
    return any_tool ? 0 : bad(c, "Value at '%s.content' must not be empty.", where);
}

static int add_tool_call(ctx_t *c, cJSON *calls, const cJSON *tu, const char *where)
{
    const cJSON *id = get(tu, "toolUseId"), *name = get(tu, "name"), *input = get(tu, "input");
    if (!cJSON_IsString(id) || !cJSON_IsString(name) || name->valuestring[0] == '\0')
        return bad(c, "Value at '%s.toolUse' needs string 'toolUseId' and 'name'.", where);
    cJSON *call = add_node(c, calls, NULL, false);
    cJSON *fn = NULL;
    if (call == NULL || add_str(c, call, "id", id->valuestring) != 0 ||
        add_str(c, call, "type", "function") != 0 ||
        (fn = add_node(c, call, "function", false)) == NULL ||
        add_str(c, fn, "name", name->valuestring) != 0)
        return -1;
    char *args = input ? cJSON_PrintUnformatted(input) : NULL;
    if (input != NULL && args == NULL)
        return oom(c);
    int rc = add_str(c, fn, "arguments", args ? args : "{}");
    cJSON_free(args);
    return rc;
}

/* reasoningContent -> a thinking block, and its text onto reasoning_content. */
static int add_reasoning(ctx_t *c, cJSON *blocks, const cJSON *rc_, const char *where, buf_t *text)
{
    const cJSON *rt = get(rc_, "reasoningText"), *red = get(rc_, "redactedContent");
    const cJSON *t = get(rt, "text"), *sig = get(rt, "signature");
    if (!cJSON_IsString(t) && !cJSON_IsString(red))
        return bad(c, "Value at '%s.reasoningContent' needs 'reasoningText' or 'redactedContent'.",
                   where);
    cJSON *b = add_node(c, blocks, NULL, false);
    if (b == NULL)
        return -1;
    if (cJSON_IsString(t)) {
        if (add_str(c, b, "type", "thinking") != 0 || add_str(c, b, "thinking", t->valuestring) ||
            (cJSON_IsString(sig) && add_str(c, b, "signature", sig->valuestring) != 0))
            return -1;
        return buf_appendz(text, t->valuestring) == 0 ? 0 : oom(c);
    }
    if (add_str(c, b, "type", "redacted_thinking") != 0 ||
        add_str(c, b, "data", red->valuestring) != 0)
        return -1;
    return 0;
}

static int assistant_message(ctx_t *c, const cJSON *content, const char *where, cJSON *msgs)
{
    cJSON *m = add_message(c, msgs, "assistant");
    cJSON *calls = m ? add_node(c, m, "tool_calls", true) : NULL;
    cJSON *thinking = calls ? add_node(c, m, "thinking_blocks", true) : NULL;
    if (thinking == NULL)
        return -1;
    cJSON *parts = cJSON_GetObjectItemCaseSensitive(m, "content");
    cJSON *last = NULL;
    buf_t rtext = {0};
    int rc = -1;
    const cJSON *blk;
    int k = 0;
    char sub[64];
    cJSON_ArrayForEach(blk, content)
    {
        snprintf(sub, sizeof sub, "%s.content.%d", where, ++k);
        const cJSON *kv = only_member(blk);
        const char *t = kind_of(kv);
        if (strcmp(t, "text") == 0 && cJSON_IsString(kv)) {
            if ((last = add_text_part(c, parts, kv->valuestring)) == NULL)
                goto out;
        } else if (strcmp(t, "toolUse") == 0) {
            if (add_tool_call(c, calls, kv, sub) != 0)
                goto out;
            last = m; /* a cache point after a tool call marks the whole message */
        } else if (strcmp(t, "reasoningContent") == 0) {
            if (add_reasoning(c, thinking, kv, sub, &rtext) != 0)
                goto out;
        } else if (strcmp(t, "cachePoint") == 0) {
            if (cache_mark(c, last, kv, sub) != 0)
                goto out;
        } else {
            bad(c,
                "Value at '%s' is not a supported assistant content block (text, toolUse, "
                "reasoningContent, cachePoint).",
                sub);
            goto out;
        }
    }
    bool has_calls = cJSON_GetArraySize(calls) > 0;
    if (!has_calls)
        cJSON_DeleteItemFromObjectCaseSensitive(m, "tool_calls");
    if (cJSON_GetArraySize(thinking) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(m, "thinking_blocks");
    else if (rtext.len > 0 &&
             (buf_append(&rtext, "", 1) != 0 || add_str(c, m, "reasoning_content", rtext.ptr) != 0))
        goto out;
    if (cJSON_GetArraySize(parts) == 0) {
        /* Only tool calls: content null, as OpenAI writes it; nothing at all: an empty text. */
        cJSON *e = has_calls ? cJSON_CreateNull() : cJSON_CreateString("");
        if (e == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(m, "content", e)) {
            cJSON_Delete(e);
            oom(c);
            goto out;
        }
        rc = 0;
    } else {
        rc = simplify(c, m);
    }
out:
    buf_free(&rtext);
    return rc;
}

static int messages(ctx_t *c, const cJSON *list, cJSON *msgs)
{
    if (list == NULL)
        return bad(c, "1 validation error detected: Value null at 'messages' failed to satisfy "
                      "constraint: Member must not be null");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return bad(c, "Value at 'messages' failed to satisfy constraint: Member must be an array "
                      "with length greater than or equal to 1");
    const cJSON *m;
    int k = 0;
    char where[32];
    cJSON_ArrayForEach(m, list)
    {
        snprintf(where, sizeof where, "messages.%d", ++k);
        const cJSON *role = get(m, "role"), *content = get(m, "content");
        if (!cJSON_IsString(role) ||
            (strcmp(role->valuestring, "user") != 0 && strcmp(role->valuestring, "assistant") != 0))
            return bad(c,
                       "Value at '%s.role' failed to satisfy constraint: Member must satisfy enum "
                       "value set: [user, assistant]",
                       where);
        if (!cJSON_IsArray(content))
            return bad(c,
                       "Value at '%s.content' failed to satisfy constraint: Member must be an "
                       "array of content blocks",
                       where);
        int rc = role->valuestring[0] == 'u' ? user_message(c, content, where, msgs)
                                             : assistant_message(c, content, where, msgs);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* system blocks -> one system message, placed first. */
static int system_prompt(ctx_t *c, const cJSON *sys, cJSON *msgs)
{
    if (sys == NULL)
        return 0;
    if (!cJSON_IsArray(sys))
        return bad(c, "Value at 'system' must be an array of system content blocks.");
    if (cJSON_GetArraySize(sys) == 0)
        return 0;
    cJSON *m = cJSON_CreateObject();
    if (m == NULL || !cJSON_InsertItemInArray(msgs, 0, m)) {
        cJSON_Delete(m);
        return oom(c);
    }
    if (add_str(c, m, "role", "system") != 0)
        return -1;
    cJSON *parts = add_node(c, m, "content", true);
    if (parts == NULL)
        return -1;
    cJSON *last = NULL;
    const cJSON *blk;
    int k = 0;
    char where[32];
    cJSON_ArrayForEach(blk, sys)
    {
        snprintf(where, sizeof where, "system.%d", ++k);
        const cJSON *kv = only_member(blk);
        const char *t = kind_of(kv);
        const cJSON *gt = get(get(kv, "text"), "text");
        if (strcmp(t, "text") == 0 && cJSON_IsString(kv)) {
            last = add_text_part(c, parts, kv->valuestring);
        } else if (strcmp(t, "guardContent") == 0 && cJSON_IsString(gt)) {
            last = add_text_part(c, parts, gt->valuestring);
        } else if (strcmp(t, "cachePoint") == 0) {
            if (cache_mark(c, last, kv, where) != 0)
                return -1;
            continue;
        } else {
            return bad(c, "Value at '%s' is not a supported system block (text, cachePoint).",
                       where);
        }
        if (last == NULL)
            return -1;
    }
    if (cJSON_GetArraySize(parts) == 0) {
        cJSON_DeleteItemFromArray(msgs, 0);
        return 0;
    }
    return simplify(c, m);
}

/* ---- parameters ---- */

static bool int_in(const cJSON *v, double lo, double hi)
{
    /* Range first: casting a double outside long long's range is undefined behaviour. */
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

static int number(ctx_t *c, cJSON *out, const cJSON *v, const char *name, const char *to)
{
    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v))
        return bad(c, "Value at 'inferenceConfig.%s' must be a number.", name);
    return add(c, out, to, cJSON_CreateNumber(v->valuedouble));
}

/* Member a, else member b (Nova's other spelling); *name says which was looked up last. */
static const cJSON *first_of(const cJSON *o, const char *a, const char *b, const char **name)
{
    const cJSON *v = get(o, a);
    *name = a;
    if (v == NULL && b != NULL) {
        v = get(o, b);
        *name = b;
    }
    return v;
}

static int inference(ctx_t *c, const cJSON *ic, cJSON *out)
{
    if (ic == NULL)
        return 0;
    if (!cJSON_IsObject(ic))
        return bad(c, "Value at 'inferenceConfig' must be an object.");
    bool nova = c->flags & BRK_NOVA;
    const char *name;
    const cJSON *mt = first_of(ic, "maxTokens", nova ? "max_new_tokens" : NULL, &name);
    if (mt != NULL && !int_in(mt, 1, 1e9))
        return bad(c,
                   "Value at 'inferenceConfig.%s' failed to satisfy constraint: Member must be an "
                   "integer greater than or equal to 1",
                   name);
    if (mt != NULL && add(c, out, "max_tokens", cJSON_CreateNumber(mt->valuedouble)) != 0)
        return -1;
    if (number(c, out, get(ic, "temperature"), "temperature", "temperature") != 0)
        return -1;
    const cJSON *tp = first_of(ic, "topP", nova ? "top_p" : NULL, &name);
    if (number(c, out, tp, name, "top_p") != 0)
        return -1;
    if (nova) {
        const cJSON *tk = first_of(ic, "topK", "top_k", &name);
        if (tk != NULL && !int_in(tk, 0, 1e9))
            return bad(c, "Value at 'inferenceConfig.%s' must be a non-negative integer.", name);
        if (number(c, out, tk, name, "top_k") != 0)
            return -1;
    }
    const cJSON *stop = get(ic, "stopSequences");
    if (stop == NULL)
        return 0;
    bool ok = cJSON_IsArray(stop);
    const cJSON *s;
    cJSON_ArrayForEach(s, stop)
    {
        ok = ok && cJSON_IsString(s);
    }
    if (!ok)
        return bad(c, "Value at 'inferenceConfig.stopSequences' must be an array of strings.");
    return cJSON_GetArraySize(stop) > 0 ? add(c, out, "stop", cJSON_Duplicate(stop, true)) : 0;
}

static int tool_choice(ctx_t *c, const cJSON *choice, cJSON *out)
{
    if (choice == NULL)
        return 0;
    const cJSON *kv = only_member(choice);
    const char *kind = kind_of(kv);
    const cJSON *name = get(kv, "name");
    if (strcmp(kind, "auto") == 0)
        return add_str(c, out, "tool_choice", "auto");
    if (strcmp(kind, "any") == 0)
        return add_str(c, out, "tool_choice", "required");
    if (strcmp(kind, "tool") == 0 && cJSON_IsString(name)) {
        cJSON *tc = add_node(c, out, "tool_choice", false);
        cJSON *fn = tc && add_str(c, tc, "type", "function") == 0
                        ? add_node(c, tc, "function", false)
                        : NULL;
        return fn ? add_str(c, fn, "name", name->valuestring) : -1;
    }
    return bad(c, "Value at 'toolConfig.toolChoice' must be one of {\"auto\":{}}, {\"any\":{}} or "
                  "{\"tool\":{\"name\":...}}.");
}

static int tools(ctx_t *c, const cJSON *tc, cJSON *out)
{
    if (tc == NULL)
        return 0;
    const cJSON *list = get(tc, "tools");
    if (!cJSON_IsObject(tc) || !cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return bad(c, "Value at 'toolConfig.tools' failed to satisfy constraint: Member must have "
                      "length greater than or equal to 1");
    cJSON *arr = add_node(c, out, "tools", true);
    if (arr == NULL)
        return -1;
    cJSON *last = NULL;
    const cJSON *t;
    int k = 0;
    char where[48];
    cJSON_ArrayForEach(t, list)
    {
        snprintf(where, sizeof where, "toolConfig.tools.%d", ++k);
        const cJSON *kv = only_member(t);
        const char *kind = kind_of(kv);
        if (strcmp(kind, "cachePoint") == 0) {
            if (cache_mark(c, last, kv, where) != 0)
                return -1;
            continue;
        }
        if (strcmp(kind, "toolSpec") != 0)
            return bad(c, "Value at '%s' must be a toolSpec or a cachePoint.", where);
        const cJSON *name = get(kv, "name"), *desc = get(kv, "description");
        const cJSON *schema = get(get(kv, "inputSchema"), "json");
        if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
            return bad(c,
                       "Value at '%s.toolSpec.name' failed to satisfy constraint: Member must not "
                       "be null",
                       where);
        if (desc != NULL && !cJSON_IsString(desc))
            return bad(c, "Value at '%s.toolSpec.description' must be a string.", where);
        if (!cJSON_IsObject(schema))
            return bad(c, "Value at '%s.toolSpec.inputSchema.json' must be a JSON schema object.",
                       where);
        cJSON *tool = add_node(c, arr, NULL, false);
        cJSON *fn = tool && add_str(c, tool, "type", "function") == 0
                        ? add_node(c, tool, "function", false)
                        : NULL;
        if (fn == NULL || add_str(c, fn, "name", name->valuestring) != 0 ||
            (desc && add_str(c, fn, "description", desc->valuestring) != 0) ||
            add(c, fn, "parameters", cJSON_Duplicate(schema, true)) != 0)
            return -1;
        last = tool;
    }
    if (cJSON_GetArraySize(arr) == 0)
        return bad(c, "Value at 'toolConfig.tools' must contain at least one toolSpec.");
    return tool_choice(c, get(tc, "toolChoice"), out);
}

/*
 * additionalModelRequestFields: the parameters the canonical request knows keep their names
 * (top_k, thinking, reasoning_effort), and the chat-history fields session_id and enable_history
 * are kept as they are for the history feature.  Anything else is specific to one Bedrock model
 * and has no canonical meaning, so it is not sent on.
 */
static int additional(ctx_t *c, const cJSON *amf, cJSON *out)
{
    if (amf == NULL)
        return 0;
    if (!cJSON_IsObject(amf))
        return bad(c, "Value at 'additionalModelRequestFields' must be a JSON object.");
    static const char *const keep[] = {"top_k",      "thinking",       "reasoning_effort",
                                       "session_id", "enable_history", NULL};
    for (const char *const *k = keep; *k; k++) {
        const cJSON *v = get(amf, *k);
        if (v != NULL && add(c, out, *k, cJSON_Duplicate(v, true)) != 0)
            return -1;
    }
    const cJSON *tk = get(amf, "topK");
    if (tk != NULL && get(amf, "top_k") == NULL &&
        add(c, out, "top_k", cJSON_Duplicate(tk, true)) != 0)
        return -1;
    return 0;
}

static int request_metadata(ctx_t *c, const cJSON *md, cJSON *out)
{
    if (md == NULL)
        return 0;
    bool ok = cJSON_IsObject(md);
    const cJSON *v;
    cJSON_ArrayForEach(v, md)
    {
        ok = ok && cJSON_IsString(v);
    }
    if (!ok)
        return bad(c, "Value at 'requestMetadata' must be an object mapping strings to strings.");
    return add(c, out, "metadata", cJSON_Duplicate(md, true));
}

int brk_converse_to_canonical(const cJSON *body, const char *model, bool stream, unsigned flags,
                              cJSON **out, brk_err_t *err)
{
    ctx_t c = {.err = err, .flags = flags};
    *out = NULL;
    if (!cJSON_IsObject(body))
        return bad(&c, "The request body must be a JSON object.");
    const cJSON *vars = get(body, "promptVariables");
    if (vars != NULL && !cJSON_IsObject(vars))
        return bad(&c, "Value at 'promptVariables' must be an object.");
    c.vars = vars;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return oom(&c);
    cJSON *msgs = add_str(&c, o, "model", model) == 0 ? add_node(&c, o, "messages", true) : NULL;
    if (msgs == NULL || messages(&c, get(body, "messages"), msgs) != 0 ||
        system_prompt(&c, get(body, "system"), msgs) != 0 ||
        inference(&c, get(body, "inferenceConfig"), o) != 0 ||
        tools(&c, get(body, "toolConfig"), o) != 0)
        goto fail;
    if (!(flags & BRK_NOVA) && (additional(&c, get(body, "additionalModelRequestFields"), o) != 0 ||
                                request_metadata(&c, get(body, "requestMetadata"), o) != 0))
        goto fail;
    if (stream && add(&c, o, "stream", cJSON_CreateTrue()) != 0)
        goto fail;
    *out = o;
    return 0;
fail:
    cJSON_Delete(o);
    return -1;
}

int brk_converse_parse(const char *text, size_t len, const char *model, bool stream, cJSON **out,
                       brk_err_t *err)
{
    *out = NULL;
    cJSON *body = text != NULL && len > 0 ? cJSON_ParseWithLength(text, len) : NULL;
    if (body == NULL) {
        err->status = 400;
        snprintf(err->message, sizeof err->message,
                 "Malformed input request: the body is not valid JSON; please reformat your input "
                 "and try again.");
        return -1;
    }
    int rc = brk_converse_to_canonical(body, model, stream, 0, out, err);
    cJSON_Delete(body);
    return rc;
}

/* ---- the URL and the credential ---- */

static const char *find(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(p + i, needle, k) == 0)
            return p + i;
    }
    return NULL;
}

bool brk_sigv4_key(const char *v, size_t n, const char **key, size_t *key_len)
{
    static const char alg[] = "AWS4-HMAC-SHA256 ";
    if (n < sizeof alg || memcmp(v, alg, sizeof alg - 1) != 0)
        return false;
    const char *cred = find(v, n, "Credential=");
    if (cred == NULL)
        return false;
    const char *p = cred + 11, *end = v + n, *stop = p;
    while (stop < end && *stop != ',')
        stop++;
    /* The access key id is what precedes the four parts of the credential scope. */
    const char *q = stop;
    for (int k = 0; k < 4; k++) {
        while (q > p && q[-1] != '/')
            q--;
        if (q == p)
            return false;
        q--;
    }
    if (q - p > 7 && str_ieq(p, 7, "bearer "))
        p += 7;
    while (p < q && *p == ' ')
        p++;
    if (p == q)
        return false;
    *key = p;
    *key_len = (size_t)(q - p);
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool brk_decode_model(const char *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 1 >= cap)
            return false;
        if (p[i] == '%') {
            int hi = i + 2 < n ? hexval(p[i + 1]) : -1, lo = i + 2 < n ? hexval(p[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[k++] = p[i];
        }
    }
    if (cap > 0)
        out[k] = '\0';
    return k > 0;
}
