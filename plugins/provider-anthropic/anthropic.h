/*
 * The anthropic provider: declarations shared by its source files.  Nothing here leaves the
 * plugin; the only exported symbol is gantry_plugin_describe() in anthropic.c.
 */
#ifndef GANTRY_PROVIDER_ANTHROPIC_H
#define GANTRY_PROVIDER_ANTHROPIC_H

#include <string.h>

#include <gantry/gantry.h>

/* The tool that carries structured output (LiteLLM's name, so answers look the same). */
#define ANTH_JSON_TOOL "json_tool_call"

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct anth_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} anth_instance_t;

/* One upstream header; strings are NUL-terminated instance memory or static literals. */
typedef struct anth_header {
    gantry_str_t name;
    gantry_str_t value;
} anth_header_t;

/*
 * A deployment (one model_list entry), built on the main thread by deployment_create() and
 * read-only afterwards.  Strings are NUL-terminated instance memory; absent ones are
 * GANTRY_STR_NULL.
 */
typedef struct anth_deployment {
    gantry_str_t url;     /* ".../v1/messages" */
    gantry_str_t model;   /* upstream model id, e.g. "claude-sonnet-4-5" */
    gantry_str_t api_key; /* kept to scrub it out of upstream error messages */
    gantry_str_t version; /* anthropic-version */
    gantry_str_t beta;    /* anthropic-beta, comma separated; NULL when none */
    int64_t default_max_tokens;
    anth_header_t *extra; /* extra_headers, owned */
    size_t n_extra;
    anth_header_t *headers; /* every header a request carries; borrows its strings */
    size_t n_headers;
} anth_deployment_t;

/* What one streamed content block is, by Anthropic's block index. */
typedef enum anth_block_kind {
    ANTH_BLOCK_NONE = 0, /* no content_block_start seen for the index */
    ANTH_BLOCK_TEXT,
    ANTH_BLOCK_TOOL,
    ANTH_BLOCK_JSON_TOOL, /* the structured-output tool: its input is the answer text */
    ANTH_BLOCK_THINKING,
    ANTH_BLOCK_OTHER, /* server tools and future kinds: ignored */
} anth_block_kind_t;

typedef struct anth_block {
    uint8_t kind;        /* anth_block_kind_t */
    uint32_t tool_index; /* ANTH_BLOCK_TOOL: ordinal among the tool calls of the answer */
} anth_block_t;

/* Token counts as Anthropic reports them; a field is known when its has_ flag is set. */
typedef struct anth_usage {
    int64_t input, output, cache_creation, cache_read;
    bool has_input, has_output, has_cache_creation, has_cache_read;
} anth_usage_t;

/*
 * Per-request state of one attempt, in the request arena (host->req_data()).  prepare() makes a
 * fresh one for every attempt, so a retry never sees the stream state of the attempt before it.
 */
typedef struct anth_req {
    bool json_mode; /* response_format became the forced ANTH_JSON_TOOL */
    /* Streaming. */
    bool started;     /* the role chunk went out */
    bool finish_sent; /* the finish_reason chunk went out */
    gantry_str_t id;  /* message id (arena) */
    gantry_str_t model;
    int64_t created;
    anth_usage_t usage;
    anth_block_t *blocks; /* indexed by Anthropic's block index; arena, grows */
    size_t cap_blocks;
    uint32_t n_tools;    /* tool calls announced to the client */
    bool json_tool_seen; /* the JSON-mode tool's block started */
} anth_req_t;

/*
 * JSON building through the host with one sticky failure flag: every helper accepts a NULL parent
 * (after an earlier failure) and then does nothing, so a builder checks `failed` once at the end.
 */
typedef struct anth_jb {
    const gantry_host_t *host;
    gantry_req_t *req;
    bool failed;
} anth_jb_t;

/* anthropic_conf.c */
extern const gantry_conf_field_t anth_deployment_fields[];
int anth_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                           gantry_str_t model_id, void **deployment);
void anth_deployment_destroy(void *state, void *deployment);

