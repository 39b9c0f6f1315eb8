/*
 * The gemini provider: a GenerateContentResponse -> the canonical chat.completion.
 *
 * Each candidate becomes a choice: its text parts are joined into content, parts marked
 * "thought" into reasoning_content, functionCall parts become tool_calls (Gemini sends no ids, so
 * they are numbered per answer), thought signatures become thinking_blocks so that clients can
 * send them back.  The helpers here serve the stream parser (gemini_stream.c) too.
 */
#include <stdio.h>
#include <string.h>

#include "gemini.h"

/* Signatures kept per candidate; Gemini signs one part per step, so a few are plenty. */
#define MAX_SIGNATURES 32

static bool is_thought(const gantry_host_t *host, const gantry_json_t *part)
{
    bool b = false;
    return host->json_bool(host->json_get(part, "thought"), &b) == GANTRY_OK && b;
}

static bool put_str(const gantry_host_t *host, gantry_json_t *obj, const char *key, gantry_str_t v)
{
    gantry_json_t *n = host->json_set(obj, key, GANTRY_JSON_STRING);
    return n != NULL && host->json_set_string(n, v) == GANTRY_OK;
}

static bool put_num(const gantry_host_t *host, gantry_json_t *obj, const char *key, double v)
{
    gantry_json_t *n = host->json_set(obj, key, GANTRY_JSON_NUMBER);
    return n != NULL && host->json_set_number(n, v) == GANTRY_OK;
}

/* A token count from the network: a finite, non-negative number, else 0. */
static double count_of(const gantry_host_t *host, const gantry_json_t *node, bool *present)
{
    double d = 0;
    bool ok = host->json_number(node, &d) == GANTRY_OK && d >= 0 && d <= 1e15;
    if (present != NULL)
        *present = ok;
    return ok ? (double)(long long)d : 0;
}

/* The text of the parts, thoughts or not, joined; an arena string (empty when none). */
static gantry_str_t join_text(const gantry_host_t *host, gantry_req_t *req,
                              const gantry_json_t *parts, bool thoughts, bool *oom)
{
    size_t len = 0;
    for (const gantry_json_t *p = host->json_first(parts); p != NULL; p = host->json_next(p)) {
        if (is_thought(host, p) == thoughts)
            len += host->json_string(host->json_get(p, "text")).len;
    }
    if (len == 0)
        return (gantry_str_t){"", 0};
    char *buf = host->alloc(req, len + 1);
    if (buf == NULL) {
        *oom = true;
        return (gantry_str_t){"", 0};
    }
    size_t at = 0;
    for (const gantry_json_t *p = host->json_first(parts); p != NULL; p = host->json_next(p)) {
        if (is_thought(host, p) != thoughts)
            continue;
        gantry_str_t s = host->json_string(host->json_get(p, "text"));
        if (s.len > 0)
            memcpy(buf + at, s.ptr, s.len);
        at += s.len;
    }
    buf[at] = '\0';
    return (gantry_str_t){buf, at};
}

/* "call_<n>", or "call_<responseId>_<n>" so that ids stay unique across a conversation. */
static bool put_call_id(const gantry_host_t *host, gantry_json_t *tc, const gantry_json_t *fc,
                        gantry_str_t response_id, int n)
{
    gantry_str_t given = host->json_string(host->json_get(fc, "id"));
    char buf[160];
    int len;
    if (given.len > 0)
        return put_str(host, tc, "id", given);
    if (response_id.len > 0 && response_id.len <= 100)
        len = snprintf(buf, sizeof(buf), "call_%.*s_%d", (int)response_id.len, response_id.ptr, n);
    else
        len = snprintf(buf, sizeof(buf), "call_%d", n);
    if (len <= 0 || (size_t)len >= sizeof(buf))
        return false;
    return put_str(host, tc, "id", (gantry_str_t){buf, (size_t)len});
}

static bool put_tool_call(const gantry_host_t *host, gantry_req_t *req, gantry_json_t *calls,
                          const gantry_json_t *fc, gantry_str_t response_id, int n, int *tc_index)
{
    gantry_str_t name = host->json_string(host->json_get(fc, "name"));
    const gantry_json_t *args = host->json_get(fc, "args");
    gantry_str_t text = GANTRY_STR_LIT("{}");
    gantry_json_t *tc = host->json_append(calls, GANTRY_JSON_OBJECT);
    if (tc == NULL)
        return false;
    if (tc_index != NULL && !put_num(host, tc, "index", (*tc_index)++))
        return false;
    if (!put_call_id(host, tc, fc, response_id, n) ||
        !put_str(host, tc, "type", GANTRY_STR_LIT("function")))
        return false;
    gantry_json_t *fn = host->json_set(tc, "function", GANTRY_JSON_OBJECT);
    if (fn == NULL || !put_str(host, fn, "name", name.ptr != NULL ? name : (gantry_str_t){"", 0}))
        return false;
    /* Arguments are JSON text in the OpenAI shape: Gemini's args object, compact. */
    if (host->json_type(args) == GANTRY_JSON_OBJECT &&
        host->json_write(req, args, &text) != GANTRY_OK)
        return false;
    return put_str(host, fn, "arguments", text);
}

