/*
 * brk_invoke: InvokeModel and InvokeModelWithResponseStream bodies.  Their body is the model
 * family's own format; the family is recognised from the body itself (the model id in the URL is a
 * Gantry model group, which says nothing about the format the client speaks), translated to the
 * canonical request, and the answer is written back in the same family's response or stream-chunk
 * format.  Stream chunks travel as event-stream `chunk` events whose payload is
 * {"bytes": base64(<the family's chunk JSON>)}, and the last one carries
 * "amazon-bedrock-invocationMetrics", as Bedrock sends them.
 */
#include <stdio.h>
#include <string.h>

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

static int bad(brk_err_t *e, const char *msg)
{
    e->status = 400;
    snprintf(e->message, sizeof e->message, "%s", msg);
    return -1;
}

static int oom(brk_err_t *e)
{
    e->status = 500;
    snprintf(e->message, sizeof e->message, "out of memory translating the request");
    return -1;
}

const char *brk_family_name(brk_family_t f)
{
    switch (f) {
    case BRK_FAM_ANTHROPIC:
        return "anthropic";
    case BRK_FAM_NOVA:
        return "nova";
    case BRK_FAM_TITAN:
        return "titan";
    case BRK_FAM_LLAMA:
        return "llama";
    case BRK_FAM_MISTRAL:
        return "mistral";
    case BRK_FAM_OPENAI:
        return "openai";
    default:
        return "unknown";
    }
}

/* ---- detection ---- */

/*
 * Which family a body is, by the members only that family uses, in this order:
 *   "anthropic_version"                                        -> Anthropic Messages
 *   "schemaVersion" or "inferenceConfig"                       -> Nova
 *   "messages":
 *       a role other than user/assistant, or max_completion_tokens -> OpenAI chat
 *       a content block without "type" (Nova's {"text": ...})     -> Nova
 *       "max_tokens" (Anthropic requires it)                       -> Anthropic Messages
 *       otherwise                                                  -> OpenAI chat
 *   "inputText"                                                -> Titan Text
 *   "prompt": "max_gen_len", or none of max_tokens/top_k/stop  -> Llama
 *             otherwise (max_tokens, top_k or stop, Mistral's) -> Mistral
 * Anything else is not recognised (a ValidationException).
 */
brk_family_t brk_invoke_detect(const cJSON *body)
{
    if (!cJSON_IsObject(body))
        return BRK_FAM_UNKNOWN;
    if (get(body, "anthropic_version") != NULL)
        return BRK_FAM_ANTHROPIC;
    if (get(body, "schemaVersion") != NULL || get(body, "inferenceConfig") != NULL)
        return BRK_FAM_NOVA;
    const cJSON *msgs = get(body, "messages");
    if (cJSON_IsArray(msgs)) {
        if (get(body, "max_completion_tokens") != NULL)
            return BRK_FAM_OPENAI;
        const cJSON *m, *b;
        bool untyped = false;
        cJSON_ArrayForEach(m, msgs)
        {
            const char *role = str_of(get(m, "role"));
            if (role != NULL && strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
                return BRK_FAM_OPENAI;
            const cJSON *content = get(m, "content");
            cJSON_ArrayForEach(b, (cJSON_IsArray(content) ? content : NULL))
            {
                if (cJSON_IsObject(b) && get(b, "type") == NULL)
                    untyped = true;
            }
        }
        if (untyped)
            return BRK_FAM_NOVA;
        return get(body, "max_tokens") != NULL ? BRK_FAM_ANTHROPIC : BRK_FAM_OPENAI;
    }
    if (get(body, "inputText") != NULL)
        return BRK_FAM_TITAN;
    if (get(body, "prompt") != NULL) {
        if (get(body, "max_gen_len") != NULL)
            return BRK_FAM_LLAMA;
        if (get(body, "max_tokens") != NULL || get(body, "top_k") != NULL ||
            get(body, "stop") != NULL)
            return BRK_FAM_MISTRAL;
        return BRK_FAM_LLAMA;
    }
    return BRK_FAM_UNKNOWN;
}

/* ---- requests ---- */

/* A number member copied under another name; -1 when it is there but not a number. */
static int copy_num(const cJSON *from, const char *key, cJSON *to, const char *as, bool integer)
{
    const cJSON *v = get(from, key);
    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || (integer && (!(v->valuedouble >= 0) || v->valuedouble > 1e9 ||
                                           v->valuedouble != (double)(long long)v->valuedouble)))
        return -1;
    return cJSON_AddNumberToObject(to, as, v->valuedouble) ? 0 : -2;
}