/* anthropic_json.c: `key` NULL appends to an array parent. */
gantry_json_t *anth_j_new(anth_jb_t *jb, gantry_json_type_t type);
gantry_json_t *anth_j_obj(anth_jb_t *jb, gantry_json_t *parent, const char *key);
gantry_json_t *anth_j_arr(anth_jb_t *jb, gantry_json_t *parent, const char *key);
void anth_j_str(anth_jb_t *jb, gantry_json_t *parent, const char *key, gantry_str_t value);
void anth_j_cstr(anth_jb_t *jb, gantry_json_t *parent, const char *key, const char *value);
void anth_j_num(anth_jb_t *jb, gantry_json_t *parent, const char *key, double value);
void anth_j_bool(anth_jb_t *jb, gantry_json_t *parent, const char *key, bool value);
void anth_j_null(anth_jb_t *jb, gantry_json_t *parent, const char *key);
/* A deep copy of `src` (from any document) under parent[key]. */
void anth_j_copy(anth_jb_t *jb, gantry_json_t *parent, const char *key, const gantry_json_t *src);
/* String equality of a JSON string member with a literal. */
bool anth_j_is(const gantry_host_t *host, const gantry_json_t *node, const char *lit);
/* The value of a JSON number that is an integer within [lo, hi]; false otherwise. */
bool anth_j_int(const gantry_host_t *host, const gantry_json_t *node, int64_t lo, int64_t hi,
                int64_t *out);

/* anthropic_text.c */
bool anth_str_eq(gantry_str_t s, const char *lit);
/* Case-insensitive substring test; `needle` is lowercase ASCII. */
bool anth_contains(gantry_str_t hay, const char *needle);
/*
 * At most `cap` bytes of `in` as clean single-line text in the arena: valid UTF-8, control
 * characters folded to single spaces, every occurrence of `secret` replaced, "..." after a cut.
 */
gantry_str_t anth_clean_text(const gantry_host_t *host, gantry_req_t *req, gantry_str_t in,
                             size_t cap, gantry_str_t secret);

/* anthropic_request.c */
gantry_action_t anth_prepare(gantry_req_t *req, void *state, void *deployment,
                             gantry_upstream_t *up);

/*
 * The request translation, split by subject.  A builder carries what every part needs; a part
 * returns GANTRY_CONTINUE, or GANTRY_FAIL after recording the error with host->req_fail().
 */
typedef struct anth_build {
    anth_jb_t jb;
    const anth_instance_t *inst;
    const anth_deployment_t *dep;
    anth_req_t *rs;
    const gantry_json_t *in; /* the canonical request */
    gantry_json_t *out;      /* the Messages request being built */
    bool drop_params;
} anth_build_t;

/* Record a 400 invalid_request_error (the message names `param`); returns GANTRY_FAIL. */
gantry_action_t anth_bad_request(anth_build_t *b, const char *fmt, ...) GANTRY_PRINTF(2, 3);

/* anthropic_messages.c: messages and system. */
gantry_action_t anth_build_messages(anth_build_t *b);

/* anthropic_tools.c: tools, tool_choice, parallel_tool_calls, response_format. */
gantry_action_t anth_build_tools(anth_build_t *b);

/* anthropic_usage.c */
/* Merge the counts present in an Anthropic usage object into `u`. */
void anth_usage_read(const gantry_host_t *host, const gantry_json_t *node, anth_usage_t *u);
/* Write the canonical usage object of `u` under parent[key]. */
void anth_usage_write(anth_jb_t *jb, gantry_json_t *parent, const char *key, const anth_usage_t *u);
/* Anthropic stop_reason -> canonical finish_reason. */
const char *anth_finish_reason(gantry_str_t stop_reason, bool json_mode);

/* anthropic_response.c */
gantry_action_t anth_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                    gantry_str_t body);

/* anthropic_stream.c */
gantry_action_t anth_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                 const gantry_frame_t *frame);

/* anthropic_error.c */
void anth_map_error(gantry_req_t *req, void *state, void *deployment, int status, gantry_str_t body,
                    gantry_error_t *err);
/*
 * Fail the request with an Anthropic error found in a 2xx body or an SSE "error" event: `root` is
 * the parsed JSON (or NULL) and `raw` the text.  The status comes from the error type
 * (overloaded_error 529, rate_limit_error 429, ...), else 502.  Returns GANTRY_FAIL.
 */
gantry_action_t anth_fail_with_error(const anth_instance_t *inst, const anth_deployment_t *dep,
                                     gantry_req_t *req, const gantry_json_t *root,
                                     gantry_str_t raw);

#endif
