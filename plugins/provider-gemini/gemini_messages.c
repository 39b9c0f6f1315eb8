/*
 * The gemini provider: canonical messages -> Gemini contents.
 *
 * Gemini has two roles, "user" and "model", and wants them to alternate, so consecutive messages
 * of one role are merged into one turn.  System and developer messages, wherever they stand,
 * become systemInstruction.  Tool results become functionResponse parts of a user turn, named
 * after the function of the assistant tool call they answer (Gemini matches results by name, the
 * OpenAI shape by id).  Images and files become inlineData (data: URLs) or fileData (URLs).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gemini.h"

enum { ROLE_NONE = 0, ROLE_USER = 1, ROLE_MODEL = 2 };

/* A tool call id and the function it called, for naming the results that answer it. */
typedef struct call_slot {
    gantry_str_t id;
    gantry_str_t name;
} call_slot_t;

typedef struct turns {
    gantry_json_t *contents;
    gantry_json_t *parts; /* parts of the last turn */
    int role;             /* role of the last turn */
    gantry_json_t *system_parts;
    /* Open-addressing table of the tool calls seen so far (a power of two of slots). */
    call_slot_t *calls;
    size_t ncalls_cap;
} turns_t;

/*
 * FNV-1a seeded with the table's own address, then mixed (murmur3's finalizer) so that every bit
 * reaches the slot index.  The seed differs from run to run (ASLR), so a client cannot prepare ids
 * that all land in one slot and make the lookups quadratic.
 */
static uint64_t hash_id(const turns_t *t, gantry_str_t id)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)t->calls;
    for (size_t i = 0; i < id.len; i++)
        h = (h ^ (unsigned char)id.ptr[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* The slot of `id`: where it is, or the empty slot where it would go. */
static call_slot_t *call_slot(const turns_t *t, gantry_str_t id)
{
    size_t mask = t->ncalls_cap - 1;
    for (size_t i = (size_t)hash_id(t, id) & mask;; i = (i + 1) & mask) {
        call_slot_t *s = &t->calls[i];
        if (s->id.ptr == NULL || (s->id.len == id.len && memcmp(s->id.ptr, id.ptr, id.len) == 0))
            return s;
    }
}

/*
 * Room for every tool call of the conversation, counted up front so that the table never fills
 * (at most half full) and lookups stay constant-time however long the conversation.
 */
static bool calls_init(gemini_ctx_t *c, turns_t *t, const gantry_json_t *messages)
{
    const gantry_host_t *host = c->host;
    size_t n = 0;
    for (const gantry_json_t *m = host->json_first(messages); m != NULL; m = host->json_next(m))
        n += host->json_count(host->json_get(m, "tool_calls"));
    if (n == 0)
        return true;
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    if ((t->calls = host->alloc(c->req, cap * sizeof(*t->calls))) == NULL)
        return gemini_oom(c);
    memset(t->calls, 0, cap * sizeof(*t->calls));
    t->ncalls_cap = cap;
    return true;
}

/* Remember a call; a later call with the same id replaces the earlier one. */
static void calls_put(turns_t *t, gantry_str_t id, gantry_str_t name)
{
    if (t->ncalls_cap == 0 || id.len == 0)
        return;
    call_slot_t *s = call_slot(t, id);
    s->id = id;
    s->name = name;
}

/* The function of the latest earlier tool call with this id (NULL when there is none). */
static gantry_str_t calls_get(const turns_t *t, gantry_str_t id)
{
    if (t->ncalls_cap == 0 || id.len == 0)
        return GANTRY_STR_NULL;
    return call_slot(t, id)->name;
}

/* A new part at the end of the conversation, in a turn of `role` (a new turn if need be). */
static gantry_json_t *new_part(gemini_ctx_t *c, turns_t *t, int role)
{
    const gantry_host_t *host = c->host;
    if (t->role != role || t->parts == NULL) {
        gantry_json_t *turn = host->json_append(t->contents, GANTRY_JSON_OBJECT);
        gantry_json_t *r = host->json_set(turn, "role", GANTRY_JSON_STRING);
        if (r == NULL ||
            host->json_set_string(r, role == ROLE_USER ? GANTRY_STR_LIT("user")
                                                       : GANTRY_STR_LIT("model")) != GANTRY_OK)
            return NULL;
        if ((t->parts = host->json_set(turn, "parts", GANTRY_JSON_ARRAY)) == NULL)
            return NULL;
        t->role = role;
    }
    return host->json_append(t->parts, GANTRY_JSON_OBJECT);
}

static bool put_string(gemini_ctx_t *c, gantry_json_t *obj, const char *key, gantry_str_t v)
{
    gantry_json_t *n = c->host->json_set(obj, key, GANTRY_JSON_STRING);
    if (n == NULL || c->host->json_set_string(n, v) != GANTRY_OK)
        return gemini_oom(c);
    return true;
}

/* A text part; empty text is left out (Gemini refuses empty text parts). */
static bool add_text(gemini_ctx_t *c, turns_t *t, int role, gantry_str_t text, gantry_json_t **made)
{
    if (text.len == 0)
        return true;
    gantry_json_t *p = new_part(c, t, role);
    if (p == NULL)
        return gemini_oom(c);
    if (made != NULL)
        *made = p;
    return put_string(c, p, "text", text);
}

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

static bool ieq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (lower(s.ptr[i]) != lit[i])
            return false;
    }
    return true;
}

