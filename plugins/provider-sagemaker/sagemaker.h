/*
 * The sagemaker provider: declarations shared by its source files.  Nothing here leaves the
 * plugin; the only exported symbol is gantry_plugin_describe() in sagemaker.c.
 */
#ifndef GANTRY_PROVIDER_SAGEMAKER_H
#define GANTRY_PROVIDER_SAGEMAKER_H

#include <string.h>

#include <gantry/gantry.h>

#include "../common/aws/aws.h"
#include "sagemaker_lines.h"

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct sm_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} sm_instance_t;

/* What the container behind the endpoint speaks. */
typedef enum sm_api {
    SM_API_MESSAGES = 1, /* OpenAI chat completions bodies (LMI, vLLM, TGI Messages API) */
    SM_API_TGI = 2,      /* {"inputs": <prompt>, "parameters": {...}} (TGI, LMI, JumpStart) */
} sm_api_t;

/* How a tgi deployment turns chat messages into one prompt (sagemaker_prompt.c). */
typedef enum sm_template {
    SM_TPL_LLAMA3 = 0,
    SM_TPL_LLAMA2,
    SM_TPL_MISTRAL,
    SM_TPL_CHATML,
    SM_TPL_PLAIN,
    SM_TPL_CUSTOM, /* LiteLLM's roles / initial_prompt_value / final_prompt_value */
} sm_template_t;

/* Text put around a message of one role by a custom template; empty strings when unset. */
typedef struct sm_role_text {
    gantry_str_t pre;
    gantry_str_t post;
} sm_role_text_t;

enum { SM_ROLE_SYSTEM = 0, SM_ROLE_USER, SM_ROLE_ASSISTANT, SM_ROLE_TOOL, SM_ROLE_COUNT };

/* One upstream header; strings are NUL-terminated instance memory or static literals. */
typedef struct sm_header {
    gantry_str_t name;
    gantry_str_t value;
} sm_header_t;

/*
 * A deployment (one model_list entry), built on the main thread by deployment_create() and
 * read-only afterwards.  Strings are NUL-terminated instance memory; absent ones are
 * GANTRY_STR_NULL.
 */
typedef struct sm_deployment {
    gantry_str_t endpoint;   /* the SageMaker endpoint name */
    gantry_str_t url;        /* <base>/endpoints/<name>/invocations */
    gantry_str_t url_stream; /* <base>/endpoints/<name>/invocations-response-stream */
    gantry_str_t region;     /* signing region */
    sm_api_t api;
    sm_template_t tpl;
    sm_role_text_t roles[SM_ROLE_COUNT]; /* SM_TPL_CUSTOM only */
    gantry_str_t initial_prompt;         /* SM_TPL_CUSTOM only */
    gantry_str_t final_prompt;           /* SM_TPL_CUSTOM only */
    gantry_str_t container_model;        /* "model" sent in messages bodies; NULL: none */
    /* Optional routing headers; NULL when unset. */
    gantry_str_t target_model;      /* X-Amzn-SageMaker-Target-Model (InvokeEndpoint only) */
    gantry_str_t target_variant;    /* X-Amzn-SageMaker-Target-Variant */
    gantry_str_t component;         /* X-Amzn-SageMaker-Inference-Component */
    gantry_str_t custom_attributes; /* X-Amzn-SageMaker-Custom-Attributes */
    sm_header_t *extra;             /* extra_headers, owned */
    size_t n_extra;
    aws_cred_provider_t *creds; /* shared, reference counted by the aws library */
} sm_deployment_t;

/*
 * Per-request state (request arena, host->req_data()).  The credential wait survives the PAUSE of
 * prepare(); everything under "attempt" is reset by prepare() for every attempt, so a retry never
 * sees the stream state of the attempt before it.
 */
typedef struct sm_req {
    const sm_instance_t *inst;
    const sm_deployment_t *wait_dep; /* the deployment whose credentials are awaited */
    int64_t wait_start_us;           /* when the wait began (host->now_us) */
    /* attempt */
    gantry_str_t prompt;       /* tgi: the rendered prompt (arena), to strip an echo of it */
    size_t prompt_bytes;       /* its length: the base of the prompt token estimate */
    sm_lines_t lines;          /* the container's bytes, re-split into lines */
    bool sse_error;            /* the container's last SSE "event:" field named an error */
    bool role_sent;            /* tgi stream: the first chunk (with the role) went out */
    bool finished;             /* the stream ended (stream_end called) */
    size_t text_bytes;         /* tgi stream: text streamed so far, for estimates */
    int64_t completion_tokens; /* tgi stream: tokens seen */
    gantry_str_t id;           /* chat.completion(.chunk) id, arena */
    int64_t created;
} sm_req_t;

/* sagemaker_conf.c */
extern const gantry_conf_field_t sm_deployment_fields[];
int sm_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                         gantry_str_t model_id, void **deployment);
void sm_deployment_destroy(void *state, void *deployment);

/* sagemaker_prepare.c */
gantry_action_t sm_prepare(gantry_req_t *req, void *state, void *deployment, gantry_upstream_t *up);
/* The request's state, created on first use; NULL when the arena is exhausted. */
sm_req_t *sm_req_state(const sm_instance_t *inst, gantry_req_t *req);

/* sagemaker_params.c */
/*
 * Check the canonical request for parameters a tgi body cannot honour.  Each is refused with a
 * 400 naming it, unless drop_params is on; returns CONTINUE or FAIL (after host->req_fail()).
 */
