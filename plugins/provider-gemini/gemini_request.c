/*
 * The gemini provider: building the upstream HTTP request for one attempt.  The canonical (OpenAI
 * chat) request becomes a GenerateContentRequest: messages become contents and systemInstruction
 * (gemini_messages.c), tools become functionDeclarations with their schemas rewritten for Gemini
 * (gemini_schema.c), and the sampling parameters go into generationConfig.  The client's body is
 * never changed: a retry or a fallback builds from it again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gemini.h"

bool gemini_oom(gemini_ctx_t *c)
{
    c->host->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                      "out of memory building the upstream request");
    return false;
}

bool gemini_bad(gemini_ctx_t *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->host->req_fail(c->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL, "%s",
                      msg);
    return false;
}

bool gemini_unsupported(gemini_ctx_t *c, const char *param)
{
    if (c->drop)
        return true;
    if (GANTRY_HOST_HAS(c->host, req_fail_param))
        c->host->req_fail_param(c->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                "unsupported_parameter", param,
                                "gemini does not support the parameter '%s'. To drop unsupported "
                                "parameters instead, set drop_params: true",
                                param);
    else
        c->host->req_fail(c->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                          "unsupported_parameter",
                          "gemini does not support the parameter '%s'. To drop unsupported "
                          "parameters instead, set drop_params: true",
                          param);
    return false;
}

/* Nesting accepted in values copied from the request (safety settings, schema examples). */
#define COPY_MAX_DEPTH 64

static bool copy_node(gemini_ctx_t *c, const gantry_json_t *src, gantry_json_t *dst, int depth)
{
    const gantry_host_t *host = c->host;
    gantry_json_type_t t = host->json_type(src);
    if (depth > COPY_MAX_DEPTH)
        return gemini_bad(c, "a value in the request is nested too deeply");
    if (t == GANTRY_JSON_STRING)
        return host->json_set_string(dst, host->json_string(src)) == GANTRY_OK || gemini_oom(c);
    if (t == GANTRY_JSON_NUMBER) {
        double d = 0;
        host->json_number(src, &d);
        return host->json_set_number(dst, d) == GANTRY_OK || gemini_oom(c);
    }
    if (t == GANTRY_JSON_BOOL) {
        bool b = false;
        host->json_bool(src, &b);
        return host->json_set_bool(dst, b) == GANTRY_OK || gemini_oom(c);
    }
    for (const gantry_json_t *m = host->json_first(src); m != NULL; m = host->json_next(m)) {
        gantry_json_type_t mt = host->json_type(m);
        gantry_json_t *n = t == GANTRY_JSON_OBJECT ? host->json_set(dst, host->json_key(m).ptr, mt)
                                                   : host->json_append(dst, mt);
        if (n == NULL)
            return gemini_oom(c);
        if (!copy_node(c, m, n, depth + 1))
            return false;
    }
    return true;
}

bool gemini_copy(gemini_ctx_t *c, const gantry_json_t *src, gantry_json_t *parent, const char *key)
{
    const gantry_host_t *host = c->host;
    gantry_json_type_t t = host->json_type(src);
    if (t == GANTRY_JSON_INVALID)
        t = GANTRY_JSON_NULL;
    gantry_json_t *dst =
        key != NULL ? host->json_set(parent, key, t) : host->json_append(parent, t);
    if (dst == NULL)
        return gemini_oom(c);
    return copy_node(c, src, dst, 0);
}

/* A member that is present and not null. */
static const gantry_json_t *member(const gantry_host_t *host, const gantry_json_t *obj,
                                   const char *key)
{
    const gantry_json_t *v = host->json_get(obj, key);
    gantry_json_type_t t = host->json_type(v);
    return (t == GANTRY_JSON_INVALID || t == GANTRY_JSON_NULL) ? NULL : v;
}

static bool set_number(gemini_ctx_t *c, gantry_json_t *obj, const char *key, double v)
{
    gantry_json_t *n = c->host->json_set(obj, key, GANTRY_JSON_NUMBER);
    if (n == NULL || c->host->json_set_number(n, v) != GANTRY_OK)
        return gemini_oom(c);
    return true;
}