static int copy_stop(const cJSON *v, cJSON *to)
{
    if (v == NULL)
        return 0;
    const cJSON *s;
    bool ok = cJSON_IsArray(v) || cJSON_IsString(v);
    cJSON_ArrayForEach(s, (cJSON_IsArray(v) ? v : NULL))
    {
        ok = ok && cJSON_IsString(s);
    }
    if (!ok)
        return -1;
    cJSON *d = cJSON_Duplicate(v, true);
    if (d == NULL || !cJSON_AddItemToObject(to, "stop", d)) {
        cJSON_Delete(d);
        return -2;
    }
    return 0;
}

/* The MIME type of a base64 image from its first bytes (Llama's "images" carry no format). */
static const char *sniff_image(const char *b64)
{
    if (strncmp(b64, "/9j/", 4) == 0)
        return "image/jpeg";
    if (strncmp(b64, "R0lGOD", 6) == 0)
        return "image/gif";
    if (strncmp(b64, "UklGR", 5) == 0)
        return "image/webp";
    return "image/png";
}

/* {"role":"user","content": prompt | [text, images...]} */
static int user_prompt(cJSON *msgs, const char *prompt, const cJSON *images, brk_err_t *e)
{
    cJSON *m = cJSON_CreateObject();
    if (m == NULL || !cJSON_AddItemToArray(msgs, m)) {
        cJSON_Delete(m);
        return oom(e);
    }
    if (!cJSON_AddStringToObject(m, "role", "user"))
        return oom(e);
    if (cJSON_GetArraySize(images) == 0)
        return cJSON_AddStringToObject(m, "content", prompt) ? 0 : oom(e);
    cJSON *parts = cJSON_AddArrayToObject(m, "content");
    cJSON *t = parts ? cJSON_CreateObject() : NULL;
    if (t == NULL || !cJSON_AddItemToArray(parts, t) ||
        !cJSON_AddStringToObject(t, "type", "text") || !cJSON_AddStringToObject(t, "text", prompt))
        return oom(e);
    const cJSON *img;
    cJSON_ArrayForEach(img, images)
    {
        if (!cJSON_IsString(img) || img->valuestring[0] == '\0')
            return bad(e, "Malformed input request: 'images' must be base64 strings.");
        buf_t url = {0};
        cJSON *p = cJSON_CreateObject();
        cJSON *iu = NULL;
        bool ok = p != NULL && cJSON_AddItemToArray(parts, p);
        if (!ok)
            cJSON_Delete(p);
        ok = ok && cJSON_AddStringToObject(p, "type", "image_url") &&
             (iu = cJSON_AddObjectToObject(p, "image_url")) != NULL &&
             buf_appendz(&url, "data:") == 0 &&
             buf_appendz(&url, sniff_image(img->valuestring)) == 0 &&
             buf_appendz(&url, ";base64,") == 0 && buf_appendz(&url, img->valuestring) == 0 &&
             buf_append(&url, "", 1) == 0 && cJSON_AddStringToObject(iu, "url", url.ptr);
        buf_free(&url);
        if (!ok)
            return oom(e);
    }
    return 0;
}