/* thinking_blocks: the signatures in the order gemini_messages.c expects them back. */
static bool put_thinking_blocks(const gantry_host_t *host, gantry_json_t *out,
                                const gantry_str_t *sigs, size_t n, gantry_str_t thought)
{
    gantry_json_t *blocks = host->json_set(out, "thinking_blocks", GANTRY_JSON_ARRAY);
    if (blocks == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        gantry_json_t *b = host->json_append(blocks, GANTRY_JSON_OBJECT);
        if (b == NULL || !put_str(host, b, "type", GANTRY_STR_LIT("thinking")) ||
            !put_str(host, b, "thinking", i == 0 ? thought : (gantry_str_t){"", 0}) ||
            !put_str(host, b, "signature", sigs[i]))
            return false;
    }
    return true;
}

int gemini_translate_parts(const gantry_host_t *host, gantry_req_t *req, const gantry_json_t *cand,
                           gantry_json_t *out, gantry_str_t response_id, int *n_calls,
                           int *tc_index, bool stream)
{
    const gantry_json_t *parts = host->json_get(host->json_get(cand, "content"), "parts");
    gantry_str_t sigs[MAX_SIGNATURES];
    size_t nsig = 0;
    gantry_json_t *calls = NULL;
    bool oom = false;
    int added = 0;

    gantry_str_t text = join_text(host, req, parts, false, &oom);
    gantry_str_t thought = join_text(host, req, parts, true, &oom);
    if (oom)
        return -1;
    /* A message always has content (null without text); a delta only carries what is new. */
    if (text.len > 0) {
        if (!put_str(host, out, "content", text))
            return -1;
    } else if (!stream && host->json_set(out, "content", GANTRY_JSON_NULL) == NULL) {
        return -1;
    }
    if (thought.len > 0 && !put_str(host, out, "reasoning_content", thought))
        return -1;

    /* Function-call signatures first, in call order, then those on other parts. */
    for (const gantry_json_t *p = host->json_first(parts); p != NULL; p = host->json_next(p)) {
        const gantry_json_t *fc = host->json_get(p, "functionCall");
        gantry_str_t sig = host->json_string(host->json_get(p, "thoughtSignature"));
        if (host->json_type(fc) != GANTRY_JSON_OBJECT)
            continue;
        if (calls == NULL && (calls = host->json_set(out, "tool_calls", GANTRY_JSON_ARRAY)) == NULL)
            return -1;
        if (!put_tool_call(host, req, calls, fc, response_id, (*n_calls)++,
                           stream ? tc_index : NULL))
            return -1;
        added++;
        if (sig.len > 0 && nsig < MAX_SIGNATURES)
            sigs[nsig++] = sig;
    }
    for (const gantry_json_t *p = host->json_first(parts); p != NULL; p = host->json_next(p)) {
        gantry_str_t sig = host->json_string(host->json_get(p, "thoughtSignature"));
        if (host->json_type(host->json_get(p, "functionCall")) != GANTRY_JSON_OBJECT &&
            sig.len > 0 && nsig < MAX_SIGNATURES)
            sigs[nsig++] = sig;
    }
    /* In a stream the thought text went out as reasoning_content deltas already. */
    if (nsig > 0 &&
        !put_thinking_blocks(host, out, sigs, nsig, stream ? (gantry_str_t){"", 0} : thought))
        return -1;
    return added;
}

const char *gemini_finish_reason(const gantry_host_t *host, const gantry_json_t *cand,
                                 bool has_tool_calls)
{
    static const char *const filtered[] = {"SAFETY",
                                           "RECITATION",
                                           "BLOCKLIST",
                                           "PROHIBITED_CONTENT",
                                           "SPII",
                                           "IMAGE_SAFETY",
                                           "IMAGE_PROHIBITED_CONTENT"};
    gantry_str_t fr = host->json_string(host->json_get(cand, "finishReason"));
    if (fr.ptr == NULL || fr.len == 0)
        return NULL;
    if (gemini_str_eq(fr, "STOP"))
        return has_tool_calls ? "tool_calls" : "stop";
    if (gemini_str_eq(fr, "MAX_TOKENS"))
        return "length";
    for (size_t i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++) {
        if (gemini_str_eq(fr, filtered[i]))
            return "content_filter";
    }
    return "stop";
}

