/*
 * The openai provider: the legacy text completion API (POST {api_base}/completions), used by
 * deployments with completion_api (text-completion-openai, azure_text, or set in the config) for
 * /v1/completions requests and for chat requests alike.
 *
 * The request is built from the canonical chat request: the original "prompt" when the client
 * used /v1/completions, else the text of the messages, plus the sampling parameters that API
 * takes.  Answers (text_completion objects and stream events) are turned into the canonical chat
 * shapes: choices[i].text becomes message.content or delta.content, and logprobs move from the
 * completion layout (parallel token arrays) to the chat one (a list of token objects).
 */
#include <string.h>

#include "openai.h"

/* Parameters the text completion API takes, copied as they are. */
static const gantry_str_t text_params[] = {
    GANTRY_STR_LIT("temperature"),
    GANTRY_STR_LIT("top_p"),
    GANTRY_STR_LIT("n"),
    GANTRY_STR_LIT("stop"),
    GANTRY_STR_LIT("echo"),
    GANTRY_STR_LIT("suffix"),
    GANTRY_STR_LIT("best_of"),
    GANTRY_STR_LIT("seed"),
    GANTRY_STR_LIT("user"),
    GANTRY_STR_LIT("presence_penalty"),
    GANTRY_STR_LIT("frequency_penalty"),
    GANTRY_STR_LIT("logit_bias"),
};

static bool is_passed(gantry_str_t key)
{
    for (size_t i = 0; i < sizeof(text_params) / sizeof(text_params[0]); i++) {
        if (key.len == text_params[i].len && memcmp(key.ptr, text_params[i].ptr, key.len) == 0)
            return true;
    }
    return false;
}

/* ---- the request ---- */

/*
 * A prompt made of the messages' text, one message after the other, separated by a newline: what
 * an instruct model is given when a chat request reaches it.  Parts that are not text (images,
 * files) have no place in a text prompt and are left out.
 */
static void write_prompt_from_messages(const gantry_host_t *host, openai_wbuf_t *b,
                                       const gantry_json_t *messages)
{
    bool first = true;

    openai_wb_put(b, "\"", 1);
    for (const gantry_json_t *m = host->json_first(messages); m != NULL; m = host->json_next(m)) {
        const gantry_json_t *content = host->json_get(m, "content");
        if (host->json_type(content) == GANTRY_JSON_STRING) {
            if (!first)
                openai_wb_put(b, "\\n", 2);
            first = false;
            openai_wb_escaped(b, host->json_string(content));
            continue;
        }
        for (const gantry_json_t *p = host->json_first(content); p != NULL;
             p = host->json_next(p)) {
            gantry_str_t text = host->json_string(host->json_get(p, "text"));
            if (text.ptr == NULL)
                continue;
            if (!first)
                openai_wb_put(b, "\\n", 2);
            first = false;
            openai_wb_escaped(b, text);
        }
    }
    openai_wb_put(b, "\"", 1);
}

/* Whether a chat-only parameter asks for something this API cannot do. */
static const char *chat_only_request(const gantry_host_t *host, const gantry_json_t *canonical)
{
    static const char *const lists[] = {"tools", "functions"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (host->json_count(host->json_get(canonical, lists[i])) > 0)
            return lists[i];
    }
    gantry_str_t fmt =
        host->json_string(host->json_get(host->json_get(canonical, "response_format"), "type"));
    if (fmt.ptr != NULL && !openai_str_eq(fmt, "text"))
        return "response_format";
    return NULL;
}

/*
 * logprobs of the text completion API is a count of alternatives per token.  The canonical request
 * may carry that count (as the client sent it) or the chat flags: logprobs true with top_logprobs
 * N (N alternatives), or true alone (only the chosen tokens, a count of 0).
 */
static int write_logprobs(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *canonical,
                          const gantry_json_t *lp, bool *first)
{
    const gantry_host_t *host = b->host;
    const gantry_json_t *count = lp;
    bool flag;

    if (host->json_type(lp) != GANTRY_JSON_NUMBER) {
        if (host->json_bool(lp, &flag) != GANTRY_OK || !flag)
            return GANTRY_OK;
        count = host->json_get(canonical, "top_logprobs");
        if (host->json_type(count) != GANTRY_JSON_NUMBER)
            count = NULL;
    }
    openai_member_sep(b, first);
    openai_wb_put(b, "\"logprobs\":", 11);
    if (count == NULL) {
        openai_wb_put(b, "0", 1);
        return GANTRY_OK;
    }
    return openai_wb_value(req, b, count);
}