/* Titan, Llama and Mistral: one prompt and a few sampling parameters. */
static int prompt_family(brk_family_t fam, const cJSON *body, cJSON *o, brk_err_t *e)
{
    const cJSON *msgs_src = fam == BRK_FAM_TITAN ? get(body, "inputText") : get(body, "prompt");
    if (!cJSON_IsString(msgs_src))
        return bad(e, fam == BRK_FAM_TITAN
                          ? "Malformed input request: 'inputText' must be a string."
                          : "Malformed input request: 'prompt' must be a string.");
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    if (msgs == NULL)
        return oom(e);
    const cJSON *images = fam == BRK_FAM_LLAMA ? get(body, "images") : NULL;
    if (images != NULL && !cJSON_IsArray(images))
        return bad(e, "Malformed input request: 'images' must be an array of base64 strings.");
    if (user_prompt(msgs, msgs_src->valuestring, images, e) != 0)
        return -1;
    int rc = 0;
    const char *what = "Malformed input request: a sampling parameter has the wrong type.";
    switch (fam) {
    case BRK_FAM_TITAN: {
        const cJSON *tgc = get(body, "textGenerationConfig");
        if (tgc != NULL && !cJSON_IsObject(tgc))
            return bad(e, "Malformed input request: 'textGenerationConfig' must be an object.");
        if ((rc = copy_num(tgc, "maxTokenCount", o, "max_tokens", true)) == 0 &&
            (rc = copy_num(tgc, "temperature", o, "temperature", false)) == 0 &&
            (rc = copy_num(tgc, "topP", o, "top_p", false)) == 0) {
            const cJSON *stop = get(tgc, "stopSequences");
            rc = cJSON_GetArraySize(stop) > 0 || !cJSON_IsArray(stop) ? copy_stop(stop, o) : 0;
        }
        break;
    }
    case BRK_FAM_LLAMA:
        if ((rc = copy_num(body, "max_gen_len", o, "max_tokens", true)) == 0 &&
            (rc = copy_num(body, "temperature", o, "temperature", false)) == 0)
            rc = copy_num(body, "top_p", o, "top_p", false);
        break;
    default: /* Mistral */
        if ((rc = copy_num(body, "max_tokens", o, "max_tokens", true)) == 0 &&
            (rc = copy_num(body, "temperature", o, "temperature", false)) == 0 &&
            (rc = copy_num(body, "top_p", o, "top_p", false)) == 0 &&
            (rc = copy_num(body, "top_k", o, "top_k", true)) == 0)
            rc = copy_stop(get(body, "stop"), o);
        break;
    }
    return rc == 0 ? 0 : rc == -1 ? bad(e, what) : oom(e);
}

/* An OpenAI chat body is the canonical request already: checked lightly, model and stream set. */
static int openai_body(const cJSON *body, const char *model, bool stream, cJSON **out, brk_err_t *e)
{
    const cJSON *msgs = get(body, "messages"), *m;
    if (cJSON_GetArraySize(msgs) == 0)
        return bad(e, "Malformed input request: 'messages' must not be empty.");
    cJSON_ArrayForEach(m, msgs)
    {
        if (!cJSON_IsString(get(m, "role")))
            return bad(e, "Malformed input request: every message needs a string 'role'.");
    }
    cJSON *o = cJSON_Duplicate(body, true);
    if (o == NULL)
        return oom(e);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "model");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "stream");
    if (!cJSON_AddStringToObject(o, "model", model) ||
        (stream && !cJSON_AddTrueToObject(o, "stream"))) {
        cJSON_Delete(o);
        return oom(e);
    }
    *out = o;
    return 0;
}

int brk_invoke_parse(const char *text, size_t len, const char *model, bool stream,
                     brk_family_t *fam, cJSON **out, brk_err_t *err)
{
    *out = NULL;
    *fam = BRK_FAM_UNKNOWN;
    cJSON *body = text != NULL && len > 0 ? cJSON_ParseWithLength(text, len) : NULL;
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return bad(err, "Malformed input request: the body must be a JSON object in the model's "
                        "own request format; please reformat your input and try again.");
    }
    int rc = -1;
    *fam = brk_invoke_detect(body);
    switch (*fam) {
    case BRK_FAM_ANTHROPIC: {
        /* Without anthropic_version, anth.h wants a "model": the one from the URL. */
        if (get(body, "anthropic_version") == NULL && get(body, "model") == NULL &&
            !cJSON_AddStringToObject(body, "model", model)) {
            oom(err);
            break;
        }
        anth_err_t ae;
        if (anth_to_canonical(body, out, &ae) != 0) {
            err->status = ae.status;
            snprintf(err->message, sizeof err->message, "%s", ae.message);
            break;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(*out, "model");
        cJSON_DeleteItemFromObjectCaseSensitive(*out, "stream");
        if (!cJSON_AddStringToObject(*out, "model", model) ||
            (stream && !cJSON_AddTrueToObject(*out, "stream"))) {
            cJSON_Delete(*out);
            *out = NULL;
            oom(err);
            break;
        }
        rc = 0;
        break;
    }
    case BRK_FAM_NOVA:
        rc = brk_converse_to_canonical(body, model, stream, BRK_NOVA, out, err);
        break;
    case BRK_FAM_OPENAI:
        rc = openai_body(body, model, stream, out, err);
        break;
    case BRK_FAM_TITAN:
    case BRK_FAM_LLAMA:
    case BRK_FAM_MISTRAL: {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddStringToObject(o, "model", model)) {
            cJSON_Delete(o);
            oom(err);
            break;
        }
        if (prompt_family(*fam, body, o, err) != 0 ||
            (stream && !cJSON_AddTrueToObject(o, "stream") && oom(err))) {
            cJSON_Delete(o);
            break;
        }
        *out = o;
        rc = 0;
        break;
    }
    default:
        bad(err, "Malformed input request: the body is not in a model format this gateway knows "
                 "(Anthropic Messages, Amazon Nova, Amazon Titan Text, Meta Llama, Mistral or "
                 "OpenAI chat).");
        break;
    }
    cJSON_Delete(body);
    return rc;
}

