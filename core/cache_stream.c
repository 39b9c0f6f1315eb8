/*
 * cache_stream: streams and the cache.  A streamed answer is assembled into the canonical
 * chat.completion as its chunks pass (content, reasoning, tool calls, finish reasons, usage) and
 * stored when the stream ended cleanly; a cached response is replayed to a streaming client as
 * canonical chunks through the pipeline's own chunk path, so every client API (OpenAI, Anthropic,
 * Bedrock, text completions) renders it as it renders an upstream stream.
 */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "log.h"
#include "pipe.h"
#include "req.h"
#include "srv.h"

#define ACC_MAX_CHOICES 16 /* n above this is not cached */
#define ACC_MAX_TOOLS 128  /* tool calls per choice */

/* Text fields of a delta that are concatenated, and of the message they end up in. */
static const char *const text_fields[] = {"content", "reasoning_content", "refusal"};
enum { NTEXT = sizeof text_fields / sizeof text_fields[0] };

typedef struct acc_tool {
    char *id, *name;
    buf_t args;
} acc_tool_t;

typedef struct acc_choice {
    bool seen;
    bool has[NTEXT];
    buf_t text[NTEXT];
    acc_tool_t *tools;
    int ntools;
    cJSON *thinking; /* thinking_blocks, in order */
    cJSON *logprobs; /* logprobs.content entries, in order */
    cJSON *finish;   /* finish_reason */
    cJSON *stop_seq; /* stop_sequence (extension) */
} acc_choice_t;

struct cache_acc {
    cJSON *head; /* id, created, model, system_fingerprint: the first seen of each */
    acc_choice_t choices[ACC_MAX_CHOICES];
    int nchoices;
    cJSON *usage;
    size_t bytes, limit;
    bool broken; /* not storable (too large, too many choices, out of memory) */
};

static void acc_free(void *arg)
{
    struct cache_acc *a = arg;
    cJSON_Delete(a->head);
    cJSON_Delete(a->usage);
    for (int i = 0; i < a->nchoices; i++) {
        acc_choice_t *c = &a->choices[i];
        for (int k = 0; k < NTEXT; k++)
            buf_free(&c->text[k]);
        for (int k = 0; k < c->ntools; k++) {
            free(c->tools[k].id);
            free(c->tools[k].name);
            buf_free(&c->tools[k].args);
        }
        free(c->tools);
        cJSON_Delete(c->thinking);
        cJSON_Delete(c->logprobs);
        cJSON_Delete(c->finish);
        cJSON_Delete(c->stop_seq);
    }
    free(a);
}

static struct cache_acc *acc_of(req_t *r)
{
    if (r->cache_acc != NULL)
        return r->cache_acc;
    struct cache_acc *a = calloc(1, sizeof *a);
    req_cleanup_t *c = arena_alloc(&r->arena, sizeof *c);
    if (a == NULL || c == NULL) {
        free(a);
        r->cache_store = false;
        return NULL;
    }
    a->head = cJSON_CreateObject();
    a->limit = (size_t)r->gen->cfg->server.max_response_bytes;
    *c = (req_cleanup_t){.next = r->cleanups, .fn = acc_free, .arg = a};
    r->cleanups = c;
    r->cache_acc = a;
    if (a->head == NULL)
        a->broken = true;
    return a;
}

static void append(struct cache_acc *a, buf_t *b, const char *s)
{
    size_t n = strlen(s);
    a->bytes += n;
    if (a->bytes > a->limit || buf_append(b, s, n) != 0)
        a->broken = true;
}

/* Keep the first value of a head field (id, model, ...). */
static void keep_head(struct cache_acc *a, const cJSON *chunk, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(chunk, key);
    if (v == NULL || cJSON_IsNull(v) || cJSON_GetObjectItemCaseSensitive(a->head, key) != NULL)
        return;
    if (cJSON_IsString(v) && v->valuestring[0] == '\0')
        return; /* e.g. Azure's prompt-filter chunk: the real id comes later */
    cJSON *d = cJSON_Duplicate(v, true);
    if (d == NULL || !cJSON_AddItemToObject(a->head, key, d)) {
        cJSON_Delete(d);
        a->broken = true;
    }
}

