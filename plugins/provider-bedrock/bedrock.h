/*
 * The bedrock provider: declarations shared by its source files.  Nothing here leaves the plugin;
 * the only exported symbol is gantry_plugin_describe() in bedrock.c.
 *
 * Files: bedrock.c (descriptor, instance, per-worker prompt cache), bedrock_conf.c (deployments),
 * bedrock_model.c (model strings), bedrock_util.c (JSON, base64, text helpers), bedrock_prepare.c
 * (credentials, signing, the upstream request), bedrock_converse_msgs.c and bedrock_converse.c
 * (Converse and Nova bodies: messages, then parameters and tools),
 * bedrock_anthropic.c (Anthropic Messages on InvokeModel), bedrock_invoke.c (Titan, Llama and
 * Mistral), bedrock_response.c (answers and chunks), bedrock_stream.c (event-stream frames),
 * bedrock_embed.c (embeddings), bedrock_prompt.c (managed prompts), bedrock_error.c (errors).
 */
#ifndef GANTRY_PROVIDER_BEDROCK_H
#define GANTRY_PROVIDER_BEDROCK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <gantry/gantry.h>

#include "aws.h"

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct bedrock_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} bedrock_instance_t;

/* Which Bedrock operation a deployment calls. */
typedef enum br_api {
    BR_API_CONVERSE = 1, /* Converse / ConverseStream */
    BR_API_INVOKE = 2,   /* InvokeModel / InvokeModelWithResponseStream, native bodies */
} br_api_t;

/* The model family, read from the model id; it decides native bodies and some parameters. */
typedef enum br_family {
    BR_FAM_OTHER = 0,
    BR_FAM_ANTHROPIC,
    BR_FAM_TITAN_TEXT,
    BR_FAM_LLAMA,
    BR_FAM_MISTRAL,
    BR_FAM_NOVA,
    BR_FAM_TITAN_EMBED,
    BR_FAM_COHERE_EMBED,
    BR_FAM_OPENAI, /* openai.gpt-oss-*: takes reasoning_effort */
} br_family_t;

/* What a model string says, before any network or configuration is involved. */
typedef struct br_model {
    br_api_t api;
    br_family_t family;
    gantry_str_t id;        /* the upstream model id (route prefix removed), a view of the input */
    bool prompt;            /* a managed prompt ARN */
    gantry_str_t region;    /* from an ARN, else empty */
    gantry_str_t prompt_id; /* prompt ARNs: the resource id */
    gantry_str_t prompt_version; /* prompt ARNs: the version, empty for the draft */
} br_model_t;

typedef struct br_header {
    gantry_str_t name;
    gantry_str_t value;
} br_header_t;

/*
 * A deployment (one model_list entry), built on the main thread by deployment_create() and
 * read-only afterwards.  Strings are NUL-terminated instance memory.
 */
typedef struct bedrock_deployment {
    br_model_t model; /* views into model_id below */
    char *model_id;   /* upstream model id, e.g. "us.anthropic.claude-3-5-haiku-20241022-v1:0" */
    char *model_path; /* model_id URI-encoded for the path ('/' and ':' encoded) */
    char *endpoint;   /* bedrock-runtime base URL without a trailing '/' */
    char *agent_endpoint;       /* bedrock-agent base URL (managed prompts) */
    char *region;               /* signing region */
    aws_cred_provider_t *creds; /* SigV4 credentials; NULL when a bearer API key is used */
    char *bearer;               /* "Bearer <api_key>", or NULL */
    char *api_key;              /* kept only to scrub it from error messages */
    br_header_t *extra;         /* extra_headers, in configuration order */
    size_t n_extra;
} bedrock_deployment_t;

#define BR_MAX_TOOL_BLOCKS 128