/* ---- responses ---- */

/* The answer's text (a string or text parts), as a new string; NULL when out of memory. */
static char *answer_text(const cJSON *msg)
{
    buf_t b = {0};
    const cJSON *c = get(msg, "content"), *p;
    bool ok = true;
    if (cJSON_IsString(c))
        ok = buf_appendz(&b, c->valuestring) == 0;
    cJSON_ArrayForEach(p, (cJSON_IsArray(c) ? c : NULL))
    {
        const char *t = str_of(get(p, "text"));
        if (ok && t != NULL)
            ok = buf_appendz(&b, t) == 0;
    }
    if (!ok || buf_append(&b, "", 1) != 0) {
        buf_free(&b);
        return NULL;
    }
    return b.ptr;
}

/* The family's word for how the answer ended. */
static const char *family_stop(brk_family_t fam, const char *finish)
{
    bool length = finish != NULL && strcmp(finish, "length") == 0;
    bool filtered = finish != NULL && strcmp(finish, "content_filter") == 0;
    if (fam == BRK_FAM_TITAN)
        return length ? "LENGTH" : filtered ? "CONTENT_FILTERED" : "FINISH";
    return length ? "length" : "stop";
}

static cJSON *plain_response(brk_family_t fam, const cJSON *canon)
{
    const cJSON *choice = cJSON_GetArrayItem(get(canon, "choices"), 0);
    const char *finish = str_of(get(choice, "finish_reason"));
    brk_usage_t u;
    brk_usage_read(get(canon, "usage"), &u);
    double in = (double)(u.input + u.cache_read + u.cache_write), out = (double)u.output;
    char *text = answer_text(get(choice, "message"));
    cJSON *o = text ? cJSON_CreateObject() : NULL;
    bool ok = o != NULL;
    if (ok && fam == BRK_FAM_TITAN) {
        cJSON *results = cJSON_AddArrayToObject(o, "results");
        cJSON *r = results ? cJSON_CreateObject() : NULL;
        ok = cJSON_AddNumberToObject(o, "inputTextTokenCount", in) && r != NULL &&
             cJSON_AddItemToArray(results, r);
        if (!ok)
            cJSON_Delete(r);
        ok = ok && cJSON_AddNumberToObject(r, "tokenCount", out) &&
             cJSON_AddStringToObject(r, "outputText", text) &&
             cJSON_AddStringToObject(r, "completionReason", family_stop(fam, finish));
    } else if (ok && fam == BRK_FAM_LLAMA) {
        ok = cJSON_AddStringToObject(o, "generation", text) &&
             cJSON_AddNumberToObject(o, "prompt_token_count", in) &&
             cJSON_AddNumberToObject(o, "generation_token_count", out) &&
             cJSON_AddStringToObject(o, "stop_reason", family_stop(fam, finish));
    } else if (ok) {
        cJSON *outputs = cJSON_AddArrayToObject(o, "outputs");
        cJSON *r = outputs ? cJSON_CreateObject() : NULL;
        ok = r != NULL && cJSON_AddItemToArray(outputs, r);
        if (!ok)
            cJSON_Delete(r);
        ok = ok && cJSON_AddStringToObject(r, "text", text) &&
             cJSON_AddStringToObject(r, "stop_reason", family_stop(fam, finish));
    }
    cJSON_free(text);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *brk_invoke_response(brk_family_t fam, const cJSON *canon, const char *id, const char *model)
{
    switch (fam) {
    case BRK_FAM_ANTHROPIC:
        return anth_from_canonical_response(canon, id, model);
    case BRK_FAM_NOVA:
        return brk_converse_response(canon, -1, BRK_NOVA);
    case BRK_FAM_OPENAI:
        return cJSON_Duplicate(canon, true);
    default:
        return plain_response(fam, canon);
    }
}

/* ---- streams ---- */

void brk_istream_init(brk_istream_t *s, brk_family_t fam, const char *id, const char *model)
{
    memset(s, 0, sizeof *s);
    s->fam = fam;
    anth_stream_init(&s->anth, id, model);
    brk_stream_init(&s->conv, BRK_NOVA);
}

/* One `chunk` event: {"bytes": base64(json)}. */
static int put_chunk(brk_istream_t *s, const cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    if (text == NULL)
        return -1;
    buf_t p = {0};
    int rc = buf_appendz(&p, "{\"bytes\":\"") == 0 && brk_b64_append(&p, text, strlen(text)) == 0 &&
                     buf_appendz(&p, "\"}") == 0
                 ? 0
                 : -1;
    cJSON_free(text);
    if (rc == 0) {
        evs_kv_t h[] = {
            {":event-type", "chunk", 5},
            {":content-type", "application/json", 16},
            {":message-type", "event", 5},
        };
        rc = evs_encode(s->out, h, 3, p.ptr, p.len);
    }
    buf_free(&p);
    return rc;
}

/* "amazon-bedrock-invocationMetrics" added to a family's last chunk. */
static bool add_metrics(brk_istream_t *s, cJSON *o)
{
    cJSON *m = cJSON_AddObjectToObject(o, "amazon-bedrock-invocationMetrics");
    const brk_metrics_t *t = s->metrics;
    return m != NULL && cJSON_AddNumberToObject(m, "inputTokenCount", (double)s->usage.input) &&
           cJSON_AddNumberToObject(m, "outputTokenCount", (double)s->usage.output) &&
           cJSON_AddNumberToObject(m, "invocationLatency", t ? (double)t->latency_ms : 0) &&
           cJSON_AddNumberToObject(m, "firstByteLatency", t ? (double)t->first_byte_ms : 0);
}

/* Anthropic events go out as they are; message_stop also carries the metrics. */
static int emit_anth(void *ctx, const cJSON *ev)
{
    brk_istream_t *s = ctx;
    const char *type = str_of(get(ev, "type"));
    if (type == NULL || strcmp(type, "message_stop") != 0)
        return put_chunk(s, ev);
    cJSON *d = cJSON_Duplicate(ev, true);
    int rc = d != NULL && add_metrics(s, d) ? put_chunk(s, d) : -1;
    cJSON_Delete(d);
    return rc;
}

/* Nova streams the Converse events, each wrapped as {"<event type>": payload}. */
static int emit_nova(void *ctx, const char *type, const cJSON *payload)
{
    brk_istream_t *s = ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON *d = cJSON_Duplicate(payload, true);
    int rc = -1;
    if (o != NULL && d != NULL && cJSON_AddItemToObject(o, type, d)) {
        d = NULL;
        if (strcmp(type, "metadata") != 0 || add_metrics(s, o))
            rc = put_chunk(s, o);
    }
    cJSON_Delete(d);
    cJSON_Delete(o);
    return rc;
}

/* A Titan, Llama or Mistral chunk carrying text (final: the stop reason and metrics too). */
static int plain_chunk(brk_istream_t *s, const char *text, bool final)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;
    const char *stop = final ? family_stop(s->fam, s->finish) : NULL;
    double in = (double)(s->usage.input + s->usage.cache_read + s->usage.cache_write);
    double out = final && s->have_usage ? (double)s->usage.output : (double)s->pieces;
    if (ok && s->fam == BRK_FAM_TITAN) {
        ok = cJSON_AddStringToObject(o, "outputText", text) &&
             cJSON_AddNumberToObject(o, "index", 0) &&
             cJSON_AddNumberToObject(o, "totalOutputTextTokenCount", out) &&
             (stop ? cJSON_AddStringToObject(o, "completionReason", stop)
                   : cJSON_AddNullToObject(o, "completionReason")) &&
             (final ? cJSON_AddNumberToObject(o, "inputTextTokenCount", in)
                    : cJSON_AddNullToObject(o, "inputTextTokenCount"));
    } else if (ok && s->fam == BRK_FAM_LLAMA) {
        ok = cJSON_AddStringToObject(o, "generation", text) &&
             (final ? cJSON_AddNumberToObject(o, "prompt_token_count", in)
                    : cJSON_AddNullToObject(o, "prompt_token_count")) &&
             cJSON_AddNumberToObject(o, "generation_token_count", out) &&
             (stop ? cJSON_AddStringToObject(o, "stop_reason", stop)
                   : cJSON_AddNullToObject(o, "stop_reason"));
    } else if (ok) {
        cJSON *outputs = cJSON_AddArrayToObject(o, "outputs");
        cJSON *r = outputs ? cJSON_CreateObject() : NULL;
        ok = r != NULL && cJSON_AddItemToArray(outputs, r);
        if (!ok)
            cJSON_Delete(r);
        ok = ok && cJSON_AddStringToObject(r, "text", text) &&
             (stop ? cJSON_AddStringToObject(r, "stop_reason", stop)
                   : cJSON_AddNullToObject(r, "stop_reason"));
    }
    if (ok && final)
        ok = add_metrics(s, o);
    int rc = ok ? put_chunk(s, o) : -1;
    cJSON_Delete(o);
    return rc;
}

