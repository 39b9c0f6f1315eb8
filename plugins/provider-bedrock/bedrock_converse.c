/*
 * The bedrock provider: the canonical (OpenAI chat) request as a Converse body, and Nova's
 * InvokeModel body, which is the same shape with inference parameters Converse keeps in
 * additionalModelRequestFields moved into inferenceConfig.  The messages are translated by
 * bedrock_converse_msgs.c; this file adds inference parameters, model-specific fields, tools and
 * structured output.
 */
#include <stdio.h>

#include "bedrock.h"

typedef struct conv {
    br_ctx_t *c;
    const gantry_host_t *h;
    bool nova; /* Nova InvokeModel rather than Converse */
    br_history_t hist;
} conv_t;

bool br_max_tokens(const gantry_host_t *h, const gantry_json_t *body, double *out)
{
    return br_get_num(h, body, "max_completion_tokens", out) ||
           br_get_num(h, body, "max_tokens", out);
}

int br_check_common_params(br_ctx_t *c, const gantry_json_t *body)
{
    const gantry_host_t *h = c->host;
    double n;
    bool b;
    if (br_get_num(h, body, "n", &n) && n != 1 &&
        br_unsupported(c, "n", "one choice per request") != 0)
        return -1;
    static const char *const never[] = {"logit_bias", "seed", "top_logprobs"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (br_present(h, body, never[i]) && br_unsupported(c, never[i], NULL) != 0)
            return -1;
    }
    static const char *const penalties[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < 2; i++) {
        if (br_get_num(h, body, penalties[i], &n) && n != 0 &&
            br_unsupported(c, penalties[i], NULL) != 0)
            return -1;
    }
    if (h->json_bool(h->json_get(body, "logprobs"), &b) == GANTRY_OK && b &&
        br_unsupported(c, "logprobs", NULL) != 0)
        return -1;
    return 0;
}

int br_effort_budget(gantry_str_t effort)
{
    if (br_str_eq(effort, "none"))
        return 0;
    /* Anthropic's smallest budget is 1024 tokens, so "minimal" cannot go lower than "low". */
    if (br_str_eq(effort, "minimal") || br_str_eq(effort, "low"))
        return 1024;
    if (br_str_eq(effort, "medium"))
        return 2048;
    if (br_str_eq(effort, "high"))
        return 4096;
    return -1;
}

static void inference_config(conv_t *v, const gantry_json_t *body, const gantry_json_t *defaults,
                             gantry_json_t *out, gantry_json_t **ic_out)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    gantry_json_t *ic = NULL;
    double d;
    /* A managed prompt's inferenceConfiguration gives defaults the request can override. */
    if (h->json_type(defaults) == GANTRY_JSON_OBJECT) {
        for (const gantry_json_t *m = h->json_first(defaults); m != NULL; m = h->json_next(m)) {
            gantry_str_t k = h->json_key(m);
            if (br_str_eq(k, "maxTokens") || br_str_eq(k, "temperature") || br_str_eq(k, "topP") ||
                br_str_eq(k, "stopSequences")) {
                if (ic == NULL)
                    ic = br_obj(c, out, "inferenceConfig");
                char key[16];
                snprintf(key, sizeof(key), "%.*s", (int)k.len, k.ptr);
                br_copy(c, ic, key, m);
            }
        }
    }
#define IC() (ic != NULL ? ic : (ic = br_obj(c, out, "inferenceConfig")))
    if (br_max_tokens(h, body, &d))
        br_set_num(c, IC(), "maxTokens", d);
    if (br_get_num(h, body, "temperature", &d))
        br_set_num(c, IC(), "temperature", d);
    if (br_get_num(h, body, "top_p", &d))
        br_set_num(c, IC(), "topP", d);
    const gantry_json_t *stop = h->json_get(body, "stop");
    if (h->json_type(stop) == GANTRY_JSON_STRING) {
        br_push_str(c, br_arr(c, IC(), "stopSequences"), h->json_string(stop));
    } else if (h->json_type(stop) == GANTRY_JSON_ARRAY && h->json_count(stop) > 0) {
        gantry_json_t *arr = br_arr(c, IC(), "stopSequences");
        for (const gantry_json_t *s = h->json_first(stop); s != NULL; s = h->json_next(s))
            br_push_str(c, arr, h->json_string(s));
    }
