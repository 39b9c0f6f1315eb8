/*
 * The anthropic provider: tools, tool_choice, parallel_tool_calls and response_format.
 *
 * Anthropic has no JSON mode of its own in the Messages API version this plugin speaks, so
 * response_format takes LiteLLM's route: one more tool, ANTH_JSON_TOOL, whose input schema is
 * the requested schema, and a tool_choice that forces it.  The answer's tool input is then the
 * JSON document, which the response and stream parsers hand to the client as message content.
 */
#include "anthropic.h"

/* A function tool -> {name, description, input_schema[, cache_control]}. */
static gantry_action_t function_tool(anth_build_t *b, gantry_json_t *tools, const gantry_json_t *t,
                                     size_t i)
{
    const gantry_host_t *host = b->jb.host;
    anth_jb_t *jb = &b->jb;
    const gantry_json_t *fn = host->json_get(t, "function");
    gantry_str_t name = host->json_string(host->json_get(fn, "name"));
    if (name.len == 0)
        return anth_bad_request(b, "tools[%zu].function.name is required", i);

    gantry_json_t *out = anth_j_obj(jb, tools, NULL);
    anth_j_str(jb, out, "name", name);
    const gantry_json_t *desc = host->json_get(fn, "description");
    if (host->json_type(desc) == GANTRY_JSON_STRING && host->json_string(desc).len > 0)
        anth_j_str(jb, out, "description", host->json_string(desc));
    const gantry_json_t *params = host->json_get(fn, "parameters");
    if (host->json_type(params) == GANTRY_JSON_OBJECT) {
        anth_j_copy(jb, out, "input_schema", params);
    } else {
        /* Anthropic requires a schema; a tool without parameters takes an empty object. */
        gantry_json_t *schema = anth_j_obj(jb, out, "input_schema");
        anth_j_cstr(jb, schema, "type", "object");
        anth_j_obj(jb, schema, "properties");
    }
    /* The breakpoint may sit on the tool (LiteLLM) or inside its function. */
    const gantry_json_t *cc = host->json_get(t, "cache_control");
    if (host->json_type(cc) != GANTRY_JSON_OBJECT)
        cc = host->json_get(fn, "cache_control");
    if (host->json_type(cc) == GANTRY_JSON_OBJECT)
        anth_j_copy(jb, out, "cache_control", cc);
    return GANTRY_CONTINUE;
}

/*
 * tools.  Entries of another type than "function" are Anthropic's own tools (web_search_...,
 * bash_..., text_editor_...): LiteLLM forwards them unchanged, and so does this plugin.
 */
static gantry_action_t client_tools(anth_build_t *b, gantry_json_t *tools,
                                    const gantry_json_t *list)
{
    const gantry_host_t *host = b->jb.host;
    size_t i = 0;
    for (const gantry_json_t *t = host->json_first(list); t != NULL; t = host->json_next(t), i++) {
        if (host->json_type(t) != GANTRY_JSON_OBJECT)
            return anth_bad_request(b, "tools[%zu] must be an object", i);
        gantry_str_t type = host->json_string(host->json_get(t, "type"));
        if (anth_str_eq(type, "function") ||
            (type.ptr == NULL && host->json_get(t, "function") != NULL)) {
            gantry_action_t act = function_tool(b, tools, t, i);
            if (act != GANTRY_CONTINUE)
                return act;
        } else {
            anth_j_copy(&b->jb, tools, NULL, t);
        }
    }
    return GANTRY_CONTINUE;
}

/* tool_choice -> Anthropic's {type: auto|none|any|tool[, name]}. */
static gantry_action_t tool_choice(anth_build_t *b, const gantry_json_t *choice, bool parallel_off)
{
    const gantry_host_t *host = b->jb.host;
    anth_jb_t *jb = &b->jb;
    const char *type = NULL;
    gantry_str_t name = GANTRY_STR_NULL;

    gantry_json_type_t t = host->json_type(choice);
    if (t == GANTRY_JSON_INVALID || t == GANTRY_JSON_NULL) {
        type = "auto";
    } else if (t == GANTRY_JSON_STRING) {
        gantry_str_t s = host->json_string(choice);
        if (anth_str_eq(s, "auto"))
            type = "auto";
        else if (anth_str_eq(s, "none"))
            type = "none";
        else if (anth_str_eq(s, "required") || anth_str_eq(s, "any"))
            type = "any";
    } else if (t == GANTRY_JSON_OBJECT) {
        gantry_str_t s = host->json_string(host->json_get(choice, "type"));
        if (anth_str_eq(s, "function")) {
            type = "tool";
            name = host->json_string(host->json_get(host->json_get(choice, "function"), "name"));
        } else if (anth_str_eq(s, "tool")) {
            /* Anthropic's own spelling, from clients that know the upstream. */
            type = "tool";
            name = host->json_string(host->json_get(choice, "name"));
        } else if (anth_str_eq(s, "auto") || anth_str_eq(s, "any") || anth_str_eq(s, "none")) {
            type = s.ptr;
        }
        if (type != NULL && anth_str_eq((gantry_str_t){type, strlen(type)}, "tool") &&
            name.len == 0)
            return anth_bad_request(b, "tool_choice: the function name is required");
    }
    if (type == NULL)
        return anth_bad_request(b, "tool_choice must be \"auto\", \"none\", \"required\" or "
                                   "{\"type\":\"function\",\"function\":{\"name\":...}}");
    /* No choice and parallel calls allowed: Anthropic's default, nothing to send. */
    if ((t == GANTRY_JSON_INVALID || t == GANTRY_JSON_NULL) && !parallel_off)
        return GANTRY_CONTINUE;

    gantry_json_t *out = anth_j_obj(jb, b->out, "tool_choice");
    anth_j_cstr(jb, out, "type", type);
    if (name.len > 0)
        anth_j_str(jb, out, "name", name);
    /* "none" has no such flag: with no tool calls there is nothing to parallelise. */
    if (parallel_off && strcmp(type, "none") != 0)
        anth_j_bool(jb, out, "disable_parallel_tool_use", true);
    return GANTRY_CONTINUE;
}