/* Per-request state (host->req_data), kept across attempts of the request. */
typedef struct bedrock_req {
    const bedrock_instance_t *inst;
    const bedrock_deployment_t *dep; /* of the current attempt */

    /* --- progress of prepare() across PAUSEs --- */
    int64_t cred_wait_start_us; /* 0: not waiting for credentials */
    gantry_json_t *prompt_root; /* managed prompt: the fetched GetPrompt answer */
    const void *prompt_for;     /* the deployment prompt_root belongs to */
    bool prompt_failed;
    int prompt_status;
    char *prompt_error;

    /* --- what the current attempt sent --- */
    br_api_t api;
    br_family_t family;
    bool embed;
    bool json_mode;     /* response_format became the forced tool "json_tool_call" */
    gantry_str_t model; /* reported as "model" */
    char *chunk_id;
    int64_t created;

    /* --- stream state of the current attempt --- */
    bool role_sent;
    bool finish_sent;
    bool ended;
    int ntools;
    int nmap;
    struct {
        int block;
        int tool; /* -1: the json_tool_call block of json mode */
    } map[BR_MAX_TOOL_BLOCKS];
    int64_t in_tok, out_tok, cache_read, cache_write;
    bool have_usage, have_cache;
    /* Estimated prompt tokens, for answers that carry no counts (Mistral, Cohere). */
    int64_t est_in;
    bool embed_b64; /* embeddings: encoding_format "base64" */
} bedrock_req_t;

/*
 * What the body builders share: the host, the request, its state, and whether unsupported
 * parameters are dropped.  Builders return 0, or -1 after host->req_fail() (the caller returns
 * GANTRY_FAIL).  A failed allocation sets `oom` and is reported once at the end.
 */
typedef struct br_ctx {
    const gantry_host_t *host;
    gantry_req_t *req;
    const bedrock_instance_t *inst;
    const bedrock_deployment_t *dep;
    bedrock_req_t *rs;
    bool drop;
    bool oom;
    br_family_t family; /* of the model being called (a prompt's variant may differ) */
    gantry_str_t model_id;
} br_ctx_t;

/* bedrock.c: the per-worker cache of managed prompts */
typedef struct br_pcache br_pcache_t;
br_pcache_t *bedrock_pcache(const bedrock_instance_t *inst);
/* The cached GetPrompt body for key, or an empty string. Borrowed until the next cache call. */
gantry_str_t bedrock_pcache_get(br_pcache_t *c, const char *key, int64_t now_us);
void bedrock_pcache_put(br_pcache_t *c, const char *key, gantry_str_t body, int64_t now_us);

/* bedrock_conf.c */
extern const gantry_conf_field_t bedrock_deployment_fields[];
int bedrock_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                              gantry_str_t model_id, void **deployment);
void bedrock_deployment_destroy(void *state, void *deployment);

/* bedrock_model.c */
/* Parse a model string (what follows "bedrock/").  0, or -1 with a reason in err. */
int br_model_parse(gantry_str_t s, br_model_t *out, char *err, size_t errlen);
/* The family of a bare model id (region prefixes like "us." skipped). */
br_family_t br_family_of(gantry_str_t id);
/* The region in a "bedrock-runtime.<region>.amazonaws.com" style URL, or empty. */
gantry_str_t br_region_of_url(gantry_str_t url);

/* bedrock_util.c: strings */
bool br_str_eq(gantry_str_t s, const char *lit);
bool br_str_ieq(gantry_str_t s, const char *lit);
bool br_has_prefix(gantry_str_t s, const char *lit);
bool br_contains_ci(gantry_str_t hay, const char *needle); /* needle lowercase */
/* Standard base64 (with padding) into the arena; NULL when out of memory. */
char *br_b64_encode(gantry_req_t *req, const gantry_host_t *host, const void *data, size_t len,
                    size_t *outlen);
/* Decode standard base64 (padding optional, no whitespace) into the arena; -1 when malformed. */
int br_b64_decode(gantry_req_t *req, const gantry_host_t *host, gantry_str_t in, gantry_str_t *out);
/* A "data:<mime>;base64,<data>" URL; false when it is not one. */
bool br_data_url(gantry_str_t url, gantry_str_t *mime, gantry_str_t *data);

/* bedrock_util.c: JSON building through the host, with the failure sticking in ctx->oom */
gantry_json_t *br_obj(br_ctx_t *c, gantry_json_t *parent, const char *key);
gantry_json_t *br_arr(br_ctx_t *c, gantry_json_t *parent, const char *key);
gantry_json_t *br_push_obj(br_ctx_t *c, gantry_json_t *arr);
void br_set_str(br_ctx_t *c, gantry_json_t *obj, const char *key, gantry_str_t v);
void br_set_cstr(br_ctx_t *c, gantry_json_t *obj, const char *key, const char *v);
void br_set_num(br_ctx_t *c, gantry_json_t *obj, const char *key, double v);
void br_set_bool(br_ctx_t *c, gantry_json_t *obj, const char *key, bool v);
void br_set_null(br_ctx_t *c, gantry_json_t *obj, const char *key);
void br_push_str(br_ctx_t *c, gantry_json_t *arr, gantry_str_t v);
/* Deep copy of `node` into parent[key] (key NULL: appended to an array). */
void br_copy(br_ctx_t *c, gantry_json_t *parent, const char *key, const gantry_json_t *node);
/* Member helpers on the canonical request. */
gantry_str_t br_get_str(const gantry_host_t *h, const gantry_json_t *obj, const char *key);
bool br_get_num(const gantry_host_t *h, const gantry_json_t *obj, const char *key, double *out);
bool br_present(const gantry_host_t *h, const gantry_json_t *obj, const char *key);

