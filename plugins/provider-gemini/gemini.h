/*
 * The gemini provider: declarations shared by its source files.  Nothing here leaves the plugin;
 * the only exported symbol is gantry_plugin_describe() in gemini.c.
 */
#ifndef GANTRY_PROVIDER_GEMINI_H
#define GANTRY_PROVIDER_GEMINI_H

#include <string.h>

#include <gantry/gantry.h>

/* Gemini answers with at most 8 candidates (candidateCount is limited to 1..8). */
#define GEMINI_MAX_CANDIDATES 8

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct gemini_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} gemini_instance_t;

/* One header of a deployment's precomputed list. */
typedef struct gemini_header {
    gantry_str_t name;
    gantry_str_t value;
} gemini_header_t;

/*
 * A deployment (one model_list entry), built on the main thread by deployment_create() and
 * read-only afterwards.  Every string is NUL-terminated instance memory; an absent optional value
 * is GANTRY_STR_NULL.
 */
typedef struct gemini_deployment {
    gantry_str_t model;      /* upstream model id, e.g. "gemini-2.5-flash" */
    gantry_str_t url;        /* .../v1beta/models/<model>:generateContent */
    gantry_str_t stream_url; /* .../v1beta/models/<model>:streamGenerateContent?alt=sse */
    gantry_str_t api_key;    /* kept to scrub it out of error messages; may be NULL */
    gantry_str_t safety;     /* safety_settings as JSON text, or NULL */
    gemini_header_t *extra;  /* extra_headers (owned strings) */
    size_t n_extra;
    gemini_header_t *headers; /* every header a request carries (borrowed strings) */
    size_t n_headers;
    /* Gemini 3 and later take a thinking level rather than a token budget for reasoning_effort. */
    bool thinking_levels;
} gemini_deployment_t;

/*
 * Everything the request translation needs, passed down the builders.  A builder that finds the
 * client's request wrong calls host->req_fail() and returns false; the caller returns FAIL.
 */
typedef struct gemini_ctx {
    const gantry_host_t *host;
    gantry_req_t *req;
    const gemini_instance_t *inst;
    const gemini_deployment_t *dep;
    bool drop; /* drop unsupported parameters instead of refusing them */
} gemini_ctx_t;

/* usageMetadata, as read from a response or stream event. */
typedef struct gemini_usage {
    bool present;
    double prompt, candidates, thoughts, cached;
    bool has_thoughts, has_cached;
} gemini_usage_t;

/* Per-request stream state (host->req_data), made afresh by prepare() for every attempt. */
typedef struct gemini_stream {
    bool role_sent[GEMINI_MAX_CANDIDATES];
    bool finished[GEMINI_MAX_CANDIDATES];
    int tool_calls[GEMINI_MAX_CANDIDATES]; /* tool calls emitted so far, per candidate */
    int seen;                              /* 1 + the highest candidate index seen */
    int n_calls;                           /* tool calls of the whole answer, for their ids */
    int64_t created;                       /* one timestamp for every chunk, as OpenAI does */
    /* The latest usageMetadata: Gemini repeats it on every event, complete on the last. */
    gemini_usage_t usage;
} gemini_stream_t;

static inline bool gemini_str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static inline bool gemini_has_prefix(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

/* gemini_conf.c */
extern const gantry_conf_field_t gemini_deployment_fields[];
int gemini_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                             gantry_str_t model_id, void **deployment);
void gemini_deployment_destroy(void *state, void *deployment);

/* gemini_request.c */
gantry_action_t gemini_prepare(gantry_req_t *req, void *state, void *deployment,
                               gantry_upstream_t *up);
/* Refuse a parameter Gemini cannot honour (400 naming it), unless drop_params: then true. */
bool gemini_unsupported(gemini_ctx_t *c, const char *param);
/* 400 invalid_request_error; returns false so that builders can `return gemini_bad(...)`. */
bool gemini_bad(gemini_ctx_t *c, const char *fmt, ...) GANTRY_PRINTF(2, 3);
/* 500 for a failed allocation; returns false. */
bool gemini_oom(gemini_ctx_t *c);
/*
 * Deep-copy `src` into parent[key] (appended when key is NULL), node by node.  Not json_dup() +
 * json_attach(): cores of ABI 1.1 before a fix kept a duplicated member's key, and attach refused
 * such a copy; the node-by-node copy works with every core.
 */
bool gemini_copy(gemini_ctx_t *c, const gantry_json_t *src, gantry_json_t *parent, const char *key);

/* gemini_messages.c: messages -> contents and systemInstruction of `body`. */
bool gemini_build_contents(gemini_ctx_t *c, const gantry_json_t *messages, gantry_json_t *body);

/* gemini_schema.c: a JSON schema rewritten as a Gemini Schema object into parent[key]. */
bool gemini_build_schema(gemini_ctx_t *c, const gantry_json_t *schema, gantry_json_t *parent,
                         const char *key, const char *what);

/* gemini_response.c */
gantry_action_t gemini_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                      gantry_str_t body);
/*
 * Translate one candidate's parts into `out` (a message for responses, a delta for chunks):
 * content, reasoning_content, tool_calls and thinking_blocks.  Tool call ids are numbered from
 * *n_calls on (per answer); in streams each call also gets "index" from *tc_index (per choice).
 * Returns the number of tool calls added, or -1 when memory ran out.
 */
int gemini_translate_parts(const gantry_host_t *host, gantry_req_t *req, const gantry_json_t *cand,
                           gantry_json_t *out, gantry_str_t response_id, int *n_calls,
                           int *tc_index, bool stream);
/* finishReason -> OpenAI finish_reason; NULL when the candidate has none. */
const char *gemini_finish_reason(const gantry_host_t *host, const gantry_json_t *cand,
                                 bool has_tool_calls);
/* Read usageMetadata (absent: u->present is false). */
void gemini_read_usage(const gantry_host_t *host, const gantry_json_t *meta, gemini_usage_t *u);
/* Write the canonical usage object as parent["usage"]; false when memory ran out. */
bool gemini_put_usage(const gantry_host_t *host, gantry_json_t *parent, const gemini_usage_t *u);
/* A candidate's logprobsResult as the OpenAI choice "logprobs"; false when memory ran out. */
bool gemini_put_logprobs(const gantry_host_t *host, gantry_req_t *req, const gantry_json_t *cand,
                         gantry_json_t *choice);
/* Set the common chunk/response members: id, object, created (unix seconds), model. */
bool gemini_put_header(const gantry_host_t *host, gantry_req_t *req, const gemini_deployment_t *dep,
                       const gantry_json_t *root, gantry_json_t *out, const char *object,
                       int64_t created);

/* gemini_stream.c */
gantry_action_t gemini_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                   const gantry_frame_t *frame);

/* gemini_error.c */
void gemini_map_error(gantry_req_t *req, void *state, void *deployment, int status,
                      gantry_str_t body, gantry_error_t *err);
/* An {"error": ...} inside a 2xx body or a stream event: req_fail() with its mapping, FAIL. */
gantry_action_t gemini_fail_with_error(const gemini_instance_t *inst,
                                       const gemini_deployment_t *dep, gantry_req_t *req,
                                       const gantry_json_t *root, gantry_str_t raw);
/* A prompt blocked by promptFeedback.blockReason: a content-policy error (400), FAIL. */
gantry_action_t gemini_fail_blocked(const gemini_instance_t *inst, gantry_req_t *req,
                                    const gantry_json_t *feedback);

#endif