/* The media type a URL's file extension implies, or NULL. */
static const char *mime_from_url(gantry_str_t url)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {
        {"png", "image/png"},   {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},
        {"webp", "image/webp"}, {"gif", "image/gif"},       {"heic", "image/heic"},
        {"heif", "image/heif"}, {"pdf", "application/pdf"}, {"txt", "text/plain"},
        {"mp3", "audio/mp3"},   {"wav", "audio/wav"},       {"flac", "audio/flac"},
        {"ogg", "audio/ogg"},   {"aac", "audio/aac"},       {"mp4", "video/mp4"},
        {"mov", "video/mov"},   {"webm", "video/webm"},     {"mpeg", "video/mpeg"},
        {"html", "text/html"},  {"csv", "text/csv"},        {"md", "text/md"},
    };
    size_t end = 0;
    while (end < url.len && url.ptr[end] != '?' && url.ptr[end] != '#')
        end++;
    size_t dot = end;
    while (dot > 0 && url.ptr[dot - 1] != '.' && url.ptr[dot - 1] != '/')
        dot--;
    if (dot == 0 || url.ptr[dot - 1] != '.')
        return NULL;
    gantry_str_t ext = {url.ptr + dot, end - dot};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (ieq(ext, types[i].ext))
            return types[i].mime;
    }
    return NULL;
}

/*
 * An image, audio clip or document given by URL: a base64 data: URL becomes inlineData, an
 * http(s) or gs:// URL becomes fileData whose type comes from `mime` (the client's), the URL's
 * extension, or `fallback`.
 */
static bool add_media(gemini_ctx_t *c, turns_t *t, int role, gantry_str_t url, gantry_str_t mime,
                      const char *fallback, const char *what)
{
    const gantry_host_t *host = c->host;
    if (gemini_has_prefix(url, "data:")) {
        const char *comma = memchr(url.ptr, ',', url.len);
        if (comma == NULL)
            return gemini_bad(c, "Invalid %s: malformed data: URL.", what);
        gantry_str_t meta = {url.ptr + 5, (size_t)(comma - url.ptr) - 5};
        if (meta.len < 7 || memcmp(meta.ptr + meta.len - 7, ";base64", 7) != 0)
            return gemini_bad(c, "Invalid %s: only base64 data: URLs are supported.", what);
        const char *semi = memchr(meta.ptr, ';', meta.len);
        gantry_str_t type = {meta.ptr, (size_t)(semi - meta.ptr)};
        if (mime.len == 0)
            mime = type.len > 0 ? type : (gantry_str_t){fallback, strlen(fallback)};
        gantry_str_t data = {comma + 1, (size_t)(url.ptr + url.len - comma - 1)};
        gantry_json_t *p = new_part(c, t, role);
        gantry_json_t *inl = host->json_set(p, "inlineData", GANTRY_JSON_OBJECT);
        if (inl == NULL)
            return gemini_oom(c);
        return put_string(c, inl, "mimeType", mime) && put_string(c, inl, "data", data);
    }
    if (!gemini_has_prefix(url, "https://") && !gemini_has_prefix(url, "http://") &&
        !gemini_has_prefix(url, "gs://"))
        return gemini_bad(c, "Invalid %s: expected a data: URL or an http(s):// or gs:// URL.",
                          what);
    if (mime.len == 0) {
        const char *m = mime_from_url(url);
        if (m == NULL)
            m = fallback;
        mime = (gantry_str_t){m, strlen(m)};
    }
    gantry_json_t *p = new_part(c, t, role);
    gantry_json_t *fd = host->json_set(p, "fileData", GANTRY_JSON_OBJECT);
    if (fd == NULL)
        return gemini_oom(c);
    return put_string(c, fd, "mimeType", mime) && put_string(c, fd, "fileUri", url);
}

