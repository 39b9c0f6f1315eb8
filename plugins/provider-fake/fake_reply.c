/*
 * The fake provider: the canonical JSON documents of an answer, shaped exactly as OpenAI's
 * chat.completion and chat.completion.chunk objects so that clients cannot tell the difference.
 * A document that cannot be completed (arena exhausted) is left to the arena and NULL returned.
 */
#include <string.h>

#include "fake.h"

/* Builds a document and remembers whether every step worked, so that callers check once. */
typedef struct builder {
    const gantry_host_t *host;
    bool ok;
} builder_t;

static gantry_json_t *put(builder_t *b, gantry_json_t *parent, const char *key,
                          gantry_json_type_t type)
{
    gantry_json_t *node = NULL;
    if (b->ok && parent != NULL)
        node =
            key != NULL ? b->host->json_set(parent, key, type) : b->host->json_append(parent, type);
    b->ok = node != NULL;
    return node;
}

static void put_str(builder_t *b, gantry_json_t *parent, const char *key, gantry_str_t value)
{
    gantry_json_t *node = put(b, parent, key, GANTRY_JSON_STRING);
    if (node != NULL && b->host->json_set_string(node, value) != GANTRY_OK)
        b->ok = false;
}

static void put_num(builder_t *b, gantry_json_t *parent, const char *key, double value)
{
    gantry_json_t *node = put(b, parent, key, GANTRY_JSON_NUMBER);
    if (node != NULL && b->host->json_set_number(node, value) != GANTRY_OK)
        b->ok = false;
}

static const char *finish_reason(const fake_run_t *run)
{
    return run->truncated ? "length" : "stop";
}

/* A new root with the fields every document of the answer shares. */
static gantry_json_t *start(builder_t *b, fake_run_t *run, const char *object)
{
    b->host = run->host;
    gantry_json_t *root = run->host->json_new(run->req, GANTRY_JSON_OBJECT);
    b->ok = root != NULL;
    put_str(b, root, "id", run->id);
    put_str(b, root, "object", (gantry_str_t){object, strlen(object)});
    put_num(b, root, "created", (double)run->created);
    put_str(b, root, "model", run->dep->model);
    return root;
}

static void put_usage(builder_t *b, fake_run_t *run, gantry_json_t *root)
{
    gantry_json_t *usage = put(b, root, "usage", GANTRY_JSON_OBJECT);
    put_num(b, usage, "prompt_tokens", (double)run->prompt_tokens);
    put_num(b, usage, "completion_tokens", (double)run->total);
    put_num(b, usage, "total_tokens", (double)(run->prompt_tokens + run->total));
}

/* The whole answer text in the arena (the tokens joined); NULL when the arena is exhausted. */
static char *answer_text(fake_run_t *run, size_t *len)
{
    fake_words_t w = run->words;
    size_t n = 0;
    for (uint32_t i = 0; i < run->total; i++)
        n += fake_words_next(&w).len;

    char *text = run->host->alloc(run->req, n + 1);
    if (text == NULL)
        return NULL;
    w = run->words;
    size_t o = 0;
    for (uint32_t i = 0; i < run->total; i++) {
        gantry_str_t t = fake_words_next(&w);
        memcpy(text + o, t.ptr, t.len);
        o += t.len;
    }
    text[o] = '\0';
    *len = o;
    return text;
}

gantry_json_t *fake_reply_completion(fake_run_t *run)
{
    builder_t b;
    size_t len = 0;
    char *text = answer_text(run, &len);
    gantry_json_t *root = start(&b, run, "chat.completion");
    b.ok = b.ok && text != NULL;

    gantry_json_t *choice =
        put(&b, put(&b, root, "choices", GANTRY_JSON_ARRAY), NULL, GANTRY_JSON_OBJECT);
    put_num(&b, choice, "index", 0);
    gantry_json_t *message = put(&b, choice, "message", GANTRY_JSON_OBJECT);
    put_str(&b, message, "role", GANTRY_STR_LIT("assistant"));
    put_str(&b, message, "content", (gantry_str_t){text, len});
    put_str(&b, choice, "finish_reason",
            (gantry_str_t){finish_reason(run), strlen(finish_reason(run))});
    put_usage(&b, run, root);
    return b.ok ? root : NULL;
}

/* A chunk with one choice whose delta the caller fills; finish_reason is null until the end. */
static gantry_json_t *start_chunk(builder_t *b, fake_run_t *run, gantry_json_t **delta,
                                  const char *finish)
{
    gantry_json_t *root = start(b, run, "chat.completion.chunk");
    gantry_json_t *choice =
        put(b, put(b, root, "choices", GANTRY_JSON_ARRAY), NULL, GANTRY_JSON_OBJECT);
    put_num(b, choice, "index", 0);
    *delta = put(b, choice, "delta", GANTRY_JSON_OBJECT);
    if (finish != NULL)
        put_str(b, choice, "finish_reason", (gantry_str_t){finish, strlen(finish)});
    else
        put(b, choice, "finish_reason", GANTRY_JSON_NULL);
    return root;
}

gantry_json_t *fake_reply_chunk_role(fake_run_t *run)
{
    builder_t b;
    gantry_json_t *delta;
    gantry_json_t *root = start_chunk(&b, run, &delta, NULL);
    put_str(&b, delta, "role", GANTRY_STR_LIT("assistant"));
    put_str(&b, delta, "content", GANTRY_STR_LIT(""));
    return b.ok ? root : NULL;
}

gantry_json_t *fake_reply_chunk_token(fake_run_t *run, gantry_str_t token)
{
    builder_t b;
    gantry_json_t *delta;
    gantry_json_t *root = start_chunk(&b, run, &delta, NULL);
    put_str(&b, delta, "content", token);
    return b.ok ? root : NULL;
}

gantry_json_t *fake_reply_chunk_finish(fake_run_t *run)
{
    builder_t b;
    gantry_json_t *delta;
    gantry_json_t *root = start_chunk(&b, run, &delta, finish_reason(run));
    return b.ok ? root : NULL;
}

/* The usage chunk OpenAI sends last when stream_options.include_usage is set: no choices. */
gantry_json_t *fake_reply_chunk_usage(fake_run_t *run)
{
    builder_t b;
    gantry_json_t *root = start(&b, run, "chat.completion.chunk");
    put(&b, root, "choices", GANTRY_JSON_ARRAY);
    put_usage(&b, run, root);
    return b.ok ? root : NULL;
}