static bool set_string(gemini_ctx_t *c, gantry_json_t *obj, const char *key, gantry_str_t v)
{
    gantry_json_t *n = c->host->json_set(obj, key, GANTRY_JSON_STRING);
    if (n == NULL || c->host->json_set_string(n, v) != GANTRY_OK)
        return gemini_oom(c);
    return true;
}

static bool set_bool(gemini_ctx_t *c, gantry_json_t *obj, const char *key, bool v)
{
    gantry_json_t *n = c->host->json_set(obj, key, GANTRY_JSON_BOOL);
    if (n == NULL || c->host->json_set_bool(n, v) != GANTRY_OK)
        return gemini_oom(c);
    return true;
}

/* Copy a numeric parameter under Gemini's name; `integer` refuses fractions. */
static bool copy_number(gemini_ctx_t *c, const gantry_json_t *canon, const char *param,
                        gantry_json_t *gc, const char *key, bool integer)
{
    const gantry_json_t *v = member(c->host, canon, param);
    double d;
    if (v == NULL)
        return true;
    if (c->host->json_number(v, &d) != GANTRY_OK)
        return gemini_bad(c, "Invalid type for '%s': expected a number.", param);
    if (integer && !(d >= -9e15 && d <= 9e15 && d == (double)(long long)d))
        return gemini_bad(c, "Invalid type for '%s': expected an integer.", param);
    return set_number(c, gc, key, d);
}

static bool build_stop(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *gc)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *stop = member(host, canon, "stop");
    if (stop == NULL)
        return true;
    gantry_json_t *arr = host->json_set(gc, "stopSequences", GANTRY_JSON_ARRAY);
    if (arr == NULL)
        return gemini_oom(c);
    if (host->json_type(stop) == GANTRY_JSON_STRING) {
        gantry_json_t *s = host->json_append(arr, GANTRY_JSON_STRING);
        if (s == NULL || host->json_set_string(s, host->json_string(stop)) != GANTRY_OK)
            return gemini_oom(c);
        return true;
    }
    if (host->json_type(stop) != GANTRY_JSON_ARRAY)
        return gemini_bad(c, "Invalid type for 'stop': expected a string or an array of strings.");
    for (const gantry_json_t *e = host->json_first(stop); e != NULL; e = host->json_next(e)) {
        if (host->json_type(e) != GANTRY_JSON_STRING)
            return gemini_bad(c, "Invalid type for 'stop': expected an array of strings.");
        gantry_json_t *s = host->json_append(arr, GANTRY_JSON_STRING);
        if (s == NULL || host->json_set_string(s, host->json_string(e)) != GANTRY_OK)
            return gemini_oom(c);
    }
    if (host->json_count(arr) == 0)
        host->json_remove(gc, "stopSequences");
    return true;
}

static bool build_response_format(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *gc)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *rf = member(host, canon, "response_format");
    if (rf == NULL)
        return true;
    gantry_str_t type = host->json_string(host->json_get(rf, "type"));
    if (host->json_type(rf) != GANTRY_JSON_OBJECT || type.ptr == NULL)
        return gemini_bad(c, "Invalid 'response_format': expected an object with a 'type'.");
    if (gemini_str_eq(type, "text"))
        return true;
    if (!gemini_str_eq(type, "json_object") && !gemini_str_eq(type, "json_schema"))
        return gemini_bad(c, "Invalid 'response_format.type': '%.40s' is not supported.", type.ptr);
    if (!set_string(c, gc, "responseMimeType", GANTRY_STR_LIT("application/json")))
        return false;
    if (gemini_str_eq(type, "json_object"))
        return true;
    const gantry_json_t *schema = member(host, host->json_get(rf, "json_schema"), "schema");
    if (schema == NULL)
        return true;
    return gemini_build_schema(c, schema, gc, "responseSchema", "response_format.json_schema");
}