static int write_completion_body(gantry_req_t *req, const openai_deployment_t *dep,
                                 const gantry_json_t *canonical, bool stream, openai_wbuf_t *b)
{
    const gantry_host_t *host = b->host;
    const gantry_json_t *prompt = host->json_get(canonical, "prompt");
    /* max_completion_tokens is the newer name and wins when both are given. */
    bool has_mct = host->json_get(canonical, "max_completion_tokens") != NULL;
    bool first = false, done_max = false, done_lp = false;
    int rc;

    openai_wb_put(b, "{", 1);
    openai_wb_put(b, dep->model_member.ptr, dep->model_member.len);
    openai_wb_put(b, ",\"prompt\":", 10);
    if (prompt != NULL && host->json_type(prompt) != GANTRY_JSON_NULL) {
        if ((rc = openai_wb_value(req, b, prompt)) != GANTRY_OK)
            return rc;
    } else {
        write_prompt_from_messages(host, b, host->json_get(canonical, "messages"));
    }

    for (const gantry_json_t *m = host->json_first(canonical); m != NULL; m = host->json_next(m)) {
        gantry_str_t key = host->json_key(m);
        /* Compatible servers (vLLM) sample with top_k in this API too; OpenAI's refuses it. */
        if (is_passed(key) || (!dep->strict && openai_str_eq(key, "top_k"))) {
            openai_member_sep(b, &first);
            openai_wb_string(b, key);
            openai_wb_put(b, ":", 1);
            if ((rc = openai_wb_value(req, b, m)) != GANTRY_OK)
                return rc;
        } else if (!done_max &&
                   openai_str_eq(key, has_mct ? "max_completion_tokens" : "max_tokens")) {
            done_max = true;
            openai_member_sep(b, &first);
            openai_wb_put(b, "\"max_tokens\":", 13);
            if ((rc = openai_wb_value(req, b, m)) != GANTRY_OK)
                return rc;
        } else if (!done_lp && openai_str_eq(key, "logprobs")) {
            done_lp = true;
            if ((rc = write_logprobs(req, b, canonical, m, &first)) != GANTRY_OK)
                return rc;
        }
    }
    if (stream) {
        openai_wb_put(b, ",\"stream\":true,\"stream_options\":", 32);
        rc = openai_write_stream_options(req, b, host->json_get(canonical, "stream_options"));
        if (rc != GANTRY_OK)
            return rc;
    }
    openai_wb_put(b, "}", 1);
    return b->failed ? GANTRY_ENOMEM : GANTRY_OK;
}

#define BODY_STACK_BYTES 4096

gantry_action_t openai_prepare_completion(gantry_req_t *req, const openai_instance_t *inst,
                                          const openai_deployment_t *dep,
                                          const gantry_json_t *canonical, gantry_upstream_t *up,
                                          bool stream)
{
    const gantry_host_t *host = inst->host;
    const char *bad = chat_only_request(host, canonical);

    if (bad == NULL && dep->strict && host->json_get(canonical, "top_k") != NULL &&
        host->json_type(host->json_get(canonical, "top_k")) != GANTRY_JSON_NULL)
        bad = "top_k";
    if (bad != NULL && openai_unsupported(req, inst, dep, bad) != GANTRY_CONTINUE)
        return GANTRY_FAIL;

    if (stream) {
        /* Every attempt starts with no choice having had its first chunk. */
        openai_req_state_t *st = host->alloc(req, sizeof(*st));
        if (st == NULL)
            return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                                  "out of memory preparing the upstream request");
        memset(st, 0, sizeof(*st));
        host->req_set_data(req, inst->self, st);
    }

    char stack[BODY_STACK_BYTES];
    openai_wbuf_t b = {.host = host, .ptr = stack, .cap = sizeof(stack)};
    int rc = write_completion_body(req, dep, canonical, stream, &b);
    return openai_send(req, inst, dep, up, dep->url_completions, &b, rc, stream);
}

/* ---- the answers ---- */