#undef IC
    *ic_out = ic;
}

/*
 * Parameters Converse keeps in additionalModelRequestFields (top_k, thinking, reasoning effort);
 * for Nova's InvokeModel they go into inferenceConfig instead.
 */
static int model_fields(conv_t *v, const gantry_json_t *body, const gantry_json_t *variant,
                        gantry_json_t *out, gantry_json_t **ic)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    gantry_json_t *amrf = NULL;
    br_family_t fam = c->family;

    if (!v->nova) {
        const gantry_json_t *vf = h->json_get(variant, "additionalModelRequestFields");
        const gantry_json_t *cf = h->json_get(body, "additionalModelRequestFields");
        if (h->json_type(vf) == GANTRY_JSON_OBJECT || h->json_type(cf) == GANTRY_JSON_OBJECT)
            amrf = br_obj(c, out, "additionalModelRequestFields");
        /* The request's fields override the prompt variant's. */
        const gantry_json_t *srcs[2] = {vf, cf};
        for (size_t si = 0; si < 2; si++) {
            const gantry_json_t *src = srcs[si];
            if (h->json_type(src) != GANTRY_JSON_OBJECT)
                continue;
            for (const gantry_json_t *m = h->json_first(src); m != NULL; m = h->json_next(m)) {
                gantry_str_t k = h->json_key(m);
                char *key = c->host->strdup(c->req, k.ptr, k.len);
                if (key == NULL) {
                    c->oom = true;
                    return 0;
                }
                br_copy(c, amrf, key, m);
            }
        }
    }
#define AMRF() (amrf != NULL ? amrf : (amrf = br_obj(c, out, "additionalModelRequestFields")))
#define IC() (*ic != NULL ? *ic : (*ic = br_obj(c, out, "inferenceConfig")))

    double k;
    if (br_get_num(h, body, "top_k", &k)) {
        if (fam == BR_FAM_NOVA) {
            if (v->nova)
                br_set_num(c, IC(), "topK", k);
            else
                br_set_num(c, br_obj(c, AMRF(), "inferenceConfig"), "topK", k);
        } else if (fam == BR_FAM_ANTHROPIC || fam == BR_FAM_MISTRAL || fam == BR_FAM_OTHER) {
            br_set_num(c, AMRF(), "top_k", k);
        } else if (br_unsupported(c, "top_k", NULL) != 0) {
            return -1;
        }
    }

    const gantry_json_t *thinking = h->json_get(body, "thinking");
    gantry_str_t effort = br_get_str(h, body, "reasoning_effort");
    if (h->json_type(thinking) == GANTRY_JSON_OBJECT) {
        bool disabled = br_str_eq(br_get_str(h, thinking, "type"), "disabled");
        if (fam == BR_FAM_ANTHROPIC)
            br_copy(c, AMRF(), "thinking", thinking);
        else if (!disabled && br_unsupported(c, "thinking",
                                             "extended thinking is for Anthropic "
                                             "models; use reasoning_effort") != 0)
            return -1;
    } else if (effort.len > 0) {
        int budget = br_effort_budget(effort);
        if (budget < 0) {
            br_bad_request(c, "reasoning_effort must be none, minimal, low, medium or high");
            return -1;
        }
        if (budget == 0) {
            /* "none": nothing to ask for. */
        } else if (fam == BR_FAM_ANTHROPIC) {
            gantry_json_t *t = br_obj(c, AMRF(), "thinking");
            br_set_cstr(c, t, "type", "enabled");
            br_set_num(c, t, "budget_tokens", budget);
        } else if (fam == BR_FAM_NOVA) {
            gantry_json_t *rc = br_obj(c, v->nova ? IC() : AMRF(), "reasoningConfig");
            br_set_cstr(c, rc, "type", "enabled");
            br_set_str(c, rc, "maxReasoningEffort",
                       br_str_eq(effort, "minimal") ? GANTRY_STR_LIT("low") : effort);
        } else if (fam == BR_FAM_OPENAI) {
            br_set_str(c, AMRF(), "reasoning_effort",
                       br_str_eq(effort, "minimal") ? GANTRY_STR_LIT("low") : effort);
        } else if (br_unsupported(c, "reasoning_effort", NULL) != 0) {
            return -1;
        }
    }
