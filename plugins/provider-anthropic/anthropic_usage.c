/*
 * The anthropic provider: token usage and stop reasons, shared by the response and stream
 * parsers.
 *
 * Anthropic counts cache reads and cache writes apart from input_tokens; the canonical
 * prompt_tokens is every input token (as OpenAI counts them), so the three are added, and the
 * cache figures are also reported on their own for cost tracking.
 */
#include "anthropic.h"

/* Token counts are far below this; a larger or negative figure is ignored as garbage. */
#define MAX_TOKENS_FIGURE 1000000000000LL

static void read_one(const gantry_host_t *host, const gantry_json_t *usage, const char *key,
                     int64_t *value, bool *has)
{
    int64_t v;
    if (anth_j_int(host, host->json_get(usage, key), 0, MAX_TOKENS_FIGURE, &v)) {
        *value = v;
        *has = true;
    }
}

void anth_usage_read(const gantry_host_t *host, const gantry_json_t *node, anth_usage_t *u)
{
    if (host->json_type(node) != GANTRY_JSON_OBJECT)
        return;
    read_one(host, node, "input_tokens", &u->input, &u->has_input);
    read_one(host, node, "output_tokens", &u->output, &u->has_output);
    read_one(host, node, "cache_creation_input_tokens", &u->cache_creation, &u->has_cache_creation);
    read_one(host, node, "cache_read_input_tokens", &u->cache_read, &u->has_cache_read);
}

void anth_usage_write(anth_jb_t *jb, gantry_json_t *parent, const char *key, const anth_usage_t *u)
{
    int64_t prompt = u->input + u->cache_creation + u->cache_read;
    gantry_json_t *out = anth_j_obj(jb, parent, key);
    anth_j_num(jb, out, "prompt_tokens", (double)prompt);
    anth_j_num(jb, out, "completion_tokens", (double)u->output);
    anth_j_num(jb, out, "total_tokens", (double)(prompt + u->output));
    gantry_json_t *details = anth_j_obj(jb, out, "prompt_tokens_details");
    anth_j_num(jb, details, "cached_tokens", (double)u->cache_read);
    if (u->has_cache_read)
        anth_j_num(jb, out, "cache_read_input_tokens", (double)u->cache_read);
    if (u->has_cache_creation)
        anth_j_num(jb, out, "cache_creation_input_tokens", (double)u->cache_creation);
}

const char *anth_finish_reason(gantry_str_t stop_reason, bool json_mode)
{
    if (anth_str_eq(stop_reason, "max_tokens") ||
        anth_str_eq(stop_reason, "model_context_window_exceeded"))
        return "length";
    if (anth_str_eq(stop_reason, "tool_use"))
        /* In JSON mode the forced tool call is the answer itself, not a call to make. */
        return json_mode ? "stop" : "tool_calls";
    if (anth_str_eq(stop_reason, "refusal"))
        return "content_filter";
    /* end_turn, stop_sequence, pause_turn, and reasons newer than this plugin. */
    return "stop";
}