/* Replace *slot by a copy of v. */
static void keep(struct cache_acc *a, cJSON **slot, const cJSON *v)
{
    cJSON *d = cJSON_Duplicate(v, true);
    if (d == NULL) {
        a->broken = true;
        return;
    }
    cJSON_Delete(*slot);
    *slot = d;
}

/* Append copies of the items of arr to *list (created on first use). */
static void extend(struct cache_acc *a, cJSON **list, const cJSON *arr)
{
    if (*list == NULL && (*list = cJSON_CreateArray()) == NULL) {
        a->broken = true;
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        cJSON *d = cJSON_Duplicate(it, true);
        if (d == NULL || !cJSON_AddItemToArray(*list, d)) {
            cJSON_Delete(d);
            a->broken = true;
            return;
        }
    }
}

static void take_tool(struct cache_acc *a, acc_choice_t *c, const cJSON *tc)
{
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(tc, "index");
    double di = cJSON_IsNumber(idx) ? idx->valuedouble : 0;
    /* Upstream-controlled: range-check before the cast. */
    if (!(di >= 0 && di < ACC_MAX_TOOLS)) {
        a->broken = true;
        return;
    }
    int i = (int)di;
    if (i >= c->ntools) {
        acc_tool_t *t = realloc(c->tools, (size_t)(i + 1) * sizeof *t);
        if (t == NULL) {
            a->broken = true;
            return;
        }
        memset(t + c->ntools, 0, (size_t)(i + 1 - c->ntools) * sizeof *t);
        c->tools = t;
        c->ntools = i + 1;
    }
    acc_tool_t *t = &c->tools[i];
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    if (cJSON_IsString(id) && id->valuestring[0] != '\0' && t->id == NULL &&
        (t->id = strdup(id->valuestring)) == NULL)
        a->broken = true;
    if (cJSON_IsString(name) && name->valuestring[0] != '\0' && t->name == NULL &&
        (t->name = strdup(name->valuestring)) == NULL)
        a->broken = true;
    if (cJSON_IsString(args))
        append(a, &t->args, args->valuestring);
}

static void take_choice(struct cache_acc *a, const cJSON *ch)
{
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(ch, "index");
    double di = cJSON_IsNumber(idx) ? idx->valuedouble : 0;
    if (!(di >= 0 && di < ACC_MAX_CHOICES)) {
        a->broken = true;
        return;
    }
    int i = (int)di;
    if (i >= a->nchoices)
        a->nchoices = i + 1;
    acc_choice_t *c = &a->choices[i];
    c->seen = true;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
    for (int k = 0; k < NTEXT; k++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, text_fields[k]);
        if (cJSON_IsString(t)) {
            c->has[k] = true;
            append(a, &c->text[k], t->valuestring);
        }
    }
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(d, "tool_calls"))
    {
        take_tool(a, c, tc);
    }
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(d, "thinking_blocks");
    if (cJSON_IsArray(tb))
        extend(a, &c->thinking, tb);
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ch, "logprobs"), "content");
    if (cJSON_IsArray(lp))
        extend(a, &c->logprobs, lp);
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
    if (cJSON_IsString(fr))
        keep(a, &c->finish, fr);
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(ch, "stop_sequence");
    if (ss != NULL && !cJSON_IsNull(ss))
        keep(a, &c->stop_seq, ss);
}

void cache_chunk(req_t *r, const cJSON *chunk)
{
    if (!r->cache_store || r->cache_hit)
        return;
    struct cache_acc *a = acc_of(r);
    if (a == NULL || a->broken)
        return;
    static const char *const head[] = {"id", "created", "model", "system_fingerprint"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        keep_head(a, chunk, head[i]);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    if (cJSON_IsObject(usage))
        keep(a, &a->usage, usage);
    const cJSON *ch;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(chunk, "choices"))
    {
        take_choice(a, ch);
    }
}