#undef AMRF
#undef IC
    return 0;
}

static int tool_config(conv_t *v, const gantry_json_t *body, const gantry_json_t *variant,
                       gantry_json_t *out)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    const gantry_json_t *tools = h->json_get(body, "tools");
    const gantry_json_t *choice = h->json_get(body, "tool_choice");
    const gantry_json_t *rf = h->json_get(body, "response_format");
    gantry_str_t rf_type = br_get_str(h, rf, "type");
    gantry_str_t choice_s = h->json_string(choice);
    bool none = br_str_eq(choice_s, "none");
    bool json_tool = br_str_eq(rf_type, "json_schema") || br_str_eq(rf_type, "json_object");
    size_t ntools = h->json_type(tools) == GANTRY_JSON_ARRAY ? h->json_count(tools) : 0;
    bool b;

    if (rf_type.len > 0 && !json_tool && !br_str_eq(rf_type, "text")) {
        br_bad_request(c, "response_format.type must be text, json_object or json_schema");
        return -1;
    }
    if (h->json_bool(h->json_get(body, "parallel_tool_calls"), &b) == GANTRY_OK && !b &&
        br_unsupported(c, "parallel_tool_calls", "Converse has no switch for it") != 0)
        return -1;

    /* A prompt variant may bring its own Converse-shaped tool configuration. */
    const gantry_json_t *vtc = h->json_get(
        h->json_get(h->json_get(variant, "templateConfiguration"), "chat"), "toolConfiguration");
    if (ntools == 0 && !json_tool && h->json_type(vtc) == GANTRY_JSON_OBJECT && !none) {
        br_copy(c, out, "toolConfig", vtc);
        return 0;
    }

    /*
     * tool_choice "none" leaves the tools out, as LiteLLM does - unless the history holds tool
     * blocks, for which Bedrock insists on a toolConfig; then the tools go without a choice.
     */
    bool include_client = ntools > 0 && (!none || v->hist.tool_blocks);
    if (!json_tool && !include_client && !v->hist.tool_blocks)
        return 0;

    gantry_json_t *tc = br_obj(c, out, "toolConfig");
    gantry_json_t *list = br_arr(c, tc, "tools");
    size_t ti = 0;
    for (const gantry_json_t *t = include_client ? h->json_first(tools) : NULL; t != NULL;
         t = h->json_next(t), ti++) {
        if (!br_str_eq(br_get_str(h, t, "type"), "function")) {
            char what[48];
            snprintf(what, sizeof(what), "tools[%zu].type", ti);
            if (br_unsupported(c, what, "only function tools") != 0)
                return -1;
            continue;
        }
        const gantry_json_t *fn = h->json_get(t, "function");
        gantry_str_t name = br_get_str(h, fn, "name");
        if (name.len == 0) {
            br_bad_request(c, "tools[%zu].function.name is required", ti);
            return -1;
        }
        gantry_json_t *spec = br_obj(c, br_push_obj(c, list), "toolSpec");
        br_set_str(c, spec, "name", name);
        gantry_str_t desc = br_get_str(h, fn, "description");
        if (desc.len > 0)
            br_set_str(c, spec, "description", desc);
        gantry_json_t *schema = br_obj(c, spec, "inputSchema");
        const gantry_json_t *params = h->json_get(fn, "parameters");
        if (h->json_type(params) == GANTRY_JSON_OBJECT) {
            br_copy(c, schema, "json", params);
        } else {
            gantry_json_t *js = br_obj(c, schema, "json");
            br_set_cstr(c, js, "type", "object");
            br_obj(c, js, "properties");
        }
        if (br_has_cache_control(h, t))
            br_cache_point(c, list);
    }

    if (json_tool) {
        /* LiteLLM's way to structured output on Bedrock: one forced tool whose input is the answer.
         */
        const gantry_json_t *js = h->json_get(rf, "json_schema");
        const gantry_json_t *schema = h->json_get(js, "schema");
        gantry_json_t *spec = br_obj(c, br_push_obj(c, list), "toolSpec");
        br_set_cstr(c, spec, "name", "json_tool_call");
        gantry_str_t desc = br_get_str(h, js, "description");
        if (desc.len > 0)
            br_set_str(c, spec, "description", desc);
        gantry_json_t *is = br_obj(c, spec, "inputSchema");
        if (h->json_type(schema) == GANTRY_JSON_OBJECT)
            br_copy(c, is, "json", schema);
        else
            br_set_cstr(c, br_obj(c, is, "json"), "type", "object");
        c->rs->json_mode = true;
        /* Only some models take a forced tool choice; the others see one tool and use it. */
        if (!include_client && (c->family == BR_FAM_ANTHROPIC || c->family == BR_FAM_NOVA ||
                                c->family == BR_FAM_MISTRAL)) {
            br_set_cstr(c, br_obj(c, br_obj(c, tc, "toolChoice"), "tool"), "name",
                        "json_tool_call");
            return 0;
        }
    } else if (h->json_count(list) == 0) {
        /* History with tool blocks but no tools declared: declare the ones it used. */
        for (size_t i = 0; i < v->hist.ntools; i++) {
            gantry_json_t *spec = br_obj(c, br_push_obj(c, list), "toolSpec");
            br_set_str(c, spec, "name", v->hist.tools[i]);
            gantry_json_t *js = br_obj(c, br_obj(c, spec, "inputSchema"), "json");
            br_set_cstr(c, js, "type", "object");
            br_obj(c, js, "properties");
        }
        if (h->json_count(list) == 0)
            h->json_remove(out, "toolConfig");
        return 0;
    }

    if (!include_client)
        return 0;
    if (none || h->json_type(choice) == GANTRY_JSON_INVALID ||
        h->json_type(choice) == GANTRY_JSON_NULL)
        return 0;
    if (br_str_eq(choice_s, "auto")) {
        br_obj(c, br_obj(c, tc, "toolChoice"), "auto");
    } else if (br_str_eq(choice_s, "required")) {
        br_obj(c, br_obj(c, tc, "toolChoice"), "any");
    } else if (h->json_type(choice) == GANTRY_JSON_OBJECT) {
        gantry_str_t name = br_get_str(h, h->json_get(choice, "function"), "name");
        if (name.len == 0) {
            br_bad_request(c, "tool_choice.function.name is required");
            return -1;
        }
        br_set_str(c, br_obj(c, br_obj(c, tc, "toolChoice"), "tool"), "name", name);
    } else {
        br_bad_request(c, "tool_choice must be auto, none, required or a function");
        return -1;
    }
    return 0;
}