static int set_string(const gantry_host_t *host, gantry_json_t *obj, const char *key,
                      gantry_str_t value)
{
    gantry_json_t *n = host->json_set(obj, key, GANTRY_JSON_STRING);
    if (n == NULL)
        return GANTRY_ENOMEM;
    return host->json_set_string(n, value);
}

/* {"token", "logprob", "bytes": null}; `logprob` may be any node (a number, or null). */
static int token_object(const gantry_host_t *host, gantry_json_t *e, gantry_str_t token,
                        const gantry_json_t *logprob)
{
    double d;
    if (set_string(host, e, "token", token.ptr != NULL ? token : GANTRY_STR_LIT("")) != GANTRY_OK)
        return GANTRY_ENOMEM;
    if (host->json_number(logprob, &d) == GANTRY_OK) {
        gantry_json_t *n = host->json_set(e, "logprob", GANTRY_JSON_NUMBER);
        if (n == NULL || host->json_set_number(n, d) != GANTRY_OK)
            return GANTRY_ENOMEM;
    } else if (host->json_set(e, "logprob", GANTRY_JSON_NULL) == NULL) {
        return GANTRY_ENOMEM;
    }
    return host->json_set(e, "bytes", GANTRY_JSON_NULL) != NULL ? GANTRY_OK : GANTRY_ENOMEM;
}

/*
 * Completion logprobs {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{token:
 * logprob}, ...]} become chat logprobs {"content": [{"token", "logprob", "bytes", "top_logprobs":
 * [{"token", "logprob", "bytes"}]}]}.  The arrays are walked side by side; a short or missing one
 * gives null log probabilities and empty alternatives rather than a failure.
 */
static int convert_logprobs(gantry_req_t *req, const gantry_host_t *host, gantry_json_t *choice)
{
    const gantry_json_t *lp = host->json_get(choice, "logprobs");
    if (host->json_type(lp) != GANTRY_JSON_OBJECT)
        return GANTRY_OK; /* null or absent: nothing to move */

    gantry_json_t *out = host->json_new(req, GANTRY_JSON_OBJECT);
    gantry_json_t *content = host->json_set(out, "content", GANTRY_JSON_ARRAY);
    if (content == NULL)
        return GANTRY_ENOMEM;
    const gantry_json_t *lps = host->json_first(host->json_get(lp, "token_logprobs"));
    const gantry_json_t *tops = host->json_first(host->json_get(lp, "top_logprobs"));
    for (const gantry_json_t *t = host->json_first(host->json_get(lp, "tokens")); t != NULL;
         t = host->json_next(t)) {
        gantry_json_t *e = host->json_append(content, GANTRY_JSON_OBJECT);
        if (e == NULL || token_object(host, e, host->json_string(t), lps) != GANTRY_OK)
            return GANTRY_ENOMEM;
        gantry_json_t *alts = host->json_set(e, "top_logprobs", GANTRY_JSON_ARRAY);
        if (alts == NULL)
            return GANTRY_ENOMEM;
        if (host->json_type(tops) == GANTRY_JSON_OBJECT) {
            for (const gantry_json_t *a = host->json_first(tops); a != NULL;
                 a = host->json_next(a)) {
                gantry_json_t *ae = host->json_append(alts, GANTRY_JSON_OBJECT);
                if (ae == NULL || token_object(host, ae, host->json_key(a), a) != GANTRY_OK)
                    return GANTRY_ENOMEM;
            }
        }
        lps = host->json_next(lps);
        tops = host->json_next(tops);
    }
    /* Replaces (and frees) the completion layout. */
    return host->json_attach(req, choice, "logprobs", out);
}

/*
 * One choice, changed in place: its "text" becomes message.content (answers) or delta.content
 * (stream events); a stream choice's first event also gets role "assistant".
 */