/* reasoning_effort and the Anthropic-style `thinking` extension -> thinkingConfig. */
static bool build_thinking(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *gc)
{
    static const struct {
        const char *effort;
        double budget;
    } budgets[] = {{"minimal", 128}, {"low", 1024}, {"medium", 2048}, {"high", 4096}};
    const gantry_host_t *host = c->host;
    const gantry_json_t *thinking = member(host, canon, "thinking");
    const gantry_json_t *effort = member(host, canon, "reasoning_effort");
    gantry_json_t *tc;

    /* The explicit budget is the more precise request: it wins over an effort.  -1 is Gemini's
     * "dynamic" budget (the model decides). */
    if (thinking != NULL) {
        gantry_str_t type = host->json_string(host->json_get(thinking, "type"));
        double budget = 0;
        if (gemini_str_eq(type, "disabled")) {
            if ((tc = host->json_set(gc, "thinkingConfig", GANTRY_JSON_OBJECT)) == NULL)
                return gemini_oom(c);
            return set_number(c, tc, "thinkingBudget", 0);
        }
        if (!gemini_str_eq(type, "enabled") ||
            host->json_number(host->json_get(thinking, "budget_tokens"), &budget) != GANTRY_OK ||
            !(budget >= -1 && budget <= 1e9))
            return gemini_bad(c, "Invalid 'thinking': expected {\"type\": \"enabled\", "
                                 "\"budget_tokens\": N} or {\"type\": \"disabled\"}.");
        if ((tc = host->json_set(gc, "thinkingConfig", GANTRY_JSON_OBJECT)) == NULL)
            return gemini_oom(c);
        return set_number(c, tc, "thinkingBudget", (double)(long long)budget) &&
               set_bool(c, tc, "includeThoughts", true);
    }
    if (effort == NULL)
        return true;
    gantry_str_t e = host->json_string(effort);
    if (e.ptr == NULL)
        return gemini_bad(c, "Invalid type for 'reasoning_effort': expected a string.");
    bool off = gemini_str_eq(e, "none") || gemini_str_eq(e, "disable");
    size_t i = 0;
    while (!off && i < sizeof(budgets) / sizeof(budgets[0]) && !gemini_str_eq(e, budgets[i].effort))
        i++;
    if (!off && i == sizeof(budgets) / sizeof(budgets[0]))
        return gemini_bad(c,
                          "Invalid value for 'reasoning_effort': '%.40s' (expected none, "
                          "minimal, low, medium or high).",
                          e.ptr);
    if ((tc = host->json_set(gc, "thinkingConfig", GANTRY_JSON_OBJECT)) == NULL)
        return gemini_oom(c);
    if (c->dep->thinking_levels) {
        /* Gemini 3 cannot switch thinking off; "low" is the least every Gemini 3 model takes. */
        gantry_str_t level = off ? GANTRY_STR_LIT("low") : e;
        return set_string(c, tc, "thinkingLevel", level) &&
               (off || set_bool(c, tc, "includeThoughts", true));
    }
    if (off)
        return set_number(c, tc, "thinkingBudget", 0);
    return set_number(c, tc, "thinkingBudget", budgets[i].budget) &&
           set_bool(c, tc, "includeThoughts", true);
}

static bool build_logprobs(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *gc)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *lp = member(host, canon, "logprobs");
    bool on = false;
    if (lp == NULL)
        return true;
    if (host->json_bool(lp, &on) != GANTRY_OK)
        return gemini_bad(c, "Invalid type for 'logprobs': expected a boolean.");
    if (!on)
        return true;
    if (!set_bool(c, gc, "responseLogprobs", true))
        return false;
    return copy_number(c, canon, "top_logprobs", gc, "logprobs", true);
}

static bool build_generation_config(gemini_ctx_t *c, const gantry_json_t *canon,
                                    gantry_json_t *body)
{
    const gantry_host_t *host = c->host;
    gantry_json_t *gc = host->json_set(body, "generationConfig", GANTRY_JSON_OBJECT);
    if (gc == NULL)
        return gemini_oom(c);
    /* max_completion_tokens is the newer name of max_tokens and wins when both are given. */
    const char *max = member(host, canon, "max_completion_tokens") != NULL ? "max_completion_tokens"
                                                                           : "max_tokens";
    bool ok = copy_number(c, canon, "temperature", gc, "temperature", false) &&
              copy_number(c, canon, "top_p", gc, "topP", false) &&
              copy_number(c, canon, "top_k", gc, "topK", true) &&
              copy_number(c, canon, max, gc, "maxOutputTokens", true) && build_stop(c, canon, gc) &&
              copy_number(c, canon, "seed", gc, "seed", true) &&
              copy_number(c, canon, "n", gc, "candidateCount", true) &&
              copy_number(c, canon, "presence_penalty", gc, "presencePenalty", false) &&
              copy_number(c, canon, "frequency_penalty", gc, "frequencyPenalty", false) &&
              build_response_format(c, canon, gc) && build_logprobs(c, canon, gc) &&
              build_thinking(c, canon, gc);
    if (ok && host->json_count(gc) == 0)
        host->json_remove(body, "generationConfig");
    return ok;
}