/* Converse members a client may send as they are (LiteLLM passes them through too). */
static const char *const passthrough[] = {
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "guardrailConfig",
    "performanceConfig",
};

int br_converse_body(br_ctx_t *c, const gantry_json_t *body, const gantry_json_t *variant,
                     bool nova_invoke, gantry_json_t **out_root)
{
    const gantry_host_t *h = c->host;
    conv_t *v = h->alloc(c->req, sizeof(*v));
    if (v == NULL)
        return br_fail_oom(c);
    memset(v, 0, sizeof(*v));
    v->c = c;
    v->h = h;
    v->nova = nova_invoke;

    if (br_check_common_params(c, body) != 0)
        return -1;
    gantry_json_t *out = h->json_new(c->req, GANTRY_JSON_OBJECT);
    if (out == NULL)
        return br_fail_oom(c);
    if (nova_invoke)
        br_set_cstr(c, out, "schemaVersion", "messages-v1");
    if (br_converse_messages(c, h->json_get(body, "messages"), nova_invoke, out, &v->hist) != 0)
        return -1;

    gantry_json_t *ic = NULL;
    const gantry_json_t *defaults =
        h->json_get(h->json_get(variant, "inferenceConfiguration"), "text");
    inference_config(v, body, defaults, out, &ic);
    if (model_fields(v, body, variant, out, &ic) != 0)
        return -1;
    if (tool_config(v, body, variant, out) != 0)
        return -1;
    if (!nova_invoke) {
        for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++) {
            /* A managed prompt's variables were used to render it locally. */
            if (variant != NULL && strcmp(passthrough[i], "promptVariables") == 0)
                continue;
            const gantry_json_t *n = h->json_get(body, passthrough[i]);
            if (br_present(h, body, passthrough[i]))
                br_copy(c, out, passthrough[i], n);
        }
    }
    if (c->oom)
        return br_fail_oom(c);
    *out_root = out;
    return 0;
}
