/*
 * The openai provider: declarations shared by its source files.  Nothing here leaves the plugin;
 * the only exported symbol is gantry_plugin_describe() in openai.c.
 */
#ifndef GANTRY_PROVIDER_OPENAI_H
#define GANTRY_PROVIDER_OPENAI_H

#include <string.h>

#include <gantry/gantry.h>

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct openai_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} openai_instance_t;

/*
 * One header: a configured extra header (both strings NUL-terminated instance memory), or an entry
 * of a deployment's precomputed header list (which borrows those strings, or static literals).
 */
typedef struct openai_header {
    gantry_str_t name;
    gantry_str_t value;
} openai_header_t;

/*
 * A deployment (one model_list entry), built on the main thread by deployment_create() and
 * read-only afterwards.  Every string is NUL-terminated instance memory from host->mem_*; an absent
 * optional value is GANTRY_STR_NULL.
 */
typedef struct openai_deployment {
    gantry_str_t url;             /* the chat completions URL */
    gantry_str_t url_embeddings;  /* the embeddings URL */
    gantry_str_t url_completions; /* the (legacy) text completions URL */
    gantry_str_t model;           /* upstream model id (Azure: the deployment name) */
    gantry_str_t authorization;   /* "Bearer <api_key or azure_ad_token>", or NULL */
    gantry_str_t api_key;         /* kept to scrub it out of upstream error messages */
    gantry_str_t ad_token;        /* azure_ad_token, kept for the same reason */
    gantry_str_t organization;    /* OpenAI-Organization value, or NULL */
    openai_header_t *extra;       /* extra_headers, in configuration order */
    size_t n_extra;
    /* Set when extra_headers already carries one of the headers the plugin would add itself. */
    bool extra_has_authorization;
    bool extra_has_content_type;
    bool extra_has_organization;
    bool extra_has_api_key;
    /* Azure OpenAI (prefix azure or azure_text): api-key header and Azure URLs. */
    bool azure;
    /* Text completion requests (and chat requests too) go to the native /completions API. */
    bool completion_api;
    /* The upstream is OpenAI's or Azure's own API, which refuses parameters it does not know:
     * the canonical extensions top_k and thinking are not forwarded. */
    bool strict;
    /* cache_control markers on messages, parts and tools are forwarded instead of removed. */
    bool forward_cache_control;
    /*
     * Derived once from the fields above so that prepare() only copies: every header a request
     * carries, in the order it is sent (the array is instance memory, the strings are borrowed),
     * and the body member `"model":"<model>"` already escaped.
     */
    openai_header_t *headers;
    size_t n_headers;
    gantry_str_t model_member;
} openai_deployment_t;

/*
 * Per-request state of the plugin (host->req_data), made by prepare() for each attempt that
 * streams text completions: which choices have already had their first chunk.
 */
typedef struct openai_req_state {
    uint64_t role_sent; /* bit i: choice i got its "role" delta (choices 0..63) */
} openai_req_state_t;

/*
 * A growing output buffer for JSON text.  It starts in memory the caller provides (a stack array)
 * and moves to instance memory (host->mem_*) when that is outgrown; openai_wb_release() frees it.
 * A failed allocation sets `failed` and turns every later write into a no-op.
 */
typedef struct openai_wbuf {
    const gantry_host_t *host;
    char *ptr;
    size_t len;
    size_t cap;
    bool heap; /* ptr is instance memory */
    bool failed;
} openai_wbuf_t;

/* Small string helpers shared by the source files (and by the tests, which include them all). */
static inline bool openai_str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

static inline char openai_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive equality (header names, API version names). */
static inline bool openai_str_ieq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (openai_lower(s.ptr[i]) != openai_lower(lit[i]))
            return false;
    }
    return true;
}

/* openai_conf.c */
extern const gantry_conf_field_t openai_deployment_fields[];
int openai_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                             gantry_str_t model_id, void **deployment);
void openai_deployment_destroy(void *state, void *deployment);