/* {"type":"file","file":{"file_data"|"file_id","filename","format"}} */
static bool add_file(gemini_ctx_t *c, turns_t *t, int role, const gantry_json_t *file,
                     const char *what)
{
    const gantry_host_t *host = c->host;
    gantry_str_t mime = host->json_string(host->json_get(file, "format"));
    gantry_str_t data = host->json_string(host->json_get(file, "file_data"));
    gantry_str_t id = host->json_string(host->json_get(file, "file_id"));
    if (mime.ptr == NULL)
        mime = (gantry_str_t){"", 0};
    if (data.ptr != NULL && gemini_has_prefix(data, "data:"))
        return add_media(c, t, role, data, mime, "application/pdf", what);
    if (id.ptr != NULL && id.len > 0)
        return add_media(c, t, role, id, mime, "application/pdf", what);
    return gemini_bad(c,
                      "Invalid %s: a file part needs a base64 data: URL in 'file_data' or a "
                      "URL in 'file_id'.",
                      what);
}

/* {"type":"input_audio","input_audio":{"data":<base64>,"format":"wav"|"mp3"}} */
static bool add_audio(gemini_ctx_t *c, turns_t *t, int role, const gantry_json_t *audio,
                      const char *what)
{
    const gantry_host_t *host = c->host;
    gantry_str_t data = host->json_string(host->json_get(audio, "data"));
    gantry_str_t format = host->json_string(host->json_get(audio, "format"));
    char mime[48];
    if (data.ptr == NULL || format.ptr == NULL || format.len == 0 || format.len > 32)
        return gemini_bad(c, "Invalid %s: input_audio needs 'data' and 'format'.", what);
    memcpy(mime, "audio/", 6);
    memcpy(mime + 6, format.ptr, format.len);
    gantry_json_t *p = new_part(c, t, role);
    gantry_json_t *inl = host->json_set(p, "inlineData", GANTRY_JSON_OBJECT);
    if (inl == NULL)
        return gemini_oom(c);
    return put_string(c, inl, "mimeType", (gantry_str_t){mime, 6 + format.len}) &&
           put_string(c, inl, "data", data);
}

/* A user message's content: a string, or an array of text, image, audio and file parts. */
static bool add_user_content(gemini_ctx_t *c, turns_t *t, const gantry_json_t *content, size_t mi)
{
    const gantry_host_t *host = c->host;
    char what[80];
    size_t pi = 0;
    if (host->json_type(content) == GANTRY_JSON_STRING)
        return add_text(c, t, ROLE_USER, host->json_string(content), NULL);
    if (host->json_type(content) != GANTRY_JSON_ARRAY)
        return true; /* null or absent: nothing to say */
    for (const gantry_json_t *p = host->json_first(content); p != NULL;
         p = host->json_next(p), pi++) {
        gantry_str_t type = host->json_string(host->json_get(p, "type"));
        snprintf(what, sizeof(what), "'messages[%zu].content[%zu]'", mi, pi);
        bool ok;
        if (gemini_str_eq(type, "text")) {
            ok = add_text(c, t, ROLE_USER, host->json_string(host->json_get(p, "text")), NULL);
        } else if (gemini_str_eq(type, "image_url")) {
            const gantry_json_t *iu = host->json_get(p, "image_url");
            gantry_str_t url = host->json_string(iu);
            if (url.ptr == NULL)
                url = host->json_string(host->json_get(iu, "url"));
            gantry_str_t fmt = host->json_string(host->json_get(iu, "format"));
            if (url.ptr == NULL)
                return gemini_bad(c, "Invalid %s: image_url needs a 'url'.", what);
            ok = add_media(c, t, ROLE_USER, url, fmt.ptr != NULL ? fmt : (gantry_str_t){"", 0},
                           "image/jpeg", what);
        } else if (gemini_str_eq(type, "input_audio")) {
            ok = add_audio(c, t, ROLE_USER, host->json_get(p, "input_audio"), what);
        } else if (gemini_str_eq(type, "file")) {
            ok = add_file(c, t, ROLE_USER, host->json_get(p, "file"), what);
        } else {
            return gemini_bad(c, "Invalid %s: the part type '%.40s' is not supported by gemini.",
                              what, type.ptr != NULL ? type.ptr : "(none)");
        }
        if (!ok)
            return false;
    }
    return true;
}