/* The canonical finish reasons as static strings (the chunk's own string dies with it). */
static const char *static_finish(const char *f)
{
    static const char *const known[] = {"length", "tool_calls", "content_filter", "function_call"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(known[i], f) == 0)
            return known[i];
    }
    return "stop";
}

int brk_istream_chunk(brk_istream_t *s, const cJSON *chunk, const brk_metrics_t *m, buf_t *out)
{
    if (s->finished)
        return 0;
    s->metrics = m;
    s->out = out;
    const cJSON *usage = get(chunk, "usage");
    if (cJSON_IsObject(usage)) {
        brk_usage_read(usage, &s->usage);
        s->have_usage = true;
    }
    switch (s->fam) {
    case BRK_FAM_ANTHROPIC:
        return anth_stream_chunk(&s->anth, chunk, emit_anth, s);
    case BRK_FAM_NOVA:
        return brk_stream_chunk(&s->conv, chunk, emit_nova, s);
    case BRK_FAM_OPENAI:
        return put_chunk(s, chunk);
    default:
        break;
    }
    const cJSON *choice = cJSON_GetArrayItem(get(chunk, "choices"), 0);
    const cJSON *delta = get(choice, "delta");
    const char *text = str_of(get(delta, "content"));
    const char *finish = str_of(get(choice, "finish_reason"));
    int rc = 0;
    if (text != NULL && text[0] != '\0' && s->finish == NULL) {
        s->pieces++;
        rc = plain_chunk(s, text, false);
    }
    /* The final chunk waits for brk_istream_finish: the usage it reports comes after this. */
    if (finish != NULL && s->finish == NULL)
        s->finish = static_finish(finish);
    return rc;
}

int brk_istream_finish(brk_istream_t *s, const brk_metrics_t *m, buf_t *out)
{
    if (s->finished)
        return 0;
    s->finished = true;
    s->metrics = m;
    s->out = out;
    switch (s->fam) {
    case BRK_FAM_ANTHROPIC:
        return anth_stream_finish(&s->anth, emit_anth, s);
    case BRK_FAM_NOVA:
        return brk_stream_finish(&s->conv, m ? m->latency_ms : 0, emit_nova, s);
    case BRK_FAM_OPENAI:
        return 0;
    default:
        return plain_chunk(s, "", true);
    }
}