/* Tools Gemini offers itself, accepted in the LiteLLM way as {"googleSearch": {}} entries. */
static const char *builtin_tool(gantry_str_t key)
{
    static const struct {
        const char *in, *out;
    } names[] = {
        {"googleSearch", "googleSearch"},
        {"google_search", "googleSearch"},
        {"googleSearchRetrieval", "googleSearchRetrieval"},
        {"google_search_retrieval", "googleSearchRetrieval"},
        {"codeExecution", "codeExecution"},
        {"code_execution", "codeExecution"},
        {"urlContext", "urlContext"},
        {"url_context", "urlContext"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (gemini_str_eq(key, names[i].in))
            return names[i].out;
    }
    return NULL;
}

/* A function's parameters are left out when they declare no properties: Gemini refuses an
 * OBJECT schema with an empty properties map. */
static bool has_properties(const gantry_host_t *host, const gantry_json_t *params)
{
    if (host->json_type(params) != GANTRY_JSON_OBJECT)
        return false;
    const gantry_json_t *props = host->json_get(params, "properties");
    if (host->json_type(props) == GANTRY_JSON_OBJECT)
        return host->json_count(props) > 0;
    /* A schema without "properties" that is not a plain object ($ref, anyOf) is kept. */
    gantry_str_t type = host->json_string(host->json_get(params, "type"));
    return type.ptr != NULL ? !gemini_str_eq(type, "object") : host->json_count(params) > 0;
}

static bool build_function(gemini_ctx_t *c, const gantry_json_t *fn, size_t i, gantry_json_t *decls)
{
    const gantry_host_t *host = c->host;
    char what[64];
    gantry_str_t name = host->json_string(host->json_get(fn, "name"));
    if (name.ptr == NULL || name.len == 0)
        return gemini_bad(c, "Invalid 'tools[%zu].function': a function needs a 'name'.", i);
    gantry_json_t *d = host->json_append(decls, GANTRY_JSON_OBJECT);
    if (d == NULL || !set_string(c, d, "name", name))
        return d == NULL ? gemini_oom(c) : false;
    gantry_str_t desc = host->json_string(host->json_get(fn, "description"));
    if (desc.ptr != NULL && desc.len > 0 && !set_string(c, d, "description", desc))
        return false;
    const gantry_json_t *params = member(host, fn, "parameters");
    if (params == NULL || !has_properties(host, params))
        return true;
    snprintf(what, sizeof(what), "tools[%zu].function.parameters", i);
    return gemini_build_schema(c, params, d, "parameters", what);
}

static bool build_tools(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *body)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *tools = member(host, canon, "tools");
    gantry_json_t *out = NULL, *decls = NULL;
    size_t i = 0;
    if (tools == NULL)
        return true;
    if (host->json_type(tools) != GANTRY_JSON_ARRAY)
        return gemini_bad(c, "Invalid type for 'tools': expected an array.");
    if (host->json_count(tools) == 0)
        return true;
    if ((out = host->json_set(body, "tools", GANTRY_JSON_ARRAY)) == NULL)
        return gemini_oom(c);

    for (const gantry_json_t *t = host->json_first(tools); t != NULL; t = host->json_next(t), i++) {
        if (host->json_type(t) != GANTRY_JSON_OBJECT)
            return gemini_bad(c, "Invalid 'tools[%zu]': expected an object.", i);
        gantry_str_t type = host->json_string(host->json_get(t, "type"));
        const gantry_json_t *fn = host->json_get(t, "function");
        if (host->json_type(fn) == GANTRY_JSON_OBJECT &&
            (type.ptr == NULL || gemini_str_eq(type, "function"))) {
            /* All functions go into one tool entry, as Google's own SDKs send them. */
            if (decls == NULL) {
                gantry_json_t *entry = host->json_append(out, GANTRY_JSON_OBJECT);
                decls = host->json_set(entry, "functionDeclarations", GANTRY_JSON_ARRAY);
                if (decls == NULL)
                    return gemini_oom(c);
            }
            if (!build_function(c, fn, i, decls))
                return false;
            continue;
        }
        const gantry_json_t *only = host->json_first(t);
        const char *builtin = host->json_count(t) == 1 ? builtin_tool(host->json_key(only)) : NULL;
        if (builtin == NULL)
            return gemini_bad(c,
                              "Invalid 'tools[%zu]': expected a function tool "
                              "{\"type\": \"function\", \"function\": {...}}.",
                              i);
        gantry_json_t *entry = host->json_append(out, GANTRY_JSON_OBJECT);
        if (entry == NULL)
            return gemini_oom(c);
        if (!gemini_copy(c, only, entry, builtin))
            return false;
    }
    return true;
}