/* bedrock_util.c: failing a request */
gantry_action_t br_bad_request(br_ctx_t *c, const char *fmt, ...) GANTRY_PRINTF(2, 3);
/* A parameter this call cannot honour: dropped (0) when drop_params says so, else a 400 (-1). */
int br_unsupported(br_ctx_t *c, const char *param, const char *why);
int br_fail_oom(br_ctx_t *c);

/* bedrock_converse_msgs.c */
#define BR_MAX_HISTORY_TOOLS 64
/* What the translated history holds that the tool configuration depends on. */
typedef struct br_history {
    bool tool_blocks; /* a toolUse or toolResult went out: Bedrock then requires a toolConfig */
    size_t ntools;
    gantry_str_t tools[BR_MAX_HISTORY_TOOLS]; /* names of the tools the history called */
} br_history_t;
/* "system" and "messages" of a Converse (nova: Nova InvokeModel) body, into out. */
int br_converse_messages(br_ctx_t *c, const gantry_json_t *msgs, bool nova, gantry_json_t *out,
                         br_history_t *hist);
bool br_has_cache_control(const gantry_host_t *h, const gantry_json_t *node);
/* Append {"cachePoint":{"type":"default"}} to a block list. */
void br_cache_point(br_ctx_t *c, gantry_json_t *arr);
/* Image format ("png") of a MIME type, or NULL. */
const char *br_image_format(gantry_str_t mime);

/* bedrock_converse.c */
/* Shared checks of the sampling parameters no Bedrock API takes (n, seed, logit_bias, ...). */
int br_check_common_params(br_ctx_t *c, const gantry_json_t *body);
/* The Converse body (nova_invoke: Nova's InvokeModel body, which differs only a little). */
int br_converse_body(br_ctx_t *c, const gantry_json_t *body, const gantry_json_t *prompt_variant,
                     bool nova_invoke, gantry_json_t **out);
/* The thinking budget a reasoning_effort means for Anthropic models; 0 for "none", -1 unknown. */
int br_effort_budget(gantry_str_t effort);
/* The max tokens asked for (max_completion_tokens wins over max_tokens). */
bool br_max_tokens(const gantry_host_t *h, const gantry_json_t *body, double *out);

/* bedrock_anthropic.c */
int br_anthropic_body(br_ctx_t *c, const gantry_json_t *body, gantry_json_t **out);
gantry_action_t br_anthropic_response(br_ctx_t *c, gantry_json_t *root);
gantry_action_t br_anthropic_event(br_ctx_t *c, gantry_json_t *ev);

/* bedrock_invoke.c: Titan text, Llama and Mistral */
int br_prompt_family_body(br_ctx_t *c, const gantry_json_t *body, gantry_json_t **out);
gantry_action_t br_prompt_family_response(br_ctx_t *c, gantry_json_t *root);
gantry_action_t br_prompt_family_chunk(br_ctx_t *c, gantry_json_t *root);