/* A buffer's bytes as a JSON string member. */
static bool add_text(cJSON *obj, const char *key, const buf_t *b)
{
    char *s = malloc(b->len + 1);
    if (s == NULL)
        return false;
    if (b->len > 0)
        memcpy(s, b->ptr, b->len);
    s[b->len] = '\0';
    bool ok = cJSON_AddStringToObject(obj, key, s) != NULL;
    free(s);
    return ok;
}

static bool add_copy(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON *d = cJSON_Duplicate(v, true);
    if (d == NULL || !cJSON_AddItemToObject(obj, key, d)) {
        cJSON_Delete(d);
        return false;
    }
    return true;
}

static cJSON *build_message(const acc_choice_t *c)
{
    cJSON *m = cJSON_CreateObject();
    bool ok = m != NULL && cJSON_AddStringToObject(m, "role", "assistant") != NULL;
    ok = ok && (c->has[0] ? add_text(m, "content", &c->text[0])
                          : cJSON_AddNullToObject(m, "content") != NULL);
    for (int k = 1; ok && k < NTEXT; k++) {
        if (c->has[k])
            ok = add_text(m, text_fields[k], &c->text[k]);
    }
    if (ok && c->thinking != NULL)
        ok = add_copy(m, "thinking_blocks", c->thinking);
    cJSON *calls = ok && c->ntools > 0 ? cJSON_AddArrayToObject(m, "tool_calls") : NULL;
    ok = ok && (c->ntools == 0 || calls != NULL);
    for (int k = 0; ok && k < c->ntools; k++) {
        const acc_tool_t *t = &c->tools[k];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(calls, o)) {
            cJSON_Delete(o);
            ok = false;
            break;
        }
        cJSON *fn = cJSON_AddObjectToObject(o, "function");
        ok = fn != NULL && cJSON_AddStringToObject(o, "id", t->id ? t->id : "") != NULL &&
             cJSON_AddStringToObject(o, "type", "function") != NULL &&
             cJSON_AddStringToObject(fn, "name", t->name ? t->name : "") != NULL &&
             add_text(fn, "arguments", &t->args);
    }
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* The canonical chat.completion the stream amounted to; NULL when it cannot be stored. */
static cJSON *build(const struct cache_acc *a)
{
    if (a->broken || a->nchoices == 0)
        return NULL;
    cJSON *resp = cJSON_CreateObject();
    if (resp == NULL)
        return NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(a->head, "id");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(a->head, "created");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(a->head, "model");
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(a->head, "system_fingerprint");
    bool ok = (id ? add_copy(resp, "id", id) : cJSON_AddStringToObject(resp, "id", "") != NULL) &&
              cJSON_AddStringToObject(resp, "object", "chat.completion") != NULL &&
              (created ? add_copy(resp, "created", created)
                       : cJSON_AddNumberToObject(resp, "created", 0) != NULL) &&
              (model ? add_copy(resp, "model", model)
                     : cJSON_AddStringToObject(resp, "model", "") != NULL) &&
              (fp == NULL || add_copy(resp, "system_fingerprint", fp));
    cJSON *choices = ok ? cJSON_AddArrayToObject(resp, "choices") : NULL;
    ok = choices != NULL;
    for (int i = 0; ok && i < a->nchoices; i++) {
        const acc_choice_t *c = &a->choices[i];
        if (!c->seen)
            continue;
        if (c->finish == NULL) {
            ok = false; /* a choice that never finished: not a complete answer */
            break;
        }
        cJSON *ch = cJSON_CreateObject();
        cJSON *m = build_message(c);
        ok = ch != NULL && m != NULL && cJSON_AddItemToArray(choices, ch);
        if (!ok) {
            cJSON_Delete(ch);
            cJSON_Delete(m);
            break;
        }
        ok = cJSON_AddNumberToObject(ch, "index", i) != NULL &&
             cJSON_AddItemToObject(ch, "message", m) && add_copy(ch, "finish_reason", c->finish);
        if (ok && c->stop_seq != NULL)
            ok = add_copy(ch, "stop_sequence", c->stop_seq);
        if (ok && c->logprobs != NULL) {
            cJSON *lp = cJSON_AddObjectToObject(ch, "logprobs");
            ok = lp != NULL && add_copy(lp, "content", c->logprobs);
        }
    }
    if (ok && a->usage != NULL)
        ok = add_copy(resp, "usage", a->usage);
    if (!ok) {
        cJSON_Delete(resp);
        return NULL;
    }
    return resp;
}