static bool build_tool_config(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *body)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *choice = member(host, canon, "tool_choice");
    gantry_str_t mode = GANTRY_STR_NULL, only = GANTRY_STR_NULL;
    /* Without tools there is nothing to choose from; Gemini would refuse the config. */
    if (choice == NULL || host->json_get(body, "tools") == NULL)
        return true;
    gantry_str_t s = host->json_string(choice);
    if (gemini_str_eq(s, "auto")) {
        mode = GANTRY_STR_LIT("AUTO");
    } else if (gemini_str_eq(s, "none")) {
        mode = GANTRY_STR_LIT("NONE");
    } else if (gemini_str_eq(s, "required")) {
        mode = GANTRY_STR_LIT("ANY");
    } else if (host->json_type(choice) == GANTRY_JSON_OBJECT) {
        only = host->json_string(host->json_get(host->json_get(choice, "function"), "name"));
        if (only.ptr == NULL || only.len == 0)
            return gemini_bad(c, "Invalid 'tool_choice': expected {\"type\": \"function\", "
                                 "\"function\": {\"name\": ...}}.");
        mode = GANTRY_STR_LIT("ANY");
    } else {
        return gemini_bad(c, "Invalid 'tool_choice': expected auto, none, required or a function.");
    }
    gantry_json_t *tc = host->json_set(body, "toolConfig", GANTRY_JSON_OBJECT);
    gantry_json_t *fcc = host->json_set(tc, "functionCallingConfig", GANTRY_JSON_OBJECT);
    if (fcc == NULL || !set_string(c, fcc, "mode", mode))
        return fcc == NULL ? gemini_oom(c) : false;
    if (only.ptr == NULL)
        return true;
    gantry_json_t *names = host->json_set(fcc, "allowedFunctionNames", GANTRY_JSON_ARRAY);
    gantry_json_t *n = host->json_append(names, GANTRY_JSON_STRING);
    if (n == NULL || host->json_set_string(n, only) != GANTRY_OK)
        return gemini_oom(c);
    return true;
}

/* The request's own safety_settings (a LiteLLM extension) replace the deployment's. */
static bool build_safety(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *body)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *mine = member(host, canon, "safety_settings");
    if (mine != NULL) {
        if (host->json_type(mine) != GANTRY_JSON_ARRAY)
            return gemini_bad(c, "Invalid type for 'safety_settings': expected an array.");
        return gemini_copy(c, mine, body, "safetySettings");
    }
    if (c->dep->safety.ptr == NULL)
        return true;
    gantry_json_t *parsed = host->json_parse(c->req, c->dep->safety);
    if (parsed == NULL || host->json_attach(c->req, body, "safetySettings", parsed) != GANTRY_OK)
        return gemini_oom(c);
    return true;
}

static bool build_cached_content(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *body)
{
    const gantry_json_t *cc = member(c->host, canon, "cached_content");
    gantry_str_t name = c->host->json_string(cc);
    if (cc == NULL)
        return true;
    if (name.ptr == NULL)
        return gemini_bad(c, "Invalid type for 'cached_content': expected a string.");
    return set_string(c, body, "cachedContent", name);
}

/*
 * OpenAI parameters Gemini has no counterpart for.  `user` is left out on purpose: like LiteLLM,
 * the gateway keeps it for its own accounting and drops it silently.
 */