/* bedrock_response.c */
gantry_action_t bedrock_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                       gantry_str_t body);
gantry_action_t br_converse_response(br_ctx_t *c, gantry_json_t *root);
/* Canonical finish reason of a Bedrock/Anthropic stop reason. */
const char *br_finish_reason(gantry_str_t stop);
/* A new chat.completion (object with id, created, model) and chunk skeletons. */
gantry_json_t *br_completion_new(br_ctx_t *c, gantry_json_t **message, gantry_json_t **choice);
gantry_json_t *br_chunk_new(br_ctx_t *c, gantry_json_t **delta, gantry_json_t **choice);
/* Emit helpers for streams; they return GANTRY_CONTINUE or GANTRY_FAIL. */
gantry_action_t br_emit(br_ctx_t *c, gantry_json_t *chunk);
gantry_action_t br_emit_role(br_ctx_t *c);
gantry_action_t br_emit_text(br_ctx_t *c, const char *field, gantry_str_t text);
gantry_action_t br_emit_tool_start(br_ctx_t *c, int block, gantry_str_t id, gantry_str_t name);
gantry_action_t br_emit_tool_args(br_ctx_t *c, int block, gantry_str_t args);
gantry_action_t br_emit_thinking_block(br_ctx_t *c, gantry_str_t signature, gantry_str_t redacted);
gantry_action_t br_emit_finish(br_ctx_t *c, const char *finish);
/* Emit the usage chunk (when there is usage) and end the stream. */
gantry_action_t br_emit_end(br_ctx_t *c);
/* Fill a canonical usage object from counts; cache fields only when have_cache. */
void br_usage_fill(br_ctx_t *c, gantry_json_t *usage, int64_t in, int64_t out, int64_t cache_read,
                   int64_t cache_write, bool have_cache);
/* Read Bedrock-style usage ({inputTokens, outputTokens, cacheRead...}) into the request state. */
void br_usage_read(br_ctx_t *c, const gantry_json_t *usage);
/* Invocation metrics ("amazon-bedrock-invocationMetrics") into the request state. */
void br_metrics_read(br_ctx_t *c, const gantry_json_t *root);
/* Append text to a string member, creating it on first use (several blocks make one message). */
void br_append_member(br_ctx_t *c, gantry_json_t *obj, const char *key, gantry_str_t t);
int64_t br_int(const gantry_host_t *h, const gantry_json_t *obj, const char *key, bool *found);

/* bedrock_stream.c */
gantry_action_t bedrock_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                    const gantry_frame_t *frame);
/* One ConverseStream event (also Nova's InvokeModel stream chunks). */
gantry_action_t br_converse_event(br_ctx_t *c, gantry_str_t name, const gantry_json_t *ev);

/* bedrock_embed.c */
int br_embed_body(br_ctx_t *c, const gantry_json_t *body, gantry_json_t **out);
gantry_action_t br_embed_response(br_ctx_t *c, gantry_json_t *root);

/* bedrock_prompt.c */
/* Make sure the managed prompt of the deployment is loaded: CONTINUE, PAUSE or FAIL. */
gantry_action_t br_prompt_load(br_ctx_t *c, const aws_creds_t *creds);
/* The variant to use, with its model id; NULL (after req_fail) when the prompt is unusable. */
const gantry_json_t *br_prompt_variant(br_ctx_t *c, gantry_str_t *model_id);
/* The client's messages with the rendered template in front (a request-owned copy). */
int br_prompt_render(br_ctx_t *c, const gantry_json_t *variant, const gantry_json_t *body,
                     gantry_json_t **out);

/* bedrock_prepare.c */
gantry_action_t bedrock_prepare(gantry_req_t *req, void *state, void *deployment,
                                gantry_upstream_t *up);
bedrock_req_t *br_req_state(const bedrock_instance_t *inst, gantry_req_t *req);
/*
 * Sign a request for `service`: fills the headers to send (the given ones, then x-amz-date,
 * x-amz-content-sha256, x-amz-security-token and authorization) into out[], returning how many,
 * or -1.  `hdrs`/`n` are the headers to sign; out must have room for n + 4; values live in `mem`.
 */
typedef struct br_signed {
    aws_sign_out_t so;
} br_signed_t;
int br_sign(const bedrock_deployment_t *dep, const aws_creds_t *creds, const char *method,
            const char *url, const br_header_t *hdrs, size_t n, gantry_str_t body,
            const char *service, time_t now, br_signed_t *mem, br_header_t *out);

/* bedrock_error.c */
void bedrock_map_error(gantry_req_t *req, void *state, void *deployment, int status,
                       gantry_str_t body, gantry_error_t *err);
/* An exception inside a stream, or an error object inside a 2xx answer: req_fail and FAIL. */
gantry_action_t br_fail_exception(br_ctx_t *c, gantry_str_t type, gantry_str_t payload);
/* Clean upstream text for clients and logs: cut, valid UTF-8, credentials scrubbed. */
gantry_str_t br_clean_text(br_ctx_t *c, gantry_str_t in, size_t cap);
/* The message of a Bedrock error body ({"message"} / {"Message"}), cleaned; an excerpt else. */
gantry_str_t br_error_message(br_ctx_t *c, gantry_str_t body);

#endif