/* System and developer text, in order, into systemInstruction. */
static bool add_system(gemini_ctx_t *c, turns_t *t, gantry_json_t *body,
                       const gantry_json_t *content, size_t mi)
{
    const gantry_host_t *host = c->host;
    gantry_str_t texts[1];
    const gantry_json_t *p = NULL;
    bool single = host->json_type(content) == GANTRY_JSON_STRING;
    if (!single && host->json_type(content) != GANTRY_JSON_ARRAY)
        return true;
    if (!single)
        p = host->json_first(content);
    for (;;) {
        if (single) {
            texts[0] = host->json_string(content);
        } else {
            if (p == NULL)
                break;
            if (!gemini_str_eq(host->json_string(host->json_get(p, "type")), "text"))
                return gemini_bad(c, "Invalid 'messages[%zu]': system messages may only hold text.",
                                  mi);
            texts[0] = host->json_string(host->json_get(p, "text"));
        }
        if (texts[0].len > 0) {
            if (t->system_parts == NULL) {
                gantry_json_t *si = host->json_set(body, "systemInstruction", GANTRY_JSON_OBJECT);
                if ((t->system_parts = host->json_set(si, "parts", GANTRY_JSON_ARRAY)) == NULL)
                    return gemini_oom(c);
            }
            gantry_json_t *part = host->json_append(t->system_parts, GANTRY_JSON_OBJECT);
            if (part == NULL || !put_string(c, part, "text", texts[0]))
                return part == NULL ? gemini_oom(c) : false;
        }
        if (single)
            break;
        p = host->json_next(p);
    }
    return true;
}

/* The signatures of an assistant message's thinking blocks, in order (at most `max`). */
static size_t signatures(const gantry_host_t *host, const gantry_json_t *msg, gantry_str_t *out,
                         size_t max)
{
    size_t n = 0;
    const gantry_json_t *blocks = host->json_get(msg, "thinking_blocks");
    for (const gantry_json_t *b = host->json_first(blocks); b != NULL && n < max;
         b = host->json_next(b)) {
        gantry_str_t sig = host->json_string(host->json_get(b, "signature"));
        if (gemini_str_eq(host->json_string(host->json_get(b, "type")), "thinking") && sig.len > 0)
            out[n++] = sig;
    }
    return n;
}

/* Tool call arguments (JSON text) as the args object of a functionCall. */
static bool add_args(gemini_ctx_t *c, gantry_json_t *fc, gantry_str_t args, size_t mi)
{
    const gantry_host_t *host = c->host;
    size_t i = 0;
    while (i < args.len && (args.ptr[i] == ' ' || args.ptr[i] == '\n' || args.ptr[i] == '\t' ||
                            args.ptr[i] == '\r'))
        i++;
    if (i == args.len) {
        if (host->json_set(fc, "args", GANTRY_JSON_OBJECT) == NULL)
            return gemini_oom(c);
        return true;
    }
    gantry_json_t *parsed = host->json_parse(c->req, args);
    if (host->json_type(parsed) != GANTRY_JSON_OBJECT) {
        host->json_release(c->req, parsed);
        return gemini_bad(c,
                          "Invalid 'messages[%zu].tool_calls': function arguments must be a "
                          "JSON object.",
                          mi);
    }
    if (host->json_attach(c->req, fc, "args", parsed) != GANTRY_OK)
        return gemini_oom(c);
    return true;
}