void cache_stream_done(req_t *r)
{
    struct cache_acc *a = r->cache_acc;
    if (!r->cache_store || r->cache_hit || r->failed || a == NULL)
        return;
    cJSON *resp = build(a);
    if (resp == NULL) {
        log_msg(LOG_DEBUG, r->id, "streamed answer not cached (incomplete, or too large)");
        r->cache_store = false;
        return;
    }
    cache_store_value(r, resp, NULL, 0);
    cJSON_Delete(resp);
}

/* ---- replay ---- */

/* An empty chunk of the cached response with one choice whose delta the caller fills. */
static cJSON *new_chunk(const cJSON *resp, int index, cJSON **delta)
{
    cJSON *c = cJSON_CreateObject();
    if (c == NULL)
        return NULL;
    static const char *const head[] = {"id", "created", "model", "system_fingerprint"};
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof head / sizeof head[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(resp, head[i]);
        if (v != NULL)
            ok = add_copy(c, head[i], v);
        if (ok && i == 0)
            ok = cJSON_AddStringToObject(c, "object", "chat.completion.chunk") != NULL;
    }
    cJSON *choices = ok ? cJSON_AddArrayToObject(c, "choices") : NULL;
    if (delta == NULL) { /* the usage chunk: "choices": [] */
        if (choices == NULL) {
            cJSON_Delete(c);
            return NULL;
        }
        return c;
    }
    cJSON *ch = cJSON_CreateObject();
    ok = choices != NULL && ch != NULL && cJSON_AddItemToArray(choices, ch);
    if (!ok)
        cJSON_Delete(ch);
    ok = ok && cJSON_AddNumberToObject(ch, "index", index) != NULL &&
         (*delta = cJSON_AddObjectToObject(ch, "delta")) != NULL &&
         cJSON_AddNullToObject(ch, "finish_reason") != NULL;
    if (!ok) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* Hand a chunk to the pipeline (which takes it); false when the replay must stop. */
static bool emit(req_t *r, cJSON *chunk)
{
    if (chunk == NULL) {
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "out of memory replaying a cached answer");
        pipe_fail(r);
        return false;
    }
    pipe_stream_chunk(r, chunk, NULL, 0);
    return !r->failed && !r->final_sent && !r->client_gone;
}

/* One chunk whose delta carries a copy of each of the named message fields present. */
static bool emit_fields(req_t *r, const cJSON *resp, int index, const cJSON *msg,
                        const char *const *keys, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, keys[i]);
        any = any || (v != NULL && !cJSON_IsNull(v) &&
                      !(cJSON_IsString(v) && v->valuestring[0] == '\0'));
    }
    if (!any)
        return true;
    cJSON *delta = NULL;
    cJSON *c = new_chunk(resp, index, &delta);
    for (size_t i = 0; c != NULL && i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, keys[i]);
        if (v != NULL && !cJSON_IsNull(v) && !add_copy(delta, keys[i], v)) {
            cJSON_Delete(c);
            c = NULL;
        }
    }
    return emit(r, c);
}