gantry_action_t sm_check_tgi_params(const sm_instance_t *inst, gantry_req_t *req,
                                    const gantry_json_t *body, bool drop);
/* 400 invalid_request_error naming `param`; returns GANTRY_FAIL. */
gantry_action_t sm_unsupported(const sm_instance_t *inst, gantry_req_t *req, const char *param,
                               const char *why);

/* sagemaker_messages.c: OpenAI-compatible containers. */
int sm_messages_body(const sm_instance_t *inst, const sm_deployment_t *dep, gantry_req_t *req,
                     bool stream, gantry_str_t *out);
gantry_action_t sm_messages_response(const sm_instance_t *inst, const sm_deployment_t *dep,
                                     gantry_req_t *req, gantry_str_t body);
/* One line of the container's stream (an SSE "data:" payload or a JSON line). */
gantry_action_t sm_messages_line(const sm_instance_t *inst, const sm_deployment_t *dep,
                                 gantry_req_t *req, sm_req_t *rs, gantry_str_t data);

/* sagemaker_tgi.c: text-generation containers. */
gantry_action_t sm_tgi_body(const sm_instance_t *inst, const sm_deployment_t *dep,
                            gantry_req_t *req, sm_req_t *rs, bool stream, gantry_str_t *out);
gantry_action_t sm_tgi_response(const sm_instance_t *inst, const sm_deployment_t *dep,
                                gantry_req_t *req, sm_req_t *rs, gantry_str_t body);
gantry_action_t sm_tgi_line(const sm_instance_t *inst, const sm_deployment_t *dep,
                            gantry_req_t *req, sm_req_t *rs, gantry_str_t data);

/* sagemaker_prompt.c */
/*
 * Render the chat messages into one prompt with the deployment's template, into arena memory.
 * Messages the template cannot carry (images, tool calls) fail the request with a 400 naming
 * "messages", unless `drop` is set (then those parts are left out).
 */
gantry_action_t sm_render_prompt(const sm_instance_t *inst, const sm_deployment_t *dep,
                                 gantry_req_t *req, const gantry_json_t *messages, bool drop,
                                 gantry_str_t *out);

/* sagemaker_embed.c */
gantry_action_t sm_embed_body(const sm_instance_t *inst, gantry_req_t *req, bool drop,
                              gantry_str_t *out);
gantry_action_t sm_embed_response(const sm_instance_t *inst, const sm_deployment_t *dep,
                                  gantry_req_t *req, gantry_str_t body);

/* sagemaker_stream.c */
gantry_action_t sm_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                  gantry_str_t body);
gantry_action_t sm_parse_frame(gantry_req_t *req, void *state, void *deployment,
                               const gantry_frame_t *frame);

/* sagemaker_error.c */
void sm_map_error(gantry_req_t *req, void *state, void *deployment, int status, gantry_str_t body,
                  gantry_error_t *err);
/*
 * Fail the request with an error the container reported inside a 2xx answer or a stream line
 * ({"error": ...} and the like): `root` is the parsed JSON or NULL, `raw` the text as received.
 */
gantry_action_t sm_fail_container_error(const sm_instance_t *inst, gantry_req_t *req,
                                        const gantry_json_t *root, gantry_str_t raw);
/* Fail a stream with an event-stream exception (ModelStreamError, InternalStreamFailure). */
gantry_action_t sm_fail_stream_exception(const sm_instance_t *inst, gantry_req_t *req,
                                         gantry_str_t type, gantry_str_t payload);
/* Clean upstream text for clients and logs: capped, valid UTF-8, no control characters. */
gantry_str_t sm_clean_text(const gantry_host_t *host, gantry_req_t *req, gantry_str_t in,
                           size_t cap);

/* sagemaker_util.c: small helpers shared by the files above. */
bool sm_str_eq(gantry_str_t s, const char *lit);
bool sm_key_is(const gantry_host_t *host, const gantry_json_t *member, const char *lit);
/* A JSON number that is an integer within [lo, hi]. */
bool sm_json_int(const gantry_host_t *host, const gantry_json_t *node, int64_t lo, int64_t hi,
                 int64_t *out);
/* The response/chunk id and creation time of an attempt (made once, kept in rs). */
void sm_ensure_id(const sm_instance_t *inst, gantry_req_t *req, sm_req_t *rs);
/* A rough token estimate from a byte count (4 bytes a token, at least 1 for non-empty text). */
int64_t sm_estimate_tokens(size_t bytes);
/* Emit the canonical usage chunk ({"choices": [], "usage": {...}}). */
gantry_action_t sm_emit_usage(const sm_instance_t *inst, gantry_req_t *req, sm_req_t *rs,
                              const sm_deployment_t *dep, int64_t prompt, int64_t completion);
/* Set obj["usage"] to the canonical usage object. */
int sm_set_usage(const gantry_host_t *host, gantry_json_t *obj, int64_t prompt, int64_t completion);
/*
 * Set obj[key] to a deep copy of src (any JSON value; 64 levels deep at most).  Used instead of
 * json_dup + json_attach, which cannot move a duplicated object member (it keeps its key).
 */
bool sm_json_copy(const gantry_host_t *host, gantry_json_t *obj, const char *key,
                  const gantry_json_t *src);
/* Fail with a 500 internal error naming what could not be done. */
gantry_action_t sm_internal(const sm_instance_t *inst, gantry_req_t *req, const char *what, int rc);

#endif