/*
 * An assistant message: its text, then one functionCall part per tool call.  Gemini wants its
 * thought signatures back on the parts that carried them: on the first function call of a step
 * (and on each, when several were signed), or on the text of an answer without calls.  The
 * response side lists them as thinking_blocks in that order, so here the k-th signature goes to
 * the k-th function call, or to the last text part when there are no calls.
 */
static bool add_assistant(gemini_ctx_t *c, turns_t *t, const gantry_json_t *msg, size_t mi)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *content = host->json_get(msg, "content");
    const gantry_json_t *calls = host->json_get(msg, "tool_calls");
    gantry_json_t *last_text = NULL;
    gantry_str_t sigs[GEMINI_MAX_CANDIDATES * 4];
    size_t nsig = signatures(host, msg, sigs, sizeof(sigs) / sizeof(sigs[0])), used = 0;

    if (host->json_type(content) == GANTRY_JSON_STRING) {
        if (!add_text(c, t, ROLE_MODEL, host->json_string(content), &last_text))
            return false;
    } else if (host->json_type(content) == GANTRY_JSON_ARRAY) {
        for (const gantry_json_t *p = host->json_first(content); p != NULL;
             p = host->json_next(p)) {
            gantry_str_t type = host->json_string(host->json_get(p, "type"));
            gantry_str_t text = gemini_str_eq(type, "refusal")
                                    ? host->json_string(host->json_get(p, "refusal"))
                                    : host->json_string(host->json_get(p, "text"));
            if (!gemini_str_eq(type, "text") && !gemini_str_eq(type, "refusal"))
                return gemini_bad(c,
                                  "Invalid 'messages[%zu]': assistant content may only hold "
                                  "text.",
                                  mi);
            if (!add_text(c, t, ROLE_MODEL, text, &last_text))
                return false;
        }
    }

    size_t ci = 0;
    for (const gantry_json_t *tc = host->json_first(calls); tc != NULL;
         tc = host->json_next(tc), ci++) {
        const gantry_json_t *fn = host->json_get(tc, "function");
        gantry_str_t name = host->json_string(host->json_get(fn, "name"));
        if (name.ptr == NULL || name.len == 0)
            return gemini_bad(c,
                              "Invalid 'messages[%zu].tool_calls[%zu]': a 'function.name' is "
                              "required.",
                              mi, ci);
        gantry_str_t args = host->json_string(host->json_get(fn, "arguments"));
        gantry_json_t *p = new_part(c, t, ROLE_MODEL);
        gantry_json_t *fc = host->json_set(p, "functionCall", GANTRY_JSON_OBJECT);
        if (fc == NULL)
            return gemini_oom(c);
        if (!put_string(c, fc, "name", name) || !add_args(c, fc, args, mi))
            return false;
        if (used < nsig && !put_string(c, p, "thoughtSignature", sigs[used++]))
            return false;
        calls_put(t, host->json_string(host->json_get(tc, "id")), name);
    }
    if (ci == 0 && nsig > 0 && last_text != NULL)
        return put_string(c, last_text, "thoughtSignature", sigs[0]);
    return true;
}

/* A tool message's content as text: a string, or its text parts joined. */
static bool tool_text(gemini_ctx_t *c, const gantry_json_t *content, gantry_str_t *out)
{
    const gantry_host_t *host = c->host;
    if (host->json_type(content) == GANTRY_JSON_STRING) {
        *out = host->json_string(content);
        return true;
    }
    size_t len = 0;
    for (const gantry_json_t *p = host->json_first(content); p != NULL; p = host->json_next(p))
        len += host->json_string(host->json_get(p, "text")).len;
    char *buf = host->alloc(c->req, len + 1);
    if (buf == NULL)
        return gemini_oom(c);
    size_t at = 0;
    for (const gantry_json_t *p = host->json_first(content); p != NULL; p = host->json_next(p)) {
        gantry_str_t s = host->json_string(host->json_get(p, "text"));
        if (s.len > 0)
            memcpy(buf + at, s.ptr, s.len);
        at += s.len;
    }
    buf[at] = '\0';
    *out = (gantry_str_t){buf, at};
    return true;
}