static bool check_unsupported(gemini_ctx_t *c, const gantry_json_t *canon)
{
    static const char *const never[] = {"logit_bias", "functions",  "function_call",
                                        "audio",      "prediction", "web_search_options"};
    const gantry_host_t *host = c->host;
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        const gantry_json_t *v = member(host, canon, never[i]);
        /* An empty logit_bias asks for nothing. */
        if (v != NULL && !(host->json_type(v) == GANTRY_JSON_OBJECT && host->json_count(v) == 0) &&
            !gemini_unsupported(c, never[i]))
            return false;
    }
    /* Gemini may always call several functions at once; it cannot be told not to. */
    bool parallel = true;
    const gantry_json_t *ptc = member(host, canon, "parallel_tool_calls");
    if (ptc != NULL && host->json_bool(ptc, &parallel) == GANTRY_OK && !parallel &&
        !gemini_unsupported(c, "parallel_tool_calls"))
        return false;
    /* Text is all this provider returns. */
    const gantry_json_t *mod = member(host, canon, "modalities");
    for (const gantry_json_t *m = host->json_first(mod); m != NULL; m = host->json_next(m)) {
        if (!gemini_str_eq(host->json_string(m), "text"))
            return gemini_unsupported(c, "modalities");
    }
    return true;
}

static bool build_body(gemini_ctx_t *c, const gantry_json_t *canon, gantry_json_t *body)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *messages = host->json_get(canon, "messages");
    if (host->json_type(messages) != GANTRY_JSON_ARRAY || host->json_count(messages) == 0)
        return gemini_bad(c, "Missing required parameter: 'messages'.");
    return check_unsupported(c, canon) && gemini_build_contents(c, messages, body) &&
           build_tools(c, canon, body) && build_tool_config(c, canon, body) &&
           build_safety(c, canon, body) && build_cached_content(c, canon, body) &&
           build_generation_config(c, canon, body);
}

/* Fresh stream state for this attempt: an earlier attempt may have seen part of a stream. */
static bool start_stream(gemini_ctx_t *c)
{
    gemini_stream_t *st = c->host->alloc(c->req, sizeof(*st));
    if (st == NULL)
        return gemini_oom(c);
    memset(st, 0, sizeof(*st));
    c->host->req_set_data(c->req, c->inst->self, st);
    return true;
}

gantry_action_t gemini_prepare(gantry_req_t *req, void *state, void *deployment,
                               gantry_upstream_t *up)
{
    const gemini_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const gemini_deployment_t *dep = deployment;
    gemini_ctx_t c = {.host = host, .req = req, .inst = inst, .dep = dep};
    bool stream = host->req_is_stream(req);
    gantry_str_t text;
    int rc = GANTRY_OK;

    /* ABI 1.1 entries: an older core answers neither question, which means chat and no drop. */
    if (GANTRY_HOST_HAS(host, req_endpoint) && host->req_endpoint(req) == GANTRY_EP_EMBEDDINGS)
        return host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL,
                              "the gemini provider serves chat completions, not embeddings");
    c.drop = GANTRY_HOST_HAS(host, req_drop_params) && host->req_drop_params(req);

    const gantry_json_t *canon = host->req_body(req);
    if (host->json_type(canon) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "the request has no JSON object body");
    gantry_json_t *body = host->json_new(req, GANTRY_JSON_OBJECT);
    if (body == NULL) {
        gemini_oom(&c);
        return GANTRY_FAIL;
    }
    bool ok = build_body(&c, canon, body) && (!stream || start_stream(&c));
    if (ok)
        rc = host->json_write(req, body, &text);
    /* The text is arena memory that lives with the request; the tree is no longer needed. */
    host->json_release(req, body);
    if (!ok)
        return GANTRY_FAIL;
    if (rc != GANTRY_OK)
        goto fail;

    if ((rc = host->up_set_url(up, stream ? dep->stream_url : dep->url)) != GANTRY_OK)
        goto fail;
    for (size_t i = 0; i < dep->n_headers; i++) {
        if ((rc = host->up_add_header(up, dep->headers[i].name.ptr, dep->headers[i].value)) !=
            GANTRY_OK)
            goto fail;
    }
    if ((rc = host->up_set_body(up, text)) != GANTRY_OK)
        goto fail;
    if (stream && (rc = host->up_set_framing(up, GANTRY_FRAMING_SSE)) != GANTRY_OK)
        goto fail;
    return GANTRY_CONTINUE;

fail:
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                          "could not build the upstream request: %s", host->strerror(rc));
}