void gemini_read_usage(const gantry_host_t *host, const gantry_json_t *meta, gemini_usage_t *u)
{
    memset(u, 0, sizeof(*u));
    if (host->json_type(meta) != GANTRY_JSON_OBJECT)
        return;
    u->present = true;
    u->prompt = count_of(host, host->json_get(meta, "promptTokenCount"), NULL);
    u->candidates = count_of(host, host->json_get(meta, "candidatesTokenCount"), NULL);
    u->thoughts = count_of(host, host->json_get(meta, "thoughtsTokenCount"), &u->has_thoughts);
    u->cached = count_of(host, host->json_get(meta, "cachedContentTokenCount"), &u->has_cached);
}

bool gemini_put_usage(const gantry_host_t *host, gantry_json_t *parent, const gemini_usage_t *u)
{
    gantry_json_t *usage = host->json_set(parent, "usage", GANTRY_JSON_OBJECT);
    /* Thoughts are output the model generated and is billed for: completion tokens. */
    double completion = u->candidates + u->thoughts;
    if (usage == NULL || !put_num(host, usage, "prompt_tokens", u->prompt) ||
        !put_num(host, usage, "completion_tokens", completion) ||
        !put_num(host, usage, "total_tokens", u->prompt + completion))
        return false;
    gantry_json_t *pd = host->json_set(usage, "prompt_tokens_details", GANTRY_JSON_OBJECT);
    if (pd == NULL || !put_num(host, pd, "cached_tokens", u->cached))
        return false;
    if (u->has_thoughts) {
        gantry_json_t *cd = host->json_set(usage, "completion_tokens_details", GANTRY_JSON_OBJECT);
        if (cd == NULL || !put_num(host, cd, "reasoning_tokens", u->thoughts))
            return false;
    }
    if (u->has_cached && !put_num(host, usage, "cache_read_input_tokens", u->cached))
        return false;
    return true;
}

/* One token of logprobsResult as {token, logprob, bytes}. */
static bool put_token(const gantry_host_t *host, gantry_json_t *obj, const gantry_json_t *cand)
{
    gantry_str_t token = host->json_string(host->json_get(cand, "token"));
    double lp = 0;
    if (host->json_number(host->json_get(cand, "logProbability"), &lp) != GANTRY_OK ||
        !(lp >= -1e9 && lp <= 1e9))
        lp = 0;
    if (token.ptr == NULL)
        token = (gantry_str_t){"", 0};
    if (!put_str(host, obj, "token", token) || !put_num(host, obj, "logprob", lp))
        return false;
    gantry_json_t *bytes = host->json_set(obj, "bytes", GANTRY_JSON_ARRAY);
    if (bytes == NULL)
        return false;
    for (size_t i = 0; i < token.len; i++) {
        gantry_json_t *b = host->json_append(bytes, GANTRY_JSON_NUMBER);
        if (b == NULL || host->json_set_number(b, (unsigned char)token.ptr[i]) != GANTRY_OK)
            return false;
    }
    return true;
}

bool gemini_put_logprobs(const gantry_host_t *host, gantry_req_t *req, const gantry_json_t *cand,
                         gantry_json_t *choice)
{
    (void)req;
    const gantry_json_t *lr = host->json_get(cand, "logprobsResult");
    if (host->json_type(lr) != GANTRY_JSON_OBJECT)
        return true;
    const gantry_json_t *chosen = host->json_get(lr, "chosenCandidates");
    const gantry_json_t *top = host->json_first(host->json_get(lr, "topCandidates"));
    gantry_json_t *lp = host->json_set(choice, "logprobs", GANTRY_JSON_OBJECT);
    gantry_json_t *content = host->json_set(lp, "content", GANTRY_JSON_ARRAY);
    if (content == NULL)
        return false;
    /* topCandidates runs parallel to chosenCandidates: one list of alternatives per step. */
    for (const gantry_json_t *ch = host->json_first(chosen); ch != NULL;
         ch = host->json_next(ch), top = host->json_next(top)) {
        gantry_json_t *e = host->json_append(content, GANTRY_JSON_OBJECT);
        if (e == NULL || !put_token(host, e, ch))
            return false;
        gantry_json_t *alts = host->json_set(e, "top_logprobs", GANTRY_JSON_ARRAY);
        if (alts == NULL)
            return false;
        const gantry_json_t *list = host->json_get(top, "candidates");
        for (const gantry_json_t *a = host->json_first(list); a != NULL; a = host->json_next(a)) {
            gantry_json_t *t = host->json_append(alts, GANTRY_JSON_OBJECT);
            if (t == NULL || !put_token(host, t, a))
                return false;
        }
    }
    return true;
}