/*
 * A tool (or legacy function) result: functionResponse {name, response} in a user turn.  A result
 * that is a JSON object is the response itself; anything else is wrapped as {"content": text}.
 */
static bool add_tool_result(gemini_ctx_t *c, turns_t *t, const gantry_json_t *msg, size_t mi,
                            bool legacy)
{
    const gantry_host_t *host = c->host;
    gantry_str_t name = GANTRY_STR_NULL, text;
    if (!legacy) {
        name = calls_get(t, host->json_string(host->json_get(msg, "tool_call_id")));
    }
    if (name.len == 0)
        name = host->json_string(host->json_get(msg, "name"));
    if (name.len == 0)
        return gemini_bad(c,
                          "Invalid 'messages[%zu]': its tool_call_id matches no earlier "
                          "assistant tool call, so the function is unknown.",
                          mi);
    if (!tool_text(c, host->json_get(msg, "content"), &text))
        return false;

    gantry_json_t *p = new_part(c, t, ROLE_USER);
    gantry_json_t *fr = host->json_set(p, "functionResponse", GANTRY_JSON_OBJECT);
    if (fr == NULL || !put_string(c, fr, "name", name))
        return fr == NULL ? gemini_oom(c) : false;
    gantry_json_t *parsed = text.len > 0 ? host->json_parse(c->req, text) : NULL;
    if (host->json_type(parsed) == GANTRY_JSON_OBJECT) {
        if (host->json_attach(c->req, fr, "response", parsed) != GANTRY_OK)
            return gemini_oom(c);
        return true;
    }
    host->json_release(c->req, parsed);
    gantry_json_t *resp = host->json_set(fr, "response", GANTRY_JSON_OBJECT);
    if (resp == NULL)
        return gemini_oom(c);
    return put_string(c, resp, "content", text);
}

/*
 * Gemini needs at least one content: a conversation of system messages only is sent as a user
 * turn instead.
 */
static bool system_as_user(gemini_ctx_t *c, turns_t *t, gantry_json_t *body)
{
    const gantry_host_t *host = c->host;
    gantry_json_t *turn = host->json_append(t->contents, GANTRY_JSON_OBJECT);
    if (turn == NULL)
        return gemini_oom(c);
    if (!put_string(c, turn, "role", GANTRY_STR_LIT("user")) ||
        !gemini_copy(c, t->system_parts, turn, "parts"))
        return false;
    host->json_remove(body, "systemInstruction");
    return true;
}

bool gemini_build_contents(gemini_ctx_t *c, const gantry_json_t *messages, gantry_json_t *body)
{
    const gantry_host_t *host = c->host;
    turns_t t = {0};
    size_t mi = 0;
    if ((t.contents = host->json_set(body, "contents", GANTRY_JSON_ARRAY)) == NULL)
        return gemini_oom(c);
    if (!calls_init(c, &t, messages))
        return false;
    for (const gantry_json_t *m = host->json_first(messages); m != NULL;
         m = host->json_next(m), mi++) {
        gantry_str_t role = host->json_string(host->json_get(m, "role"));
        const gantry_json_t *content = host->json_get(m, "content");
        bool ok;
        if (host->json_type(m) != GANTRY_JSON_OBJECT || role.ptr == NULL)
            return gemini_bad(c, "Invalid 'messages[%zu]': expected an object with a 'role'.", mi);
        if (gemini_str_eq(role, "system") || gemini_str_eq(role, "developer"))
            ok = add_system(c, &t, body, content, mi);
        else if (gemini_str_eq(role, "user"))
            ok = add_user_content(c, &t, content, mi);
        else if (gemini_str_eq(role, "assistant"))
            ok = add_assistant(c, &t, m, mi);
        else if (gemini_str_eq(role, "tool"))
            ok = add_tool_result(c, &t, m, mi, false);
        else if (gemini_str_eq(role, "function"))
            ok = add_tool_result(c, &t, m, mi, true);
        else
            ok = gemini_bad(c, "Invalid 'messages[%zu]': unknown role '%.40s'.", mi, role.ptr);
        if (!ok)
            return false;
    }
    if (host->json_count(t.contents) == 0 && t.system_parts != NULL)
        return system_as_user(c, &t, body);
    return true;
}