/* openai_json.c */
/* Make room for n more bytes; false (and `failed` set) when that is not possible. */
bool openai_wb_reserve(openai_wbuf_t *b, size_t n);
void openai_wb_release(openai_wbuf_t *b);
void openai_wb_put_slow(openai_wbuf_t *b, const char *s, size_t n);
/* Append n bytes.  Inline: the writer appends many short pieces (",", ":", quotes). */
static inline void openai_wb_put(openai_wbuf_t *b, const char *s, size_t n)
{
    if (n <= b->cap - b->len && !b->failed) {
        memcpy(b->ptr + b->len, s, n);
        b->len += n;
        return;
    }
    openai_wb_put_slow(b, s, n);
}
/* Append a JSON string (quoted and escaped). */
void openai_wb_string(openai_wbuf_t *b, gantry_str_t s);
/* Append the escaped text of a JSON string without the quotes (to write one in pieces). */
void openai_wb_escaped(openai_wbuf_t *b, gantry_str_t s);
/*
 * Append a node's value as compact JSON, byte for byte what host->json_write() gives.  Returns
 * GANTRY_OK or a negative status (GANTRY_ENOMEM when the buffer could not grow).
 */
int openai_wb_value(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *node);

/* The client endpoint of a request; a host older than ABI 1.1 only serves chat. */
static inline gantry_endpoint_t openai_endpoint(const gantry_host_t *host, gantry_req_t *req)
{
    return GANTRY_HOST_HAS(host, req_endpoint) ? host->req_endpoint(req) : GANTRY_EP_CHAT;
}

/* Whether parameters the upstream cannot honour are dropped silently.  A host older than ABI 1.1
 * has no drop_params for plugins, and such a host never asked plugins to refuse parameters. */
static inline bool openai_drop_params(const gantry_host_t *host, gantry_req_t *req)
{
    return GANTRY_HOST_HAS(host, req_drop_params) ? host->req_drop_params(req) : true;
}

/* openai_azure.c */
/*
 * Azure OpenAI: read api_version (or AZURE_API_VERSION) and build the deployment's three URLs from
 * `base` (already checked, without a trailing slash).  Reports problems with host->conf_error().
 */
int openai_azure_urls(const openai_instance_t *inst, const gantry_conf_t *params, gantry_str_t base,
                      openai_deployment_t *dep);

/* openai_request.c */
gantry_action_t openai_prepare(gantry_req_t *req, void *state, void *deployment,
                               gantry_upstream_t *up);
/* Separator before every member but the first. */
void openai_member_sep(openai_wbuf_t *b, bool *first);
/* Write stream_options for a streaming attempt from the client's value (NULL when absent). */
int openai_write_stream_options(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *opts);
/*
 * Finish prepare(): `rc` is the outcome of writing the body into `b`.  Keeps the body in the
 * arena, sets URL, headers, body and (for streams) SSE framing, and releases `b`.
 */
gantry_action_t openai_send(gantry_req_t *req, const openai_instance_t *inst,
                            const openai_deployment_t *dep, gantry_upstream_t *up, gantry_str_t url,
                            openai_wbuf_t *b, int rc, bool stream);
/*
 * A parameter this deployment cannot honour: GANTRY_CONTINUE when drop_params says to drop it,
 * else the 400 that names it (GANTRY_FAIL).
 */
gantry_action_t openai_unsupported(gantry_req_t *req, const openai_instance_t *inst,
                                   const openai_deployment_t *dep, const char *param);

/* openai_completions.c */
/* Build the native text completion request (POST {api_base}/completions). */
gantry_action_t openai_prepare_completion(gantry_req_t *req, const openai_instance_t *inst,
                                          const openai_deployment_t *dep,
                                          const gantry_json_t *canonical, gantry_upstream_t *up,
                                          bool stream);
/* Turn a text_completion answer (`root`, a JSON object) into the canonical chat response. */
gantry_action_t openai_completion_response(gantry_req_t *req, const openai_instance_t *inst,
                                           const openai_deployment_t *dep, gantry_json_t *root);
/* Turn one text_completion stream event (`root`, a JSON object) into a canonical chunk. */
gantry_action_t openai_completion_chunk(gantry_req_t *req, const openai_instance_t *inst,
                                        const openai_deployment_t *dep, gantry_json_t *root);

/* openai_response.c */
gantry_action_t openai_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                      gantry_str_t body);
gantry_action_t openai_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                   const gantry_frame_t *frame);

/* openai_error.c */
void openai_map_error(gantry_req_t *req, void *state, void *deployment, int status,
                      gantry_str_t body, gantry_error_t *err);
/*
 * Describe an upstream error found inside a 2xx body or a stream frame: `root` is the parsed JSON
 * (or NULL when `raw` is not JSON).  The status comes from a numeric "code" in 400..599 when there
 * is one, else 502.  Records it with host->req_fail() and returns GANTRY_FAIL.
 */
gantry_action_t openai_fail_with_error(const openai_instance_t *inst,
                                       const openai_deployment_t *dep, gantry_req_t *req,
                                       const gantry_json_t *root, gantry_str_t raw);

#endif