/* A tool call as OpenAI streams it: id, type and name first, then the arguments. */
static bool emit_tool(req_t *r, const cJSON *resp, int index, int k, const cJSON *tc)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    for (int part = 0; part < 2; part++) {
        if (part == 1 && (!cJSON_IsString(args) || args->valuestring[0] == '\0'))
            break;
        cJSON *delta = NULL;
        cJSON *c = new_chunk(resp, index, &delta);
        cJSON *calls = c ? cJSON_AddArrayToObject(delta, "tool_calls") : NULL;
        cJSON *t = calls ? cJSON_CreateObject() : NULL;
        if (t != NULL && !cJSON_AddItemToArray(calls, t)) {
            cJSON_Delete(t);
            t = NULL;
        }
        cJSON *f = t ? cJSON_AddObjectToObject(t, "function") : NULL;
        bool ok = f != NULL && cJSON_AddNumberToObject(t, "index", k) != NULL;
        if (ok && part == 0)
            ok = cJSON_AddStringToObject(t, "id", cJSON_IsString(id) ? id->valuestring : "") &&
                 cJSON_AddStringToObject(t, "type", "function") &&
                 cJSON_AddStringToObject(f, "name",
                                         cJSON_IsString(name) ? name->valuestring : "") &&
                 cJSON_AddStringToObject(f, "arguments", "");
        else if (ok)
            ok = cJSON_AddStringToObject(f, "arguments", args->valuestring) != NULL;
        if (!ok) {
            cJSON_Delete(c);
            c = NULL;
        }
        if (!emit(r, c))
            return false;
    }
    return true;
}

static bool replay_choice(req_t *r, const cJSON *resp, const cJSON *ch)
{
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(ch, "index");
    int index = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                    ? (int)idx->valuedouble
                    : 0;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
    /* As OpenAI opens a stream: the role, with empty content. */
    cJSON *delta = NULL;
    cJSON *c = new_chunk(resp, index, &delta);
    if (c != NULL && (cJSON_AddStringToObject(delta, "role", "assistant") == NULL ||
                      cJSON_AddStringToObject(delta, "content", "") == NULL)) {
        cJSON_Delete(c);
        c = NULL;
    }
    if (!emit(r, c))
        return false;
    static const char *const reasoning[] = {"reasoning_content", "thinking_blocks"};
    static const char *const content[] = {"content"};
    static const char *const refusal[] = {"refusal"};
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!emit_fields(r, resp, index, msg, reasoning, 2) ||
        (cJSON_IsString(text) && !emit_fields(r, resp, index, msg, content, 1)) ||
        !emit_fields(r, resp, index, msg, refusal, 1))
        return false;
    int k = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
    {
        if (!emit_tool(r, resp, index, k++, tc))
            return false;
    }
    /* The finish chunk: an empty delta, the reason, and what else the choice carried. */
    c = new_chunk(resp, index, &delta);
    cJSON *choice = c ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "choices"), 0) : NULL;
    static const char *const tail[] = {"finish_reason", "stop_sequence", "logprobs"};
    for (size_t i = 0; choice != NULL && i < sizeof tail / sizeof tail[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ch, tail[i]);
        if (v == NULL)
            continue;
        cJSON *d = cJSON_Duplicate(v, true);
        bool ok = d != NULL && (cJSON_GetObjectItemCaseSensitive(choice, tail[i]) != NULL
                                    ? cJSON_ReplaceItemInObjectCaseSensitive(choice, tail[i], d)
                                    : cJSON_AddItemToObject(choice, tail[i], d));
        if (!ok) {
            cJSON_Delete(d);
            choice = NULL;
        }
    }
    if (choice == NULL) {
        cJSON_Delete(c);
        c = NULL;
    }
    return emit(r, c);
}

void cache_replay(req_t *r)
{
    const cJSON *resp = r->resp;
    req_hold(r);
    r->phase = PH_RESPONSE;
    const cJSON *ch;
    bool ok = true;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(resp, "choices"))
    {
        if (!(ok = replay_choice(r, resp, ch)))
            break;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    if (ok && cJSON_IsObject(usage)) {
        cJSON *c = new_chunk(resp, 0, NULL);
        if (c != NULL && !add_copy(c, "usage", usage)) {
            cJSON_Delete(c);
            c = NULL;
        }
        ok = emit(r, c);
    }
    /* Nothing was asked of an upstream: no tokens to count or pay for. */
    r->prompt_tokens = r->completion_tokens = r->total_tokens = r->cached_tokens = 0;
    if (ok)
        pipe_stream_end(r);
    req_release(r);
}