/*
 * response_format: json_object or json_schema become the forced ANTH_JSON_TOOL; text asks for
 * nothing.  *schema is the input schema to use (NULL: any object), *json whether it applies.
 */
static gantry_action_t json_mode(anth_build_t *b, bool *json, const gantry_json_t **schema)
{
    const gantry_host_t *host = b->jb.host;
    const gantry_json_t *rf = host->json_get(b->in, "response_format");
    *json = false;
    *schema = NULL;
    gantry_json_type_t t = host->json_type(rf);
    if (t == GANTRY_JSON_INVALID || t == GANTRY_JSON_NULL)
        return GANTRY_CONTINUE;
    gantry_str_t type = host->json_string(host->json_get(rf, "type"));
    if (anth_str_eq(type, "text"))
        return GANTRY_CONTINUE;
    if (anth_str_eq(type, "json_object")) {
        *json = true;
        return GANTRY_CONTINUE;
    }
    if (anth_str_eq(type, "json_schema")) {
        const gantry_json_t *s = host->json_get(host->json_get(rf, "json_schema"), "schema");
        *json = true;
        *schema = host->json_type(s) == GANTRY_JSON_OBJECT ? s : NULL;
        return GANTRY_CONTINUE;
    }
    return anth_bad_request(b, "response_format.type must be text, json_object or json_schema");
}

gantry_action_t anth_build_tools(anth_build_t *b)
{
    const gantry_host_t *host = b->jb.host;
    anth_jb_t *jb = &b->jb;
    const gantry_json_t *list = host->json_get(b->in, "tools");
    gantry_json_type_t lt = host->json_type(list);
    const gantry_json_t *schema;
    bool json, flag;
    gantry_action_t act;

    if (lt != GANTRY_JSON_INVALID && lt != GANTRY_JSON_NULL && lt != GANTRY_JSON_ARRAY)
        return anth_bad_request(b, "tools must be an array");
    if ((act = json_mode(b, &json, &schema)) != GANTRY_CONTINUE)
        return act;
    bool have_tools = host->json_count(list) > 0;
    if (!have_tools && !json)
        return GANTRY_CONTINUE; /* a tool_choice without tools is refused by Anthropic: drop it */

    gantry_json_t *tools = anth_j_arr(jb, b->out, "tools");
    if ((act = client_tools(b, tools, list)) != GANTRY_CONTINUE)
        return act;
    if (json) {
        gantry_json_t *tool = anth_j_obj(jb, tools, NULL);
        anth_j_cstr(jb, tool, "name", ANTH_JSON_TOOL);
        if (schema != NULL) {
            anth_j_copy(jb, tool, "input_schema", schema);
        } else {
            /* Any object; Anthropic refuses a null "properties". */
            gantry_json_t *s = anth_j_obj(jb, tool, "input_schema");
            anth_j_cstr(jb, s, "type", "object");
            anth_j_bool(jb, s, "additionalProperties", true);
            anth_j_obj(jb, s, "properties");
        }
        /*
         * Anthropic refuses to force a tool while extended thinking is on, so then the tool is
         * only offered; an answer that does not use it is passed on as it is.
         */
        gantry_json_t *choice = anth_j_obj(jb, b->out, "tool_choice");
        const gantry_json_t *thinking = host->json_get(b->out, "thinking");
        if (anth_j_is(host, host->json_get(thinking, "type"), "enabled")) {
            anth_j_cstr(jb, choice, "type", "auto");
        } else {
            anth_j_cstr(jb, choice, "type", "tool");
            anth_j_cstr(jb, choice, "name", ANTH_JSON_TOOL);
        }
        b->rs->json_mode = true;
        return GANTRY_CONTINUE;
    }
    bool parallel_off =
        host->json_bool(host->json_get(b->in, "parallel_tool_calls"), &flag) == GANTRY_OK && !flag;
    return tool_choice(b, host->json_get(b->in, "tool_choice"), parallel_off);
}