static int convert_choice(gantry_req_t *req, const gantry_host_t *host, gantry_json_t *choice,
                          openai_req_state_t *st)
{
    if (host->json_type(choice) != GANTRY_JSON_OBJECT)
        return GANTRY_EPARSE;
    const gantry_json_t *text = host->json_get(choice, "text");
    gantry_json_type_t tt = host->json_type(text);
    if (tt != GANTRY_JSON_STRING && tt != GANTRY_JSON_NULL && tt != GANTRY_JSON_INVALID)
        return GANTRY_EPARSE;
    gantry_str_t s = host->json_string(text);
    if (s.ptr == NULL)
        s = GANTRY_STR_LIT("");

    bool role = true;
    if (st != NULL) {
        /* Choices past 64 (n is rarely above a few) simply get no role of their own. */
        double d = 0;
        uint64_t bit = 0;
        const gantry_json_t *index = host->json_get(choice, "index");
        if (index == NULL || host->json_number(index, &d) == GANTRY_OK) {
            if (d >= 0 && d < 64 && d == (double)(int)d)
                bit = (uint64_t)1 << (unsigned)d;
        }
        role = bit != 0 && !(st->role_sent & bit);
        st->role_sent |= bit;
    }
    gantry_json_t *dst =
        host->json_set(choice, st != NULL ? "delta" : "message", GANTRY_JSON_OBJECT);
    if (dst == NULL)
        return GANTRY_ENOMEM;
    if (role && set_string(host, dst, "role", GANTRY_STR_LIT("assistant")) != GANTRY_OK)
        return GANTRY_ENOMEM;
    /* The last event of a choice carries no text: its delta stays empty, as in chat streams. */
    if ((st == NULL || role || s.len > 0) && set_string(host, dst, "content", s) != GANTRY_OK)
        return GANTRY_ENOMEM;
    host->json_remove(choice, "text");
    return convert_logprobs(req, host, choice);
}

static int convert_choices(gantry_req_t *req, const gantry_host_t *host, gantry_json_t *root,
                           openai_req_state_t *st, const char *object)
{
    gantry_json_t *choices = host->json_get(root, "choices");
    gantry_json_type_t ct = host->json_type(choices);
    int rc;

    /* A stream's usage event may come without choices; an answer must have them. */
    if (ct != GANTRY_JSON_ARRAY && !(st != NULL && ct == GANTRY_JSON_INVALID))
        return GANTRY_EPARSE;
    for (gantry_json_t *c = host->json_first(choices); c != NULL; c = host->json_next(c)) {
        if ((rc = convert_choice(req, host, c, st)) != GANTRY_OK)
            return rc;
    }
    if (ct == GANTRY_JSON_INVALID && host->json_set(root, "choices", GANTRY_JSON_ARRAY) == NULL)
        return GANTRY_ENOMEM;
    return set_string(host, root, "object", (gantry_str_t){object, strlen(object)});
}

static gantry_action_t convert_failed(gantry_req_t *req, const gantry_host_t *host, int rc)
{
    if (rc == GANTRY_EPARSE)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream returned a malformed text completion");
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                          "could not translate the text completion: %s", host->strerror(rc));
}

gantry_action_t openai_completion_response(gantry_req_t *req, const openai_instance_t *inst,
                                           const openai_deployment_t *dep, gantry_json_t *root)
{
    const gantry_host_t *host = inst->host;
    (void)dep;
    int rc = convert_choices(req, host, root, NULL, "chat.completion");
    if (rc != GANTRY_OK)
        return convert_failed(req, host, rc);
    if ((rc = host->resp_set_take(req, root)) != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not keep the upstream response: %s", host->strerror(rc));
    return GANTRY_CONTINUE;
}

gantry_action_t openai_completion_chunk(gantry_req_t *req, const openai_instance_t *inst,
                                        const openai_deployment_t *dep, gantry_json_t *root)
{
    const gantry_host_t *host = inst->host;
    (void)dep;
    openai_req_state_t *st = host->req_data(req, inst->self);
    if (st == NULL) {
        /* prepare() makes it; a host that lost it still gets well-formed chunks. */
        st = host->alloc(req, sizeof(*st));
        if (st == NULL)
            return convert_failed(req, host, GANTRY_ENOMEM);
        memset(st, 0, sizeof(*st));
        host->req_set_data(req, inst->self, st);
    }
    int rc = convert_choices(req, host, root, st, "chat.completion.chunk");
    if (rc != GANTRY_OK)
        return convert_failed(req, host, rc);
    if ((rc = host->stream_chunk_take(req, root)) != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not forward a stream chunk: %s", host->strerror(rc));
    return GANTRY_CONTINUE;
}