bool gemini_put_header(const gantry_host_t *host, gantry_req_t *req, const gemini_deployment_t *dep,
                       const gantry_json_t *root, gantry_json_t *out, const char *object,
                       int64_t created)
{
    gantry_str_t id = host->json_string(host->json_get(root, "responseId"));
    gantry_str_t model = host->json_string(host->json_get(root, "modelVersion"));
    char buf[160];
    if (id.len == 0) {
        gantry_str_t rid = host->req_id(req);
        int n = snprintf(buf, sizeof(buf), "chatcmpl-%.*s", (int)(rid.len > 100 ? 100 : rid.len),
                         rid.ptr != NULL ? rid.ptr : "");
        if (n <= 0 || (size_t)n >= sizeof(buf))
            return false;
        id = (gantry_str_t){buf, (size_t)n};
    }
    if (model.len == 0)
        model = dep->model;
    return put_str(host, out, "id", id) &&
           put_str(host, out, "object", (gantry_str_t){object, strlen(object)}) &&
           put_num(host, out, "created", (double)created) && put_str(host, out, "model", model);
}

/* The 2xx body carried an error, not an answer (some proxies in front of Google do this). */
static bool carries_error(const gantry_host_t *host, const gantry_json_t *root)
{
    return host->json_type(host->json_get(root, "error")) == GANTRY_JSON_OBJECT;
}

static gantry_action_t oom(const gantry_host_t *host, gantry_req_t *req)
{
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                          "out of memory translating the upstream response");
}

static bool build_choice(const gantry_host_t *host, gantry_req_t *req, const gantry_json_t *cand,
                         size_t position, gantry_json_t *choices, gantry_str_t response_id,
                         int *n_calls)
{
    double index = (double)position;
    gantry_json_t *choice = host->json_append(choices, GANTRY_JSON_OBJECT);
    if (host->json_number(host->json_get(cand, "index"), &index) != GANTRY_OK ||
        !(index >= 0 && index < GEMINI_MAX_CANDIDATES * 4))
        index = (double)position;
    if (choice == NULL || !put_num(host, choice, "index", (double)(long long)index))
        return false;
    gantry_json_t *msg = host->json_set(choice, "message", GANTRY_JSON_OBJECT);
    if (msg == NULL || !put_str(host, msg, "role", GANTRY_STR_LIT("assistant")))
        return false;
    int calls = gemini_translate_parts(host, req, cand, msg, response_id, n_calls, NULL, false);
    if (calls < 0)
        return false;
    const char *fr = gemini_finish_reason(host, cand, calls > 0);
    if (fr == NULL)
        fr = calls > 0 ? "tool_calls" : "stop";
    return put_str(host, choice, "finish_reason", (gantry_str_t){fr, strlen(fr)}) &&
           gemini_put_logprobs(host, req, cand, choice);
}

gantry_action_t gemini_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                      gantry_str_t body)
{
    const gemini_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const gemini_deployment_t *dep = deployment;
    gemini_usage_t usage;
    int n_calls = 0;
    (void)status;

    gantry_json_t *root = host->json_parse(req, body);
    if (host->json_type(root) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream returned a malformed response (not a JSON object)");
    if (carries_error(host, root))
        return gemini_fail_with_error(inst, dep, req, root, body);

    const gantry_json_t *cands = host->json_get(root, "candidates");
    if (host->json_count(cands) == 0 || host->json_type(cands) != GANTRY_JSON_ARRAY) {
        const gantry_json_t *fb = host->json_get(root, "promptFeedback");
        if (host->json_string(host->json_get(fb, "blockReason")).len > 0)
            return gemini_fail_blocked(inst, req, fb);
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream answered without any candidate");
    }

    gantry_json_t *out = host->json_new(req, GANTRY_JSON_OBJECT);
    if (out == NULL ||
        !gemini_put_header(host, req, dep, root, out, "chat.completion", host->unix_ms() / 1000))
        return oom(host, req);
    gantry_str_t response_id = host->json_string(host->json_get(root, "responseId"));
    gantry_json_t *choices = host->json_set(out, "choices", GANTRY_JSON_ARRAY);
    if (choices == NULL)
        return oom(host, req);
    size_t i = 0;
    for (const gantry_json_t *cand = host->json_first(cands); cand != NULL;
         cand = host->json_next(cand), i++) {
        if (!build_choice(host, req, cand, i, choices, response_id, &n_calls))
            return oom(host, req);
    }
    gemini_read_usage(host, host->json_get(root, "usageMetadata"), &usage);
    if (usage.present && !gemini_put_usage(host, out, &usage))
        return oom(host, req);
    /* The upstream's tree is no longer needed; the response is the new one. */
    host->json_release(req, root);

    int rc = host->resp_set_take(req, out);
    if (rc != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not keep the upstream response: %s", host->strerror(rc));
    return GANTRY_CONTINUE;
}
